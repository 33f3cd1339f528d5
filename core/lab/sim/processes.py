"""Processes and network: Get-Process, Stop-Process, Start-Process, the shipped script
``qrdr:Find-LockingProcess``, Win32_Process, Win32_NetworkAdapterConfiguration with its
EnableStatic and SetGateways methods.

What a started program does is decided by the handler registered for it with
:func:`qrdr.lab.sim.registry.program` (Exchange's setup.exe and update.exe are
registered by the Exchange simulation); a program without a handler runs until
it is stopped. ``Start-Process`` needs the program's file on the host (or a
bare name of a registered program), as Windows does.
"""

from __future__ import annotations

import ipaddress
import ntpath
from typing import Any

from . import registry
from .host import (Param, Process, WindowsHost, as_list, bind, cmdlet, has_wildcard, resolve_computer,
                   wildcard_match)
from .objects import custom_object, prop, ps_object, typed_list, uint32, wmi_method_result, wmi_object
from .registry import PSError
from .wmi import wmi_class, wmi_method

_PROCESS_EXCEPTION = "Microsoft.PowerShell.Commands.ProcessCommandException"


def process_object(process: Process, machine_name: str = ".") -> Any:
    """``System.Diagnostics.Process`` as PowerShell 2.0 sends it (ETS aliases and script properties
    such as Name, Path, Handles in <MS>)."""
    return ps_object(
        ["System.Diagnostics.Process", "System.ComponentModel.Component", "System.MarshalByRefObject",
         "System.Object"],
        adapted={
            "BasePriority": 8,
            "HasExited": process.has_exited,
            "Handle": 1000 + process.id,
            "HandleCount": 100,
            "Id": process.id,
            "MachineName": machine_name,
            "MainWindowTitle": "",
            "NonpagedSystemMemorySize": 4096,
            "PagedMemorySize": 8 * 1024 * 1024,
            "PrivateMemorySize": 8 * 1024 * 1024,
            "ProcessName": process.name,
            "SessionId": 0,
            "StartTime": process.start_time,
            "VirtualMemorySize": 64 * 1024 * 1024,
            "WorkingSet": 16 * 1024 * 1024,
            "Site": None,
            "Container": None,
            # ExitCode throws while the process runs; the serializer leaves out a property that throws.
            **({"ExitCode": process.exit_code} if process.has_exited else {}),
        },
        extended={
            "Name": process.name,
            "Handles": 100,
            "VM": 64 * 1024 * 1024,
            "WS": 16 * 1024 * 1024,
            "PM": 8 * 1024 * 1024,
            "NPM": 4096,
            "Path": process.path,
            "Company": "Microsoft Corporation" if process.path else None,
            "CPU": 0.5,
            "FileVersion": None,
            "ProductVersion": None,
            "Description": process.name,
            "Product": None,
        },
        to_string=f"System.Diagnostics.Process ({process.name})",
    )


def _no_process_name(host: WindowsHost, cmdlet_name: str, name: str) -> None:
    host.write_error(f"Cannot find a process with the name \"{name}\". Verify the process name and call the cmdlet "
                     "again.", category="ObjectNotFound",
                     error_id=f"NoProcessFoundForGivenName,Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                     exception_type=_PROCESS_EXCEPTION, target=name)


def _no_process_id(host: WindowsHost, cmdlet_name: str, process_id: Any) -> None:
    host.write_error(f"Cannot find a process with the process identifier {process_id}.", category="ObjectNotFound",
                     error_id=f"NoProcessFoundForGivenId,Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                     exception_type=_PROCESS_EXCEPTION, target=process_id)


def select_processes(host: WindowsHost, cmdlet_name: str, args: dict[str, Any],
                     input_objects: list[Any]) -> list[Process]:
    found: list[Process] = []
    running = sorted(host.processes.values(), key=lambda p: (p.name.lower(), p.id))
    if args.get("Id") is not None:
        for process_id in as_list(args["Id"]):
            process = host.processes.get(int(process_id))
            if process is None:
                _no_process_id(host, cmdlet_name, process_id)
            elif process not in found:
                found.append(process)
    elif args.get("Name") is not None:
        for name in as_list(args["Name"]):
            matched = [p for p in running if wildcard_match(str(name), p.name)]
            if not matched and not has_wildcard(str(name)):
                _no_process_name(host, cmdlet_name, str(name))
            found.extend(p for p in matched if p not in found)
    elif args.get("InputObject") is not None or input_objects:
        for obj in as_list(args.get("InputObject")) or input_objects:
            process = host.processes.get(int(prop(obj, "Id") or -1))
            if process is None:
                _no_process_id(host, cmdlet_name, prop(obj, "Id"))
            elif process not in found:
                found.append(process)
    else:
        found = running
    return found


@cmdlet("Get-Process", Param("Name", 0, aliases=("ProcessName",)), Param("Id", aliases=("PID",)),
        Param("ComputerName", aliases=("Cn",)), Param("InputObject"), Param("Module", switch=True),
        Param("FileVersionInfo", switch=True, aliases=("FV", "FVI")))
def get_process(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    output = []
    for computer in as_list(args.get("ComputerName")) or [None]:
        target = resolve_computer(host, computer)
        if target is None:
            host.write_error(f"Couldn't connect to remote machine.", category="NotSpecified",
                             error_id="System.InvalidOperationException,Microsoft.PowerShell.Commands."
                                      "GetProcessCommand", exception_type="System.InvalidOperationException",
                             target=computer)
            continue
        machine = "." if computer is None else str(computer)
        output.extend(process_object(p, machine) for p in select_processes(target, "GetProcess", args,
                                                                           input_objects))
    return output


@cmdlet("Stop-Process", Param("Id", 0), Param("Name", aliases=("ProcessName",)), Param("InputObject"),
        Param("Force", switch=True), Param("PassThru", switch=True), Param("WhatIf", switch=True),
        Param("Confirm", switch=True))
def stop_process(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """Kills processes (TerminateProcess: exit code 1, files they held are released)."""
    stopped = []
    for process in select_processes(host, "StopProcess", args, input_objects):
        if process.system and not args.get("Force"):
            # Stopping another user's process asks for confirmation; a remote session cannot prompt.
            host.write_error("Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not "
                             "available.", category="InvalidOperation",
                             error_id="System.Management.Automation.Host.HostException,"
                                      "Microsoft.PowerShell.Commands.StopProcessCommand",
                             exception_type="System.Management.Automation.Host.HostException", target=process.id)
            continue
        host.stop_process(process.id, exit_code=1)
        stopped.append(process)
    return [process_object(p) for p in stopped] if args.get("PassThru") else []


def _find_program(host: WindowsHost, file_path: str) -> str | None:
    """The full path Start-Process would run, or None when there is no such program."""
    if ntpath.isabs(file_path) or "\\" in file_path:
        entry = host.files.get(file_path)
        return entry.path if entry is not None and not entry.is_dir else None
    system32 = "C:\\WINNT\\system32" if host.windows == "2000" else "C:\\WINDOWS\\system32"
    for candidate in (file_path, file_path + ".exe"):
        entry = host.files.get(ntpath.join(system32, candidate))
        if entry is not None:
            return entry.path
    if registry.program_key(file_path) in registry.PROGRAMS:
        return ntpath.join(system32, registry.program_key(file_path) + ".exe")
    return None


@cmdlet("Start-Process", Param("FilePath", 0, aliases=("PSPath",)), Param("ArgumentList", 1, aliases=("Args",)),
        Param("PassThru", switch=True), Param("Wait", switch=True), Param("WorkingDirectory"),
        Param("NoNewWindow", switch=True), Param("WindowStyle"), Param("Credential"), Param("LoadUserProfile",
        switch=True), Param("RedirectStandardError"), Param("RedirectStandardInput"), Param("RedirectStandardOutput"),
        Param("UseNewEnvironment", switch=True), Param("Verb"))
def start_process(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    file_path = args.get("FilePath")
    if not file_path:
        raise PSError("Cannot process command because of one or more missing mandatory parameters: FilePath.",
                      category="InvalidArgument",
                      error_id="MissingMandatoryParameter,Microsoft.PowerShell.Commands.StartProcessCommand",
                      exception_type="System.Management.Automation.ParameterBindingException")
    path = _find_program(host, str(file_path))
    if path is None:
        raise PSError("This command cannot be executed due to the error: The system cannot find the file specified.",
                      category="InvalidOperation",
                      error_id="InvalidOperationException,Microsoft.PowerShell.Commands.StartProcessCommand",
                      exception_type="System.InvalidOperationException", target=str(file_path))
    process = host.start_process(path, [str(a) for a in as_list(args.get("ArgumentList"))])
    if args.get("Wait") and not process.has_exited:
        # A real -Wait would block until the program exits; the lab's program never exits on its own.
        raise PSError(f"The lab host {host.name} cannot wait for {process.name} ({process.id}): the simulated "
                      "program does not exit on its own; start it with -PassThru and watch it instead.",
                      category="NotImplemented", error_id="LabCannotWait", target=process.id)
    return [process_object(process)] if args.get("PassThru") else []


@registry.script("qrdr:Find-LockingProcess")
def find_locking_process(host: WindowsHost, invocation: Any, input_objects: list[Any]) -> list[Any]:
    """plugins/common/scripts/find_locking_process.ps1: processes with a module (DLL) or file
    under Path open, as ``Id, ProcessName, Path`` objects."""
    args = bind("qrdr:Find-LockingProcess", invocation, [Param("Path", 0)])
    path = args.get("Path")
    if not path:
        raise PSError("Cannot process command because of one or more missing mandatory parameters: Path.",
                      category="InvalidArgument", error_id="MissingMandatoryParameter",
                      exception_type="System.Management.Automation.ParameterBindingException")
    holders = sorted(host.processes_holding(str(path)), key=lambda p: p.id)
    return [custom_object({"Id": p.id, "ProcessName": p.name, "Path": p.path}) for p in holders]


@wmi_class("Win32_Process")
def win32_process(host: WindowsHost) -> list[Any]:
    return [wmi_object(host.name, "Win32_Process", {"Handle": str(p.id)}, {
        "Caption": p.name + ".exe", "CommandLine": " ".join([p.path or p.name, *p.arguments]),
        "ExecutablePath": p.path, "Name": p.name + ".exe", "ProcessId": uint32(p.id), "CSName": host.name,
    }) for p in sorted(host.processes.values(), key=lambda p: p.id) if not p.has_exited]


# --- network ------------------------------------------------------------------------------------


@wmi_class("Win32_NetworkAdapterConfiguration")
def win32_network_adapter_configuration(host: WindowsHost) -> list[Any]:
    strings = ["System.String[]", "System.Array", "System.Object"]
    return [wmi_object(host.name, "Win32_NetworkAdapterConfiguration", {"Index": uint32(adapter.index)}, {
        "Caption": f"[{adapter.index:08d}] {adapter.description}",
        "DefaultIPGateway": typed_list(adapter.gateways, strings) if adapter.gateways else None,
        "Description": adapter.description,
        "DHCPEnabled": adapter.dhcp_enabled,
        "DNSDomain": host.domain,
        "DNSHostName": host.name.lower(),
        "IPAddress": typed_list(adapter.ip_addresses, strings) if adapter.ip_enabled else None,
        "IPEnabled": adapter.ip_enabled,
        "IPSubnet": typed_list(adapter.subnet_masks, strings) if adapter.ip_enabled else None,
        "MACAddress": adapter.mac_address,
        "ServiceName": "E1000",
        "SettingID": "{%08X-0000-0000-0000-000000000000}" % adapter.index,
    }) for adapter in host.adapters]


def _adapter(target: WindowsHost, instance: Any):
    index = prop(instance, "Index")
    return next((a for a in target.adapters if a.index == int(index)), None) if index is not None else None


@wmi_method("Win32_NetworkAdapterConfiguration", "EnableStatic")
def _enable_static(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    # Alphabetical: IPAddress, SubnetMask (both string arrays).
    adapter = _adapter(target, instance)
    if adapter is None or len(arguments) < 2:
        return wmi_method_result(87)
    addresses = [str(a) for a in as_list(arguments[0])]
    masks = [str(m) for m in as_list(arguments[1])]
    if not addresses or len(addresses) != len(masks):
        return wmi_method_result(87)
    for address in addresses:
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            return wmi_method_result(70)  # Invalid IP address
    for mask in masks:
        try:
            ipaddress.IPv4Network(f"0.0.0.0/{mask}")
        except ValueError:
            return wmi_method_result(66)  # Invalid subnet mask
    # "returns an '81 - Unable to configure DHCP service' if the adapter is already configured with a
    # static address. However, the function still succeeds" (EnableStatic method documentation, Remarks).
    already_static = not adapter.dhcp_enabled
    adapter.ip_addresses, adapter.subnet_masks, adapter.dhcp_enabled = addresses, masks, False
    return wmi_method_result(81 if already_static else 0)


@wmi_method("Win32_NetworkAdapterConfiguration", "SetGateways")
def _set_gateways(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    # Alphabetical: DefaultIPGateway, GatewayCostMetric.
    adapter = _adapter(target, instance)
    if adapter is None or not arguments:
        return wmi_method_result(87)
    gateways = [str(g) for g in as_list(arguments[0])]
    for gateway in gateways:
        try:
            ipaddress.IPv4Address(gateway)
        except ValueError:
            return wmi_method_result(67)  # Invalid gateway IP address
    adapter.gateways = gateways
    return wmi_method_result(0)
