"""A tiny simulated Windows host (``qrdr.lab.sim.protocol.SimulatedHost``) for the remoting tests.

Small on purpose: the remoting layer's tests need a host whose every reaction
they control (what it received, when it reboots, which name it comes back
with), not the whole simulated Windows. It answers like Windows PowerShell 2.0:

* ``Get-Service -Name A,B [-ComputerName X]``: ServiceController objects;
  an unknown name is a non-terminating ``NoServiceFoundForGivenName`` error;
* ``Set-Service -Name A -StartupType T [-ComputerName X]`` (or the services piped in);
* ``Get-WmiObject -Class Win32_OperatingSystem|Win32_ComputerSystem [-ComputerName X]``;
* ``Restart-Computer -Force``: answers, then the endpoint goes down and comes
  back after ``reboot_delay`` seconds with a new boot time and ``pending_name``
  (or never, with ``stay_down``);
* ``Stop-Computer -Force``: answers, then the endpoint goes down for good;
* ``Start-Sleep -Seconds N``: a pipeline that takes its time;
* ``Echo-Value``: returns its named parameter values, then its arguments;
* the shipped script ``qrdr:Echo-Parameters``: returns its parameters as one object;
* anything else fails as CommandNotFoundException does.

Every pipeline received is kept in ``invocations`` (the server's view of what was sent).
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any

from psrpcore.types import PSNoteProperty, PSObject

from qrdr.lab.sim.protocol import ErrorInfo, Invocation, InvocationResult, Logon
from qrdr.remote.scripts import marker_name

SERVICE_TYPES = ["System.ServiceProcess.ServiceController", "System.ComponentModel.Component",
                 "System.MarshalByRefObject", "System.Object"]


def _object(type_names: list[str], properties: dict[str, Any], to_string: str | None = None) -> PSObject:
    obj = PSObject()
    obj.PSObject.type_names = list(type_names)
    if to_string is not None:
        obj.PSObject.to_string = to_string
    for key, value in properties.items():
        obj.PSObject.adapted_properties.append(PSNoteProperty(key))
        setattr(obj, key, value)
    return obj


def dmtf(moment: datetime.datetime) -> str:
    return moment.strftime("%Y%m%d%H%M%S.%f") + "+000"


class TinyWindowsHost:
    """See the module docstring. ``endpoint`` is set by the test once the endpoint exists."""

    def __init__(self, name: str, *, reboot_delay: float = 0.5, known_computers: tuple[str, ...] = ()):
        self.name = name
        self.pending_name: str | None = None
        self.boot_time = datetime.datetime(2026, 11, 1, 8, 0, 0)
        self.reboot_delay = reboot_delay
        self.known_computers = {c.lower() for c in known_computers}
        #: -ComputerName targets that answer but refuse us (alive, access denied).
        self.denying_computers: set[str] = set()
        self.services: dict[str, dict[str, str]] = {
            "msexchangesa": {"Name": "MSExchangeSA", "Status": "Running", "StartMode": "Auto"},
            "msexchangeis": {"Name": "MSExchangeIS", "Status": "Running", "StartMode": "Auto"},
            "w3svc": {"Name": "W3SVC", "Status": "Stopped", "StartMode": "Manual"},
        }
        self.invocations: list[list[Invocation]] = []
        self.endpoint: Any = None
        self.reboots = 0
        #: Set to keep the host down after its next Restart-Computer (a server that never boots again).
        self.stay_down = False
        #: Set to answer Restart-Computer without restarting (a hung shutdown).
        self.ignore_restart = False
        #: Set at teardown so that sleeping pipelines end at once.
        self.wake = threading.Event()
        self._threads: list[threading.Thread] = []

    def accepts(self, user: str, password: str) -> bool:
        return True

    def end_shell(self, shell: str) -> None:
        """Nothing this host runs outlives a pipeline, so nothing ends with a shell."""

    def invoke(self, pipeline: list[Invocation], input_objects: list[Any], logon: Logon | None = None) -> InvocationResult:
        self.invocations.append(list(pipeline))
        result = InvocationResult()
        objects = list(input_objects)
        for invocation in pipeline:
            if invocation.is_script:
                name = (marker_name(invocation.name) or "").lower()
                handler = getattr(self, "_script_" + name.replace("qrdr:", "").replace("-", "_"), None)
            else:
                handler = getattr(self, "_cmd_" + invocation.name.lower().replace("-", "_"), None)
            if handler is None:
                shown = invocation.name if not invocation.is_script else "script"
                result.failed = ErrorInfo(
                    message=f"The term '{shown}' is not recognized as the name of a cmdlet, function, script "
                            f"file, or operable program.",
                    category="ObjectNotFound", fully_qualified_error_id="CommandNotFoundException",
                    exception_type="System.Management.Automation.CommandNotFoundException", target=shown)
                return result
            error = self._check_computer(invocation)
            if error is not None:
                result.failed = error
                return result
            objects = handler(invocation, objects, result)
            if result.failed:
                return result
        result.output = objects
        return result

    def _check_computer(self, invocation: Invocation) -> ErrorInfo | None:
        computer = invocation.named().get("computername")
        if computer is not None and str(computer).lower() in self.denying_computers:
            return ErrorInfo(message="Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))",
                             category="NotSpecified", fully_qualified_error_id="System.UnauthorizedAccessException")
        if computer is None or str(computer).lower() in self.known_computers | {self.name.lower()}:
            return None
        return ErrorInfo(message="The RPC server is unavailable. (Exception from HRESULT: 0x800706BA)",
                         category="InvalidOperation", fully_qualified_error_id="GetWMICOMException")

    # -- commands ------------------------------------------------------------------------

    def _service(self, state: dict[str, str]) -> PSObject:
        return _object(SERVICE_TYPES, {"Name": state["Name"], "ServiceName": state["Name"],
                                       "Status": state["Status"], "MachineName": "."}, state["Name"])

    def _cmd_get_service(self, invocation, objects, result):
        names = invocation.named().get("name")
        names = names if isinstance(names, list) else [names]
        found = []
        for name in names:
            state = self.services.get(str(name).lower())
            if state is None:
                result.errors.append(ErrorInfo(
                    message=f"Cannot find any service with service name '{name}'.", category="ObjectNotFound",
                    fully_qualified_error_id="NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand",
                    exception_type="Microsoft.PowerShell.Commands.ServiceCommandException", target=name))
            else:
                found.append(self._service(state))
        return found

    def _cmd_set_service(self, invocation, objects, result):
        named = invocation.named()
        names = [named["name"]] if "name" in named else [getattr(o, "Name") for o in objects]
        for name in names:
            state = self.services[str(name).lower()]
            if "startuptype" in named:
                state["StartMode"] = {"automatic": "Auto"}.get(str(named["startuptype"]).lower(),
                                                                str(named["startuptype"]))
            if "status" in named:
                state["Status"] = str(named["status"])
        return []

    def _cmd_get_wmiobject(self, invocation, objects, result):
        wmi_class = str(invocation.named().get("class")).lower()
        if wmi_class == "win32_operatingsystem":
            return [_object([r"System.Management.ManagementObject#root\cimv2\Win32_OperatingSystem",
                             "System.Management.ManagementObject", "System.Object"],
                            {"CSName": self.name, "Version": "5.2.3790", "LastBootUpTime": dmtf(self.boot_time)})]
        if wmi_class == "win32_computersystem":
            return [_object([r"System.Management.ManagementObject#root\cimv2\Win32_ComputerSystem",
                             "System.Management.ManagementObject", "System.Object"],
                            {"Name": self.name, "Domain": "lab.test", "PartOfDomain": True})]
        if wmi_class == "win32_service":
            return [_object([r"System.Management.ManagementObject#root\cimv2\Win32_Service"],
                            {"Name": s["Name"], "State": s["Status"], "StartMode": s["StartMode"]})
                    for s in self.services.values()]
        result.failed = ErrorInfo(message="Invalid class", category="InvalidType",
                                  fully_qualified_error_id="GetWMIManagementException")
        return []

    def _cmd_start_sleep(self, invocation, objects, result):
        self.wake.wait(float(invocation.named().get("seconds", 0)))
        return objects

    def _cmd_echo_value(self, invocation, objects, result):
        values = [value for key, value in invocation.parameters if key is not None] + invocation.positional()
        return [value for value in values if value is not None]  # $null is not written to the pipeline

    def _script_echo_parameters(self, invocation, objects, result):
        return [_object(["Qrdr.Echo", "System.Object"], {key: value for key, value in invocation.parameters if key})]

    def _cmd_restart_computer(self, invocation, objects, result):
        if self.ignore_restart:
            return []
        thread = threading.Thread(target=self._reboot, daemon=True)
        self._threads.append(thread)
        thread.start()
        return []

    def _cmd_stop_computer(self, invocation, objects, result):
        def power_off():
            time.sleep(0.1)
            self.endpoint.go_down()

        thread = threading.Thread(target=power_off, daemon=True)
        self._threads.append(thread)
        thread.start()
        return []

    def _reboot(self) -> None:
        time.sleep(0.1)  # Windows answers Restart-Computer, then shuts down
        self.endpoint.go_down()
        time.sleep(self.reboot_delay)
        if self.stay_down:
            return
        self.boot_time = self.boot_time + datetime.timedelta(hours=1)
        if self.pending_name:
            self.name, self.pending_name = self.pending_name, None
        self.reboots += 1
        self.endpoint.come_up()

    def join(self) -> None:
        """End sleeping pipelines and wait for background reboots (test teardown)."""
        self.wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
