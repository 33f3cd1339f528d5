"""Service state steps: stop/start Exchange services and set their start modes, in dependency order.

``wanted`` maps a service to ``(state, mode)`` in Win32_Service words
(``"Running"``/``"Stopped"``, ``"Auto"``/``"Manual"``/``"Disabled"``); it may be
a callable of the run context (e.g. "what production had before qrdr stopped
it", from the facts). The check says, per service, what changes::

    EXCH01: MSExchangeIS Running/Auto -> Stopped/Manual

Apply sets the start modes first (so nothing restarts a service it stops),
stops in reverse dependency order and starts in dependency order. Windows
2000 hosts are driven from their management host through ``Win32_Service``
(see :func:`apply_services`).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

from qrdr.remote import Command
from qrdr.steps import SERVICE_START, Check, Step, StepContext, guarded

from . import catalog, hosts

Wanted = Mapping[str, tuple[str, str]]
WantedFn = Callable[[Any], Wanted]


def _resolve(wanted: Wanted | WantedFn, ctx: StepContext) -> Wanted:
    return wanted(ctx) if callable(wanted) else wanted


def describe_differences(host_name: str, current: Mapping[str, hosts.ServiceState], wanted: Wanted) -> list[str]:
    """The admin's lines: ``EXCH01: MSExchangeIS Running/Auto -> Stopped/Manual`` for each service that differs."""
    lines = []
    for name in catalog.start_order(list(wanted)):
        state, mode = wanted[name]
        now = current.get(name)
        if now is None:
            continue
        if now.state != state or now.mode != mode:
            lines.append(f"{host_name}: {name} {now.state}/{now.mode} -> {state}/{mode}")
    return lines


def check_services(ctx: StepContext, key: str, wanted: Wanted, *, missing_means: str | None = None) -> Check:
    """Read-only: do the services of ``site.hosts[key]`` match ``wanted``?

    Services that do not exist block the step, or (``missing_means`` given: e.g.
    "Exchange is installed by exchange2003.setup-dr first") make it depend on an earlier step.
    """
    session = hosts.remote(ctx, key)
    current = hosts.services(session, list(wanted))
    missing = [name for name in wanted if name not in current]
    label = session.name
    if missing:
        text = f"{label}: service(s) {', '.join(missing)} not installed"
        return Check.depends(f"{text}; {missing_means}") if missing_means else Check.blocked(text)
    lines = describe_differences(label, current, wanted)
    facts = {"services": {n: [s.state, s.mode] for n, s in current.items()}}
    if not lines:
        return Check.no_change(f"{label}: " + ", ".join(f"{n} {wanted[n][0]}/{wanted[n][1]}"
                                                         for n in catalog.start_order(list(wanted))), **facts)
    return Check.will_change(*lines, **facts)


def apply_services(ctx: StepContext, key: str, wanted: Wanted) -> dict[str, Any]:
    """Make the services of ``site.hosts[key]`` match ``wanted``; returns what was done.

    Start modes first (so nothing restarts a service being stopped), then stops in reverse
    dependency order, then starts in dependency order. On Windows 2003 the session runs on the host
    itself: Set-Service -StartupType, Stop-Service -Force, Start-Service. A Windows 2000 host is
    driven from its management host through Win32_Service (ChangeStartMode, StopService,
    StartService) with -Credential: Get-Service and Set-Service -ComputerName carry no credentials
    in PowerShell 2.0, and Set-Service -Status Stopped refuses every service with dependents or
    dependencies (docs/design/host-commands.md, "Services").
    """
    session = hosts.remote(ctx, key)
    current = hosts.services(session, list(wanted))
    control = _wmi_control if hosts.is_windows_2000(ctx.site, key) else _cmdlet_control
    done: list[str] = []
    for name in catalog.start_order(list(wanted)):
        state, mode = wanted[name]
        if name in current and current[name].mode != mode:
            control(session, name, "mode", catalog.MODE_WORDS[mode])
            done.append(f"{name} start mode {current[name].mode} -> {mode}")
    for name in catalog.stop_order([n for n, (state, _m) in wanted.items() if state == "Stopped"]):
        if name in current and current[name].state != "Stopped":
            ctx.progress(f"{session.name}: stopping {name}")
            control(session, name, "stop", None)
            done.append(f"stopped {name}")
    for name in catalog.start_order([n for n, (state, _m) in wanted.items() if state == "Running"]):
        if name in current and current[name].state != "Running":
            ctx.progress(f"{session.name}: starting {name}")
            control(session, name, "start", None)
            done.append(f"started {name}")
    return {"host": session.name, "done": done}


def _cmdlet_control(session: Any, name: str, action: str, mode: str | None) -> None:
    """A service of the host the session runs on, through the service cmdlets."""
    if action == "mode":
        session.run(Command("Set-Service", {"Name": name, "StartupType": mode}))
    elif action == "stop":
        session.run(Command("Stop-Service", {"Name": name, "Force": True}))
    else:
        session.run(Command("Start-Service", {"Name": name}))


#: Win32_Service method return values that mean "as wanted" for each action (WMI documentation:
#: 0 accepted; 5 "cannot accept control" for a service already stopped; 10 already running).
_WMI_DONE = {"mode": {0}, "stop": {0, 5}, "start": {0, 10}}
_WMI_METHODS = {"mode": "ChangeStartMode", "stop": "StopService", "start": "StartService"}
#: Seconds a Windows 2000 service may take to reach the state asked for: StopService and StartService
#: return once the request is accepted, not when the service got there.
SERVICE_STATE_DEADLINE = 120.0


def _wmi_control(session: Any, name: str, action: str, mode: str | None) -> None:
    """A service of a Windows 2000 host through Win32_Service from the management host, waiting
    until it reached the state asked for."""
    arguments = {"ArgumentList": [mode]} if mode else {}
    output = session.run(Command("Get-WmiObject", {"Class": "Win32_Service", "Filter": hosts.service_filter([name])}),
                         Command("Invoke-WmiMethod", {"Name": _WMI_METHODS[action], **arguments}))
    code = hosts.wmi_return_value(output)
    if code not in _WMI_DONE[action]:
        raise RuntimeError(f"{session.name}: Win32_Service.{_WMI_METHODS[action]} of {name} returned {code} "
                           f"({WMI_SERVICE_RETURN.get(code, 'see the WMI documentation of the method')})")
    if action == "mode":
        return
    wanted = "Stopped" if action == "stop" else "Running"
    deadline = time.monotonic() + SERVICE_STATE_DEADLINE
    while hosts.services(session, [name]).get(name, hosts.ServiceState(name, wanted, "")).state != wanted:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{session.name}: {name} did not reach {wanted} within {SERVICE_STATE_DEADLINE:g} s")
        time.sleep(1.0)


#: The words of Win32_Service's method return values (StartService, StopService, ChangeStartMode pages).
WMI_SERVICE_RETURN = {2: "access denied", 3: "services that depend on it are running", 7: "the service did not "
                      "answer in time", 8: "unknown failure", 13: "a service it depends on failed",
                      14: "the service is disabled", 21: "invalid parameter"}


def service_step(*, id: str, title: str, key: str, wanted: Wanted | WantedFn, missing_means: str | None = None,
                 guard: Callable[[Any], Check | None] | None = None, **step_options: Any) -> Step:
    """A step that puts services in ``wanted``'s state. ``guard(ctx)`` may answer for the check first
    (e.g. ``Check.depends`` while an earlier phase has not run); ``step_options`` go to :class:`Step`."""

    def check(ctx: StepContext) -> Check:
        return check_services(ctx, key, _resolve(wanted, ctx), missing_means=missing_means)

    # Starting services is a wait of its own (the Information Store takes minutes on a large
    # database); wanted states known only at run time (production's, as recorded) start them too.
    starts = callable(wanted) or any(state == "Running" for state, _mode in wanted.values())
    step_options.setdefault("waits", (SERVICE_START,) if starts else ())
    return Step(id=id, title=title, target=key, check=guarded(guard, check), verify=check,
                apply=lambda ctx: apply_services(ctx, key, _resolve(wanted, ctx)), **step_options)


def all_in(names: list[str], state: str, mode: str) -> dict[str, tuple[str, str]]:
    return {name: (state, mode) for name in names}
