"""Administering a Windows 2000 host from the management host without PowerShell on the target.

What an admin with PowerShell 2.0 on the management host uses against a
Windows 2000 server (docs/design/host-commands.md, "Windows 2000 from the
management host"), simulated here:

- the administrative shares: file cmdlets on ``\\\\HOST\\C$\\...`` paths act on
  ``C:\\...`` of the lab host named HOST (:func:`on_admin_share` wraps the file
  cmdlets of :mod:`.storage`); a name no running lab host answers to fails
  with "The network path was not found.";
- the registry through WMI ``StdRegProv`` (namespace ``root\\default``), called
  statically: ``Invoke-WmiMethod -Namespace root\\default -Class StdRegProv
  -Name EnumKey|EnumValues|GetStringValue|GetDWORDValue|DeleteKey -ArgumentList
  @(hDefKey, sSubKeyName[, sValueName]) -ComputerName X`` (arguments in
  alphabetical order of the method's parameter names, as PowerShell 2.0 sends
  them; ``DeleteKey`` refuses a key with subkeys, ReturnValue 5, as Windows
  does; a missing key or value is ReturnValue 2);
- programs through ``Win32_Process.Create(CommandLine, CurrentDirectory,
  ProcessStartupInformation)``: a program with a lab process model (setup.exe,
  update.exe) starts as a process; a native program the lab simulates
  (diskpart, sysocmgr, eseutil, ...) runs to its end at once, its output (and
  stderr with ``2>&1``) written to the file named after ``>`` in a
  ``cmd /c "... > FILE 2>&1"`` command line. ReturnValue 0 with ProcessId, 9
  (path not found) for an unknown program; ``Win32_Process.Terminate(Reason)``
  kills a process;
- ``CIM_ProcessExecutable``: which process has which module (DLL) loaded
  (Antecedent: the ``CIM_DataFile`` path, Dependent: the ``Win32_Process``
  path), how the appendix's locked Exchange DLLs are found remotely.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable

from . import access, registry
from .host import WindowsHost, as_list, cmdlet_class, resolve_computer
from .objects import uint32, wmi_method_result, wmi_object
from .protocol import Invocation, Logon
from .wmi import wmi_class, wmi_method

# --- administrative shares ----------------------------------------------------------------------

_ADMIN_SHARE = re.compile(r"^(?:Microsoft\.PowerShell\.Core\\FileSystem::|FileSystem::)?\\\\([^\\]+)\\([A-Za-z])\$(\\.*)?$")


def split_admin_share(path: str) -> tuple[str, str] | None:
    """``\\\\EXCH02\\C$\\qrdr\\a.txt`` -> ("EXCH02", "C:\\qrdr\\a.txt"); None for any other path."""
    match = _ADMIN_SHARE.match(str(path).replace("/", "\\"))
    if match is None:
        return None
    return match.group(1), f"{match.group(2).upper()}:{match.group(3) or chr(92)}"


class _ShareView:
    """The target host as a file cmdlet sees it through its admin share: its files, registry and
    processes, but errors go to the caller's pipeline."""

    def __init__(self, caller: WindowsHost, target: WindowsHost):
        self._caller, self._target = caller, target

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)

    def write_error(self, *args: Any, **kwargs: Any) -> None:
        self._caller.write_error(*args, **kwargs)


def on_admin_share(cmdlet_name: str) -> Callable[[Callable[..., list[Any]]], Callable[..., list[Any]]]:
    """Wrap a file cmdlet handler so that ``\\\\HOST\\X$\\...`` paths act on that lab host's drive X:.

    The share is reached over SMB with the logon's identity: from a WinRM session only after a
    ``net use`` to HOST (qrdr.lab.sim.access). Denied, Test-Path answers False (it reports no
    error for a path it may not see); the other cmdlets write "Access is denied." (the wording of
    a share access denied over remoting is widely reported, its error id not documented).
    """

    def wrap(function: Callable[[WindowsHost, dict[str, Any], list[Any]], list[Any]]) -> Callable[..., list[Any]]:
        @functools.wraps(function)
        def handler(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
            key = "Path" if args.get("Path") is not None else "LiteralPath"
            paths = [str(p) for p in as_list(args.get(key))]
            if not any(split_admin_share(p) for p in paths):
                return function(host, args, input_objects)
            output: list[Any] = []
            for path in paths:
                share = split_admin_share(path)
                if share is None:
                    output.extend(function(host, {**args, key: path}, input_objects))
                    continue
                target = resolve_computer(host, share[0])
                if target is None:
                    host.write_error("The network path was not found.", category="ObjectNotFound",
                                     error_id="ItemNotFound", exception_type="System.IO.IOException", target=path)
                    continue
                if not access.reaches_by_smb(host, target):
                    if cmdlet_name == "Test-Path":
                        output.append(False)
                    else:
                        host.write_error("Access is denied.", category="PermissionDenied",
                                         error_id=f"System.UnauthorizedAccessException,"
                                                  f"{cmdlet_class(cmdlet_name)}",
                                         exception_type="System.UnauthorizedAccessException", target=path)
                    continue
                output.extend(function(_ShareView(host, target), {**args, key: share[1]}, input_objects))
            return output

        return handler

    return wrap


# --- StdRegProv ---------------------------------------------------------------------------------

#: StdRegProv's hDefKey values.
HIVES = {2147483650: "HKLM", 2147483649: "HKCU"}
_TYPE_CODES = {str: 1, bytes: 3, int: 4, list: 7}  # REG_SZ, REG_BINARY, REG_DWORD, REG_MULTI_SZ
_STRINGS = ["System.String[]", "System.Array", "System.Object"]


def _reg_path(arguments: list[Any]) -> str | None:
    if len(arguments) < 2:
        return None
    hive = HIVES.get(int(arguments[0])) if str(arguments[0]).lstrip("-").isdigit() else None
    if hive is None:
        return None
    sub = str(arguments[1] or "").strip("\\")
    return f"{hive}\\{sub}" if sub else hive


def _strings(values: list[str]) -> Any:
    from .objects import typed_list
    return typed_list(values, _STRINGS)


@wmi_method("StdRegProv", "EnumKey")
def _enum_key(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    path = _reg_path(arguments)  # hDefKey, sSubKeyName
    if path is None or not target.registry.exists(path):
        return wmi_method_result(2, {"sNames": None})
    return wmi_method_result(0, {"sNames": _strings([k.path.rsplit("\\", 1)[-1] for k in target.registry.subkeys(path)])})


@wmi_method("StdRegProv", "EnumValues")
def _enum_values(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    path = _reg_path(arguments)  # hDefKey, sSubKeyName
    key = target.registry.get(path) if path else None
    if key is None:
        return wmi_method_result(2, {"sNames": None, "Types": None})
    from .objects import typed_list
    names = list(key.values)
    types = [_TYPE_CODES.get(type(key.values[n]), 1) for n in names]
    return wmi_method_result(0, {"sNames": _strings(names),
                                 "Types": typed_list(types, ["System.Int32[]", "System.Array", "System.Object"])})


def _get_value(target: WindowsHost, arguments: list[Any], kind: type) -> Any:
    path = _reg_path(arguments)  # hDefKey, sSubKeyName, sValueName
    if path is None or len(arguments) < 3 or not target.registry.exists(path):
        return None
    value = target.registry.get_value(path, str(arguments[2]))
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


@wmi_method("StdRegProv", "GetStringValue")
def _get_string_value(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    value = _get_value(target, arguments, str)
    return wmi_method_result(2 if value is None else 0, {"sValue": value})


@wmi_method("StdRegProv", "GetDWORDValue")
def _get_dword_value(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    value = _get_value(target, arguments, int)
    return wmi_method_result(2 if value is None else 0, {"uValue": uint32(value) if value is not None else None})


@wmi_method("StdRegProv", "DeleteKey")
def _delete_key(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    path = _reg_path(arguments)  # hDefKey, sSubKeyName
    if path is None or "\\" not in path or not target.registry.exists(path):
        return wmi_method_result(2)
    if target.registry.subkeys(path):
        return wmi_method_result(5)  # RegDeleteKey does not delete a key with subkeys
    target.registry.delete(path)
    return wmi_method_result(0)


# --- Win32_Process.Create / Terminate -----------------------------------------------------------


def split_command_line(text: str) -> list[str]:
    """Split a Windows command line: blanks separate, double quotes group (and are removed)."""
    tokens: list[str] = []
    current, quoted, started = [], False, False
    for char in text:
        if char == '"':
            quoted, started = not quoted, True
        elif char in " \t" and not quoted:
            if started:
                tokens.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        tokens.append("".join(current))
    return tokens


def _through_cmd(command_line: str) -> bool:
    """Whether the command line runs ``cmd /c ...`` (cmd.exe, which every Windows has, then finds the program)."""
    tokens = split_command_line(command_line)
    return len(tokens) >= 2 and registry.program_key(tokens[0]) == "cmd" and tokens[1].lower() == "/c"


def _parse(command_line: str) -> tuple[list[str], str | None]:
    """The program and its arguments, and the file ``>`` redirects output to (``cmd /c`` lines)."""
    tokens = split_command_line(command_line)
    if _through_cmd(command_line):
        rest = command_line.split(None, 2)[2] if len(command_line.split(None, 2)) > 2 else ""
        rest = rest.strip()
        if rest.startswith('"') and rest.endswith('"'):
            rest = rest[1:-1]  # cmd /c strips the outer quotes
        tokens = split_command_line(rest.replace(">", " > ").replace("2 > &1", "2>&1"))
    output_file = None
    words: list[str] = []
    iterator = iter(tokens)
    for token in iterator:
        if token == ">":
            output_file = next(iterator, None)
        elif token != "2>&1":
            words.append(token)
    return words, output_file


def _native_handler_name(name: str) -> bool:
    # Cmdlets (Verb-Noun) are not programs cmd.exe can start.
    key = registry.program_key(name)
    return key in registry.COMMANDS and "-" not in key


def created_process_logon(caller: WindowsHost, target: WindowsHost) -> Logon:
    """Who runs a process Win32_Process.Create starts: the caller, in no WinRM shell (the WMI
    provider host creates it, so it outlives the shell), and, started on another computer, in a
    network logon without credentials for a third one (WMI SDK, "Connecting to a 3rd
    Computer-Delegation": more than one hop needs Delegate impersonation)."""
    same = target is caller
    return Logon(caller.logon.user, network_credentials=same and caller.logon.network_credentials,
                 password=caller.logon.password if same else None)


def _cmd_path(host: WindowsHost) -> str:
    return ("C:\\WINNT" if host.windows == "2000" else "C:\\WINDOWS") + "\\system32\\cmd.exe"


@wmi_method("Win32_Process", "Create")
def _create(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    from .processes import _find_program

    logon = created_process_logon(caller, target)
    # CommandLine, CurrentDirectory, ProcessStartupInformation
    command_line = str(arguments[0]) if arguments and arguments[0] is not None else ""
    words, output_file = _parse(command_line)
    if not words:
        return wmi_method_result(21, {"ProcessId": None})  # invalid parameter
    program, program_arguments = words[0], words[1:]
    if not registry.host_has_program(target.windows, program):
        if not _through_cmd(command_line):
            return wmi_method_result(9, {"ProcessId": None})  # path not found
        # cmd.exe starts, cannot find the program and says so (errorlevel 9009).
        shell = target.start_process(_cmd_path(target), ["/c", *words], logon=logon)
        target.stop_process(shell.id, exit_code=9009)
        if output_file:
            target.files.write(output_file, f"'{program}' is not recognized as an internal or external command,\r\n"
                                            "operable program or batch file.\r\n", make_parents=False)
        return wmi_method_result(0, {"ProcessId": uint32(shell.id)})
    if registry.program_key(program) in registry.PROGRAMS:
        path = _find_program(target, program)
        if path is None:
            return wmi_method_result(9, {"ProcessId": None})
        process = target.start_process(path, program_arguments, logon=logon)
        return wmi_method_result(0, {"ProcessId": uint32(process.id)})
    if not _native_handler_name(program) or (("\\" in program) and not target.files.exists(program)):
        return wmi_method_result(9, {"ProcessId": None})
    result = target.invoke([Invocation(name=program, parameters=tuple((None, a) for a in program_arguments))], [],
                           logon=logon)
    lines = [str(line) for line in result.output] + [e.message for e in result.errors]
    if result.failed is not None:
        lines.append(result.failed.message)
    process = target.start_process(program if "\\" in program else program + ".exe", program_arguments,
                                   logon=logon)
    target.stop_process(process.id, exit_code=target.last_exit_code)
    if output_file:
        target.files.write(output_file, "".join(f"{line}\r\n" for line in lines), make_parents=False)
    return wmi_method_result(0, {"ProcessId": uint32(process.id)})


@wmi_method("Win32_Process", "Terminate")
def _terminate(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    from .objects import prop

    process_id = int(prop(instance, "ProcessId") or prop(instance, "Handle") or -1)
    if process_id not in target.processes:
        return wmi_method_result(2)
    target.stop_process(process_id, exit_code=int(arguments[0]) if arguments and arguments[0] is not None else 0)
    return wmi_method_result(0)


# --- CIM_ProcessExecutable ----------------------------------------------------------------------


def _wmi_path_text(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


@wmi_class("CIM_ProcessExecutable")
def cim_process_executable(host: WindowsHost) -> list[Any]:
    """Modules loaded by running processes (real WMI lists every module; the lab knows the open files)."""
    found = []
    for process in sorted(host.processes.values(), key=lambda p: p.id):
        if process.has_exited:
            continue
        for path in sorted(process.open_files):
            antecedent = f'\\\\{host.name}\\root\\cimv2:CIM_DataFile.Name="{_wmi_path_text(path.lower())}"'
            dependent = f'\\\\{host.name}\\root\\cimv2:Win32_Process.Handle="{process.id}"'
            found.append(wmi_object(host.name, "CIM_ProcessExecutable",
                                    {"Antecedent": antecedent, "Dependent": dependent}, {"ProcessHandle": None}))
    return found


def module_path(antecedent: str) -> str:
    """The file path of a ``CIM_DataFile.Name="..."`` reference (unescaped)."""
    match = re.search(r'Name="((?:[^"\\]|\\.)*)"', antecedent)
    return re.sub(r"\\(.)", r"\1", match.group(1)) if match else ""

