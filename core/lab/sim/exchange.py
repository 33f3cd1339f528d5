"""The lab's Exchange 2000/2003: installation, storage groups and stores, setup.exe.

Where things live, as in real Exchange:

* **Active Directory** holds the Exchange *server object* and, under it, the
  storage groups and stores with their paths and "Do not mount at startup".
  The lab keeps that configuration Python-side in :class:`ExchangeOrganization`
  (the lab's Samba DC has no Exchange schema), keyed by server name: whichever
  host currently carries production's name sees production's stores, as the
  standby does after the rename of seed step 2.1. Whether the server object is
  in the real directory is asked through ``ExchangeOrganization.directory_has_server``
  when the lab gives one (a callable; see :func:`seed_site`), and a
  disaster-recovery setup refuses to run without it.
* **The host** holds the installation (registry, services, the Exchsrvr
  folder), which stores its Information Store has mounted, and the database
  files themselves (``qrdr.lab.sim.ese``: their state travels with them).

The state classes here speak to the host through :class:`HostPort`, the few
operations they need (files, registry, services, processes, clock);
:class:`WindowsHostPort` adapts the lab's ``WindowsHost`` to it, and the
command handlers at the end of the module register setup.exe/update.exe
(Start-Process), eseutil, sysocmgr and the shipped store scripts.

Python control API (the lab and tests)::

    organization = seed_site(site, hosts, options=LabOptions(setup_seconds=0.3),
                             directory_has_server=lambda name: ...)   # production seeded
    state = ExchangeState.for_host(hosts["production"])
    state.stores()                        # what qrdr:Get-ExchangeStore returns
    state.write_transactions(5)           # production's users work: logs roll, logs required move
    organization.options.setup_hangs_at_system_attendant = True      # KB Q280432 from now on
    organization.directory_service_rights = lambda computer: None or "why not"  # runbook step 3 gate
    add_outlook_profile(hosts["standby"], "Outlook")

Facts this simulation follows (Exchange 2000 SP3 / 2003 SP2):

* Services: 2003 adds MSExchangeMGMT; both have SA, IS (needs SA), MTA
  (needs SA), RESvc, IMAP4Svc, POP3Svc, MSExchangeES, MSExchangeSRS.
* Builds: Exchange 2000 RTM 4417 (SP1 4712, SP2 5762, SP3 6249); Exchange
  2003 RTM 6944 (SP1 7226, SP2 7638). ``MsiProductMajor`` is 6 for both.
* A database whose store is mounted is Dirty Shutdown on disk, needing the
  logs from the checkpoint to the current log; dismounting leaves it Clean.
"""

from __future__ import annotations

import configparser
import datetime as dt
import ntpath
import secrets
import threading
from typing import Any, Callable, Iterable, Protocol

import attrs

from . import ese

# --------------------------------------------------------------------------- facts

BUILDS: dict[str, dict[str | None, int]] = {
    "2000": {None: 4417, "SP1": 4712, "SP2": 5762, "SP3": 6249},
    "2003": {None: 6944, "SP1": 7226, "SP2": 7638},
}
MSI_PRODUCT_MINOR = {"2000": 0, "2003": 5}
PRODUCT_NAME = {"2000": "Microsoft Exchange 2000", "2003": "Microsoft Exchange Server 2003"}

SETUP_KEY = r"HKLM:\SOFTWARE\Microsoft\Exchange\Setup"
UNINSTALL_ROOT = r"HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall"
#: The two Uninstall keys the cleanup appendix deletes by hand (an uninstall leaves them behind).
UNINSTALL_KEYS = ("{65D9643D-06E8-47d6-865E-80F4CC9BB879}", "{13F9F3AF-9463-4492-854A-191CCC441FDB}")
ASPNET_KEY = r"HKLM:\SOFTWARE\Microsoft\ASP.NET"
SETUP_LOG = r"C:\Exchange Server Setup Progress.log"
#: Kept open by a process after an uninstall (cleanup appendix: "use procexp.exe ... and kill them").
LOCKED_DLLS = ("exchmem.dll", "exsp.dll", "pttrace.dll")
#: The process that holds them in the lab (Windows' WMI provider host loads Exchange's WMI providers).
DLL_HOLDER_PATH = r"C:\WINDOWS\system32\wbem\wmiprvse.exe"
OUTLOOK_PROFILES_KEY = r"HKCU:\Software\Microsoft\Windows NT\CurrentVersion\Windows Messaging Subsystem\Profiles"

MESSAGING_COMPONENT = "Microsoft Exchange Messaging and Collaboration Services"


@attrs.frozen
class ServiceSpec:
    name: str
    display_name: str
    depends_on: tuple[str, ...] = ()
    #: Start mode right after setup: "Auto", "Manual" or "Disabled" (Win32_Service.StartMode words).
    start_mode: str = "Auto"

    @property
    def started_by_setup(self) -> bool:
        """Setup's post-installation processing starts the Automatic services."""
        return self.start_mode == "Auto"


def services_for(version: str) -> list[ServiceSpec]:
    """The Exchange services of this version, System Attendant first (the lab's service catalogue,
    ``qrdr.lab.sim.services.exchange_services``: 2003 adds MSExchangeMGMT)."""
    from .services import exchange_services

    return [ServiceSpec(name, display, tuple(deps), mode)
            for name, (display, deps, mode) in exchange_services(version).items()]


def iis_service(name: str) -> ServiceSpec:
    """An IIS service of the lab's catalogue (``qrdr.lab.sim.services.IIS_SERVICES``)."""
    from .services import IIS_SERVICES

    display, deps = IIS_SERVICES[name]
    return ServiceSpec(name, display, tuple(deps))


#: sysocmgr answer-file components -> the services they bring (IIS common files first).
WINDOWS_COMPONENT_SERVICES: dict[str, tuple[str, ...]] = {
    "iis_common": ("IISADMIN",),
    "iis_www": ("W3SVC",),
    "iis_smtp": ("SMTPSVC",),
    "iis_nntp": ("NNTPSVC",),
}


# --------------------------------------------------------------------------- errors


class ExchangeError(Exception):
    """An error as Exchange's COM objects or tools raise it.

    ``hresult`` is the COM error code (e.g. 0xC1041724 for a store that will
    not mount); the command handlers turn it into the PowerShell error record.
    """

    def __init__(self, message: str, *, hresult: int = 0x80004005, category: str = "NotSpecified"):
        super().__init__(message)
        self.hresult = hresult
        self.category = category


def _mount_error(detail: str) -> ExchangeError:
    return ExchangeError(
        "An internal processing error has occurred. Try restarting the Exchange System Manager or the "
        f"Microsoft Exchange Information Store service, or both. ID no: c1041724 ({detail})",
        hresult=0xC1041724)


# --------------------------------------------------------------------------- host port


class HostPort(Protocol):
    """What the Exchange simulation needs from a simulated Windows host.

    Paths are Windows paths (``C:\\...``, ``HKLM:\\...``), compared case-insensitively.
    """

    def computer_name(self) -> str:
        """The NetBIOS name the host runs under now (upper case)."""

    def windows_version(self) -> str:
        """"2000" or "2003"."""

    def now(self) -> dt.datetime:
        """The lab clock (aware UTC)."""

    # files
    def read_text(self, path: str) -> str | None: ...
    def write_text(self, path: str, text: str) -> None: ...
    def delete_file(self, path: str) -> None: ...
    def list_files(self, folder: str) -> list[str]:
        """Full paths of the files directly in ``folder``."""
    def list_tree(self, folder: str) -> list[str]:
        """Full paths of every file under ``folder`` (a drive root such as ``E:\\`` included)."""
    def volumes(self) -> list[str]:
        """Drive letters of the local disks, e.g. ``["C:", "E:"]``."""
    def make_folder(self, path: str) -> None: ...
    def delete_tree(self, path: str) -> None:
        """Remove a folder with everything in it, ignoring locks (setup's own removal)."""
    def clear_tree(self, folder: str) -> None:
        """Empty a folder or a drive root, keeping it (a block copy replacing a volume)."""

    # registry
    def registry_exists(self, key: str) -> bool: ...
    def registry_set(self, key: str, values: dict[str, Any]) -> None:
        """Create the key (and parents) and set these values."""
    def registry_delete(self, key: str) -> None:
        """Delete the key and its subkeys; no error when it is absent."""

    # services
    def service_exists(self, name: str) -> bool: ...
    def add_service(self, spec: ServiceSpec) -> None:
        """Register the service; one already registered is taken over as it is (setup re-registers)."""
    def service_dependencies(self, name: str) -> list[str]: ...
    def remove_service(self, name: str) -> None: ...
    def service_running(self, name: str) -> bool: ...
    def set_service_running(self, name: str, running: bool) -> None:
        """Set the state directly (setup starts and stops services itself)."""

    # processes and time
    def start_process(self, path: str, *, locks: Iterable[str] = ()) -> int:
        """A new process (running until stopped) holding the files ``locks`` open; its id."""
    def process_running(self, pid: int) -> bool: ...
    def exit_process(self, pid: int, exit_code: int) -> None:
        """The process ends by itself with this exit code."""
    def schedule(self, seconds: float, action: Callable[[], None]) -> None:
        """Run ``action`` after ``seconds`` of lab time, never during a pipeline of the host."""


# --------------------------------------------------------------------------- Active Directory side


@attrs.define
class StoreConfig:
    """A store as its AD object describes it (msExchEDBFile, msExchSLVFile, msExchEDBOffline)."""

    name: str
    #: "Mailbox" or "Public".
    kind: str
    edb_path: str
    stm_path: str
    #: False when "Do not mount this store at startup" is ticked.
    mount_at_startup: bool = True


@attrs.define
class StorageGroupConfig:
    name: str
    log_path: str
    system_path: str
    #: The log stream's base name: E00 for the first storage group.
    log_prefix: str = "E00"
    stores: list[StoreConfig] = attrs.field(factory=list)

    def store(self, name: str) -> StoreConfig | None:
        return next((s for s in self.stores if s.name.lower() == name.lower()), None)


@attrs.define
class ServerObject:
    """CN=<server>,CN=Servers,CN=<admin group>,... with its storage groups."""

    name: str
    version: str
    components: tuple[str, ...]
    service_pack: str | None = None
    storage_groups: list[StorageGroupConfig] = attrs.field(factory=list)

    def storage_group(self, name: str) -> StorageGroupConfig | None:
        return next((g for g in self.storage_groups if g.name.lower() == name.lower()), None)

    def find_store(self, name: str) -> tuple[StorageGroupConfig, StoreConfig] | None:
        for group in self.storage_groups:
            store = group.store(name)
            if store is not None:
                return group, store
        return None


@attrs.frozen
class Media:
    """Setup media the lab knows by path: setup.exe of a version, or a service pack's update.exe."""

    kind: str  # "setup" or "update"
    version: str
    service_pack: str | None = None


@attrs.define
class LabOptions:
    """Lab switches that make the simulated Exchange behave as the runbook warns it may."""

    #: Seconds setup.exe / update.exe run before they finish (short: it is a lab).
    setup_seconds: float = 0.3
    #: KB Q280432: setup hangs starting the System Attendant; the process never exits.
    setup_hangs_at_system_attendant: bool = False
    #: The setup account has the rights DomainPrep grants; without them setup exits 1.
    domainprep_rights: bool = True
    #: An uninstall leaves the two Uninstall keys and the three DLLs (held open) behind.
    uninstall_leaves_leftovers: bool = True


@attrs.define
class ExchangeOrganization:
    """The lab's Exchange organization: server objects (the AD side), media, options."""

    name: str
    administrative_group: str = "First Administrative Group"
    servers: dict[str, ServerObject] = attrs.field(factory=dict)
    #: Normalised path -> media, for every host (the same CD image everywhere).
    media: dict[str, Media] = attrs.field(factory=dict)
    options: LabOptions = attrs.field(factory=LabOptions)
    #: Asks the lab's directory whether CN=<server> exists under CN=Servers; None: not checked.
    directory_has_server: Callable[[str], bool] | None = None
    #: Runbook step 3 ("To enable the Exchange Services to start on the Standby Server ..."):
    #: given the computer name the System Attendant starts under, None when that computer
    #: account has the rights on the organization and Servers containers, else why not.
    #: The lab wires it to its directory; None: not checked (the System Attendant always starts).
    directory_service_rights: Callable[[str], str | None] | None = None

    def server(self, name: str) -> ServerObject | None:
        return self.servers.get(name.upper())

    def add_media(self, path: str, media: Media) -> None:
        self.media[_norm(path)] = media


# --------------------------------------------------------------------------- per-host state


@attrs.define
class ExchangeInstall:
    """What setup left on a host: version, mode, path, components, service pack."""

    version: str
    #: "normal" or "disaster-recovery" (setup /DisasterRecovery).
    mode: str
    install_path: str
    components: tuple[str, ...]
    service_pack: str | None = None

    @property
    def build(self) -> int:
        return BUILDS[self.version][self.service_pack]


@attrs.define
class SetupRun:
    """One run of setup.exe or update.exe (a process on the host)."""

    pid: int
    program: str
    started: dt.datetime
    finishes: dt.datetime
    #: Setup's post-installation processing, run at ``finishes``: starts services and returns
    #: the exit code (None: it hangs and the process never exits).
    finish: Callable[[], int | None]
    exit_code: int | None = None
    finished: bool = False


def _norm(path: str) -> str:
    return path.replace("/", "\\").rstrip("\\").lower()


def _same_path(a: str, b: str) -> bool:
    return _norm(a) == _norm(b)


def _signature(now: dt.datetime) -> str:
    return f"Create time:{now:%m/%d/%Y %H:%M:%S} Rand:{secrets.randbelow(10**8)} Computer:"


class ExchangeState:
    """Exchange on one simulated host: installation, mounted stores, setup runs.

    Created by :meth:`for_host`; one per host object. All methods raise
    :class:`ExchangeError` with the text Exchange gives.
    """

    def __init__(self, port: HostPort, organization: ExchangeOrganization):
        self.port = port
        self.organization = organization
        self.install: ExchangeInstall | None = None
        #: Lower-case names of the stores this host's Information Store has mounted.
        self.mounted: set[str] = set()
        self.setup_runs: dict[int, SetupRun] = {}
        #: The process holding the DLLs after an uninstall, if any.
        self.dll_holder_pid: int | None = None

    @staticmethod
    def for_host(host: Any) -> "ExchangeState":
        """The Exchange state of a lab host (``host.exchange``); ValueError names the host when none."""
        state = host.exchange
        if not isinstance(state, ExchangeState):
            raise ValueError(f"lab host {host.name} has no Exchange state: call qrdr.lab.sim.exchange.attach() first")
        return state

    # ------------------------------------------------------------------ lookups

    @property
    def server(self) -> ServerObject | None:
        """The server object of the name this host runs under now."""
        return self.organization.server(self.port.computer_name())

    def _require_server(self) -> ServerObject:
        if self.install is None:
            raise ExchangeError(
                "Retrieving the COM class factory for component with CLSID "
                "{CD000040-8B95-11D1-82DB-00C04FB1625D} failed due to the following error: 80040154.",
                hresult=0x80040154, category="ResourceUnavailable")
        server = self.server
        if server is None:
            raise ExchangeError("There is no such object on the server.", hresult=0x80072030,
                                category="ObjectNotFound")
        return server

    def _find(self, name: str) -> tuple[StorageGroupConfig, StoreConfig]:
        found = self._require_server().find_store(name)
        if found is None:
            raise ExchangeError(f"There is no such object on the server. (store {name!r})", hresult=0x80072030,
                                category="ObjectNotFound")
        return found

    def stores(self) -> list[dict[str, Any]]:
        """What ``qrdr:Get-ExchangeStore`` returns, one dict per store."""
        server = self._require_server()
        rows = []
        for group in server.storage_groups:
            for store in group.stores:
                rows.append({
                    "Name": store.name, "StorageGroup": group.name, "Type": store.kind,
                    "EdbPath": store.edb_path, "StmPath": store.stm_path, "LogPath": group.log_path,
                    "SystemPath": group.system_path, "Mounted": store.name.lower() in self.mounted,
                    "MountAtStartup": store.mount_at_startup,
                })
        return rows

    # ------------------------------------------------------------------ log stream

    def _current_generation(self, group: StorageGroupConfig) -> int | None:
        current = ese.parse(self.port.read_text(ntpath.join(group.log_path, ese.log_file_name(group.log_prefix, None))))
        return current.generation if isinstance(current, ese.LogFile) else None

    def _mounted_edbs(self, group: StorageGroupConfig) -> list[str]:
        return [s.edb_path for s in group.stores if s.name.lower() in self.mounted]

    def _write_current_log(self, group: StorageGroupConfig, generation: int, signature: str) -> None:
        log = ese.LogFile(generation, signature, self._mounted_edbs(group))
        self.port.write_text(ntpath.join(group.log_path, ese.log_file_name(group.log_prefix, None)), log.to_text())

    def _checkpoint(self, group: StorageGroupConfig) -> ese.Checkpoint | None:
        record = ese.parse(self.port.read_text(ntpath.join(group.system_path, ese.checkpoint_name(group.log_prefix))))
        return record if isinstance(record, ese.Checkpoint) else None

    def _write_checkpoint(self, group: StorageGroupConfig, generation: int, signature: str) -> None:
        self.port.write_text(ntpath.join(group.system_path, ese.checkpoint_name(group.log_prefix)),
                             ese.Checkpoint(generation, signature).to_text())

    # ------------------------------------------------------------------ stores

    def mount(self, name: str) -> None:
        """Mount a store as the Information Store does (CDOEXM ``$db.Mount()``)."""
        group, store = self._find(name)
        if name.lower() in self.mounted:
            return
        if not self.port.service_running("MSExchangeIS"):
            raise ExchangeError("The Microsoft Exchange Information Store service could not be contacted. "
                                "ID no: c1041722", hresult=0xC1041722, category="ResourceUnavailable")
        if not store.mount_at_startup:
            # Mount(): "the store must be enabled" (CDOEXM, ms877261); Enabled is "Do not mount this store
            # at start-up" cleared. The wording and code of the refusal are not documented.
            raise ExchangeError(f"The store '{store.name}' is not enabled (Do not mount this store at start-up): "
                                "enable it before mounting it.", hresult=0x80004005, category="InvalidOperation")
        header = ese.parse(self.port.read_text(store.edb_path))
        if header is None or self.port.read_text(store.stm_path) is None:
            raise _mount_error(ese.jet_error_text(-1811))
        if not isinstance(header, ese.DatabaseHeader) or header.torn:
            raise _mount_error(ese.jet_error_text(-1206))
        if header.state != ese.CLEAN_SHUTDOWN:
            raise _mount_error(ese.jet_error_text(-550))
        generation = self._current_generation(group)
        signature = header.log_signature
        current = ese.parse(self.port.read_text(ntpath.join(group.log_path, ese.log_file_name(group.log_prefix, None))))
        if isinstance(current, ese.LogFile):
            signature = current.log_signature
        if generation is None:
            generation = header.last_consistent + 1
        checkpoint = self._checkpoint(group)
        low = checkpoint.generation if checkpoint and checkpoint.log_signature == signature else generation
        self.mounted.add(name.lower())
        try:  # the log stream first: a log or system path on a missing drive fails before anything changed
            self._write_current_log(group, generation, signature)
            self._write_checkpoint(group, low, signature)
        except OSError:
            self.mounted.discard(name.lower())
            raise _mount_error(ese.jet_error_text(-1023)) from None
        header.state = ese.DIRTY_SHUTDOWN
        header.log_signature = signature
        header.log_required = (low, generation)
        self.port.write_text(store.edb_path, header.to_text())

    def dismount(self, name: str) -> None:
        """Dismount: the database is flushed and left Clean Shutdown."""
        group, store = self._find(name)
        if name.lower() not in self.mounted:
            return
        self.mounted.discard(name.lower())
        header = ese.parse(self.port.read_text(store.edb_path))
        generation = self._current_generation(group) or 0
        if isinstance(header, ese.DatabaseHeader):
            header.state = ese.CLEAN_SHUTDOWN
            header.log_required = (0, 0)
            header.last_consistent = generation
            self.port.write_text(store.edb_path, header.to_text())
            self._write_checkpoint(group, generation, header.log_signature)
        if generation:
            current = ese.parse(self.port.read_text(ntpath.join(group.log_path, ese.log_file_name(group.log_prefix, None))))
            if isinstance(current, ese.LogFile):
                self._write_current_log(group, generation, current.log_signature)

    def dismount_all(self) -> None:
        """What stopping the Information Store does to every mounted store."""
        server = self.server
        if server is None:
            self.mounted.clear()
            return
        for name in sorted(self.mounted):
            if server.find_store(name):
                self.dismount(name)
        self.mounted.clear()

    def set_store(self, name: str, *, edb_path: str | None = None, stm_path: str | None = None,
                  mount_at_startup: bool | None = None) -> None:
        """Change a store's AD attributes (paths only while dismounted, as ESM requires)."""
        _group, store = self._find(name)
        moving = (edb_path is not None and not _same_path(edb_path, store.edb_path)) or \
                 (stm_path is not None and not _same_path(stm_path, store.stm_path))
        if moving and name.lower() in self.mounted:
            raise ExchangeError(f"The store '{store.name}' must be dismounted before its database files can be "
                                "moved. ID no: c1034a7f", hresult=0xC1034A7F, category="InvalidOperation")
        if edb_path is not None:
            store.edb_path = edb_path
        if stm_path is not None:
            store.stm_path = stm_path
        if mount_at_startup is not None:
            store.mount_at_startup = mount_at_startup

    def remove_store(self, name: str) -> None:
        group, store = self._find(name)
        if name.lower() in self.mounted:
            raise ExchangeError(f"The store '{store.name}' is mounted. Dismount it before deleting it. "
                                "ID no: c1034a7f", hresult=0xC1034A7F, category="InvalidOperation")
        group.stores.remove(store)

    def remove_storage_group(self, name: str) -> None:
        server = self._require_server()
        group = server.storage_group(name)
        if group is None:
            raise ExchangeError(f"There is no such object on the server. (storage group {name!r})",
                                hresult=0x80072030, category="ObjectNotFound")
        if group.stores:
            raise ExchangeError(f"The storage group '{group.name}' cannot be deleted because it still contains "
                                f"stores: {', '.join(s.name for s in group.stores)}.", hresult=0x80040FC8,
                                category="InvalidOperation")
        server.storage_groups.remove(group)

    def write_transactions(self, generations: int = 1) -> None:
        """Lab control: production's users work; every mounted storage group rolls its log this many times.

        The checkpoint trails the current log by two generations, so a
        database copied now needs ``checkpoint..current`` to recover.
        """
        server = self._require_server()
        for group in server.storage_groups:
            if not self._mounted_edbs(group):
                continue
            current_path = ntpath.join(group.log_path, ese.log_file_name(group.log_prefix, None))
            current = ese.parse(self.port.read_text(current_path))
            assert isinstance(current, ese.LogFile), "a mounted storage group always has its current log"
            generation = current.generation
            for _ in range(generations):
                current.databases = self._mounted_edbs(group)
                self.port.write_text(ntpath.join(group.log_path, ese.log_file_name(group.log_prefix, generation)),
                                     current.to_text())
                generation += 1
                current = ese.LogFile(generation, current.log_signature, self._mounted_edbs(group))
            self._write_current_log(group, generation, current.log_signature)
            low = max(1, generation - 2)
            self._write_checkpoint(group, low, current.log_signature)
            for store in group.stores:
                if store.name.lower() not in self.mounted:
                    continue
                header = ese.parse(self.port.read_text(store.edb_path))
                if isinstance(header, ese.DatabaseHeader):
                    header.log_required = (low, generation)
                    self.port.write_text(store.edb_path, header.to_text())

    def stop_information_store(self) -> None:
        """Called when MSExchangeIS stops: its stores are dismounted cleanly."""
        self.dismount_all()

    def start_information_store(self) -> list[str]:
        """Called when MSExchangeIS starts: mounts the stores marked to mount at startup.

        Returns the names that failed to mount (the event log would say why);
        a failure does not stop the service, as on Windows.
        """
        failed = []
        server = self.server
        if server is None:
            return failed
        for group in server.storage_groups:
            for store in group.stores:
                if store.mount_at_startup:
                    try:
                        self.mount(store.name)
                    except ExchangeError:
                        failed.append(store.name)
        return failed

    # ------------------------------------------------------------------ setup.exe / update.exe / uninstall

    def log(self, message: str) -> None:
        """Append a line to 'C:\\Exchange Server Setup Progress.log' as setup does."""
        previous = self.port.read_text(SETUP_LOG) or ""
        stamp = self.port.now().strftime("%H:%M:%S")
        self.port.write_text(SETUP_LOG, previous + f"[{stamp}] {message}\n")

    def start_program(self, path: str, arguments: list[str], pid: int, *, directory_access: bool = True) -> SetupRun:
        """setup.exe / update.exe started as process ``pid`` (``Start-Process ... -PassThru``).

        What setup changes on the host (files, registry, services, or the
        uninstall) happens at once, while the process runs; after
        ``LabOptions.setup_seconds`` (through ``HostPort.schedule``) the
        post-installation processing starts the services and the process exits
        with 0. A setup that refuses to run logs why in 'C:\\Exchange Server
        Setup Progress.log' and exits 1 at once. With
        ``setup_hangs_at_system_attendant`` (KB Q280432) the System Attendant
        reaches Running and the process never exits: stopping it (Stop-Process)
        leaves Exchange installed.

        ``directory_access``: whether the process's logon holds credentials for
        a domain controller. Setup reads and writes the Exchange configuration
        in Active Directory; from a logon without them (a WinRM session, a
        process created remotely through WMI) that work fails, and setup with
        it (the second hop: qrdr.lab.sim.access; setup's own wording of the
        failure is not documented: the lab logs the ADSI error a bind gives).
        """
        switches = [str(arg) for arg in arguments]
        lowered = [arg.lower() for arg in switches]
        now = self.port.now()
        program = ntpath.basename(path)
        media = self.organization.media.get(_norm(path))
        run = SetupRun(pid=pid, program=program, started=now, finishes=now, finish=lambda: 1)
        self.setup_runs[pid] = run
        if media is None:
            self.log(f"{path} is not Exchange setup media this lab knows.")
            self._end(run, 1)
            return run
        if not directory_access:
            self._refuse(f"{program} could not read the Exchange configuration from Active Directory: An operations "
                         "error occurred. (0x80072020) The account that runs setup must be able to reach a domain "
                         "controller.")
            self._end(run, 1)
            return run
        if media.kind == "update":
            complete = self._run_update(media, lowered)
        else:
            complete = self._run_setup(media, switches, lowered)
        if complete is None:  # refused: logged already
            self._end(run, 1)
            return run
        run.finish = complete
        delay = self.organization.options.setup_seconds
        run.finishes = now + dt.timedelta(seconds=delay)
        if delay <= 0:
            self._complete(run)
        else:
            self.port.schedule(delay, lambda: self._complete(run))
        return run

    def _complete(self, run: SetupRun) -> None:
        # Runs on the lab's timer, under the lab's lock (HostPort.schedule).
        if run.finished or not self.port.process_running(run.pid):
            return
        run.finished = True
        code = run.finish()
        if code is not None:
            self._end(run, code)

    def _end(self, run: SetupRun, code: int) -> None:
        run.finished = True
        run.exit_code = code
        self.port.exit_process(run.pid, code)

    def _refuse(self, *lines: str) -> None:
        for line in lines:
            self.log(line)
        self.log("Setup failed. ErrorCode is 0xC1034A83.")
        return None

    def _missing_prerequisites(self, version: str) -> list[str]:
        missing = []
        if not self.port.service_exists("SMTPSVC"):
            missing.append("Setup requires that the SMTP service be installed.")
        if not self.port.service_exists("NNTPSVC"):
            missing.append("Setup requires that the NNTP service be installed.")
        if version == "2003" and not self.port.registry_exists(ASPNET_KEY):
            missing.append("Setup requires that ASP.NET be installed.")
        return missing

    def _domainprep_refusal(self) -> str | None:
        if self.organization.options.domainprep_rights:
            return None
        return ("You do not have sufficient permissions to perform this operation. Setup has detected that "
                "the domain has not been prepared or that you do not have the rights DomainPrep grants: "
                "run setup /DomainPrep in this domain and let it replicate.")

    def _run_setup(self, media: Media, switches: list[str], lowered: list[str]) -> Callable[[], int | None] | None:
        self.log(f"Starting {PRODUCT_NAME[media.version]} Setup {' '.join(switches)}")
        unattend = _switch_value(switches, "/unattendfile")
        if unattend is None:
            return self._refuse("This lab runs setup unattended only: give /UnattendFile <file>.")
        text = self.port.read_text(unattend)
        if text is None:
            return self._refuse(f"The unattended file '{unattend}' could not be found.")
        try:
            answers = parse_unattend(text)
        except ValueError as exc:
            return self._refuse(f"The unattended file '{unattend}' is not valid: {exc}")
        if answers.action == "Remove":
            return self._run_uninstall(media)
        if "/disasterrecovery" not in lowered:
            return self._refuse("This lab only installs Exchange with /DisasterRecovery "
                                "(production is seeded by the lab, not installed).")
        if self.install is not None:
            return self._refuse(f"{PRODUCT_NAME[self.install.version]} is already installed on this server.")
        if media.version == "2000" and self.port.windows_version() == "2003":
            return self._refuse("Microsoft Exchange 2000 Server is not supported on Windows Server 2003.")
        component = MESSAGING_COMPONENT
        missing = self._missing_prerequisites(media.version)
        if missing:
            return self._refuse(f"The component \"{component}\" cannot be assigned the action \"DisasterRecovery\" "
                                "because:", *(f" - {line}" for line in missing))
        name = self.port.computer_name()
        server = self.organization.server(name)
        in_directory = self.organization.directory_has_server
        if server is None or (in_directory is not None and not in_directory(name)):
            return self._refuse(
                f"The component \"{component}\" cannot be assigned the action \"DisasterRecovery\" because: "
                f"Setup cannot find the server object '{name}' in Active Directory. Disaster recovery mode uses "
                "the existing Exchange server object of this computer's name.")
        if server.version != media.version:
            return self._refuse(f"This is {PRODUCT_NAME[media.version]} setup but the server object '{name}' "
                                f"belongs to {PRODUCT_NAME[server.version]}.")
        wanted = {c.lower() for c in server.components}
        chosen = {c.lower() for c in answers.components_with("Install")}
        if wanted != chosen:
            extra = sorted(c for c in answers.components_with("Install") if c.lower() not in wanted)
            lacking = sorted(c for c in server.components if c.lower() not in chosen)
            detail = "; ".join(filter(None, [f"not on the server object: {', '.join(extra)}" if extra else "",
                                             f"installed on the server object but not selected: {', '.join(lacking)}"
                                             if lacking else ""]))
            return self._refuse("The components selected for disaster recovery do not match the components of "
                                f"server '{name}' ({detail}).")
        refusal = self._domainprep_refusal()
        if refusal:
            return self._refuse(refusal)
        install_path = answers.install_dir or r"C:\Program Files\Exchsrvr"
        drive = ntpath.splitdrive(install_path)[0].upper()
        if drive not in self.port.volumes():
            return self._refuse(f"The installation path '{install_path}' is not valid: there is no drive {drive}.")
        self.log("Copying files")
        self._install(ExchangeInstall(media.version, "disaster-recovery", install_path, tuple(server.components)))
        version = media.version

        def complete() -> int | None:
            self.log("Post-installation processing: starting Microsoft Exchange System Attendant")
            self.port.set_service_running("MSExchangeSA", True)
            if self.organization.options.setup_hangs_at_system_attendant:
                return None  # KB Q280432: the System Attendant runs, setup never returns
            for spec in services_for(version):
                if spec.started_by_setup and spec.name != "MSExchangeSA":
                    self._start_with_dependencies(spec.name)
            self.log("Please use Exchange Admin Snap-in to ensure that you have a valid Exchange Server Object "
                     "for this server for which you are running setup in recovery mode.")
            self.log("After setup has completed, please restore your databases from backup and then reboot "
                     "your machine.")
            self.log("Setup completed")
            return 0

        return complete

    def _run_update(self, media: Media, lowered: list[str]) -> Callable[[], int | None] | None:
        self.log(f"Starting {PRODUCT_NAME[media.version]} {media.service_pack} Setup (update.exe)")
        if self.install is None:
            return self._refuse("Microsoft Exchange is not installed on this server.")
        if self.install.version != media.version:
            return self._refuse(f"This service pack is for {PRODUCT_NAME[media.version]}; this server runs "
                                f"{PRODUCT_NAME[self.install.version]}.")
        dr_switch = "/disasterrecovery" in lowered
        if self.install.mode == "disaster-recovery" and not dr_switch:
            return self._refuse("Exchange was installed in disaster recovery mode: run update.exe /DisasterRecovery.")
        if self.install.mode != "disaster-recovery" and dr_switch:
            return self._refuse("/DisasterRecovery applies to a server installed in disaster recovery mode only.")
        refusal = self._domainprep_refusal()
        if refusal:
            return self._refuse(refusal)
        self.install.service_pack = media.service_pack
        self._write_setup_key(self.install)
        build = self.install.build

        def complete() -> int:
            self.log(f"{media.service_pack} applied: build {build}")
            self.log("Setup completed")
            return 0

        return complete

    def _run_uninstall(self, media: Media) -> Callable[[], int | None] | None:
        if self.install is None:
            return self._refuse("Microsoft Exchange is not installed on this server.")
        if self.install.version != media.version:
            return self._refuse(f"This is {PRODUCT_NAME[media.version]} setup; this server runs "
                                f"{PRODUCT_NAME[self.install.version]}.")
        self.log("Removing Microsoft Exchange")
        self._uninstall()

        def complete() -> int:
            self.log("Setup completed")
            return 0

        return complete

    def _start_with_dependencies(self, name: str) -> None:
        for dependency in self.port.service_dependencies(name):
            if self.port.service_exists(dependency):
                self._start_with_dependencies(dependency)
        self.port.set_service_running(name, True)

    def _write_setup_key(self, install: ExchangeInstall) -> None:
        self.port.registry_set(SETUP_KEY, {
            "Services": install.install_path,
            "MsiProductMajor": 6,
            "MsiProductMinor": MSI_PRODUCT_MINOR[install.version],
            "ServicePackBuild": BUILDS[install.version][install.service_pack] if install.service_pack else 0,
            "NewestBuild": install.build,
        })

    def _install(self, install: ExchangeInstall) -> None:
        """Lay down what setup leaves on a host: registry, services, the Exchsrvr folder."""
        self.install = install
        self._write_setup_key(install)
        for index, key in enumerate(UNINSTALL_KEYS):
            self.port.registry_set(f"{UNINSTALL_ROOT}\\{key}", {
                "DisplayName": PRODUCT_NAME[install.version] if index == 0 else f"{PRODUCT_NAME[install.version]} "
                                                                                 "Setup support files",
                "InstallLocation": install.install_path,
            })
        for spec in services_for(install.version):
            self.port.add_service(spec)
        bin_path = ntpath.join(install.install_path, "bin")
        for program in ("eseutil.exe", "store.exe", "mad.exe", *LOCKED_DLLS):
            self.port.write_text(ntpath.join(bin_path, program), f"lab binary {program} ({install.version})")
        self.port.make_folder(ntpath.join(install.install_path, "mdbdata"))

    def _uninstall(self) -> None:
        install = self.install
        assert install is not None
        self.dismount_all()
        for spec in reversed(services_for(install.version)):
            if self.port.service_exists(spec.name):
                self.port.set_service_running(spec.name, False)
                self.port.remove_service(spec.name)
        self.port.registry_delete(SETUP_KEY)
        bin_path = ntpath.join(install.install_path, "bin")
        self.install = None
        if not self.organization.options.uninstall_leaves_leftovers:
            for key in UNINSTALL_KEYS:
                self.port.registry_delete(f"{UNINSTALL_ROOT}\\{key}")
            self.port.delete_tree(install.install_path)
            return
        keep = {_norm(ntpath.join(bin_path, dll)) for dll in LOCKED_DLLS}
        for path in self.port.list_files(bin_path):
            if _norm(path) not in keep:
                self.port.delete_file(path)
        self.dll_holder_pid = self.port.start_process(
            DLL_HOLDER_PATH, locks=[ntpath.join(bin_path, dll) for dll in LOCKED_DLLS])

    def seed_installed(self, install: ExchangeInstall) -> None:
        """Lab control: Exchange as production has it, installed and running (no setup run)."""
        self._install(install)
        for spec in services_for(install.version):
            if spec.started_by_setup:
                self._start_with_dependencies(spec.name)


# --------------------------------------------------------------------------- unattend files and components


@attrs.frozen
class UnattendAnswers:
    """What the lab reads from an Exchange setup unattend (.ini) file.

    The lab's subset of the file setup /CreateUnattend writes::

        [Version]
        Signature = "$Windows NT$"
        [Component List]
        Microsoft Exchange Messaging and Collaboration Services = Install
        Microsoft Exchange System Management Tools = Install
        [Exchange Settings]
        InstallDir = C:\\Program Files\\Exchsrvr

    Component actions are Install, Remove or None. A file whose every listed
    component is Remove uninstalls Exchange (``setup.exe /UnattendFile remove.ini``).
    """

    components: tuple[tuple[str, str], ...]
    install_dir: str | None = None

    def components_with(self, action: str) -> list[str]:
        return [name for name, value in self.components if value.lower() == action.lower()]

    @property
    def action(self) -> str:
        actions = {value.lower() for _name, value in self.components if value.lower() != "none"}
        return "Remove" if actions == {"remove"} else "Install"


def parse_unattend(text: str) -> UnattendAnswers:
    """Parse an unattend file; ValueError names what is wrong."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",))
    parser.optionxform = str  # keep component names as written
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    sections = {name.lower(): name for name in parser.sections()}
    if "component list" not in sections:
        raise ValueError("no [Component List] section")
    components = []
    for name, value in parser.items(sections["component list"]):
        action = value.strip().strip('"')
        if action.lower() not in ("install", "remove", "none"):
            raise ValueError(f"component {name!r}: action {action!r} is not Install, Remove or None")
        components.append((name.strip(), action.capitalize()))
    if not components:
        raise ValueError("[Component List] names no component")
    install_dir = None
    if "exchange settings" in sections:
        for key, value in parser.items(sections["exchange settings"]):
            if key.lower() == "installdir":
                install_dir = value.strip().strip('"')
    return UnattendAnswers(tuple(components), install_dir)


def render_unattend(components: Iterable[str], action: str = "Install", install_dir: str | None = None) -> str:
    """The unattend text for these components (what a plugin writes with Set-Content)."""
    lines = ["[Version]", 'Signature = "$Windows NT$"', "[Component List]"]
    lines += [f"{name} = {action}" for name in components]
    if install_dir:
        lines += ["[Exchange Settings]", f"InstallDir = {install_dir}"]
    return "\r\n".join(lines) + "\r\n"


def _switch_value(switches: list[str], name: str) -> str | None:
    for index, switch in enumerate(switches):
        lowered = switch.lower()
        if lowered == name and index + 1 < len(switches):
            return switches[index + 1]
        if lowered.startswith(name + ":"):
            return switch[len(name) + 1:]
    return None


def parse_sysoc_answers(text: str) -> dict[str, bool]:
    """``[Components]`` of a sysocmgr answer file: component -> on/off (lower-case names)."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, delimiters=("=",))
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    section = next((s for s in parser.sections() if s.lower() == "components"), None)
    if section is None:
        raise ValueError("no [Components] section")
    return {key.lower(): value.strip().lower() in ("on", "1", "yes") for key, value in parser.items(section)}


def install_windows_components(port: HostPort, answers: dict[str, bool]) -> list[str]:
    """What ``sysocmgr /i:sysoc.inf /u:FILE /q`` does: install the components switched on.

    NNTP and SMTP bring IIS common files (IISADMIN) with them; ``aspnet`` writes
    the ASP.NET key (Windows 2003: ASP.NET is a Windows component there; on
    Windows 2000 it comes with the .NET Framework, which the lab treats alike).
    Returns the components installed.
    """
    installed = []
    for component, on in answers.items():
        if not on:
            continue
        if component in WINDOWS_COMPONENT_SERVICES:
            for name in WINDOWS_COMPONENT_SERVICES["iis_common"] + WINDOWS_COMPONENT_SERVICES[component]:
                if not port.service_exists(name):
                    port.add_service(iis_service(name))
                    port.set_service_running(name, True)
            installed.append(component)
        elif component == "aspnet":
            port.registry_set(ASPNET_KEY, {"RootVer": "1.1.4322.0"})
            installed.append(component)
    return installed


# --------------------------------------------------------------------------- seeding from the site model

FIRST_STORAGE_GROUP = "First Storage Group"
#: Log generations production has written when the lab starts: a copy then needs 12-14 (0xc-0xe).
SEED_LOG_GENERATIONS = 14


def _folder_on(volume_letter: str | None, fallback: str) -> str:
    return f"{volume_letter.rstrip(':').upper()}:\\Exchsrvr\\mdbdata" if volume_letter else fallback


def production_layout(site: Any) -> StorageGroupConfig:
    """Production's First Storage Group from ``site.volumes`` (``qrdr.model.Site``).

    The volume that holds ``databases`` gets ``X:\\Exchsrvr\\mdbdata\\priv1.edb``
    (and .stm, pub1.*); the ``logs`` volume the logs; the ``system-path`` volume
    the checkpoint. A role no volume holds stays in the install path's mdbdata
    folder (on C:, which Quick Recovery does not copy).
    """
    from qrdr.model import VolumeContent

    def letter_holding(content: Any) -> str | None:
        return next((v.letter for v in site.volumes if content in v.holds), None)

    default = ntpath.join(site.exchange.install_path, "mdbdata")
    data = _folder_on(letter_holding(VolumeContent.DATABASES), default)
    logs = _folder_on(letter_holding(VolumeContent.LOGS), default)
    system = _folder_on(letter_holding(VolumeContent.SYSTEM_PATH), default)
    server = site.production.name.upper()
    return StorageGroupConfig(FIRST_STORAGE_GROUP, log_path=logs, system_path=system, stores=[
        StoreConfig(f"Mailbox Store ({server})", "Mailbox", ntpath.join(data, "priv1.edb"),
                    ntpath.join(data, "priv1.stm")),
        StoreConfig(f"Public Folder Store ({server})", "Public", ntpath.join(data, "pub1.edb"),
                    ntpath.join(data, "pub1.stm")),
    ])


def build_organization(site: Any, options: LabOptions | None = None,
                       directory_has_server: Callable[[str], bool] | None = None) -> ExchangeOrganization:
    """The organization of a site: production's server object, and the setup media of the standby."""
    exchange = site.exchange
    for pack in filter(None, [exchange.service_pack]):
        if pack not in BUILDS[exchange.version.value]:
            known = ", ".join(str(sp) for sp in BUILDS[exchange.version.value] if sp)
            raise ValueError(f"site {site.name}: exchange.service_pack {pack!r} is not a service pack of "
                             f"{PRODUCT_NAME[exchange.version.value]} (known: {known})")
    organization = ExchangeOrganization(name=exchange.organization,
                                        administrative_group=exchange.administrative_group,
                                        options=options or LabOptions(), directory_has_server=directory_has_server)
    server = ServerObject(site.production.name.upper(), exchange.version.value, tuple(exchange.components),
                          service_pack=exchange.service_pack, storage_groups=[production_layout(site)])
    organization.servers[server.name] = server
    organization.add_media(exchange.setup_path, Media("setup", exchange.version.value))
    if exchange.update_path:
        organization.add_media(exchange.update_path, Media("update", exchange.version.value, exchange.service_pack))
    return organization


def seed_production(state: ExchangeState, site: Any) -> None:
    """Production as the runbook assumes it: Exchange installed with its service pack,
    services running, the First Storage Group's stores mounted on the production volumes,
    logs 1-14 written, checkpoint at 12."""
    server = state.organization.server(site.production.name)
    assert server is not None, "build_organization() first"
    state.seed_installed(ExchangeInstall(server.version, "normal", site.exchange.install_path, server.components,
                                         service_pack=server.service_pack))
    now = state.port.now()
    signature = _signature(now)
    for group in server.storage_groups:
        for folder in {group.log_path, group.system_path}:
            state.port.make_folder(folder)
        for store in group.stores:
            state.port.make_folder(ntpath.dirname(store.edb_path))
            header = ese.DatabaseHeader(ese.CLEAN_SHUTDOWN, signature, _signature(now))
            state.port.write_text(store.edb_path, header.to_text())
            state.port.write_text(store.stm_path, "lab streaming file")
            state.mount(store.name)
    state.write_transactions(SEED_LOG_GENERATIONS - 1)


# --------------------------------------------------------------------------- the lab's WindowsHost


class WindowsHostPort:
    """:class:`HostPort` over the lab's ``qrdr.lab.sim.host.WindowsHost``."""

    def __init__(self, host: Any):
        self.host = host

    def computer_name(self) -> str:
        return self.host.name

    def windows_version(self) -> str:
        return self.host.windows

    def now(self) -> dt.datetime:
        return self.host.now()

    def read_text(self, path: str) -> str | None:
        return self.host.files.read_text(path)

    def write_text(self, path: str, text: str) -> None:
        self.host.files.write_text(path, text)

    def delete_file(self, path: str) -> None:
        self.host.files.remove(path)

    def list_files(self, folder: str) -> list[str]:
        return self.host.files.list_files(folder)

    def list_tree(self, folder: str) -> list[str]:
        return [entry.path for entry in self.host.files.descendants(folder) if not entry.is_dir]

    def make_folder(self, path: str) -> None:
        self.host.files.mkdir(path)

    def delete_tree(self, path: str) -> None:
        self.host.files.remove(path)

    def clear_tree(self, folder: str) -> None:
        files = self.host.files
        drive, rest = ntpath.splitdrive(folder)
        if drive and rest.strip("\\") == "":
            files.remove_drive(drive)  # one pass over the file system, not one per file
            files.add_drive(drive)
        else:
            files.remove(folder)
            files.mkdir(folder)

    def volumes(self) -> list[str]:
        return [f"{letter.rstrip(':').upper()}:" for letter in self.host.volumes]

    def registry_exists(self, key: str) -> bool:
        return self.host.registry.exists(key)

    def registry_set(self, key: str, values: dict[str, Any]) -> None:
        self.host.registry.create(key)
        for name, value in values.items():
            self.host.registry.set_value(key, name, value)

    def registry_delete(self, key: str) -> None:
        self.host.registry.delete(key)

    def service_exists(self, name: str) -> bool:
        return self.host.service(name) is not None

    def add_service(self, spec: ServiceSpec) -> None:
        from .host import ServiceState

        service = self.host.service(spec.name)
        if service is None:
            service = self.host.add_service(ServiceState(
                name=spec.name, display_name=spec.display_name, start_mode=spec.start_mode,
                depends_on=spec.depends_on, path_name=_service_binary(spec.name)))
        if spec.name == "MSExchangeSA" and _system_attendant_starting not in service.on_start:
            service.on_start.insert(0, _system_attendant_starting)
        if spec.name == "MSExchangeIS":
            # The Information Store mounts and dismounts the stores (this module's state).
            if _information_store_started not in service.on_start:
                service.on_start.append(_information_store_started)
            if _information_store_stopped not in service.on_stop:
                service.on_stop.append(_information_store_stopped)

    def service_dependencies(self, name: str) -> list[str]:
        service = self.host.service(name)
        return list(service.depends_on) if service else []

    def remove_service(self, name: str) -> None:
        service = self.host.service(name)
        if service is not None:
            del self.host.services[service.name]

    def service_running(self, name: str) -> bool:
        service = self.host.service(name)
        return service is not None and service.running

    def set_service_running(self, name: str, running: bool) -> None:
        service = self.host.service(name)
        if service is None or service.running == running:
            return
        service.state = "Running" if running else "Stopped"
        service.process_id = self.host.new_pid() if running else 0

    def start_process(self, path: str, *, locks: Iterable[str] = ()) -> int:
        process = self.host.start_process(path, system=True)
        process.open_files.update(locks)
        return process.id

    def process_running(self, pid: int) -> bool:
        process = self.host.processes.get(pid)
        return process is not None and process.exit_code is None

    def exit_process(self, pid: int, exit_code: int) -> None:
        process = self.host.processes.get(pid)
        if process is not None and process.exit_code is None:
            self.host.stop_process(pid, exit_code=exit_code)

    def schedule(self, seconds: float, action: Callable[[], None]) -> None:
        """``action`` after ``seconds``, holding the lab's lock (what the endpoints hold around a
        pipeline): the host is not changed under a pipeline that is running."""
        lab = getattr(self.host, "lab", None)

        def run() -> None:
            if lab is None:
                action()
                return
            with lab.lock:
                action()

        timer = threading.Timer(seconds, run)
        timer.daemon = True
        timer.start()


def _service_binary(name: str) -> str:
    binaries = {"MSExchangeSA": "mad.exe", "MSExchangeIS": "store.exe", "MSExchangeMTA": "emsmta.exe",
                "MSExchangeMGMT": "exmgmt.exe", "MSExchangeSRS": "srsmain.exe"}
    if name in binaries:
        return rf'"C:\Program Files\Exchsrvr\bin\{binaries[name]}"'
    return r"C:\WINDOWS\system32\inetsrv\inetinfo.exe"


def _system_attendant_starting(host: Any, service: Any) -> None:
    """The System Attendant reads and writes its server object in AD as the computer account: without
    the rights of runbook step 3 it stops at once with Access denied (setup's own start is not
    checked: the runbook sets the rights after setup)."""
    from .host import ServiceError

    state = host.exchange
    check = state.organization.directory_service_rights if isinstance(state, ExchangeState) else None
    reason = check(host.name) if check is not None else None
    if reason:
        service.state, service.process_id = "Stopped", 0
        raise ServiceError(service.name, "The Microsoft Exchange System Attendant service terminated with "
                                         f"service-specific error 2147942405 (0x80070005): {reason}")


def _information_store_started(host: Any, _service: Any) -> None:
    state = host.exchange
    if isinstance(state, ExchangeState):
        state.start_information_store()


def _information_store_stopped(host: Any, _service: Any) -> None:
    state = host.exchange
    if isinstance(state, ExchangeState):
        state.stop_information_store()


def attach(host: Any, organization: ExchangeOrganization) -> ExchangeState:
    """Give a lab host its Exchange state (kept in ``host.exchange``), once."""
    if not isinstance(host.exchange, ExchangeState):
        host.exchange = ExchangeState(WindowsHostPort(host), organization)
    return host.exchange


for_host = ExchangeState.for_host


def seed_site(site: Any, hosts: dict[str, Any], *, options: LabOptions | None = None,
              directory_has_server: Callable[[str], bool] | None = None) -> ExchangeOrganization:
    """Seed the Exchange side of a site's lab hosts (keyed as ``site.hosts``).

    Production gets Exchange installed and running with its stores mounted
    (:func:`seed_production`); the standby gets the setup media (and the
    service pack's update.exe) at the paths the site names, on a Z: CD drive
    if that drive is missing; every host gets an :class:`ExchangeState` that
    shares the organization. The drives of production's volumes must exist
    (the lab builder creates the volumes).
    """
    organization = build_organization(site, options, directory_has_server)
    production_key = site.host_key(site.production)
    for key, host in hosts.items():
        state = attach(host, organization)
        if key == production_key:
            seed_production(state, site)
    standby = hosts[site.host_key(site.standby)]
    for media_path in filter(None, (site.exchange.setup_path, site.exchange.update_path)):
        drive = ntpath.splitdrive(media_path)[0]
        if drive and not standby.files.exists(drive + "\\"):
            standby.files.add_drive(drive)
        standby.files.write_text(media_path, f"lab Exchange media {ntpath.basename(media_path)}")
    return organization


def add_outlook_profile(host: Any, name: str = "Outlook", mailbox: str = "") -> None:
    """Lab control: an Outlook (MAPI) profile under HKCU, as the cleanup appendix finds one."""
    key = f"{OUTLOOK_PROFILES_KEY}\\{name}"
    host.registry.create(key)
    host.registry.set_value(f"{key}\\13dbb0c8aa05101a9bb000aa002fc45a", "001e6602", mailbox or name)


# --------------------------------------------------------------------------- command handlers

from . import registry as _registry  # noqa: E402  (handlers below register themselves)
from .host import NativeOutput, Param, bind, native, resolve_computer  # noqa: E402
from .objects import custom_object  # noqa: E402
from .registry import PSError  # noqa: E402


def _installed_state(host: Any, program: str) -> ExchangeState:
    """The host's Exchange state when Exchange is installed; else the error PowerShell gives for a
    program that is not there (eseutil lives in Exchsrvr\\bin)."""
    state = host.exchange
    if not isinstance(state, ExchangeState) or state.install is None:
        raise PSError(
            f"The term '{program}' is not recognized as the name of a cmdlet, function, script file, or operable "
            "program. Check the spelling of the name, or if a path was included, verify that the path is correct "
            "and try again.", category="ObjectNotFound", error_id="CommandNotFoundException",
            exception_type="System.Management.Automation.CommandNotFoundException", target=program)
    return state


#: What setup.exe / update.exe need while they run (lab figures; Exchange documents none): more than
#: WinRM 2.0's MaxMemoryPerShellMB (150), so neither survives being started inside a shell.
SETUP_MEMORY_MB = 320


@_registry.program("setup", "update", memory_mb=SETUP_MEMORY_MB)
def _setup_process(host: Any, process: Any) -> None:
    """setup.exe / update.exe started as a process: see :meth:`ExchangeState.start_program`."""
    state = host.exchange
    if not isinstance(state, ExchangeState):
        process.exit_code = 1
        return
    state.start_program(process.path or process.name, list(process.arguments), process.id,
                        directory_access=process.logon.network_credentials)


@native("eseutil")
def _eseutil(host: Any, arguments: list[str], _input: list[Any]) -> NativeOutput:
    state = _installed_state(host, "eseutil")
    result = ese.run_eseutil(host.files, arguments, state.install.version)
    return NativeOutput(result.lines, result.exit_code)


@native("sysocmgr")
def _sysocmgr(host: Any, arguments: list[str], _input: list[Any]) -> NativeOutput:
    """``sysocmgr /i:C:\\WINDOWS\\inf\\sysoc.inf /u:FILE /q``: silent; exit 0 when done.

    Errors come as sysocmgr shows them in a message box, here on stderr with exit code 1.
    """
    answer = next((arg[3:] for arg in arguments if arg.lower().startswith("/u:")), None)
    if not any(arg.lower().startswith("/i:") for arg in arguments):
        # /i: "Required. Designates the InfFile.inf ... as the master .inf file" (Windows Server 2003
        # Sysocmgr, cc773290). Incorrect syntax shows help in a window; the lab says why on stderr instead.
        return NativeOutput([], 1, ["sysocmgr: no master information file (/i:FILE) given."])
    if answer is None:
        return NativeOutput([], 1, ["sysocmgr: no answer file (/u:FILE) given; the lab runs it unattended only."])
    text = host.files.read_text(answer)
    if text is None:
        return NativeOutput([], 1, [f"sysocmgr: the answer file {answer} could not be found."])
    try:
        answers = parse_sysoc_answers(text)
    except ValueError as exc:
        return NativeOutput([], 1, [f"sysocmgr: the answer file {answer} is not valid: {exc}"])
    installed = install_windows_components(WindowsHostPort(host), answers)
    host.components.update(installed)
    return NativeOutput([], 0)


def _com_error(method: str, arguments: int, error: ExchangeError) -> PSError:
    if error.hresult == 0x80040154:
        return PSError(str(error), category=error.category,
                       error_id="NoCOMClassIdentified,Microsoft.PowerShell.Commands.NewObjectCommand",
                       exception_type="System.Runtime.InteropServices.COMException")
    return PSError(f'Exception calling "{method}" with "{arguments}" argument(s): "{error}"',
                   category=error.category, error_id="ComMethodTargetInvocation",
                   exception_type="System.Management.Automation.MethodInvocationException")


#: The param() blocks of the shipped store scripts (plugins/common/scripts), as PowerShell binds them.
_NAME = Param("Name", 0)
_COMPUTER = Param("ComputerName")
#: The domain account the CDOEXM scripts bind to the directory with (CDO IDataSource.Open's UserName, Password).
_ACCOUNT = (Param("UserName"), Param("Password"))
_SCRIPT_PARAMS: dict[str, tuple[tuple[Param, ...], tuple[str, ...]]] = {
    "qrdr:Get-ExchangeStore": ((Param("ComputerName", 0), *_ACCOUNT), ("UserName", "Password")),
    "qrdr:Mount-ExchangeStore": ((_NAME, _COMPUTER, *_ACCOUNT), ("Name", "UserName", "Password")),
    "qrdr:Dismount-ExchangeStore": ((_NAME, _COMPUTER, *_ACCOUNT), ("Name", "UserName", "Password")),
    "qrdr:Set-ExchangeStore": ((_NAME, Param("EdbPath", 1), Param("StmPath", 2), Param("MountAtStartup", 3),
                                Param("ComputerName", 4), *_ACCOUNT), ("Name", "UserName", "Password")),
    "qrdr:Remove-ExchangeStore": ((_NAME, _COMPUTER, *_ACCOUNT), ("Name", "UserName", "Password")),
    "qrdr:Remove-StorageGroup": ((_NAME, _COMPUTER, *_ACCOUNT), ("Name", "UserName", "Password")),
}


def _bind_to_directory(host: Any, target: Any, args: dict[str, Any]) -> None:
    """CDOEXM's DataSource.Open binds to the directory (and, for another server, to it over DCOM)
    with the UserName/Password it is given (CDO for Exchange 2000, IDataSource.Open: "UserName:
    used to pass a user name if needed for authentication"). A domain account the directory
    refuses fails the bind as ADSI does: logon failure (0x8007052E)."""
    user, password = str(args.get("UserName") or ""), str(args.get("Password") or "")
    directory = target.directory if target.directory is not None else host.directory
    if directory is None:
        # A simulation without a directory (the simulation's own unit tests) has no account to check;
        # every lab site has its Samba DC, where the account is checked.
        return
    if not directory.authenticate(user, password):
        raise PSError('Exception calling "Open" with "7" argument(s): "Logon failure: unknown user name or bad '
                      'password. (Exception from HRESULT: 0x8007052E)"', category="NotSpecified",
                      error_id="ComMethodTargetInvocation",
                      exception_type="System.Management.Automation.MethodInvocationException", target=user)


def _bind_script(script_name: str, invocation: Any) -> dict[str, Any]:
    """The script's parameters bound as PowerShell binds its param() block (unknown or missing
    mandatory parameters fail with PowerShell's ParameterBindingException records)."""
    params, mandatory = _SCRIPT_PARAMS[script_name]
    args = bind(script_name, invocation, params)
    missing = [name for name in mandatory if args.get(name) in (None, "")]
    if missing:
        raise PSError(f"Cannot process command because of one or more missing mandatory parameters: "
                      f"{' '.join(missing)}.", category="InvalidArgument", error_id="MissingMandatoryParameter",
                      exception_type="System.Management.Automation.ParameterBindingException")
    return args


def _script_state(host: Any, args: dict[str, Any]) -> ExchangeState:
    """The Exchange state of the server a store script names with -ComputerName (default: the host).

    A host without Exchange state gets a throwaway one whose calls fail as CDOEXM does
    when Exchange is not installed.
    """
    computer = args.get("ComputerName")
    target = resolve_computer(host, computer or None)
    if target is None:
        raise PSError(f'Exception calling "Open" with "1" argument(s): "The RPC server is unavailable. '
                      f'(Exception from HRESULT: 0x800706BA)" ({computer})', category="ResourceUnavailable",
                      error_id="ComMethodTargetInvocation",
                      exception_type="System.Management.Automation.MethodInvocationException", target=computer)
    state = target.exchange
    if not isinstance(state, ExchangeState):
        return ExchangeState(WindowsHostPort(target), ExchangeOrganization(name="(none)"))
    return state


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "$true", "1", "yes")
    return bool(value)


def _store_script(script_name: str, method: str, arguments: int,
                  action: Callable[[ExchangeState, dict[str, Any]], list[Any] | None]) -> None:
    """Register a store script: bind its parameters, find the server, run ``action``; an
    Exchange error becomes the MethodInvocationException of the CDOEXM call ``method``."""

    @_registry.script(script_name)
    def handler(host: Any, invocation: Any, _input: list[Any]) -> list[Any]:
        args = _bind_script(script_name, invocation)
        state = _script_state(host, args)
        _bind_to_directory(host, state.port.host, args)
        try:
            return list(action(state, args) or [])
        except ExchangeError as error:
            raise _com_error(method, arguments, error) from None

    handler.__name__ = "script_" + script_name.split(":")[1].replace("-", "_").lower()


_store_script("qrdr:Get-ExchangeStore", "Open", 1,
              lambda state, args: [custom_object(row) for row in state.stores()])
_store_script("qrdr:Mount-ExchangeStore", "Mount", 0, lambda state, args: state.mount(str(args["Name"])))
_store_script("qrdr:Dismount-ExchangeStore", "Dismount", 0, lambda state, args: state.dismount(str(args["Name"])))
_store_script("qrdr:Set-ExchangeStore", "Save", 0, lambda state, args: state.set_store(
    str(args["Name"]), edb_path=args.get("EdbPath") or None, stm_path=args.get("StmPath") or None,
    mount_at_startup=None if args.get("MountAtStartup") is None else _as_bool(args["MountAtStartup"])))
_store_script("qrdr:Remove-ExchangeStore", "Delete", 0, lambda state, args: state.remove_store(str(args["Name"])))


def _remove_storage_group(state: ExchangeState, args: dict[str, Any]) -> None:
    """remove_storage_group.ps1: it looks for the group among the server's StorageGroups and, not
    finding it, ends with its own ``throw`` (a RuntimeException whose error id is the text,
    category OperationStopped: about_Throw), not with a CDOEXM error."""
    name = str(args["Name"])
    if state._require_server().storage_group(name) is None:
        text = f"No storage group named '{name}' on server {args.get('ComputerName') or state.port.host.name}."
        raise PSError(text, category="OperationStopped", error_id=text)
    state.remove_storage_group(name)


_store_script("qrdr:Remove-StorageGroup", "Delete", 0, _remove_storage_group)
