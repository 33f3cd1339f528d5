"""Computer: name, domain membership, boot (Win32_ComputerSystem, Win32_OperatingSystem,
Rename / JoinDomainOrWorkgroup / UnjoinDomainOrWorkgroup, Restart-Computer, Stop-Computer,
netdom on the management host, bootcfg).

Membership changes follow Windows: the directory side happens at once (a
domain member's rename renames its computer object, an unjoin with
FUnjoinOptions 4 disables the account, a join creates or reuses it and sets a
new machine password), the host's own name and membership change at the next
boot (``pending_name`` / ``pending_membership``). The directory side is
``host.directory`` (:class:`qrdr.lab.sim.domain.DomainBackend`); without one
the host is a workgroup machine that cannot reach a domain (join returns 1355).

Win32 return codes used: 0 done; 5 access denied; 87 invalid parameter; 123
invalid name; 1326 logon failure; 1355 no such domain; 1787 no computer
account; 2224 account exists (the name is taken by another object); 2691
already joined; 2692 not joined.
"""

from __future__ import annotations

import re
from typing import Any

from . import access
from .host import NativeOutput, Param, WindowsHost, as_list, cmdlet, native, resolve_computer
from .objects import dmtf_datetime, uint8, uint16, uint32, uint64, wmi_method_result, wmi_object
from .registry import PSError
from .wmi import wmi_class, wmi_method

OS_INFO = {
    "2003": {"Caption": "Microsoft(R) Windows(R) Server 2003, Enterprise Edition", "Version": "5.2.3790",
             "BuildNumber": "3790", "CSDVersion": "Service Pack 2", "ServicePackMajorVersion": uint16(2),
             "SystemDirectory": "C:\\WINDOWS\\system32", "WindowsDirectory": "C:\\WINDOWS"},
    "2000": {"Caption": "Microsoft Windows 2000 Server", "Version": "5.0.2195", "BuildNumber": "2195",
             "CSDVersion": "Service Pack 4", "ServicePackMajorVersion": uint16(4),
             "SystemDirectory": "C:\\WINNT\\system32", "WindowsDirectory": "C:\\WINNT"},
}

_NETBIOS_INVALID = re.compile(r"[\\/:*?\"<>|,~!@#$%^&'(){}_ .]")


def valid_computer_name(name: str) -> bool:
    """NetBIOS computer name rules: 1-15 characters, none of the reserved ones, not all digits."""
    return 0 < len(name) <= 15 and not _NETBIOS_INVALID.search(name) and not name.isdigit()


@wmi_class("Win32_ComputerSystem")
def win32_computer_system(host: WindowsHost) -> list[Any]:
    """Windows 2000's class has no PartOfDomain and no Workgroup (both came with XP/2003):
    there DomainRole tells membership (0/2 standalone, 1/3 member)."""
    memory = 4 * 1024 ** 3
    properties = {
        "AdminPasswordStatus": uint16(3),
        "Caption": host.name,
        "CreationClassName": "Win32_ComputerSystem",
        "CurrentTimeZone": 0,
        "Description": "AT/AT COMPATIBLE",
        "Domain": host.domain if host.part_of_domain else (host.workgroup or "WORKGROUP"),
        "DomainRole": uint16(3 if host.part_of_domain else 2),
        "Manufacturer": "VMware, Inc.",
        "Model": "VMware Virtual Platform",
        "NumberOfProcessors": uint32(2),
        "PartOfDomain": host.part_of_domain,
        "PrimaryOwnerName": "Administrator",
        "Roles": ["LM_Workstation", "LM_Server", "NT", "Server_NT"],
        "Status": "OK",
        "SystemType": "X86-based PC",
        "TotalPhysicalMemory": uint64(memory),
        "UserName": None,
        "Workgroup": None if host.part_of_domain else (host.workgroup or "WORKGROUP"),
    }
    if host.windows == "2000":
        del properties["PartOfDomain"], properties["Workgroup"]
    return [wmi_object(host.name, "Win32_ComputerSystem", {"Name": host.name}, properties)]


#: Well-known RIDs of the local accounts every Windows computer has.
_LOCAL_RIDS = {"administrator": 500, "guest": 501}


@wmi_class("Win32_UserAccount")
def win32_user_account(host: WindowsHost) -> list[Any]:
    """The computer's local accounts ("LocalAccount=TRUE" selects only those, as the class's
    documentation advises: enumerating a domain member's accounts would list the domain's). SIDs
    are the machine SID plus the RID; Domain is the computer's current name."""
    names = dict.fromkeys(["Administrator", *host.local_users, "Guest"])
    accounts = []
    others = iter(range(1000, 2000))
    for name in names:
        rid = _LOCAL_RIDS.get(name.lower()) or next(others)
        accounts.append(wmi_object(host.name, "Win32_UserAccount", {"Domain": host.name, "Name": name}, {
            "AccountType": uint32(512), "Caption": f"{host.name}\\{name}", "Disabled": name.lower() == "guest",
            "Domain": host.name, "LocalAccount": True, "Name": name, "SID": f"{host.machine_sid}-{rid}",
            "SIDType": uint8(1), "Status": "Degraded" if name.lower() == "guest" else "OK",
        }))
    return accounts


@wmi_class("Win32_OperatingSystem")
def win32_operating_system(host: WindowsHost) -> list[Any]:
    info = OS_INFO[host.windows]
    name = f"{info['Caption']}|{info['WindowsDirectory']}|\\Device\\Harddisk0\\Partition1"
    return [wmi_object(host.name, "Win32_OperatingSystem", {"Name": name}, {
        **info,
        "CSName": host.name,
        "CSCreationClassName": "Win32_ComputerSystem",
        "CreationClassName": "Win32_OperatingSystem",
        "LastBootUpTime": dmtf_datetime(host.boot_time),
        "LocalDateTime": dmtf_datetime(host.now()),
        "Manufacturer": "Microsoft Corporation",
        "OSType": uint16(18),
        "ProductType": uint32(3),
        "Status": "OK",
        "SystemDrive": "C:",
    })]


def _credentials(arguments: list[Any], password_index: int, user_index: int) -> tuple[str | None, str | None]:
    password = arguments[password_index] if len(arguments) > password_index else None
    user = arguments[user_index] if len(arguments) > user_index else None
    return (str(user) if user else None), (str(password) if password is not None else None)


def rename(target: WindowsHost, new_name: str, user: str | None, password: str | None) -> int:
    """NetRenameMachineInDomain as Win32_ComputerSystem.Rename and netdom do it. A computer whose
    unjoin is pending (sent, not yet restarted) renames locally, as a workgroup computer: Microsoft's
    procedure for changing both (KB Q102476) leaves the domain, changes the name, then restarts
    once; when Windows counts the unjoin done is not documented further."""
    new_name = str(new_name).strip()
    if not valid_computer_name(new_name):
        return 123
    leaving = bool(target.pending_membership and target.pending_membership[0] == "unjoin")
    if target.part_of_domain and not leaving and target.directory is not None:
        if not user:
            return 5
        code = target.directory.rename_computer(target.pending_name or target.name, new_name, user, password or "")
        if code != 0:
            return code
    target.pending_name = new_name.upper() if new_name.upper() != target.name else None
    return 0


def unjoin(target: WindowsHost, disable: bool, user: str | None, password: str | None) -> int:
    """NetUnjoinDomain: leave the domain at the next boot; with ``disable`` the account is disabled."""
    if not target.part_of_domain or (target.pending_membership and target.pending_membership[0] == "unjoin"):
        return 2692
    if target.directory is not None and (disable or user):
        code = target.directory.unjoin(target.pending_name or target.name, disable, user or "", password or "")
        if code != 0:
            return code
    target.pending_membership = ("unjoin", "WORKGROUP")
    return 0


#: The FJoinOptions Windows Server 2003 and Windows 2000 know (NetJoinDomain, Win32_ComputerSystem.
#: JoinDomainOrWorkgroup): 0x1 JOIN_DOMAIN, 0x2 ACCT_CREATE, 0x10 WIN9X_UPGRADE, 0x20 DOMAIN_JOIN_IF_JOINED,
#: 0x40 JOIN_UNSECURE, 0x80 MACHINE_PWD_PASSED, 0x100 DEFER_SPN_SET. The others (0x200 JOIN_DC_ACCOUNT,
#: 0x400 JOIN_WITH_NEW_NAME, 0x800 JOIN_READONLY and up) are "supported on Windows Vista and later".
KNOWN_JOIN_OPTIONS = 0x1 | 0x2 | 0x10 | 0x20 | 0x40 | 0x80 | 0x100
#: ERROR_NOT_SUPPORTED: "some of the options passed in the fJoinOptions parameter" are not supported.
NOT_SUPPORTED = 50


def join(target: WindowsHost, domain: str, options: int, user: str | None, password: str | None,
         account_ou: str | None) -> int:
    """NetJoinDomain. Options: 0x1 join a domain (else a workgroup), 0x2 create the account if
    missing, 0x20 DOMAIN_JOIN_IF_JOINED (join although already joined: without it a member gets
    2691). An existing computer account is reused (its password reset to a new machine password;
    reusing an existing account without ACCT_CREATE is widely reported, not documented); a name
    taken by another object gives 2224. A Vista-era option is refused with ERROR_NOT_SUPPORTED."""
    if options & ~KNOWN_JOIN_OPTIONS:
        return NOT_SUPPORTED
    if not options & 0x1:
        if target.part_of_domain:
            return 2691
        target.pending_membership = ("unjoin", str(domain).upper())
        return 0
    joined = target.part_of_domain and not (target.pending_membership and target.pending_membership[0] == "unjoin")
    if joined and not options & 0x20:
        return 2691
    directory = target.directory
    if directory is None or str(domain).lower() not in (directory.dns_name.lower(), directory.netbios_name.lower()):
        return 1355
    if not user:
        return 5
    code = directory.join(target.pending_name or target.name, options, user, password or "", account_ou)
    if code == 0:
        target.pending_membership = ("join", directory.dns_name, directory.netbios_name)
    return code


def _require_windows_2003(target: WindowsHost, method: str) -> None:
    # Rename, JoinDomainOrWorkgroup and UnjoinDomainOrWorkgroup came with Windows XP/2003;
    # Windows 2000's Win32_ComputerSystem has none of them (netdom does it there).
    if target.windows == "2000":
        raise PSError("Invalid method ", category="InvalidOperation",
                      error_id="InvokeWMIManagementException,Microsoft.PowerShell.Commands.InvokeWmiMethodCommand",
                      exception_type="System.Management.ManagementException", target=method)


@wmi_method("Win32_ComputerSystem", "Rename")
def _wmi_rename(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    # PowerShell 2.0 passes -ArgumentList in the method's alphabetical parameter order: Name, Password, UserName.
    _require_windows_2003(target, "Rename")
    if not arguments:
        return wmi_method_result(87)
    user, password = _credentials(arguments, 1, 2)
    return wmi_method_result(rename(target, str(arguments[0]), user, password))


@wmi_method("Win32_ComputerSystem", "UnjoinDomainOrWorkgroup")
def _wmi_unjoin(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    # Alphabetical: FUnjoinOptions, Password, UserName.
    _require_windows_2003(target, "UnjoinDomainOrWorkgroup")
    options = int(arguments[0]) if arguments and arguments[0] is not None else 0
    user, password = _credentials(arguments, 1, 2)
    return wmi_method_result(unjoin(target, bool(options & 0x4), user, password))


@wmi_method("Win32_ComputerSystem", "JoinDomainOrWorkgroup")
def _wmi_join(caller: WindowsHost, target: WindowsHost, instance: Any, arguments: list[Any]) -> Any:
    # Alphabetical: AccountOU, FJoinOptions, Name, Password, UserName.
    _require_windows_2003(target, "JoinDomainOrWorkgroup")
    padded = list(arguments) + [None] * (5 - len(arguments))
    account_ou, options, name = padded[0], int(padded[1] or 0), padded[2]
    if not name:
        return wmi_method_result(87)
    user, password = _credentials(padded, 3, 4)
    return wmi_method_result(join(target, str(name), options, user, password, account_ou))


# --- Restart-Computer / Stop-Computer -----------------------------------------------------------


#: Restart-Computer's failure record (decompiled RestartComputerCommand; Stop-Computer's is modelled on it,
#: not documented): verb, error id.
_POWER_FAILURES = {"RestartComputer": ("restart", "RestartcomputerFailed"),
                   "StopComputer": ("stop", "StopComputerFailed")}


def _power_targets(host: WindowsHost, args: dict[str, Any], cmdlet_name: str) -> list[WindowsHost]:
    """The computers to restart or stop. They are reached through WMI (Win32Shutdown): another
    computer only with -Credential it accepts, or from a logon with credentials (the second hop)."""
    verb, error_id = _POWER_FAILURES[cmdlet_name]
    credential = access.credential_of(args.get("Credential"), cmdlet_name)
    targets = []
    for computer in as_list(args.get("ComputerName")) or [None]:
        target = resolve_computer(host, computer)
        if target is None:
            host.write_error(f"The RPC server is unavailable. (Exception from HRESULT: 0x800706BA)",
                             category="OperationStopped",
                             error_id=f"{cmdlet_name}Exception,Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                             exception_type="System.Runtime.InteropServices.COMException", target=computer)
            continue
        refused = access.wmi_connection_error(host, target, credential, cmdlet_name, str(computer or "."))
        if refused is not None:
            host.write_error(f"Failed to {verb} the computer {computer} with the following error message: "
                             f"{refused.message.strip()}.", category="OperationStopped",
                             error_id=f"{error_id},Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                             exception_type=refused.exception_type, target=computer)
            continue
        targets.append(target)
    return targets


def _require_force_for_local(host: WindowsHost, targets: list[WindowsHost], args: dict[str, Any], verb: str) -> None:
    # Without -Force, Windows refuses while users are logged on; a remoting session counts as one.
    if not args.get("Force") and host in targets:
        raise PSError(f"This command cannot be run on target computer('{host.name}') due to following error: The "
                      f"system shutdown cannot be initiated because there are other users logged on to the "
                      f"computer.", category="OperationStopped",
                      error_id=f"{verb}ComputerException,Microsoft.PowerShell.Commands.{verb}ComputerCommand",
                      exception_type="System.InvalidOperationException", target=host.name)


@cmdlet("Restart-Computer", Param("ComputerName", 0, aliases=("Cn", "__SERVER", "Server", "IPAddress")),
        Param("Force", switch=True), Param("Credential"), Param("Authentication"), Param("Impersonation"),
        Param("AsJob", switch=True), Param("ThrottleLimit"), Param("WhatIf", switch=True),
        Param("Confirm", switch=True))
def restart_computer(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """Reboot: the host goes down (its endpoint with it) and comes back under its pending name."""
    targets = _power_targets(host, args, "RestartComputer")
    _require_force_for_local(host, targets, args, "Restart")
    for target in targets:
        target.restart()
    return []


@cmdlet("Stop-Computer", Param("ComputerName", 0, aliases=("Cn", "__SERVER", "Server", "IPAddress")),
        Param("Force", switch=True), Param("Credential"), Param("Authentication"), Param("Impersonation"),
        Param("AsJob", switch=True), Param("ThrottleLimit"), Param("WhatIf", switch=True),
        Param("Confirm", switch=True))
def stop_computer(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """Power off (the endpoint is gone until the lab powers the host on)."""
    targets = _power_targets(host, args, "StopComputer")
    _require_force_for_local(host, targets, args, "Stop")
    for target in targets:
        target.power_off()
    return []


# --- netdom (management host, acting on a Windows 2000 host) ------------------------------------

_WIN32_MESSAGES = {
    5: "Access is denied.",
    87: "The parameter is incorrect.",
    123: "The filename, directory name, or volume label syntax is incorrect.",
    1326: "Logon failure: unknown user name or bad password.",
    1355: "The specified domain either does not exist or could not be contacted.",
    1722: "The RPC server is unavailable.",
    1787: "The security database on the server does not have a computer account for this workstation trust "
          "relationship.",
    50: "The request is not supported.",
    2224: "The account already exists.",
    2691: "The machine is already joined to the domain.",
    2692: "The machine is not currently joined to a domain.",
}


def win32_message(code: int) -> str:
    return _WIN32_MESSAGES.get(code, f"Error {code}.")


def _netdom_switches(arguments: list[str]) -> tuple[list[str], dict[str, str | bool]]:
    plain: list[str] = []
    switches: dict[str, str | bool] = {}
    for argument in arguments:
        if argument.startswith("/"):
            key, sep, value = argument[1:].partition(":")
            switches[key.lower()] = value if sep else True
        else:
            plain.append(argument)
    return plain, switches


_NETDOM_FAILED = "The command failed to complete successfully."
_NETDOM_OK = "The command completed successfully."


def _netdom_failure(code: int) -> NativeOutput:
    return NativeOutput([win32_message(code), "", _NETDOM_FAILED], exit_code=1)


@native("netdom")
def netdom(host: WindowsHost, arguments: list[str], input_objects: list[Any]) -> NativeOutput:
    """``netdom renamecomputer|join|remove MACHINE ...`` (switch names as netdom takes them)."""
    plain, switches = _netdom_switches(arguments)
    if len(plain) < 2 or plain[0].lower() not in ("renamecomputer", "join", "remove"):
        return NativeOutput(["The syntax of this command is:", "", "NETDOM [ ADD | COMPUTERNAME | HELP | JOIN | "
                             "MOVE | QUERY | REMOVE | MOVENT4BDC | RENAME | RENAMECOMPUTER | RESET | RESETPWD | "
                             "TRUST | VERIFY ]", "", _NETDOM_FAILED], exit_code=87)
    operation, machine = plain[0].lower(), plain[1]
    target = resolve_computer(host, machine)
    if target is None:
        return _netdom_failure(1722)
    user_o, password_o = switches.get("usero"), switches.get("passwordo")
    if target is not host and isinstance(user_o, str):
        if not target.accepts(user_o, str(password_o or "")):
            return _netdom_failure(1326)
    elif target is not host and not access.logon_reaches(host, target):
        # Without /UserO netdom connects to MACHINE as the logon running it: from a WinRM session,
        # the second hop (qrdr.lab.sim.access).
        return _netdom_failure(5)
    user_d = switches.get("userd")
    password_d = switches.get("passwordd")
    user = str(user_d) if isinstance(user_d, str) else None
    password = str(password_d) if isinstance(password_d, str) else None
    if operation == "renamecomputer":
        new_name = switches.get("newname")
        if not isinstance(new_name, str):
            return _netdom_failure(87)
        code = rename(target, new_name, user, password)
        if code:
            return _netdom_failure(code)
        return NativeOutput([f"This operation will rename the computer {target.name}", f"to {new_name.upper()}.", "",
                             "Certain services, such as the Certificate Authority, rely on a fixed machine name. "
                             "If any services of this type are running on " + target.name + ", then a computer "
                             "name change would have an adverse impact.", "",
                             "The computer needs to be restarted in order to complete the operation.", "",
                             _NETDOM_OK])
    if operation == "remove":
        code = unjoin(target, True, user, password)
        return _netdom_failure(code) if code else NativeOutput(
            ["The machine needs to be restarted in order to complete the operation.", "", _NETDOM_OK])
    domain = switches.get("domain")
    if not isinstance(domain, str):
        return _netdom_failure(87)
    ou = switches.get("ou")
    code = join(target, domain, 0x1 | 0x2, user, password, str(ou) if isinstance(ou, str) else None)
    return _netdom_failure(code) if code else NativeOutput(
        ["The computer needs to be restarted in order to complete the operation.", "", _NETDOM_OK])


# --- bootcfg ------------------------------------------------------------------------------------


#: What ``bootcfg /rmsw`` can remove: /maxmem, /basevideo, /sos, /noguiboot (bootcfg-rmsw.md); nothing else.
_RMSW_SWITCHES = ("/mm", "/bv", "/so", "/ng")


@native("bootcfg")
def bootcfg(host: WindowsHost, arguments: list[str], input_objects: list[Any]) -> NativeOutput:
    """``bootcfg /raw "/safeboot:minimal" /a /id 1`` appends safe mode to the boot entry's options;
    ``bootcfg /raw "/fastdetect" /id 1`` (no /a) replaces them, which leaves safe mode (bootcfg-raw.md:
    "These load options replace any existing load options"). ``/rmsw`` removes only /mm /bv /so /ng:
    ``bootcfg /rmsw /safeboot`` is invalid (bootcfg-rmsw.md). The lab keeps only whether and which
    safe mode the entry boots into."""
    lowered = [argument.lower() for argument in arguments]
    if "/id" not in lowered or lowered[lowered.index("/id") + 1:lowered.index("/id") + 2] != ["1"]:
        return NativeOutput([], exit_code=1, stderr=["ERROR: Invalid boot entry ID specified."])
    if lowered and lowered[0] == "/raw":
        options = [argument for argument in lowered[1:lowered.index("/id")] if argument != "/a"]
        if len(options) != 1:
            return NativeOutput([], exit_code=1,
                                stderr=["ERROR: Invalid syntax. Type \"BOOTCFG /RAW /?\" for usage."])
        words = options[0].split()
        mode = next((word.split(":", 1)[1] for word in words if word.startswith("/safeboot:")), None)
        if mode is not None and mode not in ("minimal", "network", "dsrepair", "minimal(alternateshell)"):
            mode = None  # "There is no validation against the <osloadoptions> parameter": Windows ignores it
        if "/a" in lowered:
            host.safe_boot = mode or host.safe_boot
            return NativeOutput(["SUCCESS: Added the OS load options for the boot entry \"1\"."])
        host.safe_boot = mode
        return NativeOutput(["SUCCESS: Changed the OS load options for the boot entry \"1\"."])  # not documented
    if lowered and lowered[0] == "/rmsw":
        given = arguments[1:lowered.index("/id")]
        unknown = [argument for argument in given if argument.lower() not in _RMSW_SWITCHES]
        if unknown or not given:
            bad = unknown[0] if unknown else "/rmsw"
            return NativeOutput([], exit_code=1, stderr=[f"ERROR: Invalid argument/option - '{bad}'.",
                                                         "Type \"BOOTCFG /RMSW /?\" for usage."])
        return NativeOutput(["SUCCESS: Removed the switches from the OS load options for the boot entry \"1\"."])
    return NativeOutput([], exit_code=1, stderr=["ERROR: Invalid syntax. Type \"BOOTCFG /?\" for usage."])
