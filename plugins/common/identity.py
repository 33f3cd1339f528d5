"""Who a host is right now (name, domain membership), and which computer it is.

A rename takes effect at the next restart; leaving the domain makes the
domain account useless for logging on. :func:`identify` finds out, with the
account and the name that work now, and records both in the run's facts.
:func:`identity_check` proves each host key reaches the computer the site config
names (and recorded at configure: its machine SID).
"""

from __future__ import annotations

from typing import Any

from qrdr.remote import Command, HostUnreachable, RemoteCommandError, RemoteHost
from qrdr.steps import Check, StepContext

from . import hosts
from .facts import run_facts

def identify(ctx: StepContext, key: str, candidates: tuple[str, ...] = ()) -> tuple[RemoteHost, dict[str, Any]]:
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


# --------------------------------------------------------------------------- which computer it is

def machine_sid(session: RemoteHost) -> str:
    """The computer's own SID: its local Administrator's SID (RID 500) without the RID. Local
    accounts only ("LocalAccount=TRUE"), as Win32_UserAccount's documentation advises on a domain
    member."""
    accounts = session.run(Command("Get-WmiObject", {"Class": "Win32_UserAccount", "Filter": "LocalAccount=TRUE"}),
                           read_only=True)
    sids = [str(account.get("SID") or "") for account in accounts]
    administrator = next((sid for sid in sids if sid.endswith("-500")), None) or next((s for s in sids if s), None)
    if not administrator:
        raise RemoteCommandError(f"{session.label}: Win32_UserAccount lists no local account, so its machine SID "
                                 "cannot be read")
    return administrator.rsplit("-", 1)[0]


def record_identities(ctx: StepContext, keys: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """Record which computer each host key reaches now (configure: the site as it is built)."""
    recorded = run_facts(ctx).host_identities
    for key in keys:
        session, system = identify(ctx, key)
        recorded[key] = {"name": str(system["Name"]), "sid": machine_sid(session)}
    return {key: dict(recorded[key]) for key in keys}


def identity_check(ctx: StepContext, expected: dict[str, tuple[str, ...]], *, may_be_down: tuple[str, ...] = (),
                   compare_recorded: bool = True, taken_place: tuple[str, str, str] | None = None) -> Check:
    """The preflight of every command that changes something: each host key reaches a computer
    that answers with one of the names it may have now (``expected``: key -> names), no two keys
    reach the same computer (the same machine SID), and (``compare_recorded``) each is the computer
    recorded when the site was configured. A key in ``may_be_down`` that does not answer is passed
    over (production, when it has failed). ``taken_place`` = (production key, standby key,
    production's name): after a promote production's name and address lead to the standby, so
    production's key may reach the standby's computer when it answers under production's name.
    Blocked naming both identities on a mismatch."""
    site = ctx.site
    problems, seen, lines = [], {}, []
    recorded = run_facts(ctx).host_identities
    for key, names in expected.items():
        host = site.hosts[key]
        where = f"hosts.{key} ({host.address if host.via is None else f'{host.name} via {host.via}'})"
        try:
            session, system = identify(ctx, key, names)
        except HostUnreachable:
            if key in may_be_down:
                lines.append(f"{where}: does not answer (expected while it is down)")
                continue
            raise
        name, sid = str(system["Name"]), machine_sid(session)
        if taken_place is not None and key == taken_place[0] and name.lower() == taken_place[2].lower():
            recorded_standby = recorded.get(taken_place[1], {}).get("sid")
            if sid == recorded_standby or seen.get(sid) == taken_place[1]:
                lines.append(f"{where}: leads to the standby, which has taken production's place ({name}, "
                             f"machine SID {sid})")
                continue
        if name.lower() not in {n.lower() for n in names}:
            problems.append(f"{where} answers as {name} (machine SID {sid}); the site config names {host.name} "
                            f"there, and now it may only be {' or '.join(names)}: check the address in the config")
        if sid in seen:
            other = seen[sid]
            problems.append(f"{where} and hosts.{other} reach the same computer ({name}, machine SID {sid}): "
                            "the config names one computer twice")
        seen.setdefault(sid, key)
        before = recorded.get(key)
        if compare_recorded and before and before["sid"] != sid:
            problems.append(f"{where} answers as {name} (machine SID {sid}), but when the site was configured it "
                            f"reached {before['name']} (machine SID {before['sid']}): another computer; if it was "
                            "rebuilt on purpose, configure the site again")
        lines.append(f"{where}: {name}, machine SID {sid}")
    if problems:
        return Check.blocked(*problems)
    return Check.no_change(*lines)
