"""Facts about Exchange 2000/2003 and Windows that the built-in plugins share.

Pure data and pure functions: no I/O. What differs by Exchange version is a
parameter here (``version``), so that exchange2000 and exchange2003 only say
which version they are.
"""

from __future__ import annotations

import attrs

from qrdr.model import ExchangeVersion


@attrs.frozen
class ServiceInfo:
    name: str
    display_name: str
    #: Services that must run before this one (start them first, stop this one first).
    depends_on: tuple[str, ...] = ()
    versions: tuple[ExchangeVersion, ...] = (ExchangeVersion.E2000, ExchangeVersion.E2003)


#: Every Exchange service the runbook names, in the order they start (a service after what it needs).
EXCHANGE_SERVICES: tuple[ServiceInfo, ...] = (
    ServiceInfo("MSExchangeSA", "Microsoft Exchange System Attendant"),
    ServiceInfo("MSExchangeIS", "Microsoft Exchange Information Store", ("MSExchangeSA",)),
    ServiceInfo("MSExchangeMTA", "Microsoft Exchange MTA Stacks", ("MSExchangeSA",)),
    ServiceInfo("RESvc", "Microsoft Exchange Routing Engine"),
    ServiceInfo("MSExchangeMGMT", "Microsoft Exchange Management", versions=(ExchangeVersion.E2003,)),
    ServiceInfo("IMAP4Svc", "Microsoft Exchange IMAP4"),
    ServiceInfo("POP3Svc", "Microsoft Exchange POP3"),
    ServiceInfo("MSExchangeES", "Microsoft Exchange Event", ("MSExchangeIS",)),
    ServiceInfo("MSExchangeSRS", "Microsoft Exchange Site Replication Service", ("MSExchangeSA",)),
)

_BY_NAME = {service.name.lower(): service for service in EXCHANGE_SERVICES}

#: Runbook "Configure" 1.2: the services stopped and set to Manual on production, brought back in 9.
PRODUCTION_SERVICES = ("IMAP4Svc", "MSExchangeIS", "MSExchangeMGMT", "MSExchangeMTA", "POP3Svc", "RESvc",
                       "MSExchangeSA")
#: Runbook "Configure" 1.1: Event stopped + Manual, Site Replication Service stopped + Disabled.
EVENT_SERVICE = "MSExchangeES"
SRS_SERVICE = "MSExchangeSRS"

#: Start modes as Win32_Service.StartMode says them, and as Set-Service -StartupType takes them.
MODE_WORDS = {"Auto": "Automatic", "Manual": "Manual", "Disabled": "Disabled"}
STARTUP_TYPES = {"Automatic": "Auto", "Manual": "Manual", "Disabled": "Disabled"}


def service(name: str) -> ServiceInfo:
    return _BY_NAME[name.lower()]


def services_of(version: ExchangeVersion, names: tuple[str, ...] | None = None) -> list[str]:
    """The names among ``names`` (default: all) that Exchange ``version`` has, in start order.

    Exchange 2000 has no MSExchangeMGMT: a plugin must not fail on a service its version lacks.
    """
    wanted = None if names is None else {n.lower() for n in names}
    return [s.name for s in EXCHANGE_SERVICES
            if version in s.versions and (wanted is None or s.name.lower() in wanted)]


def start_order(names: list[str] | tuple[str, ...]) -> list[str]:
    """``names`` ordered so that each comes after the services it depends on (stable otherwise)."""
    remaining = list(dict.fromkeys(names))
    ordered: list[str] = []
    while remaining:
        for name in remaining:
            needs = [d for d in (_BY_NAME[name.lower()].depends_on if name.lower() in _BY_NAME else ())
                     if d in remaining and d != name]
            if not needs:
                ordered.append(name)
                remaining.remove(name)
                break
        else:  # pragma: no cover - the catalog has no cycle; kept for plugins that extend it
            raise ValueError(f"circular service dependencies among {', '.join(remaining)}")
    return ordered


def stop_order(names: list[str] | tuple[str, ...]) -> list[str]:
    """Reverse start order: a service is stopped before what it depends on."""
    return list(reversed(start_order(names)))


# --------------------------------------------------------------------------- Exchange builds

#: Exchange builds by service pack (ServicePackBuild / NewestBuild in the Setup registry key).
BUILDS: dict[ExchangeVersion, dict[str | None, int]] = {
    ExchangeVersion.E2000: {None: 4417, "SP1": 4712, "SP2": 5762, "SP3": 6249},
    ExchangeVersion.E2003: {None: 6944, "SP1": 7226, "SP2": 7638},
}

SETUP_KEY = r"HKLM:\SOFTWARE\Microsoft\Exchange\Setup"
ASPNET_KEY = r"HKLM:\SOFTWARE\Microsoft\ASP.NET"
UNINSTALL_ROOT = r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
#: The two Uninstall keys the cleanup appendix deletes by hand.
UNINSTALL_KEYS = ("{65D9643D-06E8-47d6-865E-80F4CC9BB879}", "{13F9F3AF-9463-4492-854A-191CCC441FDB}")
#: DLLs an uninstall leaves held open (appendix: "use procexp.exe to see which processes ... kill them").
LOCKED_DLLS = ("exchmem.dll", "exsp.dll", "pttrace.dll")
OUTLOOK_PROFILES_KEY = r"HKCU:\Software\Microsoft\Windows NT\CurrentVersion\Windows Messaging Subsystem\Profiles"
SETUP_LOG = r"C:\Exchange Server Setup Progress.log"
COMMVAULT_PACKAGES_KEY = r"HKLM:\SOFTWARE\CommVault Systems\Galaxy\Instance001"
#: Where qrdr writes the answer files and requests it hands to programs on a host.
WORK_FOLDER = r"C:\qrdr"


def expected_build(version: ExchangeVersion, service_pack: str | None) -> int:
    """The build Exchange ``version`` at ``service_pack`` reports; ValueError names an unknown pack."""
    known = BUILDS[version]
    key = service_pack.upper().replace(" ", "") if service_pack else None
    if key not in known:
        raise ValueError(f"unknown service pack {service_pack!r} for Exchange {version.value} "
                         f"(known: {', '.join(k for k in known if k)})")
    return known[key]


def temp_name(name: str) -> str:
    """Runbook "Configure" 1.3: ``<production server name>-temp``, kept within 15 characters (NetBIOS)."""
    return f"{name[:10]}-temp"


def letter(text: str) -> str:
    """``E:`` for ``E``, ``e:``, ``E:\\`` (the form Win32_LogicalDisk.DeviceID and the CommServe use)."""
    bare = text.strip().rstrip("\\").rstrip(":").upper()
    if len(bare) != 1 or not bare.isalpha():
        raise ValueError(f"not a drive letter: {text!r}")
    return f"{bare}:"


def drive(path: str | None) -> str | None:
    """``E:`` for ``E:\\Exchsrvr\\mdbdata``; None for None or a path without a letter."""
    if not path or len(path) < 2 or path[1] != ":":
        return None
    return path[:2].upper()


def volume_label(letter: str) -> str:
    """The label qrdr gives a standby volume it formats, e.g. ``ExchangeE`` (within FAT's 11 characters)."""
    return f"Exchange{letter[0].upper()}"


class AnswerFileValueError(ValueError):
    """A value cannot be written into an INI-style answer file as it is (the message names it and why)."""


def _ini_value(value: str, what: str) -> str:
    """``value`` as the value of an answer-file line: one line, no control character (a line break
    would start a line of its own, e.g. another section)."""
    for char in value:
        if ord(char) < 0x20 or ord(char) == 0x7F:
            raise AnswerFileValueError(f"{what} {value!r} contains a control character (U+{ord(char):04X}); "
                                       "it cannot go into an answer file as one line")
    return value


def _ini_key(name: str, what: str) -> str:
    """``name`` as the key of an answer-file line: a value, and neither '=' (it would end the key) nor
    a leading '[' or ';' (a section header, a comment)."""
    _ini_value(name, what)
    if "=" in name or name.strip()[:1] in ("[", ";") or not name.strip():
        raise AnswerFileValueError(f"{what} {name!r} cannot be a key of an answer file: it is empty, holds '=' "
                                   "or starts with '[' or ';'")
    return name


def exchange_unattend(components: tuple[str, ...], action: str, install_dir: str | None) -> str:
    """The Exchange setup unattend file (what ``setup /CreateUnattend`` writes, the part qrdr needs).
    Raises :class:`AnswerFileValueError` for a value that would not stay on its own line."""
    lines = ["[Version]", 'Signature = "$Windows NT$"', "[Component List]"]
    lines += [f"{_ini_key(name, 'exchange.components: the component')} = {_ini_value(action, 'the action')}"
              for name in components]
    if install_dir:
        lines += ["[Exchange Settings]", f"InstallDir = {_ini_value(install_dir, 'exchange.install_path')}"]
    return "\r\n".join(lines) + "\r\n"


def sysoc_answers(components: tuple[str, ...]) -> str:
    """A sysocmgr answer file switching on Windows optional components (iis_smtp, iis_nntp, aspnet)."""
    lines = [f"{_ini_key(name, 'the Windows component')} = on" for name in components]
    return "\r\n".join(["[Components]", *lines]) + "\r\n"
