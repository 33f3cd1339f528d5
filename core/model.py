"""The site, as qrdr knows it: attrs classes filled from the site config.

These classes are the contract between the config loader (``qrdr.config``), the
engine, the plugins and the lab. They hold *descriptions* only: no connection,
no secret value. Secrets are :class:`SecretRef` references that are resolved at
the moment a connection is opened (``qrdr.secrets``).

Field names are the TOML keys: ``Host.winrm.ca_file`` is ``ca_file`` in the
``[hosts.winrm]`` table of the host. The config reference (docs/config.md) and
the example site (examples/site.toml) show every field.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Any

import attrs

from .ldap_escape import rdn


class Role(str, enum.Enum):
    """What a host is for in the runbook."""

    PRODUCTION = "production"
    STANDBY = "standby"
    COMMSERVE = "commserve"
    #: A Windows 2003 host with PowerShell 2.0 that acts on Windows 2000 hosts
    #: with ``-ComputerName`` (Windows 2000 has no PowerShell or WinRM).
    MANAGEMENT = "management"


class WindowsVersion(str, enum.Enum):
    W2000 = "2000"
    W2003 = "2003"


class ExchangeVersion(str, enum.Enum):
    """The Exchange version a site runs: ``"2000"`` and ``"2003"`` (the built-in plugins'),
    or any other version written in digits and dots (``"5.5"``, ``"2007"``), for a
    third-party Exchange plugin.

    Open on purpose: which versions qrdr supports, and on which Windows, is decided by
    the Exchange plugin a run loads (its ``qrdr_validate_site``), not by the model. A
    version outside the members is made on first use and kept, so ``is`` compares as
    for the members: ``ExchangeVersion("2007") is ExchangeVersion("2007")``.
    """

    E2000 = "2000"
    E2003 = "2003"

    @classmethod
    def _missing_(cls, value: object) -> "ExchangeVersion":
        if not isinstance(value, str) or not re.fullmatch(r"[0-9]+(\.[0-9]+)*", value):
            raise ValueError(f"expected an Exchange version in digits and dots (such as '2003'), got {value!r}")
        member = str.__new__(cls, value)
        member._name_, member._value_ = f"E{value.replace('.', '_')}", value
        # setdefault: two threads making the same version get the same object.
        return cls._value2member_map_.setdefault(value, member)


class Transport(str, enum.Enum):
    """How WinRM is reached: HTTP with message encryption, or HTTPS."""

    HTTP = "http"
    HTTPS = "https"


class Auth(str, enum.Enum):
    NTLM = "ntlm"
    KERBEROS = "kerberos"
    CREDSSP = "credssp"
    BASIC = "basic"
    #: Negotiate picks Kerberos and falls back to NTLM, as Windows does.
    NEGOTIATE = "negotiate"


class LdapBind(str, enum.Enum):
    SIMPLE = "simple"
    NTLM = "ntlm"
    KERBEROS = "kerberos"


class VolumeContent(str, enum.Enum):
    """What lives on an Exchange volume (seed step 1 wants logs and system path together)."""

    DATABASES = "databases"
    LOGS = "logs"
    SYSTEM_PATH = "system-path"
    BINARIES = "binaries"


@attrs.frozen
class SecretRef:
    """Where a secret comes from. Exactly one of the three is set.

    ``env``: the name of an environment variable; ``keyring``: ``"service/user"``
    in the system keyring; ``prompt``: ask on the terminal (interactive runs only).
    """

    env: str | None = None
    keyring: str | None = None
    prompt: bool = False

    def describe(self) -> str:
        """A human description that never contains the secret itself."""
        if self.env:
            return f"environment variable {self.env}"
        if self.keyring:
            return f"keyring entry {self.keyring}"
        return "prompt"


@attrs.frozen
class WinRM:
    """How to reach a host's PowerShell remoting endpoint."""

    user: str
    password: SecretRef
    transport: Transport = Transport.HTTPS
    auth: Auth = Auth.NTLM
    #: None means the WinRM default: 5985 for HTTP, 5986 for HTTPS.
    port: int | None = None
    path: str = "wsman"
    #: A PEM file of the CA that signed the endpoint's certificate; None uses the system store.
    ca_file: str | None = None
    #: Certificate checks are on unless switched off here, by name.
    verify_tls: bool = True
    #: Seconds one WinRM operation may take before it counts as failed.
    operation_timeout: int = 20
    connection_timeout: int = 30

    @property
    def effective_port(self) -> int:
        if self.port is not None:
            return self.port
        return 5986 if self.transport is Transport.HTTPS else 5985


@attrs.frozen
class Volume:
    """A production Exchange volume and where its QR copy lives on the standby."""

    letter: str
    size_gb: float
    holds: tuple[VolumeContent, ...] = ()
    #: The standby's drive letter that receives the copy (the runbook wants the same letter).
    standby_letter: str | None = None
    #: The standby volume that QR copies into before the promote mounts it at ``letter``.
    standby_mount_point: str | None = None

    @property
    def target_letter(self) -> str:
        return self.standby_letter or self.letter


@attrs.frozen
class Host:
    """A Windows host of the site."""

    name: str
    role: Role
    address: str
    windows: WindowsVersion
    #: How to reach it. Windows 2000 hosts have none and are reached ``via`` a management host.
    winrm: WinRM | None = None
    #: The key (in ``Site.hosts``) of the management host that acts on this Windows 2000 host.
    via: str | None = None
    #: Local administrator for steps done outside the domain (leaving and rejoining it).
    local_user: str | None = None
    local_password: SecretRef | None = None


@attrs.frozen
class DomainController:
    name: str
    address: str
    #: Defaults to ldaps://<address>.
    url: str | None = None

    @property
    def ldap_url(self) -> str:
        return self.url or f"ldaps://{self.address}"


@attrs.frozen
class Domain:
    """The Active Directory domain that the production and standby servers belong to."""

    dns_name: str
    netbios_name: str
    controllers: tuple[DomainController, ...]
    bind_user: str
    bind_password: SecretRef
    bind: LdapBind = LdapBind.SIMPLE
    #: "ldaps" or "starttls"
    tls: str = "ldaps"
    ca_file: str | None = None
    verify_tls: bool = True
    #: Seconds to wait for every DC to see a change ("replicate throughout the domain").
    replication_deadline: int = 900
    #: The account qrdr joins hosts with (defaults to bind_user).
    join_user: str | None = None
    join_password: SecretRef | None = None

    @property
    def base_dn(self) -> str:
        """``DC=contoso,DC=local`` for ``contoso.local``.

        Each label is escaped as an RDN value (RFC 4514), so that a ``dns_name``
        the loader did not check (a Domain built in code) can never add RDNs of its
        own: ``a,CN=x.local`` gives ``DC=a\\,CN\\=x,DC=local``. An empty label
        raises ValueError.
        """
        return ",".join(rdn("DC", label) for label in self.dns_name.split("."))


@attrs.frozen
class Exchange:
    version: ExchangeVersion
    organization: str
    administrative_group: str = "First Administrative Group"
    #: Where Exchange is installed on production; the standby gets the same.
    install_path: str = r"C:\Program Files\Exchsrvr"
    #: The setup media on the standby (holds setup\i386\setup.exe).
    setup_path: str = r"Z:\setup\i386\setup.exe"
    #: The service pack's update.exe on the standby, or None when production has none.
    update_path: str | None = None
    #: Components installed on production, to be selected identically on the standby.
    components: tuple[str, ...] = ("Microsoft Exchange Messaging and Collaboration Services",
                                   "Microsoft Exchange System Management Tools")
    service_pack: str | None = None


@attrs.frozen
class Takeover:
    """What a promote takes over from production besides its name."""

    #: Move production's IP address to the standby (seed B6, "if necessary").
    ip_address: str | None = None
    subnet_mask: str = "255.255.255.0"
    gateway: str | None = None


@attrs.frozen
class Targets:
    """What the site's recovery must achieve; reports measure each run against them."""

    #: The RTO: from the start of a promote to mail flowing, in minutes (none: no target).
    rto_minutes: float | None = None
    #: The RPO: how old the recovery point may be when a promote starts, in minutes (none: no target).
    rpo_minutes: float | None = None


@attrs.frozen
class QuickRecovery:
    """The Commvault side: CommServe names and the QR objects qrdr creates."""

    commserve_host: str = "commserve"
    #: The Commvault client names of production and standby (default: their host names).
    production_client: str | None = None
    standby_client: str | None = None
    scratch_pool: str = "qrdr-exchange-pool"
    policy: str = "qrdr-exchange-policy"
    subclient: str = "qrdr-exchange"
    #: Cron-like schedule text passed to the CommServe for incremental updates.
    incremental_schedule: str = "every 1 hour"
    commcell_user: str = "admin"
    commcell_password: SecretRef | None = None
    #: Hours after which the recovery point counts as too old for `qrdr check`.
    max_recovery_point_age_hours: float = 24.0


@attrs.frozen
class Site:
    """Everything qrdr knows about one site. Built by :func:`qrdr.config.load_site`."""

    name: str
    domain: Domain
    exchange: Exchange
    #: Keyed by the host's key in the config (e.g. "production", "standby").
    hosts: dict[str, Host]
    volumes: tuple[Volume, ...]
    snap_engine: str
    quick_recovery: QuickRecovery = QuickRecovery()
    takeover: Takeover = Takeover()
    targets: Targets = Targets()
    #: Extra plugins to load (entry point names in the ``qrdr.addons`` group).
    plugins: tuple[str, ...] = ()
    #: Raw per-plugin sections (``[plugin.<name>]``), validated by the plugins.
    plugin_config: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    #: Where the journal and run lock live (default: next to the config file).
    state_dir: str | None = None
    #: The config file it was loaded from, for error messages.
    source: str | None = None

    def state_file(self, suffix: str) -> Path:
        """A file of this site's in its state directory: ``<state_dir>/<name><suffix>`` (the
        journal ``.journal.sqlite``, the shells qrdr left open ``.shells.json``); without a
        state_dir, ``.qrdr`` under the working directory."""
        return Path(self.state_dir or ".qrdr") / f"{self.name}{suffix}"

    def host_by_role(self, role: Role) -> Host:
        """The single host with this role; the loader guarantees there is exactly one."""
        for host in self.hosts.values():
            if host.role is role:
                return host
        raise KeyError(f"site {self.name!r} has no host with role {role.value!r}")

    @property
    def production(self) -> Host:
        return self.host_by_role(Role.PRODUCTION)

    @property
    def standby(self) -> Host:
        return self.host_by_role(Role.STANDBY)

    @property
    def commserve(self) -> Host:
        return self.host_by_role(Role.COMMSERVE)

    def host_key(self, host: Host) -> str:
        for key, candidate in self.hosts.items():
            if candidate is host:
                return key
        raise KeyError(host.name)
