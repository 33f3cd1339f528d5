"""Runbook "Bring the Standby Server online" B1-B6: the standby takes production's place.

Phase ``promote``: soft recovery of the copied databases, production shut down if it still
answers, its computer account reset; the standby out of the domain and renamed to production's
name (one restart), back into the domain (the second); its Exchange services Automatic and started, its stores mounted;
production's IP address taken over when the site asks; then mail flows. A promote run again
after it succeeded changes nothing (:func:`promoted`): production's address may then answer
with the standby itself, and nothing may be shut down, reset or taken out of the domain.
"""

from __future__ import annotations

from typing import Any

from qrdr.model import Site
from qrdr.remote import Command, ConnectionLostDuringChange
from qrdr.steps import MAIL_FLOWING, Check, Step, StepContext, guarded

from .. import hosts, names, services, stores
from ..identity import identify
from .base import Book, in_order, keys, never


def _standby_names(site: Site):
    return lambda ctx: (site.standby.name, site.production.name)


def _services_wanted(book: Book) -> dict[str, tuple[str, str]]:
    return services.all_in(book.production_services(), "Running", "Auto")


def promoted(ctx: StepContext) -> Check | None:
    """Safety for a promote run again after it succeeded: "no change" when the standby already
    runs as production in the domain, else None."""
    site = ctx.site
    _pk, sk = keys(site)
    _session, system = identify(ctx, sk, (site.standby.name, site.production.name))
    if str(system["Name"]).lower() == site.production.name.lower() and hosts.part_of_domain(system):
        return Check.no_change(f"the standby already runs as {site.production.name} in {system.get('Domain')}: "
                               f"promoted; production and its account are left alone")
    return None


def named_as_production(book: Book):
    """A guard: Exchange sees production's stores only on a host named like production (the server object)."""

    def guard(ctx: StepContext) -> Check | None:
        site = ctx.site
        _pk, sk = keys(site)
        _session, system = identify(ctx, sk, (site.standby.name, site.production.name))
        if str(system["Name"]).lower() != site.production.name.lower():
            return Check.depends(f"the standby runs as {system['Name']}; its stores are production's once it runs "
                                 f"as {site.production.name} (step {book.id('rename-standby-to-production')})")
        return None

    return guard


def begin_promote(book: Book, site: Site) -> Step:
    """The promote starts: what it will reset is noted first, so that a resumed promote knows
    which account reset was its own.

    Code: plugins/common/runbook/promote.py, plugins/common/names.py.
    """
    _pk, sk = keys(site)
    return names.begin_step(id=book.id("begin-promote"), title="Promote starts", target=sk, what="promote",
                            accounts=lambda ctx: [site.production.name], guard=promoted)


def soft_recovery(book: Book, site: Site) -> Step:
    """Before Exchange mounts the copy: ``eseutil /r`` on a database in Dirty Shutdown whose logs
    are there (the QR copy is a snapshot of a running server).

    Code: plugins/common/runbook/promote.py, plugins/common/stores.py, plugins/common/programs.py.
    """
    _pk, sk = keys(site)
    return stores.soft_recovery_step(id=book.id("soft-recovery"), title="Soft recovery of the copied databases",
                                     key=sk, guard=promoted)


def shut_down_production(book: Book, site: Site) -> Step:
    """Runbook B1: "At this point a problem has caused the Production Server to fail. Shut down
    the Production Server machine." Checks whether anything answers at production's address;
    applies ``Stop-Computer -Force`` and waits until it stops answering (several probes in a
    row: a busy network is not a dead host).

    Code: plugins/common/runbook/promote.py, core/remote/session.py.
    """
    pk, _sk = keys(site)

    def down(ctx: StepContext) -> Check:
        session = hosts.remote(ctx, pk)
        address = ctx.site.hosts[pk].address
        if session.is_reachable():
            return Check.will_change(f"{session.name} still answers at {address}: shut it down "
                                     f"(Stop-Computer -Force) before its name is taken over")
        return Check.no_change(f"{session.name} does not answer at {address}: it is down")

    def apply(ctx: StepContext) -> dict[str, Any]:
        return hosts.remote(ctx, pk).shut_down(progress=ctx.progress)

    return Step(id=book.id("shut-down-production"), title="Shut production down if it still answers (B1)",
                target=pk, check=lambda ctx: promoted(ctx) or down(ctx), verify=down, apply=apply, destructive=True)


def reset_production_account(book: Book, site: Site) -> Step:
    """Runbook B2: "Reset the Production Server from Active Directory ... Right click the
    Production Server and select Reset Account." Checks (in AD) whether the account was reset
    since this promote began; applies the reset; verifies it.

    Code: plugins/common/runbook/promote.py, plugins/common/names.py, core/directory/computers.py.
    """
    return names.reset_account_step(id=book.id("reset-production-account"),
                                    title=f"Reset production's computer account {site.production.name}$ (B2)",
                                    name=site.production.name, during="promote", guard=promoted,
                                    rechecked_after=(book.id("begin-promote"),))


def rename_standby_to_production(book: Book, site: Site) -> Step:
    """Runbook B3: "Take the Standby Server out of the domain, rename the Standby Server to the
    Exchange Server (Production Server) name, and reboot." One restart for both: out of the domain
    the rename is local, and takes effect at the same restart as the leave (KB Q102476's order).
    Checks the name and the membership; verifies both after the restart, logged on locally.

    Code: plugins/common/runbook/promote.py, plugins/common/names.py, core/remote/session.py.
    """
    _pk, sk = keys(site)
    return names.leave_and_rename_step(id=book.id("rename-standby-to-production"),
                                       title=f"Take the standby out of the domain, rename it to {site.production.name} "
                                             f"and restart it (B3)",
                                       key=sk, new_name=site.production.name, candidates=_standby_names(site),
                                       guard=promoted)


def standby_join_domain(book: Book, site: Site) -> Step:
    """Runbook B3: "Put the Standby Server back into the domain and reboot." It joins with
    production's reset account.

    Code: plugins/common/runbook/promote.py, plugins/common/names.py, core/remote/session.py.
    """
    _pk, sk = keys(site)
    return names.join_domain_step(id=book.id("standby-join-domain"),
                                  title=f"Put the standby back into the domain as {site.production.name} and restart "
                                        f"it (B3)",
                                  key=sk, name=site.production.name, candidates=_standby_names(site),
                                  rechecked_after=(book.id("rename-standby-to-production"),))


def standby_services(book: Book, site: Site) -> Step:
    """Runbook B4: "After the reboot, set the following Exchange services to Automatic on the
    Standby Server, and start these services."

    Code: plugins/common/runbook/promote.py, plugins/common/services.py.
    """
    _pk, sk = keys(site)
    return services.service_step(id=book.id("standby-services"),
                                 title="The standby's Exchange services Automatic and started (B4)", key=sk,
                                 wanted=_services_wanted(book))


def standby_stores(book: Book, site: Site) -> Step:
    """Runbook B5: mount the stores on the standby. Exchange sees them under production's name,
    and mounts them with its services started.

    Code: plugins/common/runbook/promote.py, plugins/common/stores.py, plugins/common/scripts/mount_exchange_store.ps1.
    """
    _pk, sk = keys(site)
    return stores.mount_stores_step(id=book.id("standby-stores"), title="Mount the stores on the standby (B5)", key=sk,
                                    guard=named_as_production(book),
                                    rechecked_after=(book.id("rename-standby-to-production"),
                                                     book.id("standby-services")))


def take_over_ip(book: Book, site: Site) -> Step | None:
    """Runbook B6 (when the site's [takeover] names an address): the standby answers at
    production's IP address. Applies Win32_NetworkAdapterConfiguration.EnableStatic; the session
    continues on the new address when the old one goes away under the command.

    Code: plugins/common/runbook/promote.py.
    """
    if not site.takeover.ip_address:
        return None
    _pk, sk = keys(site)

    def check(ctx: StepContext) -> Check:
        wanted = ctx.site.takeover.ip_address
        session = hosts.remote(ctx, sk)
        addresses = hosts.ip_addresses(session)
        if wanted in addresses:
            return Check.no_change(f"{session.name} has {wanted}")
        return Check.will_change(f"{session.name}: IP address {', '.join(addresses) or 'none'} -> {wanted}/"
                                 f"{ctx.site.takeover.subnet_mask}")

    def apply(ctx: StepContext) -> dict[str, Any]:
        takeover = ctx.site.takeover
        session = hosts.remote(ctx, sk)
        try:
            output = session.run(
                Command("Get-WmiObject", {"Class": "Win32_NetworkAdapterConfiguration", "Filter": "IPEnabled=TRUE"}),
                Command("Invoke-WmiMethod", {"Name": "EnableStatic",
                                             "ArgumentList": [[takeover.ip_address], [takeover.subnet_mask]]}))
        except ConnectionLostDuringChange:
            if session.is_reachable():
                # It still answers where qrdr reached it: the address was not replaced under the
                # command, the connection broke for another reason. The step fails as any change
                # cut off does; a resume re-checks the addresses.
                raise
            # The address qrdr reached it by is the one replaced: continue on the new one.
            session.reconnect_as(session.name, takeover.ip_address)
            return {"address": takeover.ip_address, "reconnected": True}
        code = hosts.wmi_return_value(output)
        # 1: done, restart required; 81: done on an adapter that was static already (the method's Remarks).
        if code not in (0, 1, 81):
            raise RuntimeError(f"{session.name}: EnableStatic {takeover.ip_address} returned {code}")
        return {"address": takeover.ip_address, "return": code}

    return Step(id=book.id("take-over-ip"), title=f"Take over production's IP address {site.takeover.ip_address} (B6)",
                target=sk, check=check, apply=apply)


def mail_flowing(book: Book, site: Site) -> Step:
    """The end of the promote: the standby's services run and its stores are mounted under
    production's name. Closes the "mail flowing" window (measured from the start of the run).

    Code: plugins/common/runbook/promote.py, plugins/common/services.py, plugins/common/stores.py.
    """
    _pk, sk = keys(site)

    def check(ctx: StepContext) -> Check:
        running = services.check_services(ctx, sk, _services_wanted(book))
        mounted = stores.mount_stores_step(id="probe", title="", key=sk).verify(ctx)
        if running.outcome.value == "no change" and mounted.outcome.value == "no change":
            return Check.no_change(f"mail flows through {site.production.name}: services running, stores mounted")
        return Check.depends(*(running.changes if running.outcome.value != "no change" else ()),
                             *(mounted.changes if mounted.outcome.value != "no change" else ()))

    return Step(id=book.id("mail-flowing"), title="Mail flows: services running and stores mounted", target=sk,
                check=guarded(named_as_production(book), check), apply=never, closes_window=MAIL_FLOWING,
                rechecked_after=(book.id("rename-standby-to-production"), book.id("standby-services"),
                                 book.id("standby-stores")))


STEPS = (begin_promote, soft_recovery, shut_down_production, reset_production_account,
         rename_standby_to_production, standby_join_domain, standby_services, standby_stores, take_over_ip,
         mail_flowing)


def steps(book: Book, site: Site) -> list[Step]:
    """The steps of phase ``promote``, in the runbook's order."""
    return in_order(book, site, STEPS)
