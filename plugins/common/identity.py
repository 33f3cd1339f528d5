"""Who a host is right now (name, domain membership), and restarting it.

A rename takes effect at the next restart; leaving the domain makes the
domain account useless for logging on. :func:`identify` finds out, with the
account and the name that work now, and records both in the run's facts.
:func:`restart` restarts a host and reconnects to it under the name and the
account it will have afterwards, then proves that it restarted (boot time) and
runs under the expected name.
"""

from __future__ import annotations

import time
from typing import Any

from qrdr.remote import Command, ConnectionLostDuringChange, HostUnreachable, RebootFailed, RemoteCommandError, RemoteHost

from . import hosts

#: Deadlines of a restart (seconds): going down, coming back.
DOWN_TIMEOUT = 300
UP_TIMEOUT = 1200


def identify(ctx: Any, key: str, candidates: tuple[str, ...] = ()) -> tuple[RemoteHost, dict[str, Any]]:
    """The session that reaches ``site.hosts[key]`` now and its Win32_ComputerSystem.

    Tries the account the facts say (domain or local), then the other one;
    for a Windows 2000 host, the names in ``candidates`` when its recorded
    name does not answer (a run killed between a rename and its fact).
    Records what worked. Raises :class:`HostUnreachable` naming every attempt.
    """
    attempts: list[str] = []
    host = ctx.site.hosts[key]
    names = [hosts.current_name(ctx, key)] + [n for n in candidates if n]
    accounts = [hosts.in_workgroup(ctx, key), not hosts.in_workgroup(ctx, key)]
    if host.via is not None or not (host.local_user and host.local_password):
        accounts = accounts[:1]
    for workgroup in accounts:
        hosts.set_workgroup(ctx, key, workgroup)
        for name in dict.fromkeys(names) if host.via is not None else names[:1]:
            hosts.set_current_name(ctx, key, name)
            session = hosts.remote(ctx, key)
            try:
                system = hosts.computer_system(session)
            except (HostUnreachable, RemoteCommandError) as error:
                attempts.append(f"as {name} with the {'local' if workgroup else 'domain'} account: {error}")
                continue
            hosts.set_current_name(ctx, key, str(system["Name"]))
            hosts.set_workgroup(ctx, key, not hosts.part_of_domain(system))
            return hosts.remote(ctx, key), system
    hosts.set_workgroup(ctx, key, accounts[0])
    hosts.set_current_name(ctx, key, names[0])
    raise HostUnreachable(host.name, "; ".join(attempts) or "no way to reach it")


def restart(ctx: Any, key: str, *, expected_name: str | None = None, workgroup: bool | None = None) -> dict[str, Any]:
    """Restart ``site.hosts[key]`` and come back to it as ``expected_name`` (default: its name now)
    with the domain account (``workgroup`` False) or the local one (True; default: unchanged).

    Returns evidence (names, boot times, seconds). Raises :class:`RebootFailed` saying what went wrong.
    """
    before_session = hosts.remote(ctx, key)
    label = before_session.label
    boot_before = hosts.operating_system(before_session)["LastBootUpTime"]
    name_before = before_session.name
    ctx.progress(f"restarting {label}")
    started = time.monotonic()
    try:
        before_session.run(Command("Restart-Computer", {"Force": True}))
    except ConnectionLostDuringChange:
        pass  # the host went down under the command: that is what a restart does
    before_session.wait_until_down(DOWN_TIMEOUT, progress=ctx.progress, after=" after Restart-Computer")
    wanted = expected_name or name_before
    hosts.set_current_name(ctx, key, wanted)
    if workgroup is not None:
        hosts.set_workgroup(ctx, key, workgroup)
    after_session = hosts.remote(ctx, key)
    after_session.wait_until_up(UP_TIMEOUT, progress=ctx.progress, after=" after Restart-Computer")
    system = hosts.computer_system(after_session)
    boot_after = hosts.operating_system(after_session)["LastBootUpTime"]
    if boot_after == boot_before:
        raise RebootFailed(label, f"{label} answers again but its boot time is unchanged ({boot_before}): "
                                  f"it did not restart")
    if str(system["Name"]).lower() != wanted.lower():
        raise RebootFailed(label, f"{label} came back as {system['Name']}, expected {wanted}")
    return {"host": key, "name_before": name_before, "name_after": system["Name"], "boot_before": boot_before,
            "boot_after": boot_after, "part_of_domain": hosts.part_of_domain(system),
            "seconds": round(time.monotonic() - started, 1)}
