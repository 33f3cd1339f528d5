"""The scripted Windows host of the WinRM endpoint tests (imported by conftest and the tests).

Deliberately tiny (the real simulated hosts live in qrdr.lab.sim): it answers a
handful of commands the way Windows PowerShell 2.0 does, with the object shapes
pypsrp's recorded Windows responses show. A uniquely named module, not
conftest, so that it never clashes with other test directories' conftest.py.
"""

from __future__ import annotations

import threading

from psrpcore.types import PSNoteProperty, PSObject, add_note_property

from qrdr.lab.sim.protocol import ErrorInfo, Invocation, InvocationResult, Logon

USER = "LAB\\winrmadmin"
PASSWORD = "Winrm-Passw0rd!"
#: A local account of the host: what Basic authentication takes (domain accounts need Negotiate or Kerberos).
LOCAL_USER = "winrmadmin"

SERVICE_TYPE_NAMES = [
    "System.ServiceProcess.ServiceController",
    "System.ComponentModel.Component",
    "System.MarshalByRefObject",
    "System.Object",
]


def service_controller(name: str, display_name: str, status: str) -> PSObject:
    """A ServiceController as Windows PowerShell 2.0 serialises it (no StartType on 2003)."""
    service = PSObject()
    service.PSObject.type_names = list(SERVICE_TYPE_NAMES)
    service.PSObject.to_string = name
    adapted = {
        "CanPauseAndContinue": False,
        "CanShutdown": True,
        "CanStop": status == "Running",
        "DisplayName": display_name,
        "DependentServices": [],
        "MachineName": ".",
        "ServiceName": name,
        "ServicesDependedOn": [],
        "ServiceHandle": "SafeServiceHandle",
        "Status": status,
        "ServiceType": "Win32OwnProcess",
        "Site": None,
        "Container": None,
    }
    for key, value in adapted.items():
        service.PSObject.adapted_properties.append(PSNoteProperty(key))
        setattr(service, key, value)
    add_note_property(service, "Name", name)
    add_note_property(service, "RequiredServices", [])
    return service


def command_not_found(name: str) -> ErrorInfo:
    return ErrorInfo(
        message=(
            f"The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable "
            "program. Check the spelling of the name, or if a path was included, verify that the path is correct "
            "and try again."
        ),
        category="ObjectNotFound",
        fully_qualified_error_id="CommandNotFoundException",
        exception_type="System.Management.Automation.CommandNotFoundException",
        target=name,
        command=name,
    )


class ScriptedHost:
    """Answers Get-Service, Write-Output, Sort-Object, Measure-Total, Start-Sleep, New-Lines."""

    def __init__(self) -> None:
        self.services = {
            "msexchangeis": ("MSExchangeIS", "Microsoft Exchange Information Store", "Running"),
            "smtpsvc": ("SMTPSVC", "Simple Mail Transfer Protocol (SMTP)", "Stopped"),
        }
        self.refused_users: set[str] = set()
        self.invocations: list[tuple[list[Invocation], list]] = []
        #: Set at teardown so sleeping pipelines end at once.
        self.wake = threading.Event()
        #: How many invoke() calls ran at the same time, at most.
        self.max_concurrent = 0
        self._active = 0
        self._count_lock = threading.Lock()
        self.peer_barrier = threading.Barrier(2)

    def accepts(self, user: str, password: str) -> bool:
        return user.lower() not in self.refused_users

    def end_shell(self, shell: str) -> None:
        """Nothing this host runs outlives a pipeline, so nothing ends with a shell."""

    def invoke(self, pipeline: list[Invocation], input_objects: list, logon: Logon | None = None) -> InvocationResult:
        with self._count_lock:
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)
        try:
            return self._run(pipeline, input_objects)
        finally:
            with self._count_lock:
                self._active -= 1

    def _run(self, pipeline: list[Invocation], input_objects: list) -> InvocationResult:
        self.invocations.append((pipeline, list(input_objects)))
        result = InvocationResult()
        objects = list(input_objects)
        for invocation in pipeline:
            if invocation.is_script:
                invocation = _parse_script(invocation.name)
            handler = getattr(self, "_cmd_" + invocation.name.lower().replace("-", "_"), None)
            if handler is None:
                result.failed = command_not_found(invocation.name)
                return result
            objects = handler(invocation, objects, result)
            if result.failed:
                return result
        result.output = objects
        return result

    def _cmd_get_service(self, invocation, objects, result):
        names = invocation.named().get("name") or (invocation.positional() or [None])[0]
        names = names if isinstance(names, list) else [names]
        found = []
        for name in names:
            service = self.services.get(str(name).lower())
            if service is None:
                result.errors.append(
                    ErrorInfo(
                        message=f"Cannot find any service with service name '{name}'.",
                        category="ObjectNotFound",
                        fully_qualified_error_id="NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand",
                        exception_type="Microsoft.PowerShell.Commands.ServiceCommandException",
                        target=name,
                        command="Get-Service",
                    )
                )
            else:
                found.append(service_controller(*service))
        return found

    def _cmd_write_output(self, invocation, objects, result):
        values = invocation.named().get("inputobject", invocation.positional())
        return objects + (values if isinstance(values, list) else [values])

    def _cmd_sort_object(self, invocation, objects, result):
        return sorted(objects, reverse=bool(invocation.named().get("descending")))

    def _cmd_measure_total(self, invocation, objects, result):
        return [sum(objects)]

    def _cmd_start_sleep(self, invocation, objects, result):
        self.wake.wait(float(invocation.named().get("seconds", 0)))
        return objects

    def _cmd_invoke_expression(self, invocation, objects, result):
        """What pypsrp's Client.execute_ps sends: Invoke-Expression -Command <script> | Out-String -Stream."""
        inner = self.invoke([_parse_script(invocation.named()["command"])], [])
        result.errors.extend(inner.errors)
        result.failed = inner.failed
        return inner.output

    def _cmd_out_string(self, invocation, objects, result):
        return [str(o.PSObject.to_string) if isinstance(o, PSObject) else str(o) for o in objects]

    def _cmd_wait_peer(self, invocation, objects, result):
        """Returns once two pipelines are inside it at the same time (fails after 10 s alone)."""
        self.peer_barrier.wait(timeout=10)
        return objects

    def _cmd_new_lines(self, invocation, objects, result):
        named = invocation.named()
        return ["%05d " % i + "x" * int(named["width"]) for i in range(int(named["count"]))]


def _parse_script(text: str) -> Invocation:
    """'Get-Service -Name MSExchangeIS' -> Invocation (enough for Client.execute_ps in tests)."""
    words = text.split()
    parameters: list[tuple[str | None, object]] = []
    index = 1
    while index < len(words):
        word = words[index]
        if word.startswith("-") and index + 1 < len(words) and not words[index + 1].startswith("-"):
            parameters.append((word[1:], words[index + 1]))
            index += 2
        elif word.startswith("-"):
            parameters.append((word[1:], True))
            index += 1
        else:
            parameters.append((None, word))
            index += 1
    return Invocation(name=words[0], parameters=tuple(parameters))
