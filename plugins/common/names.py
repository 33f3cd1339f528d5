"""Computer names and domain membership: rename + restart, leave, join, reset the account.

Renames go through ``Win32_ComputerSystem.Rename`` (Windows 2003) or
``netdom renamecomputer`` on the management host (Windows 2000); both rename
the computer account in Active Directory at once when the computer is a
domain member, so a rename to a name whose account still belongs to another
computer would fail ("account already exists", 2224). The check sees that
first: it depends on the step that frees the name (``freed_by``), or blocks.

Every rename step restarts the host (the new name takes effect then), so one
step is "rename to X and restart"; the check is "is its name X?", which makes
the step safe to re-run after an interruption.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable

from qrdr.remote import Command, RemoteHost, Secret
from qrdr.steps import RESTART, Check, Step, StepContext, guarded

from . import hosts, programs
from .facts import run_facts
from .identity import identify

NameFn = Callable[[Any], str]

#: ReturnValue words of Win32_ComputerSystem.Rename/JoinDomainOrWorkgroup/UnjoinDomainOrWorkgroup.
WMI_RETURN = {0: "done", 5: "access denied", 87: "invalid parameter", 1326: "logon failure: bad user or password",
              1355: "the domain could not be contacted", 2224: "the account already exists",
              2692: "the computer is not joined to a domain", 2691: "the computer is already joined to a domain"}


#: Deadlines of a restart (seconds): going down, coming back.
DOWN_TIMEOUT = 300
UP_TIMEOUT = 1200


def restart(ctx: StepContext, key: str, *, expected_name: str | None = None, workgroup: bool | None = None) -> dict[str, Any]:
    """Restart ``site.hosts[key]`` and come back to it as ``expected_name`` (default: its name now)
    with the domain account (``workgroup`` False) or the local one (True; default: unchanged).

    :meth:`RemoteHost.reboot` does the restart and its checks; this records in the facts the name
    and account the host has afterwards. Returns its evidence; raises :class:`RebootFailed`."""
    session = hosts.remote(ctx, key)
    wanted = expected_name or session.name

    def come_back_as() -> RemoteHost:
        hosts.set_current_name(ctx, key, wanted)
        if workgroup is not None:
            hosts.set_workgroup(ctx, key, workgroup)
        return hosts.remote(ctx, key)

    # Polled four times a second: the host's way down and back are seen within 0.25 s of happening,
    # with a TCP connect or a logon attempt each time, which a restarting host refuses at once.
    evidence = session.reboot(wanted, come_back_as=come_back_as, down_timeout=DOWN_TIMEOUT, up_timeout=UP_TIMEOUT,
                              poll_interval=0.25, progress=ctx.progress)
    ctx.waited(RESTART, evidence["back_after_s"])
    return {**evidence, "host": key}


def _name(value: str | NameFn, ctx: StepContext) -> str:
    return value(ctx) if callable(value) else value


def _wmi_result(output: list[Any], what: str, host: str) -> int:
    code = hosts.wmi_return_value(output)
    if code != 0:
        raise RuntimeError(f"{host}: {what} returned {code} ({WMI_RETURN.get(code, 'see the Windows error code')})")
    return code


def _netdom(output: list[Any], what: str, host: str) -> None:
    lines = hosts.native_lines(output)
    if not any("completed successfully" in line and "failed" not in line for line in lines):
        raise RuntimeError(f"{host}: {what} failed: {' '.join(lines[-3:]) or 'no output'}")


def rename_now(ctx: StepContext, key: str, new: str, *, in_domain: bool) -> dict[str, Any]:
    """Send the rename (pending until restart). Domain members rename their account with the domain account."""
    session = hosts.remote(ctx, key)
    old = session.name
    if hosts.is_windows_2000(ctx.site, key):
        local_user, local_password = _local_or_domain(ctx, key)
        args: list[Any] = [old, f"/NewName:{new}"]
        if in_domain:
            user, password = hosts.domain_credentials(ctx.site)
            args += [f"/UserD:{user}", Secret(f"/PasswordD:{password.value}")]
        args += [f"/UserO:{local_user}", Secret(f"/PasswordO:{local_password.value}"), "/Force"]
        _netdom(session.run(Command("netdom", arguments=("renamecomputer", *args))), f"renaming {old} to {new}", old)
    else:
        if in_domain:
            user, password = hosts.domain_credentials(ctx.site)
            arguments: list[Any] = [new, password, user]
        else:
            arguments = [new, None, None]
        output = session.run(Command("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
                             Command("Invoke-WmiMethod", {"Name": "Rename", "ArgumentList": arguments}))
        _wmi_result(output, f"Win32_ComputerSystem.Rename to {new}", old)
    return {"renamed": f"{old} -> {new}"}


def _local_or_domain(ctx: StepContext, key: str) -> tuple[str, Secret]:
    host = ctx.site.hosts[key]
    if host.local_user and host.local_password is not None:
        return hosts.local_credentials(host)
    return hosts.domain_credentials(ctx.site)


def check_rename(ctx: StepContext, key: str, new: str, *, freed_by: str | None, candidates: tuple[str, ...],
                 out_of_domain_by: str | None = None) -> Check:
    """Is ``site.hosts[key]`` named ``new``? ``out_of_domain_by``: the rename is meant for the host out of
    the domain (promote), so while it is a member the check depends on that step."""
    session, system = identify(ctx, key, candidates)
    name = str(system["Name"])
    if name.lower() == new.lower():
        return Check.no_change(f"{ctx.site.hosts[key].name} ({key}) runs as {name}", name=name)
    in_domain = hosts.part_of_domain(system)
    if in_domain and out_of_domain_by:
        return Check.depends(f"{name}: renamed to {new} once out of the domain (step {out_of_domain_by})", name=name)
    if in_domain:
        from qrdr.directory import lookup_computer

        holder = lookup_computer(ctx.directory, new)
        if holder is not None:
            text = f"the computer account {new}$ still belongs to another computer ({holder.dn})"
            if freed_by:
                return Check.depends(f"{name}: {text}; step {freed_by} renames that computer first", name=name)
            return Check.blocked(f"{name}: cannot take the name {new}: {text}", name=name)
    account = f"; its account {name}$ becomes {new}$" if in_domain else " (out of the domain: local rename)"
    return Check.will_change(f"{name}: rename to {new} and restart{account}", name=name)


def rename_step(*, id: str, title: str, key: str, new_name: str | NameFn, freed_by: str | None = None,
                out_of_domain_by: str | None = None, candidates: Callable[[Any], tuple[str, ...]] = lambda ctx: (),
                guard: Callable[[Any], Check | None] | None = None, rechecked_after: tuple[str, ...] = (),
                **options: Any) -> Step:
    """Rename ``site.hosts[key]`` to ``new_name`` and restart it (destructive, safe to repeat).

    The check reads what ``freed_by`` (who holds the new name's account) and ``out_of_domain_by``
    (whether the host is a member) change: the step is re-checked after them, and after
    ``rechecked_after`` (``Step.rechecked_after``)."""

    def check(ctx: StepContext) -> Check:
        return check_rename(ctx, key, _name(new_name, ctx), freed_by=freed_by, candidates=candidates(ctx),
                            out_of_domain_by=out_of_domain_by)

    def verify(ctx: StepContext) -> Check:
        return check_rename(ctx, key, _name(new_name, ctx), freed_by=None, candidates=candidates(ctx))

    def apply(ctx: StepContext) -> dict[str, Any]:
        new = _name(new_name, ctx)
        session, system = identify(ctx, key, candidates(ctx))
        evidence = rename_now(ctx, key, new, in_domain=hosts.part_of_domain(system))
        evidence["restart"] = restart(ctx, key, expected_name=new)
        return evidence

    options.setdefault("destructive", True)
    options.setdefault("waits", (RESTART,))
    rechecked_after = (*rechecked_after, *(step for step in (freed_by, out_of_domain_by) if step))
    return Step(id=id, title=title, target=key, check=guarded(guard, check), apply=apply, verify=verify,
                rechecked_after=rechecked_after, **options)


def undo_rename(key: str, back_to: str | NameFn, candidates: Callable[[Any], tuple[str, ...]] = lambda ctx: ()):
    """An ``undo`` that renames ``site.hosts[key]`` back (and restarts it) unless it already has that
    name, once no program a stopped qrdr left there runs (the restart would cut an installer off)."""

    def undo(ctx: StepContext) -> dict[str, Any]:
        name = _name(back_to, ctx)
        session, system = identify(ctx, key, candidates(ctx))
        if str(system["Name"]).lower() == name.lower():
            return {"unchanged": name}
        waited = programs.wait_for_left_programs(ctx, key, before=f"renaming {system['Name']} back to {name}")
        evidence = {**rename_now(ctx, key, name, in_domain=hosts.part_of_domain(system)), "waited_for": waited}
        evidence["restart"] = restart(ctx, key, expected_name=name)
        return evidence

    return undo


# --------------------------------------------------------------------------- domain membership


def check_membership(ctx: StepContext, key: str, *, member: bool, name: str | None = None,
                     candidates: tuple[str, ...] = ()) -> Check:
    session, system = identify(ctx, key, candidates)
    now = str(system["Name"])
    domain = ctx.site.domain.dns_name
    part = hosts.part_of_domain(system)
    if member and part and str(system.get("Domain", "")).lower() == domain.lower():
        return Check.no_change(f"{now} is a member of {domain}")
    if not member and not part:
        return Check.no_change(f"{now} is out of the domain (workgroup {system.get('Workgroup') or system.get('Domain')})")
    if member:
        if name and now.lower() != name.lower():
            return Check.depends(f"{now} joins {domain} once it runs as {name}")
        return Check.will_change(f"{now}: join {domain} reusing the reset account {now}$, then restart")
    return Check.will_change(f"{now}: leave {domain} (its account stays enabled), then restart; "
                             f"qrdr then logs on with the local account {ctx.site.hosts[key].local_user}")


#: NERR_SetupNotJoined: "The computer is not currently joined to a domain."
NOT_JOINED = 2692


def unjoin_now(ctx: StepContext, key: str, name: str) -> dict[str, Any]:
    """Send the unjoin of ``site.hosts[key]`` (running as ``name``), pending until its restart;
    its account stays enabled (UnjoinDomainOrWorkgroup FUnjoinOptions 0; netdom remove on Windows
    2000). A host whose unjoin an interrupted run already sent answers "not joined" (2692) while it
    still reports PartOfDomain until the restart: that counts as done."""
    session = hosts.remote(ctx, key)
    user, password = hosts.domain_credentials(ctx.site)
    if hosts.is_windows_2000(ctx.site, key):
        local_user, local_password = _local_or_domain(ctx, key)
        output = session.run(Command("netdom", arguments=(
            "remove", name, f"/Domain:{ctx.site.domain.dns_name}", f"/UserD:{user}",
            Secret(f"/PasswordD:{password.value}"), f"/UserO:{local_user}",
            Secret(f"/PasswordO:{local_password.value}"), "/Force")))
        if any("not currently joined" in line for line in hosts.native_lines(output)):
            return {"left": ctx.site.domain.dns_name, "already_pending": True}
        _netdom(output, "leaving the domain", name)
    else:
        output = session.run(Command("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
                             Command("Invoke-WmiMethod", {"Name": "UnjoinDomainOrWorkgroup",
                                                          "ArgumentList": [0, password, user]}))
        code = hosts.wmi_return_value(output)
        if code == NOT_JOINED:
            return {"left": ctx.site.domain.dns_name, "already_pending": True}
        _wmi_result(output, "UnjoinDomainOrWorkgroup", name)
    return {"left": ctx.site.domain.dns_name}


def leave_domain_step(*, id: str, title: str, key: str, candidates: Callable[[Any], tuple[str, ...]] = lambda ctx: (),
                      guard: Callable[[Any], Check | None] | None = None, **options: Any) -> Step:
    """Take ``site.hosts[key]`` out of the domain and restart it (logging on locally afterwards)."""

    def apply(ctx: StepContext) -> dict[str, Any]:
        _session, system = identify(ctx, key, candidates(ctx))
        evidence = unjoin_now(ctx, key, str(system["Name"]))
        return {**evidence, "restart": restart(ctx, key, workgroup=True)}

    def check(ctx: StepContext) -> Check:
        return check_membership(ctx, key, member=False, candidates=candidates(ctx))

    options.setdefault("destructive", True)
    options.setdefault("waits", (RESTART,))
    return Step(id=id, title=title, target=key, apply=apply, check=guarded(guard, check), verify=check, **options)


def leave_and_rename_step(*, id: str, title: str, key: str, new_name: str | NameFn,
                          candidates: Callable[[Any], tuple[str, ...]] = lambda ctx: (),
                          guard: Callable[[Any], Check | None] | None = None, **options: Any) -> Step:
    """Take ``site.hosts[key]`` out of the domain, rename it to ``new_name`` and restart it once
    (runbook B3: "Take the Standby Server out of the domain, rename [it] ... and reboot").

    Out of the domain the rename is local (no computer account renamed, so none collides with the
    reset account of ``new_name``), and it needs no restart of its own: Microsoft's procedure for
    changing a computer's name and domain (KB Q102476) leaves the domain, changes the name, then
    restarts. Safe to repeat: a leave or a rename an interrupted run sent is pending until the
    restart, and sent again does the same (see :func:`unjoin_now`)."""

    def state(ctx: StepContext) -> tuple[str, bool, str]:
        _session, system = identify(ctx, key, candidates(ctx))
        return str(system["Name"]), hosts.part_of_domain(system), _name(new_name, ctx)

    def check(ctx: StepContext) -> Check:
        now, member, new = state(ctx)
        if not member and now.lower() == new.lower():
            return Check.no_change(f"{now} is out of the domain, under the name {new}")
        work = ([f"leave {ctx.site.domain.dns_name} (its account stays enabled)"] if member else []) + \
               ([f"rename to {new} (a local rename, out of the domain)"] if now.lower() != new.lower() else [])
        return Check.will_change(f"{now}: {', '.join(work)}, then restart; qrdr then logs on with the local "
                                 f"account {ctx.site.hosts[key].local_user}")

    def apply(ctx: StepContext) -> dict[str, Any]:
        now, member, new = state(ctx)
        evidence: dict[str, Any] = unjoin_now(ctx, key, now) if member else {}
        if now.lower() != new.lower():
            evidence.update(rename_now(ctx, key, new, in_domain=False))
        evidence["restart"] = restart(ctx, key, expected_name=new, workgroup=True)
        return evidence

    options.setdefault("destructive", True)
    options.setdefault("waits", (RESTART,))
    return Step(id=id, title=title, target=key, apply=apply, check=guarded(guard, check), verify=check, **options)


#: Win32_ComputerSystem.JoinDomainOrWorkgroup FJoinOptions: NETSETUP_JOIN_DOMAIN (1) alone. Without
#: NETSETUP_ACCT_CREATE (2) the join uses the computer account that exists, here the one just reset
#: (widely reported; the documentation says only that 2 "creates the account on the domain"). 32 is
#: NETSETUP_DOMAIN_JOIN_IF_JOINED (join although already joined), which a computer out of the
#: domain does not need.
JOIN_REUSING_ACCOUNT = 1


def join_domain_step(*, id: str, title: str, key: str, name: str | NameFn,
                     candidates: Callable[[Any], tuple[str, ...]] = lambda ctx: (), **options: Any) -> Step:
    """Join ``site.hosts[key]`` (running as ``name``) to the domain reusing its reset account, and restart.

    Its check reads the membership and the name: give the steps that take the host out of the domain
    and rename it as ``rechecked_after``, or a plan shows a host that is a member now as "no change"."""

    def apply(ctx: StepContext) -> dict[str, Any]:
        session, system = identify(ctx, key, candidates(ctx))
        now = str(system["Name"])
        user, password = hosts.domain_credentials(ctx.site)
        domain = ctx.site.domain.dns_name
        if hosts.is_windows_2000(ctx.site, key):
            local_user, local_password = _local_or_domain(ctx, key)
            _netdom(session.run(Command("netdom", arguments=(
                "join", now, f"/Domain:{domain}", f"/UserD:{user}", Secret(f"/PasswordD:{password.value}"),
                f"/UserO:{local_user}", Secret(f"/PasswordO:{local_password.value}")))), "joining the domain", now)
        else:
            output = session.run(Command("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
                                 Command("Invoke-WmiMethod", {"Name": "JoinDomainOrWorkgroup",
                                                              "ArgumentList": [None, JOIN_REUSING_ACCOUNT, domain,
                                                                               password, user]}))
            _wmi_result(output, f"JoinDomainOrWorkgroup {domain}", now)
        return {"joined": domain, "restart": restart(ctx, key, workgroup=False)}

    def check(ctx: StepContext) -> Check:
        return check_membership(ctx, key, member=True, name=_name(name, ctx), candidates=candidates(ctx))

    options.setdefault("destructive", True)
    options.setdefault("waits", (RESTART,))
    return Step(id=id, title=title, target=key, check=check, apply=apply, **options)


# --------------------------------------------------------------------------- computer accounts

def begin_step(*, id: str, title: str, target: str, what: str, accounts: Callable[[Any], list[str]],
               guard: Callable[[Any], Check | None] | None = None, **options: Any) -> Step:
    """Record, as ``what`` (e.g. "promote") starts, when the password of each computer account in
    ``accounts`` was last set (``RunFacts.started[what]``).

    A password cannot be read, so a reset is recognised as done only by a pwdLastSet newer than
    the one recorded here, before the reset step. (A time comparison would mistake a password
    changed shortly before for a reset.) The fact is saved before the reset step runs, so a run
    killed while resetting and then resumed sees the reset and does not repeat it.
    """
    from qrdr.directory import lookup_computer

    def check(ctx: StepContext) -> Check:
        return Check.will_change(f"record when the passwords of {', '.join(f'{n}$' for n in accounts(ctx))} were "
                                 f"last set, as the {what} starts (a reset is recognised against it)")

    def apply(ctx: StepContext) -> dict[str, Any]:
        recorded = {}
        for name in accounts(ctx):
            account = lookup_computer(ctx.directory, name)
            last = account.pwd_last_set if account is not None else None
            recorded[name.lower()] = (last or NEVER).isoformat()
        run_facts(ctx).started[what] = recorded
        return {"pwd_last_set": recorded}

    def verify(ctx: StepContext) -> Check:
        return Check.no_change(f"recorded: {run_facts(ctx).started.get(what)}")

    return Step(id=id, title=title, target="directory", check=guarded(guard, check), apply=apply, verify=verify, **options)


#: pwdLastSet of an account whose password was never set.
NEVER = dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc)


def reset_since(ctx: StepContext, what: str, name: str) -> dt.datetime | None:
    """A moment just after the password's last change recorded by :func:`begin_step` (None: not recorded)."""
    value = run_facts(ctx).started.get(what, {}).get(name.lower())
    return dt.datetime.fromisoformat(value) + dt.timedelta(microseconds=1) if value else None


def reset_account_step(*, id: str, title: str, name: str | NameFn, during: str,
                       guard: Callable[[Any], Check | None] | None = None, **options: Any) -> Step:
    """ADUC "Reset Account" of computer ``name`` (destructive, never repeated once done).

    A password cannot be read, so the plan always says "will change"; during the
    run, a password set since ``during`` started (:func:`begin_step`) counts as reset.
    While planning, that moment is the one an earlier run recorded: give the begin step as
    ``rechecked_after``.
    """

    def check(ctx: StepContext) -> Check:
        from .accounts import check_reset

        computer = _name(name, ctx)
        return check_reset(ctx.directory, computer, since=reset_since(ctx, during, computer))

    def apply(ctx: StepContext) -> dict[str, Any]:
        from qrdr.directory import reset_computer_account

        return {"reset": reset_computer_account(ctx.directory, _name(name, ctx)).description}

    options.setdefault("destructive", True)
    options.setdefault("idempotent", False)
    return Step(id=id, title=title, target="directory", check=guarded(guard, check), apply=apply, **options)
