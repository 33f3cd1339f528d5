"""Runbook "Configure the Production and Standby Servers" 4-11: production back, the standby set aside.

Phase ``finish-configuration``: the standby's services started once (so that its stores' paths can
be set to production's), stopped again; the standby renamed back to its own name, production back
to its own; production's services as they were, its stores mounted and mounting at startup.
Production's outage ends here. Every step is judged only while a configuration is under way
(:func:`.base.configuration_guard`): before one started, production already runs as itself.
"""

from __future__ import annotations

from typing import Any

import attrs

from qrdr.directory import lookup_computer
from qrdr.model import Site
from qrdr.steps import PRODUCTION_OUTAGE, Check, Step, StepContext

from .. import catalog, names, services, stores
from ..facts import run_facts
from .base import Book, configuration_guard, in_order, keys


def _stale_after(book: Book, *steps: str) -> tuple[str, ...]:
    """``rechecked_after`` of a step here: its check reads whether record-production started a
    configuration (the guard, the facts), and what ``steps``, of this run's earlier phases, change."""
    return (book.id("record-production"), *steps)


def _installed_by(book: Book) -> str:
    return f"Exchange is installed on the standby by {book.id('setup-dr')}"


def _standby_services(book: Book, site: Site, what: str, title: str, wanted: dict[str, tuple[str, str]],
                      changed_by: str) -> Step:
    """A service step on the standby, judged while a configuration is under way, re-checked after
    ``changed_by`` (the step before it that set those services)."""
    _pk, sk = keys(site)
    return services.service_step(id=book.id(what), title=title, key=sk, wanted=wanted,
                                 missing_means=_installed_by(book), guard=configuration_guard,
                                 rechecked_after=_stale_after(book, book.id(changed_by)))


def start_standby_services(book: Book, site: Site) -> Step:
    """Runbook 4: "Manually Start the following Exchange Services on the Standby Server".

    Code: plugins/common/runbook/finish.py, plugins/common/services.py.
    """
    return _standby_services(book, site, "start-standby-services", "Start the standby's Exchange services (4)",
                             services.all_in(book.production_services(), "Running", "Manual"),
                             changed_by="stop-standby-services")


def standby_store_paths(book: Book, site: Site) -> Step:
    """Runbook 5: "verify the directory paths for the *.edb and *.stm files are the same as the
    Production Server. If the paths do not match ... redirect the store to the correct path".

    Code: plugins/common/runbook/finish.py, plugins/common/stores.py, plugins/common/scripts/set_exchange_store.ps1.
    """
    _pk, sk = keys(site)
    return stores.store_paths_step(
        id=book.id("standby-store-paths"), title="The standby's .edb/.stm paths equal production's (5)", key=sk,
        missing_means=_installed_by(book), guard=configuration_guard,
        rechecked_after=_stale_after(book, book.id("setup-dr")))


def stop_standby_services_again(book: Book, site: Site) -> Step:
    """Runbook 6: "Stop all of the Exchange Services on the Standby Server."

    Code: plugins/common/runbook/finish.py, plugins/common/services.py.
    """
    return _standby_services(book, site, "stop-standby-services-again",
                             "Stop all of the standby's Exchange services (6)",
                             services.all_in(book.all_services(), "Stopped", "Manual"),
                             changed_by="start-standby-services")


def rename_standby_back(book: Book, site: Site) -> Step:
    """Runbook 7: "Rename the Standby Server back to its original name and reboot. NOTE: Verify
    that the Standby Server has completely rebooted before continuing. If possible, check Active
    Directory to make sure the machine's name is properly registered."

    Verifies both: the name after the restart, and the computer account's dNSHostName in AD.

    Code: plugins/common/runbook/finish.py, plugins/common/names.py, core/remote/session.py, core/directory/computers.py.
    """
    _pk, sk = keys(site)
    production, standby = site.production.name, site.standby.name

    def registered(ctx: StepContext) -> Check:
        renamed = names.check_rename(ctx, sk, standby, freed_by=None, candidates=(production, standby))
        if renamed.outcome.value != "no change":
            return renamed
        account = lookup_computer(ctx.directory, standby)
        if account is None or not account.dns_host_name:
            return Check.depends(f"the computer account {standby}$ is not (fully) registered in AD yet")
        return Check.no_change(f"{standby} runs under its own name and {account.dns_host_name} is registered in AD")

    step = names.rename_step(
        id=book.id("rename-standby-back"), title=f"Rename the standby back to {standby} and restart it (7)",
        key=sk, new_name=standby, candidates=lambda ctx: (production, standby), guard=configuration_guard,
        rechecked_after=_stale_after(book, book.id("rename-standby")))
    return attrs.evolve(step, verify=registered)


def rename_production_back(book: Book, site: Site) -> Step:
    """Runbook 8: "Rename the Production Server back to its original name and reboot."
    The name is free once the standby runs as itself again.

    Code: plugins/common/runbook/finish.py, plugins/common/names.py, core/remote/session.py.
    """
    pk, _sk = keys(site)
    production, temp = site.production.name, catalog.temp_name(site.production.name)
    return names.rename_step(
        id=book.id("rename-production-back"), title=f"Rename production back to {production} and restart it (8)",
        key=pk, new_name=production, freed_by=book.id("rename-standby-back"), candidates=lambda ctx: (temp, production),
        guard=configuration_guard, rechecked_after=_stale_after(book, book.id("rename-production-temp")))


def start_production_services(book: Book, site: Site) -> Step:
    """Runbook 9: "Reset the Exchange services that were set previously to manual, back to
    automatic on the Production Server, and start these services." As record-production found
    them.

    Code: plugins/common/runbook/finish.py, plugins/common/services.py.
    """
    pk, _sk = keys(site)
    return services.service_step(
        id=book.id("start-production-services"),
        title="Production's Exchange services back to Automatic and started (9)", key=pk,
        wanted=book.restore_wanted, guard=configuration_guard,
        rechecked_after=_stale_after(book, book.id("stop-production-services")))


def mount_production_stores(book: Book, site: Site) -> Step:
    """Runbook 10-11: "Mount all mailbox and public folder stores that need to be mounted.
    Verify that the stores will always mount at startup." Production's outage ends when this
    step is verified.

    Code: plugins/common/runbook/finish.py, plugins/common/stores.py, plugins/common/scripts/mount_exchange_store.ps1.
    """
    pk, _sk = keys(site)
    return stores.mount_stores_step(
        id=book.id("mount-production-stores"),
        title="Mount production's stores and have them mount at startup (10-11)", key=pk,
        guard=configuration_guard, closes_window=PRODUCTION_OUTAGE,
        rechecked_after=_stale_after(book, book.id("stop-production-services"), book.id("start-production-services")))


def configuration_finished(book: Book, site: Site) -> Step:
    """"At this time, the Production Server (Exchange Server) is running again." Marks the
    configuration finished (``RunFacts.configuration``), which every later phase reads.

    Code: plugins/common/runbook/finish.py.
    """
    pk, _sk = keys(site)

    def check(ctx: StepContext) -> Check:
        if run_facts(ctx).configuration == "finished":
            return Check.no_change("configuration finished")
        return Check.will_change("configuration finished: production runs again under its own name")

    def apply(ctx: StepContext) -> dict[str, Any]:
        run_facts(ctx).configuration = "finished"
        return {"configuration": "finished"}

    return Step(id=book.id("configuration-finished"), title="Configuration finished", target=pk, check=check,
                apply=apply, rechecked_after=_stale_after(book))


STEPS = (start_standby_services, standby_store_paths, stop_standby_services_again, rename_standby_back,
         rename_production_back, start_production_services, mount_production_stores, configuration_finished)


def steps(book: Book, site: Site) -> list[Step]:
    """The steps of phase ``finish-configuration``, in the runbook's order."""
    return in_order(book, site, STEPS)
