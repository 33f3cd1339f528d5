"""Runbook "Configure the Production and Standby Servers" 1-2.2, and "Prepare the Production Server" 1.

Phase ``prepare-production``: production is recorded as it is; the standby gets production's
partitions and the Windows components setup needs (runbook 2.3, :mod:`.install_dr`: they need
neither production down nor the standby renamed, so they run before the outage starts); then
production's services stop (production's outage starts), it is renamed to ``<name>-TEMP`` and
restarted; the standby takes production's name and restarts. Each step that takes production down has an undo, so a configure that fails
(or is rolled back) brings production back under its own name with its services and stores.
"""

from __future__ import annotations

from typing import Any

from qrdr.model import Site
from qrdr.steps import PRODUCTION_OUTAGE, Check, Step, StepContext

from .. import catalog, hosts, names, services, stores
from ..identity import identify, record_identities
from .install_dr import standby_volumes, windows_components
from ..facts import run_facts
from .base import Book, in_order, keys, never


def record_production(book: Book, site: Site) -> Step:
    """Runbook 1, note: "Keep track of your installation selections and storage locations so
    that Exchange can be installed identically on the Standby Server."

    Checks whether a configuration is under way with production recorded; applies by reading
    production's name, IP addresses, services, volumes and store paths into the facts (to bring
    it back, to size the standby, to promote later) and the machine SID of every host (later runs
    refuse another computer). Starts the configuration (``RunFacts.configuration`` "started").

    Code: plugins/common/runbook/prepare.py, plugins/common/hosts.py, plugins/common/identity.py.
    """
    pk, _sk = keys(site)

    def check(ctx: StepContext) -> Check:
        facts = run_facts(ctx)
        if facts.configuration == "started" and facts.production:
            return Check.no_change(f"configuration under way; production recorded as {facts.production['name']}")
        return Check.will_change(f"{site.production.name}: record its name, IP addresses, services, volumes and "
                                 f"store paths (to bring it back and to promote later); configuration starts")

    def apply(ctx: StepContext) -> dict[str, Any]:
        session, system = identify(ctx, pk)
        record = {
            "name": str(system["Name"]),
            "ip_addresses": hosts.ip_addresses(session),
            "services": {n: [s.state, s.mode] for n, s in hosts.services(session, book.all_services()).items()},
            "volumes": {letter: int(d.get("Size") or 0) for letter, d in hosts.logical_disks(session).items()},
        }
        facts = run_facts(ctx)
        facts.production = record
        facts.production_stores = [
            {k: s.get(k) for k in ("Name", "StorageGroup", "Type", "EdbPath", "StmPath", "LogPath", "SystemPath",
                                   "MountAtStartup")}
            for s in hosts.stores(ctx, pk)]
        facts.configuration = "started"
        # A new standby is being built: storage groups a cleanup deleted before belong to the last one.
        facts.storage_groups_removed = {}
        # Which computers the site is built on: later runs refuse to act on another one.
        identities = record_identities(ctx, tuple(site.hosts))
        return {"recorded": record, "stores": len(facts.production_stores), "identities": identities}

    return Step(id=book.id("record-production"), title="Record production as it is before the configuration",
                target=pk, check=check, apply=apply)


def logs_with_system_path(book: Book, site: Site) -> Step:
    """Runbook 1: "Place the Exchange Transaction log location and the Exchange System path
    location on the same volume", so that the checkpoint file is copied at the same point in
    time as the databases and logs.

    Checks the recorded store paths; blocks (a person moves them in Exchange System Manager)
    when a storage group keeps them apart. Never applies.

    Code: plugins/common/runbook/prepare.py.
    """
    pk, _sk = keys(site)
    begin = book.id("record-production")

    def check(ctx: StepContext) -> Check:
        recorded = run_facts(ctx).production_stores
        if not recorded:
            return Check.depends(f"production's store paths are read by {begin}")
        apart = [f"{s['StorageGroup']}: logs on {catalog.drive(s['LogPath'])}, system path on "
                 f"{catalog.drive(s['SystemPath'])}" for s in recorded
                 if catalog.drive(s.get("LogPath")) != catalog.drive(s.get("SystemPath"))]
        if apart:
            return Check.blocked(*(f"{site.production.name}: {line}: move them to one volume with Exchange System "
                                   f"Manager before configuring (runbook step 1)" for line in apart))
        return Check.no_change(f"{site.production.name}: transaction logs and system path share a volume")

    return Step(id=book.id("logs-with-system-path"),
                title="Transaction logs and system path on the same volume (runbook 1)", target=pk,
                check=check, apply=never, rechecked_after=(begin,))


def production_event_srs(book: Book, site: Site) -> Step:
    """Runbook 1.1: "Microsoft Exchange Event should be stopped with the startup type set to
    Manual; Microsoft Exchange Site Replication Service should be stopped with the Startup Type
    set to Disabled". Checks, applies and verifies through :func:`..services.service_step`.

    Code: plugins/common/runbook/prepare.py, plugins/common/services.py.
    """
    pk, _sk = keys(site)
    return services.service_step(
        id=book.id("production-event-srs"),
        title="Event stopped + Manual, Site Replication Service stopped + Disabled (1.1)", key=pk,
        wanted={catalog.EVENT_SERVICE: ("Stopped", "Manual"), catalog.SRS_SERVICE: ("Stopped", "Disabled")})


def stop_production_services(book: Book, site: Site) -> Step:
    """Runbook 1.2: "Stop the following Exchange Services, and set the Startup Type to Manual".

    Production's outage starts here. Its undo sets the services back as recorded and mounts the
    stores again (a configure that fails or is rolled back).

    Code: plugins/common/runbook/prepare.py, plugins/common/services.py, plugins/common/stores.py.
    """
    pk, _sk = keys(site)

    def undo(ctx: StepContext) -> dict[str, Any]:
        done = services.apply_services(ctx, pk, book.restore_wanted(ctx))
        mounted = stores.mount_stores_step(id="undo", title="", key=pk, at_startup=False).apply(ctx)
        return {"services": done, "stores": mounted}

    return services.service_step(
        id=book.id("stop-production-services"),
        title="Stop production's Exchange services and set them to Manual (1.2)", key=pk,
        wanted=services.all_in(book.production_services(), "Stopped", "Manual"),
        destructive=True, opens_window=PRODUCTION_OUTAGE, undo=undo)


def rename_production_temp(book: Book, site: Site) -> Step:
    """Runbook 1.3-1.4: "Rename the Production Server to a temporary name (<production server
    name>-temp). Reboot the Production Server."

    Checks that production's name is ``<name>-TEMP`` (it may run under either name after an
    interruption); applies by Win32_ComputerSystem.Rename (netdom on Windows 2000), then a restart
    whose boot time and name are verified; undo renames it back.

    Code: plugins/common/runbook/prepare.py, plugins/common/names.py, core/remote/session.py.
    """
    pk, _sk = keys(site)
    production, temp = site.production.name, catalog.temp_name(site.production.name)
    candidates = lambda ctx: (production, temp)  # noqa: E731 - names the production host may run under
    return names.rename_step(
        id=book.id("rename-production-temp"), title=f"Rename production to {temp} and restart it (1.3-1.4)",
        key=pk, new_name=temp, candidates=candidates, undo=names.undo_rename(pk, production, candidates))


def rename_standby(book: Book, site: Site) -> Step:
    """Runbook 2.1-2.2: "Rename the Standby Server to the Exchange Server (Production Server).
    Reboot the Standby Server." The name is free once production runs as -TEMP (the account was
    renamed with it).

    Code: plugins/common/runbook/prepare.py, plugins/common/names.py, core/remote/session.py.
    """
    _pk, sk = keys(site)
    production, standby = site.production.name, site.standby.name
    candidates = lambda ctx: (standby, production)  # noqa: E731
    return names.rename_step(
        id=book.id("rename-standby"), title=f"Rename the standby to {production} and restart it (2.1-2.2)", key=sk,
        new_name=production, freed_by=book.id("rename-production-temp"), candidates=candidates,
        undo=names.undo_rename(sk, standby, candidates))


#: Production's outage starts at stop_production_services: what needs neither production down nor
#: the standby under production's name (its partitions, its Windows components) comes before it.
STEPS = (record_production, logs_with_system_path, standby_volumes, windows_components, production_event_srs,
         stop_production_services, rename_production_temp, rename_standby)


def steps(book: Book, site: Site) -> list[Step]:
    """The steps of phase ``prepare-production``, in the runbook's order."""
    return in_order(book, site, STEPS)
