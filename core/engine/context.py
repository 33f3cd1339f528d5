"""What a step's check, apply and verify receive: :class:`RunContext`.

Connections are opened lazily through a :class:`Connector` and kept for the
whole run (one runspace pool per host, one directory connection), so a step
never pays for a connection another step already opened.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

from ..model import Site


class Connector(Protocol):
    """Opens the run's connections. ``qrdr.api.SiteConnector`` is the real one."""

    def host(self, key: str) -> Any:
        """A ``qrdr.remote.RemoteHost`` for ``site.hosts[key]``, opened once and reused."""

    def directory(self) -> Any:
        """A ``qrdr.directory.Directory`` bound to the site's domain, opened once and reused."""

    def close(self) -> None:
        """Close everything opened."""

    # Optional: ``site_lock()`` -> an object with ``acquire(command, take_over=False)``,
    # ``renew(command, run_id)``, ``release()`` (``qrdr.directory.sitelock.DirectoryLock``): the
    # lock every machine sees. A connector without it (tests, automation with its own locking)
    # runs under the local lock only.


class NoConnector:
    """For runs whose steps touch nothing remote (engine tests, plans of local steps)."""

    def host(self, key: str) -> Any:
        raise RuntimeError(f"this run has no connections (asked for host {key!r})")

    def directory(self) -> Any:
        raise RuntimeError("this run has no connections (asked for the directory)")

    def close(self) -> None:
        pass


class RunContext:
    """Implements :class:`qrdr.steps.StepContext` for one run."""

    def __init__(self, site: Site, connector: Connector, facts: dict[str, Any],
                 progress: Callable[[str], None] | None = None, plugin_config: dict[str, Any] | None = None):
        self.site = site
        self.facts = facts
        self.plugin_config = plugin_config or {}
        self._connector = connector
        self._progress = progress or (lambda message: None)
        self._waited: dict[str, float] = {}
        self._run_state: dict[str, dict[str, Any]] = {}

    def host(self, key: str) -> Any:
        if key not in self.site.hosts:
            raise KeyError(f"no host {key!r} in site {self.site.name!r} (hosts: {', '.join(self.site.hosts)})")
        return self._connector.host(key)

    @property
    def directory(self) -> Any:
        return self._connector.directory()

    def facts_of(self, owner: str) -> dict[str, Any]:
        if not owner or owner.startswith("_"):
            raise ValueError(f"facts owner {owner!r}: give a plugin's name (names beginning with _ are the engine's)")
        return self.facts.setdefault(owner, {})

    def run_state(self, owner: str) -> dict[str, Any]:
        return self._run_state.setdefault(owner, {})

    def progress(self, message: str) -> None:
        self._progress(message)

    def waited(self, kind: str, seconds: float) -> None:
        self._waited[kind] = round(self._waited.get(kind, 0.0) + seconds, 2)

    def take_waited(self) -> dict[str, float]:
        """The waits noted since the last call (the engine's, once per applied step), emptied."""
        taken, self._waited = self._waited, {}
        return taken
