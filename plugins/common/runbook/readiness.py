"""What every run checks before it changes anything (``qrdr_preflight``), and ``qrdr check``.

Every phase first proves that each host is the computer the site config names. Before a
promote, and in ``qrdr check``: the standby answers with Exchange installed, its volumes match
production's, the copied databases are clean or soft-recoverable; ``check`` adds the rights in
AD and production under its own name. On a Windows 2000 standby the partitions are a
prerequisite checked before configure stops production (runbook 2.3, by hand there).
"""

from __future__ import annotations

import attrs

from qrdr import hookspecs
from qrdr.directory import plan_grant
from qrdr.model import Site, WindowsVersion
from qrdr.steps import Check, Step, StepContext

from .. import acl, catalog, hosts, stores
from ..identity import identify, identity_check
from .acls import GRANTS
from ..facts import run_facts
from .base import Book, keys, never
from .install_dr import volume_step


def hosts_are_the_configured_computers(book: Book, site: Site, phase: str) -> Step:
    """Every host key reaches the computer the site config names, under a name it may have in
    this phase, no two the same computer, each the one recorded at configure (machine SID).
    Code: :func:`..identity.identity_check`."""
    pk, sk = keys(site)
    production, standby = site.production.name, site.standby.name
    configuring = phase in hookspecs.CONFIGURE_PHASES
    expected = {key: (host.name,) for key, host in site.hosts.items()}
    expected[pk] = (production, catalog.temp_name(production)) if configuring else (production,)
    expected[sk] = (standby, production)
    # The standby first: production's key may lead to it after a promote (see identity_check).
    expected = {sk: expected[sk], **{key: names for key, names in expected.items() if key != sk}}
    # A failed production does not answer in a promote or a cleanup; when it does, it must be itself.
    may_be_down = () if configuring or phase == "create-qr-volumes" else (pk,)
    return Step(id=book.id("hosts-are-the-configured-computers"),
                title="Each host is the computer the site config names", target=pk,
                check=lambda ctx: identity_check(ctx, expected, may_be_down=may_be_down,
                                                 compare_recorded=not configuring,
                                                 taken_place=None if configuring else (pk, sk, production)),
                apply=never)


def setup_media(book: Book, site: Site) -> Step:
    """Runbook 2.4-2.5's setup.exe and update.exe are on the standby, checked before configure
    stops production: found missing only at setup, production would be down for nothing."""
    _pk, sk = keys(site)
    programs = [("exchange.setup_path", site.exchange.setup_path)]
    if site.exchange.update_path:
        programs.append(("exchange.update_path", site.exchange.update_path))

    def check(ctx: StepContext) -> Check:
        session = hosts.remote(ctx, sk)
        missing = [f"{session.name}: {path} ({field}) is not there: insert the Exchange CD or copy the media there"
                   for field, path in programs if not hosts.path_exists(session, path)]
        if missing:
            return Check.blocked(*missing)
        return Check.no_change(f"{session.name}: " + ", ".join(path for _field, path in programs) + " present")

    return Step(id=book.id("ready-setup-media"), title="Exchange's setup media is on the standby (2.4-2.5)",
                target=sk, check=check, apply=never)


def preflight(book: Book, site: Site, phase: str) -> list[Step]:
    """The probes of ``phase``: read-only steps the engine runs before the phase's own."""
    pk, sk = keys(site)
    identity = [hosts_are_the_configured_computers(book, site, phase)]
    if phase in ("prepare-production", "install-dr"):
        identity.append(setup_media(book, site))
    if phase == "prepare-production" and site.standby.windows is WindowsVersion.W2000:
        # Checked before configure stops production: no partition can be made remotely there.
        return identity + [attrs.evolve(volume_step(book.id("ready-standby-partitions"), sk, windows_2000=True),
                                        title="The standby's partitions exist, as large as production's "
                                              "(runbook 2.3, by hand on Windows 2000)")]
    if phase not in ("promote", "check"):
        return identity
    probes = identity + [
        Step(id=book.id("ready-standby"), title="The standby answers, as configured", target=sk,
             check=lambda ctx: standby_ready(ctx, sk), apply=never),
        Step(id=book.id("ready-volumes"), title="The standby's volumes match production's (letters, sizes)",
             target=sk, check=lambda ctx: volumes_ready(ctx, sk), apply=never),
        Step(id=book.id("ready-databases"), title="The copied databases are clean or soft-recoverable",
             target=sk, check=lambda ctx: databases_ready(ctx, sk), apply=never),
    ]
    if phase == "check":
        probes.append(Step(id=book.id("ready-acls"), title="The standby's rights on the Exchange objects are in place",
                           target="directory", check=acls_ready, apply=never))
        probes.append(Step(id=book.id("ready-production"), title="Production answers under its own name",
                           target=pk, check=lambda ctx: production_ready(ctx, pk), apply=never))
    return probes


def standby_ready(ctx: StepContext, key: str) -> Check:
    """The standby answers (under either name) with Exchange installed in DisasterRecovery mode."""
    session, system = identify(ctx, key, (ctx.site.standby.name, ctx.site.production.name))
    installed = hosts.exchange_installed(ctx, key)
    if installed is None:
        return Check.blocked(f"{system['Name']}: Exchange is not installed in DisasterRecovery mode: run qrdr configure")
    build = installed.get("NewestBuild") or installed.get("ServicePackBuild")
    return Check.no_change(f"{system['Name']} answers (domain {system.get('Domain')}), Exchange "
                           + (f"build {build} installed" if build else "installed (its services exist)"),
                           name=system["Name"])


def production_ready(ctx: StepContext, key: str) -> Check:
    """Production answers under its own name (a configuration that did not finish leaves it -TEMP)."""
    session, system = identify(ctx, key, (ctx.site.production.name, catalog.temp_name(ctx.site.production.name)))
    if str(system["Name"]).lower() != ctx.site.production.name.lower():
        return Check.blocked(f"production runs as {system['Name']}, not {ctx.site.production.name}: a configuration "
                             f"did not finish (qrdr resume)")
    return Check.no_change(f"{system['Name']} answers under its own name")


def volumes_ready(ctx: StepContext, key: str) -> Check:
    """Each of production's volumes has its standby letter, at least as large (runbook 2.3)."""
    session = hosts.remote(ctx, key)
    disks = hosts.logical_disks(session)
    recorded = (run_facts(ctx).production or {}).get("volumes", {})
    problems, fine = [], []
    for volume in ctx.site.volumes:
        letter = catalog.letter(volume.target_letter)
        size = max(int(volume.size_gb * 1024 ** 3), int(recorded.get(catalog.letter(volume.letter), 0)))
        disk = disks.get(letter)
        if disk is None:
            problems.append(f"{session.name}: no volume {letter} (production's {volume.letter})")
        elif int(disk.get("Size") or 0) < size:
            problems.append(f"{session.name}: {letter} has {int(disk['Size']) / 1024 ** 3:.1f} GB, smaller than "
                            f"production's {volume.letter} ({size / 1024 ** 3:.1f} GB)")
        else:
            fine.append(f"{letter} {int(disk['Size']) / 1024 ** 3:.1f} GB")
    if problems:
        return Check.blocked(*problems)
    return Check.no_change(f"{session.name}: " + ", ".join(fine))


def databases_ready(ctx: StepContext, key: str) -> Check:
    """The copied databases are in Clean Shutdown, or Dirty Shutdown with their logs (soft recovery)."""
    if not stores.database_files(ctx):
        return Check.blocked("production's database paths were never recorded: run qrdr configure first")
    reasons, recoveries, evidence = stores.database_check(ctx, key)
    if reasons:
        return Check.blocked(*reasons, databases=evidence)
    if recoveries:
        return Check.no_change(*recoveries, databases=evidence)
    return Check.no_change("every copied database is in Clean Shutdown", databases=evidence)


def acls_ready(ctx: StepContext) -> Check:
    """The standby's account holds the rights runbook 3 grants, on all three objects."""
    sid = run_facts(ctx).standby_account_sid
    if not sid:
        return Check.blocked("no rights were granted to the standby yet: run qrdr configure")
    missing = []
    for which, mask, _what, _title in GRANTS:
        plan = plan_grant(ctx.directory, acl.exchange_dn(ctx, which), sid, mask)
        if plan is not None:
            missing.append(f"missing: {plan.describe()}")
    if missing:
        return Check.blocked(*missing)
    return Check.no_change(f"the standby's account {sid} has its rights on the organization, Servers and server objects")
