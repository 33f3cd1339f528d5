"""Reaching a site host from a step, whatever its name is right now, and reading it.

The runbook renames hosts (production to ``<name>-temp`` and back, the standby
to production's name and back) and takes the standby out of the domain. A
``RemoteHost`` from ``ctx.host(key)`` starts with the configured name; a
resumed run in a new process would start there too. So every rename records
the host's current name in the facts (``RunFacts.names``) (the journal keeps
facts across processes) and :func:`remote` points the session at it.
While the standby is out of the domain (``RunFacts.workgroup``), the
domain account cannot log on: :func:`remote` opens a session with the host's
local administrator (``Host.local_user``/``local_password``).

The readers return plain data and name the host in every error.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import attrs

from qrdr.model import Host, Site, WindowsVersion
from qrdr.remote import Command, Credential, RemoteHost, Script, Secret, load_script, parse_dmtf
from qrdr.secrets import resolve
from qrdr.steps import StepContext

from . import catalog
from .facts import run_facts
from .w2000 import Windows2000Session

def current_name(ctx: StepContext, key: str) -> str:
    """The computer name ``site.hosts[key]`` runs under now, as the run knows it."""
    return run_facts(ctx).names.get(key) or ctx.site.hosts[key].name


def set_current_name(ctx: StepContext, key: str, name: str) -> None:
    run_facts(ctx).names[key] = name


def in_workgroup(ctx: StepContext, key: str) -> bool:
    return bool(run_facts(ctx).workgroup.get(key))


def set_workgroup(ctx: StepContext, key: str, value: bool) -> None:
    run_facts(ctx).workgroup[key] = value


def remote(ctx: StepContext, key: str) -> RemoteHost:
    """The session for ``site.hosts[key]``, under its current name and with the right account."""
    host: Host = ctx.site.hosts[key]
    if in_workgroup(ctx, key):
        session = _local_session(ctx, key, host)
    else:
        session = ctx.host(key)
    name = current_name(ctx, key)
    if session.name.lower() != name.lower():
        session.reconnect_as(name)
    if host.via is not None:
        # Windows 2000: files, registry and programs through the management host (w2000 module).
        return Windows2000Session(session)
    return session


def _local_session(ctx: StepContext, key: str, host: Host) -> RemoteHost:
    """The host as its local administrator (out of the domain, the domain account cannot log on):
    a session of its own, or for a Windows 2000 host the management host's session acting with
    the local account. Kept on the run context for the run."""
    cache = ctx.run_state("qrdr.plugins.common.hosts.local_sessions")
    if key in cache:
        return cache[key]
    if not host.local_user or host.local_password is None or (host.winrm is None and host.via is None):
        raise ValueError(f"host {host.name}: out of the domain it needs a local administrator "
                         f"(local_user and local_password in [hosts.{key}])")
    password = host.local_password
    if host.via is not None:
        user = host.local_user

        def local_account() -> Credential:
            # A local account is named by the computer it belongs to, under the name it has now.
            qualified = user if "\\" in user else f"{current_name(ctx, key)}\\{user}"
            return Credential(qualified, Secret(resolve(password, f"local administrator of {host.name}")))

        session = ctx.host(key).acting_as(local_account)
    else:
        assert host.winrm is not None
        local = attrs.evolve(host, winrm=attrs.evolve(host.winrm, user=host.local_user, password=host.local_password))
        # The same endpoint as the domain account's session: a host found dead there is dead for this one too.
        session = RemoteHost(local, password=lambda: resolve(password, f"local administrator of {host.name}"),
                             unreachable=ctx.host(key).unreachable)
    cache[key] = session
    return session


def acting_account(ctx: StepContext, key: str) -> tuple[str, Secret]:
    """The account calls from the management host act on Windows 2000 host ``key`` with (what
    :func:`remote`'s session sends as -Credential): ``user`` and password."""
    credential = remote(ctx, key).acting_credential()
    return credential.user, credential.password


def domain_credentials(site: Site) -> tuple[str, Secret]:
    """``DOMAIN\\user`` and the password qrdr joins, renames and unjoins with."""
    user = site.domain.join_user or site.domain.bind_user
    ref = site.domain.join_password or site.domain.bind_password
    if "\\" not in user and "@" not in user:
        user = f"{site.domain.netbios_name}\\{user}"
    return user, Secret(resolve(ref, f"domain account {user}"))


def local_credentials(host: Host) -> tuple[str, Secret]:
    if not host.local_user or host.local_password is None:
        raise ValueError(f"host {host.name}: no local administrator configured (local_user, local_password)")
    return host.local_user, Secret(resolve(host.local_password, f"local administrator of {host.name}"))


# --------------------------------------------------------------------------- readers


def computer_system(session: RemoteHost) -> dict[str, Any]:
    found = session.run(Command("Get-WmiObject", {"Class": "Win32_ComputerSystem"}), read_only=True)
    return dict(found[0])


#: Win32_ComputerSystem.DomainRole values of a domain member (member workstation/server, domain controllers).
MEMBER_ROLES = frozenset({1, 3, 4, 5})


def part_of_domain(system: dict[str, Any]) -> bool:
    """Whether a Win32_ComputerSystem object is a domain member. Windows 2000 has no PartOfDomain
    property (it came with XP/2003): there DomainRole tells (0/2 standalone, 1/3 member, 4/5 DC)."""
    if system.get("PartOfDomain") is not None:
        return bool(system["PartOfDomain"])
    return int(system.get("DomainRole") or 0) in MEMBER_ROLES


def operating_system(session: RemoteHost) -> dict[str, Any]:
    found = session.run(Command("Get-WmiObject", {"Class": "Win32_OperatingSystem"}), read_only=True)
    return dict(found[0])


def service_filter(names: list[str] | tuple[str, ...]) -> str:
    """A WQL filter for these service names; names are qrdr's own constants, checked to be plain words."""
    for name in names:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
            raise ValueError(f"not a service name: {name!r}")
    return " OR ".join(f"Name='{name}'" for name in names)


@attrs.frozen
class ServiceState:
    name: str
    state: str  # Running / Stopped / ...
    mode: str  # Auto / Manual / Disabled


def services(session: RemoteHost, names: list[str] | tuple[str, ...]) -> dict[str, ServiceState]:
    """Win32_Service state and start mode of the services that exist among ``names`` (by name)."""
    found = session.run(Command("Get-WmiObject", {"Class": "Win32_Service", "Filter": service_filter(names)}),
                        read_only=True)
    wanted = {n.lower(): n for n in names}
    result = {}
    for item in found:
        name = wanted.get(str(item.get("Name", "")).lower())
        if name:
            result[name] = ServiceState(name, str(item.get("State")), str(item.get("StartMode")))
    return result


def logical_disks(session: RemoteHost) -> dict[str, dict[str, Any]]:
    """Local disks by drive letter (``E:``): Size and FreeSpace in bytes."""
    found = session.run(Command("Get-WmiObject", {"Class": "Win32_LogicalDisk"}), read_only=True)
    return {str(d["DeviceID"]).upper(): dict(d) for d in found if int(d.get("DriveType") or 0) == 3}


def path_exists(session: RemoteHost, path: str) -> bool:
    found = session.run(Command("Test-Path", {"Path": path}), read_only=True)
    return bool(found and found[0] is True)


def exchange_setup(session: RemoteHost) -> dict[str, Any] | None:
    """The Exchange Setup registry values, or None when Exchange is not installed."""
    if not path_exists(session, catalog.SETUP_KEY):
        return None
    found = session.run(Command("Get-ItemProperty", {"Path": catalog.SETUP_KEY}), read_only=True)
    return dict(found[0]) if found else {}


def exchange_installed(ctx: StepContext, key: str) -> dict[str, Any] | None:
    """Exchange's Setup registry values of ``site.hosts[key]`` (a Windows 2000 host's through StdRegProv
    from the management host), or None when Exchange is not installed."""
    return exchange_setup(remote(ctx, key))


GET_STORES = "get_exchange_store.ps1"


def script(filename: str, **parameters: Any) -> Script:
    return load_script("qrdr.plugins.common", f"scripts/{filename}", **parameters)


def run_store_script(ctx: StepContext, key: str, filename: str, *, read_only: bool = False, **parameters: Any) -> list[Any]:
    """Run a store script (CDOEXM) for ``site.hosts[key]``: on the host itself, or for a Windows 2000
    host on its management host with ``-ComputerName`` (the store scripts take it). Every bind of the
    script to the directory uses the domain account (``-UserName``/``-Password``): the session holds
    no credentials of its own for a domain controller."""
    host = ctx.site.hosts[key]
    user, password = domain_credentials(ctx.site)
    account = {"UserName": user, "Password": password}
    if host.via is not None:
        return ctx.host(host.via).run(script(filename, ComputerName=current_name(ctx, key), **parameters, **account),
                                      read_only=read_only)
    return remote(ctx, key).run(script(filename, **parameters, **account), read_only=read_only)


def stores(ctx: StepContext, key: str) -> list[dict[str, Any]]:
    """``qrdr:Get-ExchangeStore``: one dict per store (Name, StorageGroup, Type, paths, Mounted, MountAtStartup)."""
    return [dict(item) for item in run_store_script(ctx, key, GET_STORES, read_only=True)]


def ip_addresses(session: RemoteHost) -> list[str]:
    found = session.run(Command("Get-WmiObject", {"Class": "Win32_NetworkAdapterConfiguration",
                                                  "Filter": "IPEnabled=TRUE"}), read_only=True)
    addresses: list[str] = []
    for adapter in found:
        value = adapter.get("IPAddress") or []
        addresses += [str(a) for a in (value if isinstance(value, list) else [value]) if a]
    return addresses


def boot_time(session: RemoteHost) -> dt.datetime:
    return parse_dmtf(operating_system(session)["LastBootUpTime"])


def is_windows_2000(site: Site, key: str) -> bool:
    return site.hosts[key].windows is WindowsVersion.W2000


def wmi_return_value(output: list[Any]) -> int:
    """The ReturnValue of the WMI method call that ``output`` is the result of (-1: no result)."""
    return int((output[0] or {}).get("ReturnValue", -1)) if output else -1


def native_lines(output: list[Any]) -> list[str]:
    """A native program's output as text lines."""
    lines: list[str] = []
    for item in output:
        lines += str(item).splitlines() if not isinstance(item, dict) else [str(item)]
    return lines
