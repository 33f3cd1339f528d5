"""The simulated Windows host: its state, and the dispatcher that runs pipelines on it.

A :class:`WindowsHost` is what the lab's WinRM endpoint talks to (it satisfies
:class:`qrdr.lab.sim.protocol.SimulatedHost`). It holds the state that real
Windows keeps and that qrdr's commands read or change:

- identity: ``name`` (NetBIOS, upper case), ``pending_name`` (a rename waits
  for the reboot), ``domain`` (DNS name, None in a workgroup), ``workgroup``,
  ``pending_membership`` (a join/unjoin waits for the reboot), ``windows``
  ("2000"/"2003"), ``boot_time``, ``power`` ("on"/"off"/"rebooting"),
  ``safe_boot`` (bootcfg's /safeboot switch);
- ``services``: short name (any case) -> :class:`ServiceState`;
- ``files``: :class:`VirtualFileSystem`, case-insensitive Windows paths;
- ``registry``: :class:`VirtualRegistry`, ``HKLM\\...`` keys -> values;
- ``processes``: id -> :class:`Process` (a process may hold files open);
- ``disks`` (:class:`RawDisk`, with partitions) and ``volumes`` (letter ->
  :class:`Volume`), ``adapters`` (:class:`NetworkAdapter`);
- ``components``: installed optional parts ("iis_smtp", "aspnet", "QSnap", ...);
- ``local_users``: user -> password (the local administrator);
- ``exchange`` / ``commvault``: free slots that the Exchange and Commvault
  simulations (exchange.py, commvault.py) fill with their own state;
- hooks: ``on_shutdown`` and ``on_boot`` lists of ``callable(host)`` run when
  the host goes down / comes back (Exchange marks databases dirty or mounts
  stores there).

Commands are registered in :mod:`qrdr.lab.sim.registry`; :meth:`WindowsHost.invoke`
runs a pipeline: each command receives the previous command's output as its
input; a handler raising :class:`~qrdr.lab.sim.registry.PSError` fails the
pipeline (the Failed state with its error record, as a terminating error does);
``host.write_error`` adds a non-terminating error. ``-ErrorAction Stop`` turns
a command's first non-terminating error into a terminating one and
``SilentlyContinue``/``Ignore`` drops them, as PowerShell does.

Native programs (netdom, diskpart, eseutil, ...) return their output lines as
strings. Their exit code is kept in ``host.last_exit_code``, per WinRM shell
(runspace); a later pipeline of the same shell whose script text is
``$LASTEXITCODE`` reads it, as a runspace keeps it between pipelines on real
Windows. Text a program writes to stderr becomes a
non-terminating ``NativeCommandError`` record, as in a PowerShell 2.0 remote
session. Handlers of native programs use :func:`native` and return
:class:`NativeOutput`.

A :class:`Lab` holds the hosts of a site by name: ``-ComputerName X`` resolves
through it (the management host acting on a Windows 2000 host), and
``Restart-Computer``/``Stop-Computer`` call its ``on_restart``/``on_power_off``
callbacks so the orchestrator can take the endpoint down and bring it back
after its reboot delay (by calling :meth:`WindowsHost.complete_boot`). Without
callbacks a reboot completes at once (unit tests).
"""

from __future__ import annotations

import datetime
import fnmatch
import itertools
import ntpath
import re
import threading
from typing import Any, Callable, Iterable

import attrs
from loguru import logger

from . import registry
from .protocol import CONSOLE, ErrorInfo, Invocation, InvocationResult, Logon, PipelineFailed
from .registry import PSError

# --- services -----------------------------------------------------------------------------------

#: How many ended processes a host keeps readable (WindowsHost.ended).
ENDED_KEPT = 64
#: ERROR_COMMITMENT_LIMIT: a process whose memory a WinRM shell's quota refuses ends with it.
PAGING_FILE_TOO_SMALL = 1455

#: WMI's start modes (Win32_Service.StartMode); Set-Service's words map onto them.
START_MODES = ("Auto", "Manual", "Disabled")

_SAFE_MINIMAL = {"rpcss", "eventlog", "ntlmssp", "winmgmt", "dnscache"}
#: bootcfg /safeboot mode -> the (lower-case) services that start in it. WinRM is in none of them.
SAFE_MODE_SERVICES: dict[str, set[str]] = {
    "minimal": _SAFE_MINIMAL,
    "network": _SAFE_MINIMAL | {"lanmanserver", "lanmanworkstation"},
    "dsrepair": _SAFE_MINIMAL | {"lanmanserver", "lanmanworkstation"},
}


@attrs.define
class ServiceState:
    """A Win32 service. ``start_mode`` is WMI's ("Auto"/"Manual"/"Disabled"),
    ``state`` is "Running" or "Stopped"; ``depends_on`` holds short names.
    ``fail_to_start`` set (a message) is a lab fault: starting fails, the
    service stays Stopped."""

    name: str
    display_name: str
    start_mode: str = "Auto"
    state: str = "Stopped"
    depends_on: tuple[str, ...] = ()
    service_type: str = "Win32OwnProcess"
    path_name: str = ""
    process_id: int = 0
    can_pause_and_continue: bool = False
    fail_to_start: str | None = None
    #: Called with (host, service) after the service started / stopped (Exchange mounts stores, etc.).
    on_start: list[Callable[["WindowsHost", "ServiceState"], None]] = attrs.field(factory=list)
    on_stop: list[Callable[["WindowsHost", "ServiceState"], None]] = attrs.field(factory=list)

    @property
    def running(self) -> bool:
        return self.state == "Running"


# --- files --------------------------------------------------------------------------------------


def normalize_path(path: str) -> str:
    """Windows path in canonical form: backslashes, no trailing backslash except at a drive root,
    ``.``/``..`` folded. ``FileSystem::`` provider prefixes are dropped."""
    text = str(path).replace("/", "\\")
    for prefix in ("Microsoft.PowerShell.Core\\FileSystem::", "FileSystem::"):
        if text.lower().startswith(prefix.lower()):
            text = text[len(prefix):]
    text = ntpath.normpath(text)
    if len(text) == 2 and text[1] == ":":
        text += "\\"
    if len(text) >= 2 and text[1] == ":":
        text = text[0].upper() + text[1:]
    return text


@attrs.define
class FileEntry:
    path: str
    is_dir: bool = False
    content: str | bytes | None = None
    #: Size in bytes when the content is not stored (a 20 GB database); else len(content).
    declared_size: int | None = None
    modified: datetime.datetime = attrs.field(factory=lambda: datetime.datetime.now(datetime.timezone.utc))
    created: datetime.datetime = attrs.field(factory=lambda: datetime.datetime.now(datetime.timezone.utc))

    @property
    def size(self) -> int:
        if self.is_dir:
            return 0
        if self.declared_size is not None:
            return self.declared_size
        if isinstance(self.content, bytes):
            return len(self.content)
        return len((self.content or "").encode("utf-8"))

    @property
    def name(self) -> str:
        return ntpath.basename(self.path) or self.path


class VirtualFileSystem:
    """Files and folders keyed by case-insensitive Windows path. Drive roots exist when created
    (a volume's letter); writing elsewhere fails like Windows ("Could not find a part of the path").

    Satisfies ``qrdr.lab.sim.ese.Files`` (read_text, write_text, list_files)."""

    def __init__(self) -> None:
        self._entries: dict[str, FileEntry] = {}

    @staticmethod
    def key(path: str) -> str:
        return normalize_path(path).lower()

    def get(self, path: str) -> FileEntry | None:
        return self._entries.get(self.key(path))

    def exists(self, path: str) -> bool:
        return self.key(path) in self._entries

    def is_dir(self, path: str) -> bool:
        entry = self.get(path)
        return entry is not None and entry.is_dir

    def add_drive(self, letter: str) -> None:
        root = f"{letter.rstrip(':').upper()}:\\"
        self._entries.setdefault(self.key(root), FileEntry(root, is_dir=True))

    def remove_drive(self, letter: str) -> None:
        prefix = f"{letter.rstrip(':').lower()}:\\"
        for key in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[key]

    def mkdir(self, path: str) -> FileEntry:
        """Create a folder and its parents (New-Item -ItemType Directory -Force). The drive must exist."""
        path = normalize_path(path)
        existing = self.get(path)
        if existing is not None:
            if not existing.is_dir:
                raise FileExistsError(path)
            return existing
        parent = ntpath.dirname(path)
        if parent == path:
            raise FileNotFoundError(path)
        self.mkdir(parent)
        entry = FileEntry(path, is_dir=True)
        self._entries[self.key(path)] = entry
        return entry

    def write(self, path: str, content: str | bytes | None = None, *, size: int | None = None,
              make_parents: bool = False) -> FileEntry:
        path = normalize_path(path)
        parent = ntpath.dirname(path)
        if make_parents:
            self.mkdir(parent)
        elif not self.is_dir(parent):
            raise FileNotFoundError(path)
        existing = self.get(path)
        if existing is not None and existing.is_dir:
            raise IsADirectoryError(path)
        entry = FileEntry(path, content=content, declared_size=size)
        if existing is not None:
            entry.created = existing.created
        self._entries[self.key(path)] = entry
        return entry

    def write_text(self, path: str, text: str) -> None:
        self.write(path, text, make_parents=True)

    def read_text(self, path: str) -> str | None:
        entry = self.get(path)
        if entry is None or entry.is_dir:
            return None
        if isinstance(entry.content, bytes):
            return entry.content.decode("utf-8", "replace")
        return entry.content or ""

    def children(self, folder: str) -> list[FileEntry]:
        prefix = self.key(folder).rstrip("\\") + "\\"
        return sorted((entry for key, entry in self._entries.items()
                       if key.startswith(prefix) and "\\" not in key[len(prefix):] and key != prefix.rstrip("\\")),
                      key=lambda entry: entry.path.lower())

    def list_files(self, folder: str) -> list[str]:
        return [entry.path for entry in self.children(folder) if not entry.is_dir]

    def descendants(self, folder: str) -> list[FileEntry]:
        prefix = self.key(folder).rstrip("\\") + "\\"
        return sorted((entry for key, entry in self._entries.items() if key.startswith(prefix)),
                      key=lambda entry: entry.path.lower())

    def remove(self, path: str) -> None:
        """Remove a file or a folder with everything under it."""
        for entry in self.descendants(path):
            del self._entries[self.key(entry.path)]
        self._entries.pop(self.key(path), None)

    def copy_tree(self, source: "VirtualFileSystem", source_root: str, target_root: str) -> None:
        """Copy a folder tree from another file system (a QR copy of a volume)."""
        source_root = normalize_path(source_root)
        target_root = normalize_path(target_root)
        cut = len(source_root.rstrip("\\"))
        for entry in source.descendants(source_root):
            target = normalize_path(target_root.rstrip("\\") + "\\" + entry.path[cut:].lstrip("\\"))
            if entry.is_dir:
                self.mkdir(target)
            else:
                self.write(target, entry.content, size=entry.declared_size, make_parents=True)

    def glob(self, pattern: str) -> list[FileEntry]:
        """Entries matching a path whose last part may hold ``*``/``?`` wildcards."""
        pattern = normalize_path(pattern)
        folder, leaf = ntpath.split(pattern)
        return [entry for entry in self.children(folder) if fnmatch.fnmatch(entry.name.lower(), leaf.lower())]


# --- registry -----------------------------------------------------------------------------------

_HIVES = {"hklm": "HKLM", "hkey_local_machine": "HKLM", "hkcu": "HKCU", "hkey_current_user": "HKCU"}
HIVE_LONG = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER"}


def normalize_key(path: str) -> str:
    """``HKLM:\\SOFTWARE\\X``, ``Registry::HKEY_LOCAL_MACHINE\\SOFTWARE\\X`` -> ``HKLM\\SOFTWARE\\X``."""
    text = str(path).replace("/", "\\")
    for prefix in ("Microsoft.PowerShell.Core\\Registry::", "Registry::"):
        if text.lower().startswith(prefix.lower()):
            text = text[len(prefix):]
    hive, _, rest = text.partition("\\")
    hive = _HIVES.get(hive.rstrip(":").lower())
    if hive is None:
        raise ValueError(f"not a registry path: {path!r}")
    parts = [part for part in rest.split("\\") if part]
    return "\\".join([hive, *parts])


def is_registry_path(path: str) -> bool:
    try:
        normalize_key(path)
        return True
    except ValueError:
        return False


@attrs.define
class RegistryKey:
    path: str
    values: dict[str, Any] = attrs.field(factory=dict)


class VirtualRegistry:
    """Registry keys (case-insensitive) with their values. Values keep their Python type:
    str (REG_SZ), int (REG_DWORD), list[str] (REG_MULTI_SZ), bytes (REG_BINARY)."""

    def __init__(self) -> None:
        self._keys: dict[str, RegistryKey] = {}

    def get(self, path: str) -> RegistryKey | None:
        return self._keys.get(normalize_key(path).lower())

    def exists(self, path: str) -> bool:
        return self.get(path) is not None

    def create(self, path: str) -> RegistryKey:
        path = normalize_key(path)
        parts = path.split("\\")
        key = None
        for end in range(1, len(parts) + 1):
            partial = "\\".join(parts[:end])
            key = self._keys.setdefault(partial.lower(), RegistryKey(partial))
        assert key is not None
        return key

    def set_value(self, path: str, name: str, value: Any) -> None:
        self.create(path).values[name] = value

    def get_value(self, path: str, name: str, default: Any = None) -> Any:
        key = self.get(path)
        if key is None:
            return default
        for value_name, value in key.values.items():
            if value_name.lower() == name.lower():
                return value
        return default

    def subkeys(self, path: str) -> list[RegistryKey]:
        prefix = normalize_key(path).lower() + "\\"
        return sorted((key for lower, key in self._keys.items()
                       if lower.startswith(prefix) and "\\" not in lower[len(prefix):]), key=lambda k: k.path.lower())

    def delete(self, path: str) -> None:
        prefix = normalize_key(path).lower()
        for lower in [k for k in self._keys if k == prefix or k.startswith(prefix + "\\")]:
            del self._keys[lower]


# --- processes, disks, network ------------------------------------------------------------------


@attrs.define
class Process:
    """A running (or exited) process. ``open_files`` are paths it holds open (Remove-Item fails
    on them); ``on_stop`` callbacks run when it is killed or exits."""

    id: int
    name: str
    path: str | None = None
    arguments: tuple[str, ...] = ()
    open_files: set[str] = attrs.field(factory=set)
    exit_code: int | None = None
    start_time: datetime.datetime = attrs.field(factory=lambda: datetime.datetime.now(datetime.timezone.utc))
    #: Not the logged-on user's own (a service's or the system's): Stop-Process asks to confirm
    #: before stopping it, which a remote session cannot answer, so it needs -Force.
    system: bool = False
    on_stop: list[Callable[["WindowsHost", "Process"], None]] = attrs.field(factory=list)
    #: Free slot for the program handler's own state (setup.exe's progress, ...).
    data: dict[str, Any] = attrs.field(factory=dict)
    #: Who runs it: a process started in a WinRM shell belongs to that shell's job and ends with it;
    #: one started by the task scheduler runs in a logon with credentials, in no shell.
    logon: Logon = CONSOLE

    @property
    def has_exited(self) -> bool:
        return self.exit_code is not None

    def holds(self, path: str) -> bool:
        key = VirtualFileSystem.key(path)
        return any(VirtualFileSystem.key(held) == key or VirtualFileSystem.key(held).startswith(key + "\\")
                   for held in self.open_files)


@attrs.define
class Partition:
    size: int
    letter: str | None = None


@attrs.define
class RawDisk:
    """A physical disk (Win32_DiskDrive): ``size`` in bytes, partitions in order."""

    index: int
    size: int
    model: str = "VMware Virtual disk SCSI Disk Device"
    partitions: list[Partition] = attrs.field(factory=list)

    @property
    def free(self) -> int:
        return self.size - sum(part.size for part in self.partitions)


@attrs.define
class Volume:
    """A drive letter (Win32_LogicalDisk). ``file_system`` None means not formatted yet."""

    letter: str
    size: int
    label: str = ""
    file_system: str | None = "NTFS"
    disk_index: int | None = None
    #: Bytes used by things the virtual file system does not hold (the OS on C:).
    used_base: int = 0


@attrs.define
class NetworkAdapter:
    index: int
    description: str = "Intel(R) PRO/1000 MT Network Connection"
    mac_address: str = "00:0C:29:00:00:01"
    ip_addresses: list[str] = attrs.field(factory=list)
    subnet_masks: list[str] = attrs.field(factory=list)
    gateways: list[str] = attrs.field(factory=list)
    dhcp_enabled: bool = False
    ip_enabled: bool = True


# --- the lab ------------------------------------------------------------------------------------


class Lab:
    """All simulated hosts of a site, by name; the orchestrator's reboot/power callbacks.

    ``on_restart(host)``: the host went down for a reboot; the orchestrator takes its endpoint
    away and calls ``host.complete_boot()`` after the lab's reboot delay. ``on_power_off(host)``:
    the host is off until the orchestrator calls ``host.power_on()``. Without callbacks the
    reboot completes at once and power-off just marks the host off.
    """

    def __init__(self, *, on_restart: Callable[["WindowsHost"], None] | None = None,
                 on_power_off: Callable[["WindowsHost"], None] | None = None,
                 clock: Callable[[], datetime.datetime] | None = None) -> None:
        self.hosts: list[WindowsHost] = []
        self.on_restart = on_restart
        self.on_power_off = on_power_off
        self.clock = clock or (lambda: datetime.datetime.now(datetime.timezone.utc))
        self._pids = itertools.count(1000, 4)
        #: Hosts act on each other (-ComputerName, netdom), so their pipelines must not run at the
        #: same time: give this lock to every endpoint of the lab (WinRMEndpoint's invoke_lock).
        self.lock = threading.RLock()

    def add(self, host: "WindowsHost") -> "WindowsHost":
        host.lab = self
        self.hosts.append(host)
        return host

    def next_pid(self) -> int:
        return next(self._pids)

    def find(self, name: str) -> "WindowsHost | None":
        """The host answering to ``name``: its NetBIOS name, or its DNS name in its domain. A running
        host wins over a powered-off one of the same name (after promote the standby carries the dead
        production's name, and only the running one answers name resolution)."""
        wanted = name.strip().lower()
        matches = [host for host in self.hosts if wanted in host.answers_to()]
        return next((host for host in matches if host.power == "on"), matches[0] if matches else None)


# --- the host -----------------------------------------------------------------------------------


@attrs.define(eq=False)
class WindowsHost:
    """A simulated Windows Server 2003 SP2 / Windows 2000 SP4 host (see the module docstring)."""

    name: str = attrs.field(converter=str.upper)
    windows: str = "2003"
    domain: str | None = None
    workgroup: str | None = None
    #: The domain's NetBIOS name (for DOMAIN\\user logons and Win32_ComputerSystem).
    domain_netbios: str | None = None
    pending_name: str | None = None
    #: ("join", domain_dns, domain_netbios) or ("unjoin", workgroup) taking effect at reboot.
    pending_membership: tuple[str, ...] | None = None
    boot_time: datetime.datetime = attrs.field(factory=lambda: datetime.datetime.now(datetime.timezone.utc))
    power: str = "on"
    safe_boot: str | None = None
    services: dict[str, ServiceState] = attrs.field(factory=dict)
    files: VirtualFileSystem = attrs.field(factory=VirtualFileSystem)
    registry: VirtualRegistry = attrs.field(factory=VirtualRegistry)
    processes: dict[int, Process] = attrs.field(factory=dict)
    #: The processes that ended last, oldest first (at most ENDED_KEPT), by id.
    ended: dict[int, Process] = attrs.field(factory=dict, repr=False)
    disks: list[RawDisk] = attrs.field(factory=list)
    volumes: dict[str, Volume] = attrs.field(factory=dict)
    adapters: list[NetworkAdapter] = attrs.field(factory=list)
    components: set[str] = attrs.field(factory=set)
    #: user -> password; kept out of the repr (secrets never reach logs).
    local_users: dict[str, str] = attrs.field(factory=dict, repr=False)
    #: The computer's own SID (Windows makes it at installation; local accounts' SIDs are it plus a
    #: RID, e.g. -500 for the Administrator). A rename or a domain join keeps it.
    machine_sid: str = attrs.field(factory=lambda: new_machine_sid())
    #: The lab's AD as a domain member sees it (qrdr.lab.sim.domain.DomainBackend); None: workgroup only.
    directory: Any = attrs.field(default=None, repr=False)
    #: Filled by the Exchange / Commvault simulations.
    exchange: Any = None
    commvault: Any = None
    on_shutdown: list[Callable[["WindowsHost"], None]] = attrs.field(factory=list)
    on_boot: list[Callable[["WindowsHost"], None]] = attrs.field(factory=list)
    #: $LASTEXITCODE of each runspace (WinRM shell id; None: the console), see :attr:`last_exit_code`.
    exit_codes: dict[str | None, int] = attrs.field(factory=dict, repr=False)
    lab: Lab | None = None
    #: Free slot for faults and options the orchestrator sets (e.g. "q280432": True).
    options: dict[str, Any] = attrs.field(factory=dict)
    #: Who runs the pipeline being run now (set by :meth:`invoke`; the console outside any pipeline).
    logon: Logon = attrs.field(default=CONSOLE, repr=False)
    #: ``net use`` connections by logon session (a WinRM shell's id, or None for the console):
    #: target computer name (lower case) -> the user it was made as (qrdr.lab.sim.access).
    net_uses: dict[str | None, dict[str, str]] = attrs.field(factory=dict, repr=False)
    #: WMI objects this pipeline obtained from another computer with credentials that computer
    #: accepted: a method called on them from the pipeline uses that connection (qrdr.lab.sim.access).
    credentialed_objects: dict[int, Any] = attrs.field(factory=dict, init=False, repr=False)
    _errors: list[ErrorInfo] | None = attrs.field(default=None, init=False, repr=False)

    # -- identity ------------------------------------------------------------------------------

    @property
    def part_of_domain(self) -> bool:
        return self.domain is not None

    @property
    def reachable(self) -> bool:
        """Whether its WinRM endpoint answers: powered on, booted normally (safe mode has no
        WinRM), and the WinRM service running."""
        winrm = self.service("WinRM")
        return self.power == "on" and self.safe_boot is None and winrm is not None and winrm.running

    @property
    def dns_host_name(self) -> str:
        return f"{self.name.lower()}.{self.domain}" if self.domain else self.name.lower()

    def answers_to(self) -> set[str]:
        """Names (lower case) that reach this host: NetBIOS, DNS name in its domain, IP addresses."""
        names = {self.name.lower()}
        if self.domain:
            names.add(f"{self.name}.{self.domain}".lower())
        for adapter in self.adapters:
            names.update(adapter.ip_addresses)
        return names

    def now(self) -> datetime.datetime:
        return self.lab.clock() if self.lab else datetime.datetime.now(datetime.timezone.utc)

    def accepts(self, user: str, password: str) -> bool:
        """Local accounts (``user``, ``.\\user``, ``HOST\\user``) or, on a domain member, domain accounts."""
        if "\\" in user:
            qualifier, _, account = user.partition("\\")
        else:
            qualifier, account = "", user
        if qualifier.lower() in ("", ".", self.name.lower()):
            for local, secret in self.local_users.items():
                if local.lower() == account.lower() and secret == password:
                    return True
        if self.part_of_domain and self.directory is not None and (qualifier or "@" in user):
            return bool(self.directory.authenticate(user, password))
        return False

    # -- processes -----------------------------------------------------------------------------

    @property
    def last_exit_code(self) -> int:
        """$LASTEXITCODE of the runspace running now: each WinRM shell keeps its own (a pipeline of
        another pool never reads this one's)."""
        return self.exit_codes.get(self.logon.shell, 0)

    @last_exit_code.setter
    def last_exit_code(self, code: int) -> None:
        self.exit_codes[self.logon.shell] = code

    def new_pid(self) -> int:
        if self.lab is not None:
            return self.lab.next_pid()
        return max([999, *self.processes]) + 4

    def start_process(self, path: str, arguments: Iterable[str] = (), *, system: bool = False,
                      logon: Logon | None = None) -> Process:
        """Create a process run by ``logon`` (default: the logon of the pipeline running now, so a
        program started in a WinRM shell belongs to that shell's job); a program handler registered
        for its file name (registry.PROGRAMS) decides what it does (it may exit at once)."""
        name = registry.program_key(path)
        process = Process(id=self.new_pid(), name=name, path=path, arguments=tuple(arguments), system=system,
                          start_time=self.now(), logon=logon or self.logon)
        self.processes[process.id] = process
        if process.logon.shell is not None and registry.PROGRAM_MEMORY_MB.get(name, 0) > self.max_memory_per_shell_mb:
            # The shell's job holds its processes to MaxMemoryPerShellMB: "the remote operation MUST be
            # terminated when a new allocation exceeds the specified quota" (MS-WSMV 2.2.4.42). What the
            # program then reports is not documented: the allocation failure's Win32 error, 1455
            # ("The paging file is too small for this operation to complete."), is what is widely reported.
            logger.info("lab host {}: {} needs {} MB, over the shell's {} MB: it ends", self.name, name,
                        registry.PROGRAM_MEMORY_MB[name], self.max_memory_per_shell_mb)
            self.stop_process(process.id, exit_code=PAGING_FILE_TOO_SMALL)
            return process
        handler = registry.PROGRAMS.get(name)
        if handler is not None:
            handler(self, process)
        if process.exit_code is not None and process.id in self.processes:
            self.stop_process(process.id, exit_code=process.exit_code)  # it ended at once: gone, callbacks run
        return process

    @property
    def max_memory_per_shell_mb(self) -> int:
        """WinRM 2.0's MaxMemoryPerShellMB (default 150; a lab option may change it, as winrm set does)."""
        return int(self.options.get("max_memory_per_shell_mb", 150))

    def stop_process(self, process_id: int, exit_code: int = 1) -> None:
        """The process ends (killed, or by itself): it leaves the process table, its callbacks run,
        and it stays readable in :attr:`ended` (what a handle to it still tells: its exit code)."""
        process = self.processes.pop(process_id)
        if process.exit_code is None:
            process.exit_code = exit_code
        self.ended[process.id] = process
        while len(self.ended) > ENDED_KEPT:
            self.ended.pop(next(iter(self.ended)))
        for callback in list(process.on_stop):
            callback(self, process)

    def end_shell(self, shell: str) -> None:
        """A WinRM shell ended: the processes of its job end with it (exit code 1: what WinRM passes
        to the job's termination is not documented), and its logon session's ``net use``
        connections are gone (connections belong to the logon session)."""
        for process in [p for p in self.processes.values() if p.logon.shell == shell]:
            logger.info("lab host {}: process {} ({}) ends with its WinRM shell", self.name, process.id, process.name)
            self.stop_process(process.id, exit_code=1)
        self.net_uses.pop(shell, None)
        self.exit_codes.pop(shell, None)

    def processes_holding(self, path: str) -> list[Process]:
        return [process for process in self.processes.values() if process.holds(path)]

    # -- power ---------------------------------------------------------------------------------

    def shut_down(self) -> None:
        """Everything Windows does going down: hooks, services and processes end."""
        for callback in list(self.on_shutdown):
            callback(self)
        for service in self.services.values():
            if service.running:
                service.state = "Stopped"
                for callback in list(service.on_stop):
                    callback(self, service)
        # Windows ends every process going down: their on_stop callbacks run as for a kill.
        for process_id in list(self.processes):
            self.stop_process(process_id, exit_code=1)

    def restart(self) -> None:
        """Restart-Computer: down now; up again when the lab says (at once without a lab callback)."""
        logger.info("lab host {} restarting", self.name)
        self.shut_down()
        self.power = "rebooting"
        if self.lab is not None and self.lab.on_restart is not None:
            self.lab.on_restart(self)
        else:
            self.complete_boot()

    def power_off(self) -> None:
        logger.info("lab host {} powering off", self.name)
        self.shut_down()
        self.power = "off"
        if self.lab is not None and self.lab.on_power_off is not None:
            self.lab.on_power_off(self)

    def power_on(self) -> None:
        self.complete_boot()

    def complete_boot(self) -> None:
        """Come up: pending name and membership apply, new boot time, Automatic services start
        (dependencies first; a failing one stays Stopped), then the on_boot hooks."""
        if self.pending_name:
            self.name = self.pending_name.upper()
            self.pending_name = None
        if self.pending_membership:
            kind, *rest = self.pending_membership
            if kind == "join":
                self.domain, self.domain_netbios = rest[0], rest[1]
                self.workgroup = None
            else:
                self.domain, self.domain_netbios = None, None
                self.workgroup = rest[0]
            self.pending_membership = None
        self.boot_time = self.now()
        self.power = "on"
        self.exit_codes.clear()
        for service in self.services.values():
            if self.safe_boot is not None and service.name.lower() not in SAFE_MODE_SERVICES[self.safe_boot]:
                continue  # safe mode starts only the services its SafeBoot list names
            if service.start_mode == "Auto" and not service.running:
                try:
                    self.start_service(service.name)
                except ServiceError as error:
                    logger.info("lab host {}: {} did not start at boot: {}", self.name, service.name, error)
        for callback in list(self.on_boot):
            callback(self)

    # -- services ------------------------------------------------------------------------------

    def service(self, name: str) -> ServiceState | None:
        for service in self.services.values():
            if service.name.lower() == name.lower():
                return service
        return None

    def add_service(self, service: ServiceState) -> ServiceState:
        self.services[service.name] = service
        return service

    def dependents(self, name: str) -> list[ServiceState]:
        return [service for service in self.services.values()
                if any(dep.lower() == name.lower() for dep in service.depends_on)]

    def start_service(self, name: str) -> None:
        """Start a service and, first, what it depends on. Raises :class:`ServiceError` naming the
        service that could not start (disabled, a lab fault, or a failed dependency)."""
        service = self.service(name)
        if service is None:
            raise ServiceError(name, f"The service {name} does not exist.")
        if service.running:
            return
        if service.start_mode == "Disabled":
            raise ServiceError(service.name, "The service cannot be started, either because it is disabled or "
                                             "because it has no enabled devices associated with it.")
        for dependency in service.depends_on:
            dep = self.service(dependency)
            if dep is None:
                continue  # a driver or a service the lab does not model
            try:
                self.start_service(dep.name)
            except ServiceError as error:
                raise ServiceError(service.name, "The dependency service or group failed to start.") from error
        if service.fail_to_start:
            raise ServiceError(service.name, service.fail_to_start)
        service.state = "Running"
        service.process_id = self.new_pid()
        for callback in list(service.on_start):
            callback(self, service)

    def stop_service(self, name: str, *, force: bool = False) -> None:
        """Stop a service; with ``force`` its running dependents first, else fail when it has any."""
        service = self.service(name)
        if service is None:
            raise ServiceError(name, f"The service {name} does not exist.")
        running_dependents = [dep for dep in self.dependents(service.name) if dep.running]
        if running_dependents and not force:
            raise DependentServicesRunning(service.name, [dep.name for dep in running_dependents])
        for dependent in running_dependents:
            self.stop_service(dependent.name, force=True)
        if service.running:
            service.state = "Stopped"
            service.process_id = 0
            for callback in list(service.on_stop):
                callback(self, service)

    # -- errors and the dispatcher -------------------------------------------------------------

    def write_error(self, message: str | ErrorInfo, *, category: str = "NotSpecified",
                    error_id: str = "RuntimeException",
                    exception_type: str = "System.Management.Automation.RuntimeException",
                    target: Any = None) -> None:
        """A non-terminating error of the command being run."""
        info = message if isinstance(message, ErrorInfo) else ErrorInfo(
            message=message, category=category, fully_qualified_error_id=error_id,
            exception_type=exception_type, target=target)
        if self._errors is None:
            raise RuntimeError("write_error called outside a pipeline")
        self._errors.append(info)

    def invoke(self, pipeline: list[Invocation], input_objects: list[Any],
               logon: Logon | None = None) -> InvocationResult:
        """Run a pipeline as ``logon`` (see the module docstring). Never raises for PowerShell
        errors; a bug in a command's simulation fails the pipeline with a record naming the
        command. Re-entrant: a handler may run a nested pipeline on the same host (Invoke-Expression
        does); without ``logon`` a nested pipeline runs as the one around it."""
        outer_errors, outer_logon = self._errors, self.logon
        if logon is not None:
            self.logon = logon
        try:
            return self._invoke(pipeline, input_objects)
        finally:
            self._errors, self.logon = outer_errors, outer_logon
            if outer_errors is None:
                self.credentialed_objects.clear()

    def _invoke(self, pipeline: list[Invocation], input_objects: list[Any]) -> InvocationResult:
        result = InvocationResult()
        data: list[Any] = list(input_objects)
        for invocation in pipeline:
            self._errors = []
            label = invocation.name if not invocation.is_script else (registry.script_name(invocation.name)
                                                                       or "<script>")
            try:
                data = self._run_one(invocation, data)
            except PSError as error:
                result.errors.extend(self._errors)
                result.failed = attrs.evolve(error.info, command=error.info.command or label)
                return result
            except PipelineFailed as error:
                result.errors.extend(self._errors)
                result.failed = error.error
                return result
            except Exception as error:  # noqa: BLE001 - a simulation bug must not kill the endpoint's worker
                logger.exception("lab host {}: the simulation of {} failed", self.name, label)
                result.errors.extend(self._errors)
                result.failed = ErrorInfo(f"The lab's simulation of {label} failed on {self.name}: "
                                          f"{type(error).__name__}: {error}", category="NotSpecified",
                                          fully_qualified_error_id="LabSimulationError", command=label)
                return result
            errors = [attrs.evolve(info, command=info.command or label) for info in self._errors]
            action = _error_action(invocation)
            if errors and action == "stop":
                result.failed = errors[0]
                result.errors.extend(errors[1:])
                return result
            if action not in ("silentlycontinue", "ignore"):
                result.errors.extend(errors)
        result.output = data
        return result

    def _run_one(self, invocation: Invocation, data: list[Any]) -> list[Any]:
        if invocation.is_script:
            text = invocation.name.strip()
            if text.lower() == "$lastexitcode":
                return [self.last_exit_code]
            name = registry.script_name(invocation.name)
            if name is None or name not in registry.SCRIPTS:
                raise PSError(
                    f"The lab host {self.name} cannot run this script: only the scripts qrdr ships (marked "
                    f"'{registry.SCRIPT_MARKER} <name>') are simulated"
                    + (f", and {name!r} is not one of them." if name else "."),
                    category="NotImplemented", error_id="ScriptNotSimulated",
                    exception_type="System.Management.Automation.RuntimeException")
            return list(registry.SCRIPTS[name](self, invocation, data) or [])
        handler = registry.COMMANDS.get(invocation.name.lower()) or registry.COMMANDS.get(
            registry.program_key(invocation.name))
        if handler is None or not registry.host_has_program(self.windows, invocation.name):
            # No command ran, so the record has no MyCommand (InvocationInfo is empty on Windows too).
            raise PipelineFailed(ErrorInfo(
                f"The term '{invocation.name}' is not recognized as the name of a cmdlet, function, script file, "
                "or operable program. Check the spelling of the name, or if a path was included, verify that "
                "the path is correct and try again.",
                category="ObjectNotFound", fully_qualified_error_id="CommandNotFoundException",
                exception_type="System.Management.Automation.CommandNotFoundException", target=invocation.name))
        return list(handler(self, invocation, data) or [])


def _error_action(invocation: Invocation) -> str:
    for key, value in invocation.parameters:
        if key is not None and key.lower() in ("erroraction", "ea"):
            return str(value).lower()
    return "continue"


class ServiceError(Exception):
    """A service could not be started or stopped; ``service`` is its short name."""

    def __init__(self, service: str, reason: str):
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class DependentServicesRunning(ServiceError):
    def __init__(self, service: str, dependents: list[str]):
        super().__init__(service, f"running dependents: {', '.join(dependents)}")
        self.dependents = dependents


# --- parameter binding --------------------------------------------------------------------------

#: PowerShell's common parameters: accepted by every cmdlet (ErrorAction is applied by the dispatcher).
COMMON_PARAMETERS = ("Verbose", "Debug", "ErrorAction", "WarningAction", "ErrorVariable", "WarningVariable",
                     "OutVariable", "OutBuffer")
_COMMON_ALIASES = {"ea": "ErrorAction", "wa": "WarningAction", "ev": "ErrorVariable", "wv": "WarningVariable",
                   "ov": "OutVariable", "ob": "OutBuffer", "vb": "Verbose", "db": "Debug"}


@attrs.frozen
class Param:
    """A cmdlet parameter: ``position`` for positional binding, ``switch`` for -Force style,
    ``aliases`` as PowerShell declares them (e.g. ComputerName's ``Cn``)."""

    name: str
    position: int | None = None
    switch: bool = False
    aliases: tuple[str, ...] = ()


def cmdlet_class(name: str) -> str:
    """``Get-Service`` -> ``Microsoft.PowerShell.Commands.GetServiceCommand`` (for error ids)."""
    return "Microsoft.PowerShell.Commands." + name.replace("-", "") + "Command"


def _binding_error(cmdlet: str, message: str, reason: str, target: Any = None) -> PSError:
    return PSError(message, category="InvalidArgument", error_id=f"{reason},{cmdlet_class(cmdlet)}",
                   exception_type="System.Management.Automation.ParameterBindingException", target=target)


def bind(cmdlet: str, invocation: Invocation, params: Iterable[Param]) -> dict[str, Any]:
    """Bind an invocation's parameters like PowerShell: names case-insensitive, unambiguous
    prefixes and aliases accepted, positional arguments by position. Returns canonical name ->
    value (switches True). Raises the ParameterBindingException errors PowerShell gives."""
    params = list(params)
    by_name = {param.name.lower(): param.name for param in params}
    for param in params:
        for alias in param.aliases:
            by_name[alias.lower()] = param.name
    for common in COMMON_PARAMETERS:
        by_name.setdefault(common.lower(), common)
    for alias, common in _COMMON_ALIASES.items():
        by_name.setdefault(alias, common)
    bound: dict[str, Any] = {}
    positional: list[Any] = []
    for key, value in invocation.parameters:
        if key is None:
            positional.append(value)
            continue
        key = key.lstrip("-")
        lowered = key.lower()
        canonical = by_name.get(lowered)
        if canonical is None:
            matches = sorted({name for alias, name in by_name.items() if alias.startswith(lowered)})
            if not matches:
                raise _binding_error(cmdlet, f"A parameter cannot be found that matches parameter name '{key}'.",
                                     "NamedParameterNotFound")
            if len(matches) > 1:
                raise _binding_error(
                    cmdlet, f"Parameter cannot be processed because the parameter name '{key}' is ambiguous. "
                            f"Possible matches include: {' '.join('-' + m for m in matches)}.", "AmbiguousParameter")
            canonical = matches[0]
        if canonical in bound:
            raise _binding_error(cmdlet, f"Cannot bind parameter because parameter '{canonical}' is specified "
                                         "more than once. To provide multiple values to parameters that can "
                                         "accept multiple values, use the array syntax. For example, "
                                         "\"-parameter value1,value2,value3\".", "ParameterAlreadyBound")
        bound[canonical] = value
    by_position = sorted((param for param in params if param.position is not None and param.name not in bound),
                         key=lambda param: param.position or 0)
    for value in positional:
        if not by_position:
            raise _binding_error(cmdlet, f"A positional parameter cannot be found that accepts argument '{value}'.",
                                 "PositionalParameterNotFound", target=value)
        bound[by_position.pop(0).name] = value
    return bound


def cmdlet(name: str, *params: Param) -> Callable[[Callable[..., list[Any]]], Callable[..., list[Any]]]:
    """Register a cmdlet whose handler takes ``(host, args, input_objects)`` with bound ``args``."""

    def register(function: Callable[..., list[Any]]) -> Callable[..., list[Any]]:
        @registry.command(name)
        def handler(host: WindowsHost, invocation: Invocation, input_objects: list[Any]) -> list[Any]:
            return function(host, bind(name, invocation, params), input_objects)
        handler.__doc__ = function.__doc__
        return function
    return register


@attrs.frozen
class NativeOutput:
    """What a native program printed (stdout lines, stderr lines) and its exit code."""

    lines: list[str]
    exit_code: int = 0
    stderr: list[str] = attrs.field(factory=list)


def new_machine_sid() -> str:
    """A machine SID as Windows makes one: S-1-5-21 and three random 32-bit sub-authorities."""
    import secrets

    return "S-1-5-21-" + "-".join(str(secrets.randbelow(2 ** 32)) for _ in range(3))


def native(*names: str) -> Callable[[Callable[..., NativeOutput]], Callable[..., NativeOutput]]:
    """Register a native program; the handler takes ``(host, arguments: list[str], input_objects)``.
    Named parameters sent to it become ``-name value`` tokens, as PowerShell passes them."""

    def register(function: Callable[..., NativeOutput]) -> Callable[..., NativeOutput]:
        @registry.command(*names)
        def handler(host: WindowsHost, invocation: Invocation, input_objects: list[Any]) -> list[Any]:
            arguments: list[str] = []
            for key, value in invocation.parameters:
                if key is not None:
                    arguments.append(f"-{key}")
                    if value is True:
                        continue
                if isinstance(value, (list, tuple)):
                    arguments.extend(str(item) for item in value)
                else:
                    arguments.append(str(value))
            result = function(host, arguments, input_objects)
            host.last_exit_code = result.exit_code
            for line in result.stderr:
                host.write_error(line, category="NotSpecified", error_id="NativeCommandError",
                                 exception_type="System.Management.Automation.RemoteException", target=line)
            return list(result.lines)
        return function
    return register


# --- helpers for handlers -----------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def wildcard_match(pattern: str, text: str) -> bool:
    """PowerShell's -like (case-insensitive, ``*``, ``?`` and ``[a-z]``)."""
    return fnmatch.fnmatchcase(text.lower(), str(pattern).lower())


def has_wildcard(text: str) -> bool:
    return bool(re.search(r"[*?\[]", str(text)))


def resolve_computer(host: WindowsHost, computer: Any) -> WindowsHost | None:
    """The host a ``-ComputerName`` names (".", "localhost" and the own name are the host itself);
    None when no host of the lab answers to it or it is not running."""
    if computer is None:
        return host
    name = str(computer).strip()
    if name.lower() in (".", "localhost", "127.0.0.1") or name.lower() in host.answers_to():
        return host
    target = host.lab.find(name) if host.lab is not None else None
    if target is None or target.power != "on":
        return None
    return target
