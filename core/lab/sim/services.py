"""Services: the catalogue of Windows, IIS and Exchange services, and the service cmdlets.

The catalogue follows Windows Server 2003 SP2 / Windows 2000 SP4 with
Exchange 2000/2003: short names, display names and the dependencies Exchange
installs (System Attendant on RPC, Event Log, NT LM Security Support
Provider, Server and Workstation; Information Store and MTA Stacks on
System Attendant; IMAP4/POP3 on the Information Store and IIS Admin; the
Routing Engine, SMTP, NNTP and WWW on IIS Admin; Exchange Management, 2003
only, on RPC and WMI).

Cmdlets: Get-Service, Start-Service, Stop-Service, Set-Service (their
per-service failures are non-terminating errors, as in PowerShell), and the
WMI class Win32_Service with its methods StartService, StopService and
ChangeStartMode (through Invoke-WmiMethod; WMI's return values).

``-ComputerName`` reaches another computer's service control manager over
SMB, with the session's own identity: from a WinRM session only after a
``net use`` to that computer (qrdr.lab.sim.access); Get-Service and Set-Service
have no ``-Credential``. ``Set-Service -Status Stopped`` of Windows PowerShell
has no ``-Force`` and refuses a service that has dependent services (running
or not) or that depends on others: every Exchange service.
"""

from __future__ import annotations

from typing import Any, Iterable

from . import access
from .host import (DependentServicesRunning, Param, ServiceError, ServiceState, WindowsHost, as_list, cmdlet,
                   has_wildcard, resolve_computer, wildcard_match)
from .objects import prop, ps_object, typed_list, uint32, wmi_method_result, wmi_object
from .registry import PSError
from .wmi import wmi_class, wmi_method

#: short name -> (display name, dependencies): the base Windows services the lab models
WINDOWS_SERVICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "RpcSs": ("Remote Procedure Call (RPC)", ()),
    "EventLog": ("Event Log", ()),
    "NtLmSsp": ("NT LM Security Support Provider", ()),
    "LanmanServer": ("Server", ()),
    "LanmanWorkstation": ("Workstation", ()),
    "Dnscache": ("DNS Client", ()),
    "winmgmt": ("Windows Management Instrumentation", ("RpcSs",)),
    "W32Time": ("Windows Time", ()),
}
#: Windows Remote Management 2.0 (with PowerShell 2.0), on the Windows 2003 hosts qrdr talks to.
WINRM_SERVICE = ("WinRM", "Windows Remote Management (WS-Management)", ("RpcSs",))

IIS_SERVICES: dict[str, tuple[str, tuple[str, ...]]] = {
    "IISADMIN": ("IIS Admin Service", ("RpcSs",)),
    "W3SVC": ("World Wide Web Publishing Service", ("IISADMIN",)),
    "SMTPSVC": ("Simple Mail Transfer Protocol (SMTP)", ("IISADMIN",)),
    "NNTPSVC": ("Network News Transfer Protocol (NNTP)", ("IISADMIN",)),
}

_SA_DEPENDENCIES = ("EventLog", "NtLmSsp", "RpcSs", "LanmanServer", "LanmanWorkstation")


def exchange_services(version: str) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """Exchange ``version`` ("2000"/"2003") services: short name -> (display name, dependencies,
    default start mode)."""
    # Exchange 2003 installs IMAP4/POP3 Disabled (Table B.1 of its technical reference,
    # "Services That Are Used by Exchange"); Exchange 2000 left them Automatic.
    protocol_mode = "Disabled" if version == "2003" else "Auto"
    services = {
        "MSExchangeSA": ("Microsoft Exchange System Attendant", _SA_DEPENDENCIES, "Auto"),
        "MSExchangeIS": ("Microsoft Exchange Information Store",
                         ("MSExchangeSA",) if version == "2003" else ("IISADMIN", "MSExchangeSA"), "Auto"),
        "MSExchangeMTA": ("Microsoft Exchange MTA Stacks", ("MSExchangeSA",), "Auto"),
        "RESvc": ("Microsoft Exchange Routing Engine", ("IISADMIN",), "Auto"),
        "IMAP4Svc": ("Microsoft Exchange IMAP4", ("IISADMIN", "MSExchangeIS"), protocol_mode),
        "POP3Svc": ("Microsoft Exchange POP3", ("IISADMIN", "MSExchangeIS"), protocol_mode),
        "MSExchangeES": ("Microsoft Exchange Event", ("MSExchangeIS",), "Manual"),
        "MSExchangeSRS": ("Microsoft Exchange Site Replication Service", ("MSExchangeSA",), "Manual"),
    }
    if version == "2003":
        services["MSExchangeMGMT"] = ("Microsoft Exchange Management", ("RpcSs", "winmgmt"), "Auto")
    return services


def add_windows_services(host: WindowsHost, *, winrm: bool) -> None:
    """The base services every simulated host runs."""
    for name, (display, deps) in WINDOWS_SERVICES.items():
        host.add_service(ServiceState(name, display, "Auto", "Running", deps, service_type="Win32ShareProcess",
                                      process_id=host.new_pid()))
    if winrm:
        name, display, deps = WINRM_SERVICE
        host.add_service(ServiceState(name, display, "Auto", "Running", deps, service_type="Win32ShareProcess",
                                      process_id=host.new_pid()))


def add_iis_service(host: WindowsHost, name: str, *, running: bool = True) -> ServiceState:
    display, deps = IIS_SERVICES[name]
    service = host.service(name) or host.add_service(ServiceState(name, display, "Auto", "Stopped", deps,
                                                                  service_type="Win32ShareProcess"))
    if running:
        host.start_service(name)
    return service


def install_exchange_services(host: WindowsHost, version: str, *, running: bool = True) -> None:
    """Register Exchange's services (as setup does) with their default start modes; start the
    Automatic ones when ``running``. Missing IIS services are added (Exchange requires them)."""
    for name in ("IISADMIN", "SMTPSVC", "NNTPSVC", "W3SVC"):
        if host.service(name) is None:
            add_iis_service(host, name, running=False)
    for name, (display, deps, mode) in exchange_services(version).items():
        if host.service(name) is None:
            host.add_service(ServiceState(name, display, mode, "Stopped", deps,
                                          path_name=f"\"C:\\Program Files\\Exchsrvr\\bin\\{name.lower()}.exe\""))
    if running:
        for service in list(host.services.values()):
            if service.start_mode == "Auto" and not service.running:
                host.start_service(service.name)


# --- objects ------------------------------------------------------------------------------------


def _label(service: ServiceState) -> str:
    return f"{service.display_name} ({service.name})"


def service_controller(target: WindowsHost, service: ServiceState, machine_name: str = ".") -> Any:
    """A ``System.ServiceProcess.ServiceController`` as PowerShell 2.0 sends it (no StartType)."""
    array_types = ["System.ServiceProcess.ServiceController[]", "System.Array", "System.Object"]
    depended_on = typed_list([target.service(dep).name if target.service(dep) else dep for dep in service.depends_on],
                             array_types)
    dependents = typed_list([dep.name for dep in target.dependents(service.name)], array_types)
    can_stop = service.running and service.name.lower() not in ("rpcss", "eventlog")
    return ps_object(
        ["System.ServiceProcess.ServiceController", "System.ComponentModel.Component", "System.MarshalByRefObject",
         "System.Object"],
        adapted={
            "CanPauseAndContinue": service.can_pause_and_continue and service.running,
            "CanShutdown": service.running,
            "CanStop": can_stop,
            "DisplayName": service.display_name,
            "DependentServices": dependents,
            "MachineName": machine_name,
            "ServiceName": service.name,
            "ServicesDependedOn": depended_on,
            "ServiceHandle": "SafeServiceHandle",
            "Status": service.state,
            "ServiceType": service.service_type,
            "Site": None,
            "Container": None,
        },
        extended={"Name": service.name, "RequiredServices": depended_on},
        to_string=service.name,
    )


_WMI_STATE = {"Running": "Running", "Stopped": "Stopped", "StartPending": "Start Pending",
              "StopPending": "Stop Pending"}


@wmi_class("Win32_Service")
def win32_service(host: WindowsHost) -> list[Any]:
    objects = []
    for service in sorted(host.services.values(), key=lambda s: s.name.lower()):
        objects.append(wmi_object(host.name, "Win32_Service", {"Name": service.name}, {
            "AcceptPause": service.can_pause_and_continue and service.running,
            "AcceptStop": service.running,
            "Caption": service.display_name,
            "CheckPoint": uint32(0),
            "CreationClassName": "Win32_Service",
            "Description": None,
            "DesktopInteract": False,
            "DisplayName": service.display_name,
            "ErrorControl": "Normal",
            "ExitCode": uint32(1077 if not service.running else 0),
            "InstallDate": None,
            "PathName": service.path_name,
            "ProcessId": uint32(service.process_id if service.running else 0),
            "ServiceSpecificExitCode": uint32(0),
            "ServiceType": "Share Process" if service.service_type == "Win32ShareProcess" else "Own Process",
            "Started": service.running,
            "StartMode": service.start_mode,
            "StartName": "LocalSystem",
            "State": _WMI_STATE.get(service.state, service.state),
            "Status": "OK",
            "SystemCreationClassName": "Win32_ComputerSystem",
            "SystemName": host.name,
            "TagId": uint32(0),
            "WaitHint": uint32(0),
        }))
    return objects


# --- cmdlets ------------------------------------------------------------------------------------

_SERVICE_EXCEPTION = "Microsoft.PowerShell.Commands.ServiceCommandException"


def _not_found(host: WindowsHost, cmdlet_name: str, name: str) -> None:
    host.write_error(f"Cannot find any service with service name '{name}'.", category="ObjectNotFound",
                     error_id=f"NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                     exception_type=_SERVICE_EXCEPTION, target=name)


def _scm_unreachable(host: WindowsHost, cmdlet_name: str, computer: str) -> None:
    host.write_error(f"Cannot open Service Control Manager on computer '{computer}'. This operation might require "
                     "other privileges.", category="NotSpecified",
                     error_id=f"System.InvalidOperationException,Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                     exception_type="System.InvalidOperationException", target=computer)


def select_services(host: WindowsHost, cmdlet_name: str, names: Iterable[Any], input_objects: list[Any],
                    display_names: Iterable[Any] = ()) -> list[ServiceState]:
    """Services named (wildcards allowed; an unknown plain name writes NoServiceFoundForGivenName),
    or the ServiceController objects piped in."""
    found: list[ServiceState] = []
    names = as_list(names)
    display_names = as_list(display_names)
    if not names and not display_names and input_objects:
        names = [prop(obj, "ServiceName") or prop(obj, "Name") or obj for obj in input_objects]
    elif not names and not display_names:
        names = ["*"]
    for name in names:
        matched = [s for s in host.services.values() if wildcard_match(str(name), s.name)]
        if not matched and not has_wildcard(str(name)):
            # ServiceController also accepts the display name.
            matched = [s for s in host.services.values() if s.display_name.lower() == str(name).lower()]
        if not matched and not has_wildcard(str(name)):
            _not_found(host, cmdlet_name, str(name))
        found.extend(s for s in matched if s not in found)
    for display in display_names:
        matched = [s for s in host.services.values() if wildcard_match(str(display), s.display_name)]
        if not matched and not has_wildcard(str(display)):
            host.write_error(f"Cannot find any service with display name '{display}'.", category="ObjectNotFound",
                             error_id="NoServiceFoundForGivenDisplayName,"
                                      f"Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                             exception_type=_SERVICE_EXCEPTION, target=display)
        found.extend(s for s in matched if s not in found)
    return sorted(found, key=lambda s: s.name.lower())


@cmdlet("Get-Service", Param("Name", 0, aliases=("ServiceName",)), Param("DisplayName"),
        Param("ComputerName", aliases=("Cn",)), Param("DependentServices", switch=True),
        Param("RequiredServices", switch=True, aliases=("SDO", "ServicesDependedOn")), Param("Include"),
        Param("Exclude"), Param("InputObject"))
def get_service(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    output = []
    for computer in as_list(args.get("ComputerName")) or [None]:
        target = resolve_computer(host, computer)
        if target is None or not access.reaches_by_smb(host, target):
            _scm_unreachable(host, "GetService", str(computer))
            continue
        services = select_services(target, "GetService", args.get("Name"),
                                   as_list(args.get("InputObject")) or input_objects, args.get("DisplayName"))
        if args.get("DependentServices"):
            services = [dep for s in services for dep in target.dependents(s.name)]
        if args.get("RequiredServices"):
            services = [target.service(dep) for s in services for dep in s.depends_on if target.service(dep)]
        machine = "." if computer is None else str(computer)
        output.extend(service_controller(target, s, machine) for s in services)
    return output


def _start(host: WindowsHost, target: WindowsHost, cmdlet_name: str, service: ServiceState) -> bool:
    try:
        target.start_service(service.name)
        return True
    except ServiceError:
        computer = "." if target is host else target.name
        host.write_error(f"Service '{_label(service)}' cannot be started due to the following error: Cannot "
                         f"start service {service.name} on computer '{computer}'.", category="OpenError",
                         error_id=f"CouldNotStartService,Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                         exception_type=_SERVICE_EXCEPTION, target=service.name)
        return False


def _stop(host: WindowsHost, target: WindowsHost, cmdlet_name: str, service: ServiceState, force: bool) -> bool:
    try:
        target.stop_service(service.name, force=force)
        return True
    except DependentServicesRunning:
        host.write_error(f"Cannot stop service '{_label(service)}' because it has dependent services. It can only "
                         "be stopped if the Force flag is set.", category="InvalidOperation",
                         error_id=f"ServiceHasDependentServices,Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                         exception_type=_SERVICE_EXCEPTION, target=service.name)
        return False


@cmdlet("Start-Service", Param("Name", 0, aliases=("ServiceName",)), Param("DisplayName"), Param("InputObject"),
        Param("PassThru", switch=True), Param("Include"), Param("Exclude"), Param("WhatIf", switch=True),
        Param("Confirm", switch=True))
def start_service(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """Starts services, their dependencies first (a failure leaves the service Stopped)."""
    services = select_services(host, "StartService", args.get("Name"),
                               as_list(args.get("InputObject")) or input_objects, args.get("DisplayName"))
    started = [s for s in services if _start(host, host, "StartService", s)]
    return [service_controller(host, s) for s in started] if args.get("PassThru") else []


@cmdlet("Stop-Service", Param("Name", 0, aliases=("ServiceName",)), Param("DisplayName"), Param("InputObject"),
        Param("Force", switch=True), Param("PassThru", switch=True), Param("Include"), Param("Exclude"),
        Param("WhatIf", switch=True), Param("Confirm", switch=True))
def stop_service(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """Stops services; with -Force their running dependents first."""
    services = select_services(host, "StopService", args.get("Name"),
                               as_list(args.get("InputObject")) or input_objects, args.get("DisplayName"))
    stopped = [s for s in services if _stop(host, host, "StopService", s, bool(args.get("Force")))]
    return [service_controller(host, s) for s in stopped] if args.get("PassThru") else []


_STARTUP_TYPES = {"automatic": "Auto", "manual": "Manual", "disabled": "Disabled"}
_STATUSES = {"running": "Running", "stopped": "Stopped", "paused": "Paused"}


def _enum_error(parameter: str, value: Any, enum_type: str, allowed: str) -> PSError:
    return PSError(f"Cannot bind parameter '{parameter}'. Cannot convert value \"{value}\" to type \"{enum_type}\" "
                   "due to invalid enumeration values. Specify one of the following enumeration values and try "
                   f"again. The possible enumeration values are \"{allowed}\".", category="InvalidArgument",
                   error_id="CannotConvertArgumentNoMessage,Microsoft.PowerShell.Commands.SetServiceCommand",
                   exception_type="System.Management.Automation.ParameterBindingException", target=value)


@cmdlet("Set-Service", Param("Name", 0, aliases=("ServiceName", "SN")), Param("DisplayName", 1, aliases=("DN",)),
        Param("Description"), Param("StartupType", aliases=("StartMode", "SM", "ST")), Param("Status"),
        Param("ComputerName", aliases=("Cn",)), Param("InputObject"), Param("PassThru", switch=True),
        Param("WhatIf", switch=True), Param("Confirm", switch=True))
def set_service(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """Start mode and status, locally or on -ComputerName (a Windows 2000 host from the management host)."""
    startup = args.get("StartupType")
    if startup is not None:
        mode = _STARTUP_TYPES.get(str(startup).lower())
        if mode is None:
            raise _enum_error("StartupType", startup, "System.ServiceProcess.ServiceStartMode",
                              "Automatic, Manual, Disabled")
    status = args.get("Status")
    if status is not None and str(status).lower() not in _STATUSES:
        raise PSError(f"Cannot validate argument on parameter 'Status'. The argument \"{status}\" does not belong "
                      "to the set \"Running,Stopped,Paused\" specified by the ValidateSet attribute. Supply an "
                      "argument that is in the set and then try the command again.", category="InvalidData",
                      error_id="ParameterArgumentValidationError,Microsoft.PowerShell.Commands.SetServiceCommand",
                      exception_type="System.Management.Automation.ParameterBindingValidationException")
    output = []
    for computer in as_list(args.get("ComputerName")) or [None]:
        target = resolve_computer(host, computer)
        if target is None or not access.reaches_by_smb(host, target):
            _scm_unreachable(host, "SetService", str(computer))
            continue
        name = args.get("Name")
        if name is None and (args.get("InputObject") or input_objects):
            name = [prop(obj, "ServiceName") or prop(obj, "Name") for obj in
                    as_list(args.get("InputObject")) or input_objects]
        for item in as_list(name):
            service = target.service(str(item))
            if service is None:
                host.write_error(f"Service {item} was not found on computer "
                                 f"'{'.' if computer is None else computer}'.", category="ObjectNotFound",
                                 error_id="InvalidOperationException,Microsoft.PowerShell.Commands.SetServiceCommand",
                                 exception_type="System.InvalidOperationException", target=item)
                continue
            if startup is not None:
                service.start_mode = _STARTUP_TYPES[str(startup).lower()]
            if args.get("DisplayName") is not None:
                service.display_name = str(args["DisplayName"])
            wanted = _STATUSES.get(str(status).lower()) if status is not None else None
            if wanted == "Running":
                _start(host, target, "SetService", service)
            elif wanted == "Stopped" and _may_stop_without_force(host, target, service):
                _stop(host, target, "SetService", service, force=True)
            if args.get("PassThru"):
                output.append(service_controller(target, service, "." if computer is None else str(computer)))
    return output


def _may_stop_without_force(host: WindowsHost, target: WindowsHost, service: ServiceState) -> bool:
    """Windows PowerShell's Set-Service -Status Stopped (it has no -Force): a service with any
    dependent service, or one that depends on others, is refused (ServiceResources.resx and
    SetServiceCommand; PowerShell issue 5517 shows it on 5.1)."""
    if target.dependents(service.name):
        host.write_error(f"Cannot stop service '{_label(service)}' because it has dependent services.",
                         category="InvalidOperation",
                         error_id="ServiceHasDependentServicesNoForce,Microsoft.PowerShell.Commands.SetServiceCommand",
                         exception_type=_SERVICE_EXCEPTION, target=service.name)
        return False
    if service.depends_on:
        host.write_error(f"Cannot stop service '{_label(service)}' because it is dependent on other services.",
                         category="InvalidOperation",
                         error_id="ServiceIsDependentOnNoForce,Microsoft.PowerShell.Commands.SetServiceCommand",
                         exception_type=_SERVICE_EXCEPTION, target=service.name)
        return False
    return True


# --- Win32_Service methods (Get-WmiObject Win32_Service | Invoke-WmiMethod -Name ...) ------------------

#: Win32_Service method return values (WMI documentation of StartService/StopService/ChangeStartMode).
WMI_SERVICE_SUCCESS = 0
WMI_DEPENDENT_SERVICES_RUNNING = 3
WMI_CANNOT_ACCEPT_CONTROL = 5
WMI_UNKNOWN_FAILURE = 8
WMI_ALREADY_RUNNING = 10
WMI_DEPENDENCY_FAILURE = 13
WMI_SERVICE_DISABLED = 14
WMI_INVALID_PARAMETER = 21

#: ChangeStartMode's StartMode argument -> Win32_Service.StartMode (Boot and System are for drivers).
_WMI_START_MODES = {"automatic": "Auto", "manual": "Manual", "disabled": "Disabled"}


def _wmi_service(target: WindowsHost, instance: Any) -> ServiceState | None:
    name = prop(instance, "Name")
    return target.service(str(name)) if name is not None else None


@wmi_method("Win32_Service", "StartService")
def _wmi_start_service(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    """The service control manager starts what the service depends on first, as Start-Service does."""
    service = _wmi_service(target, instance)
    if service is None:
        return wmi_method_result(WMI_UNKNOWN_FAILURE)
    if service.running:
        return wmi_method_result(WMI_ALREADY_RUNNING)
    if service.start_mode == "Disabled":
        return wmi_method_result(WMI_SERVICE_DISABLED)
    try:
        target.start_service(service.name)
    except ServiceError as error:
        same = error.service.lower() == service.name.lower()
        return wmi_method_result(WMI_UNKNOWN_FAILURE if same else WMI_DEPENDENCY_FAILURE)
    return wmi_method_result(WMI_SERVICE_SUCCESS)


@wmi_method("Win32_Service", "StopService")
def _wmi_stop_service(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    """Unlike Stop-Service -Force, WMI does not stop the dependents: 3 while any of them runs."""
    service = _wmi_service(target, instance)
    if service is None:
        return wmi_method_result(WMI_UNKNOWN_FAILURE)
    if not service.running:
        return wmi_method_result(WMI_CANNOT_ACCEPT_CONTROL)
    try:
        target.stop_service(service.name, force=False)
    except DependentServicesRunning:
        return wmi_method_result(WMI_DEPENDENT_SERVICES_RUNNING)
    except ServiceError:
        return wmi_method_result(WMI_UNKNOWN_FAILURE)
    return wmi_method_result(WMI_SERVICE_SUCCESS)


@wmi_method("Win32_Service", "ChangeStartMode")
def _wmi_change_start_mode(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    service = _wmi_service(target, instance)
    if service is None:
        return wmi_method_result(WMI_UNKNOWN_FAILURE)
    mode = _WMI_START_MODES.get(str(arguments[0]).lower()) if arguments else None
    if mode is None:
        return wmi_method_result(WMI_INVALID_PARAMETER)
    service.start_mode = mode
    return wmi_method_result(WMI_SERVICE_SUCCESS)
