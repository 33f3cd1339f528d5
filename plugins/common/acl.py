"""ACL grant steps on the Exchange configuration objects (runbook "Configure" 3), and the replication wait.

The trustee is the standby's computer account *once the standby runs under
production's name* (runbook: "Verify that the Standby Server object is there.
(Production Server name)"). Before that rename, the account called by
production's name is production's own: granting to it would be wrong, so the
check depends on the rename step until the standby carries the name.
"""

from __future__ import annotations

from typing import Any

from qrdr.steps import REPLICATION, Check, Step, StepContext

from . import hosts
from .facts import run_facts

#: Which object of the Exchange tree a grant is on.
ORGANIZATION, SERVERS, SERVER = "organization", "servers", "server"


def exchange_dn(ctx: StepContext, which: str) -> str:
    from qrdr.directory import locate

    site = ctx.site
    where = locate(ctx.directory, site.exchange.organization, site.exchange.administrative_group,
                   server=site.production.name if which == SERVER else None)
    return {ORGANIZATION: where.organization_dn, SERVERS: where.servers_dn, SERVER: where.server_dn}[which]


def standby_account(ctx: StepContext, renamed_by: str) -> tuple[str | None, Check | None]:
    """The SID of the standby's account while it runs as production's name, or a Check saying why not yet."""
    from qrdr.directory import find_computer

    site = ctx.site
    key = site.host_key(site.standby)
    session = hosts.remote(ctx, key)
    name = str(hosts.computer_system(session)["Name"])
    if name.lower() != site.production.name.lower():
        return None, Check.depends(f"the standby runs as {name}; step {renamed_by} renames it to "
                                   f"{site.production.name}, whose computer account gets the rights")
    sid = find_computer(ctx.directory, site.production.name).sid
    run_facts(ctx).standby_account_sid = sid
    return sid, None


def grant_step(*, id: str, title: str, which: str, mask: int, renamed_by: str, **options: Any) -> Step:
    """Allow the standby's account ``mask`` on the ``which`` object; a second grant adds nothing.
    The trustee is found by the name ``renamed_by`` gives the standby: re-checked after it."""

    def check(ctx: StepContext) -> Check:
        from qrdr.directory import plan_grant

        sid, early = standby_account(ctx, renamed_by)
        if early is not None:
            return early
        dn = exchange_dn(ctx, which)
        plan = plan_grant(ctx.directory, dn, sid, mask)
        if plan is None:
            return Check.no_change(f"the standby's account ({sid}) already has these rights on {dn}", dn=dn, sid=sid)
        return Check.will_change(plan.describe(), *plan.warnings, dn=dn, sid=sid)

    def apply(ctx: StepContext) -> dict[str, Any]:
        from qrdr.directory import grant

        sid, early = standby_account(ctx, renamed_by)
        if early is not None:
            raise RuntimeError("; ".join(early.changes))
        change = grant(ctx.directory, exchange_dn(ctx, which), sid, mask)
        return {"change": change.description}

    return Step(id=id, title=title, target="directory", check=check, apply=apply, rechecked_after=(renamed_by,),
                **options)


def replication_step(*, id: str, title: str, grants: list[tuple[str, int]], renamed_by: str,
                     rechecked_after: tuple[str, ...] = (), **options: Any) -> Step:
    """Wait until every domain controller shows the grants ("Replicate these changes throughout the domain").
    Re-checked after ``renamed_by``, as the grants are, and after ``rechecked_after`` (the grant steps)."""
    from qrdr.directory import ace_present, wait_replicated

    def lagging(ctx: StepContext, deadline: float) -> tuple[list[str], Check | None]:
        sid, early = standby_account(ctx, renamed_by)
        if early is not None:
            return [], early
        waiting = []
        for which, mask in grants:
            report = wait_replicated(ctx.directory, exchange_dn(ctx, which), ace_present(sid, mask), deadline,
                                     progress=ctx.progress if deadline else None, raise_on_timeout=deadline > 0)
            if not report.done:
                waiting.append(report.describe())
        return waiting, None

    def check(ctx: StepContext) -> Check:
        waiting, early = lagging(ctx, 0)
        if early is not None:
            return early
        if waiting:
            return Check.will_change(*(f"wait until every domain controller shows it: {line}" for line in waiting))
        return Check.no_change("every domain controller shows the standby's rights")

    def apply(ctx: StepContext) -> dict[str, Any]:
        lagging(ctx, ctx.site.domain.replication_deadline)
        return {"replicated": [which for which, _ in grants]}

    return Step(id=id, title=title, target="directory", check=check, apply=apply,
                rechecked_after=(renamed_by, *rechecked_after), waits=(REPLICATION,), **options)
