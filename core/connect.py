"""The real connector: remote sessions and the directory, opened lazily from the site config.

Secrets are resolved only when a connection is first opened, so ``plan`` of
steps that touch nothing remote never asks for a password; within a Runbook command
(``qrdr.secrets.ResolvedOnce``) each is resolved once, however many hosts and probes use it.
"""

from __future__ import annotations

from typing import Any

from .model import Host, Site
from .secrets import resolve


class SiteConnector:
    """Implements :class:`qrdr.engine.context.Connector` for a real (or lab) site."""

    def __init__(self, site: Site, *, retries: int = 3, retry_backoff: float = 0.5):
        """``retries`` and ``retry_backoff``: as :class:`qrdr.remote.session.Sessions` takes them (more
        attempts to open a session, the first pause between them), all within each host's
        ``connection_timeout``."""
        self.site = site
        self._retries = retries
        self._retry_backoff = retry_backoff
        self._sessions: Any = None
        self._directory: Any = None

    def _password_for(self, host: Host) -> str:
        assert host.winrm is not None, f"{host.name} has no WinRM settings"
        return resolve(host.winrm.password, f"WinRM password of {host.winrm.user} for {host.name}")

    def host(self, key: str) -> Any:
        if self._sessions is None:
            from .remote.session import Sessions

            self._sessions = Sessions(self.site, self._password_for, retries=self._retries,
                                      retry_backoff=self._retry_backoff)
        return self._sessions.host(key)

    def directory(self) -> Any:
        if self._directory is None:
            from .directory import Directory

            domain = self.site.domain
            password = resolve(domain.bind_password, f"LDAP bind password of {domain.bind_user}")
            self._directory = Directory.connect(domain, password)
        return self._directory

    def forget_unreachable(self) -> None:
        """A new command starts: hosts found unreachable by the last one are tried again
        (:class:`qrdr.remote.session.UnreachableHosts`)."""
        if self._sessions is not None:
            self._sessions.unreachable.forget_all()

    def site_lock(self) -> Any:
        """The site's lock in its Active Directory (``qrdr.directory.sitelock.DirectoryLock``),
        seen by every machine that runs qrdr for this site."""
        from .directory.sitelock import DirectoryLock

        return DirectoryLock(self.directory(), self.site.name)

    def close(self) -> None:
        if self._sessions is not None:
            self._sessions.close_all()
            self._sessions = None
        if self._directory is not None:
            self._directory.close()
            self._directory = None
