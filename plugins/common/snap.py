"""A snap engine plugin (snap_qsnap, snap_vss): Quick Recovery on the CommServe.

:class:`SnapEngine` is the plugin object the ``qsnap`` and ``vss`` entry points name: its
methods are the hooks. It gives the create-qr-volumes steps (runbook "Configure the Quick
Recovery Agent" 1-6, :mod:`.runbook.qr_volumes`) and the QR readiness probes; a snap engine
plugin says only what is its own: the engine's name (``QSnap``/``VSS``), the packages production
needs, and whether the engine exists on Windows 2000. Everything said to the CommServe goes
through :mod:`.commvault`, which keeps Commvault's documented command line apart from the Quick
Recovery requests no documentation covers (assumptions, each marked there).
"""

from __future__ import annotations

import datetime as dt

from qrdr.hookspecs import hookimpl
from qrdr.model import Site
from qrdr.steps import Check, Step, StepContext

from . import catalog, commvault, hosts
from .commvault import COPY_PHASE, QR_JOB_TYPES, subclient, unix_time
from .runbook import qr_volumes
from .runbook.base import never
from .support import SnapSupport


# --------------------------------------------------------------------------- pure judgements (unit-tested)


def judge_last_update(active: list[dict[str, str]], finished: list[dict[str, str]],
                      ended: dict[str, dict[str, str]], now: dt.datetime, max_age_hours: float | None) -> Check:
    """Is the standby's copy usable? From the QR jobs of ``qlist job`` (``active``), of ``qlist
    jobhistory`` (``finished``, with Unix START TIME) and, for a finished job that did not complete,
    its ``qlist job -j`` row (``ended``: the phase it ended in, its failure reason). Blocked when the
    newest QR job is in its copy phase or failed there (the seed's warning), when no update ever
    completed, or (``max_age_hours``) when the recovery point is too old. The recovery point is the
    newest completed job's start: its snapshot (an assumption: :mod:`.commvault`)."""
    running = sorted((j for j in active if j.get("OPERATION") in QR_JOB_TYPES), key=lambda j: int(j.get("JOBID") or 0))
    history = sorted(finished, key=lambda j: int(j.get("JOBID") or 0))
    newest_active = running[-1] if running else None
    newest_ended = history[-1] if history else None
    if newest_active is None and newest_ended is None:
        return Check.blocked("no QR job has run: create the QR volumes first (qrdr create-qr-volumes)")
    if newest_active is not None and newest_active.get("PHASE") == COPY_PHASE:
        label = f"{newest_active.get('OPERATION')} job {newest_active.get('JOBID')}"
        return Check.blocked(f"{label} is still in its copy phase: the standby's data is incomplete and Exchange "
                             f"will not start on it. Wait for it to finish, or fail (kill) it on the CommServe, "
                             f"then run a fresh incremental update before promoting", job=newest_active)
    if newest_ended is not None and (newest_active is None or int(newest_ended["JOBID"]) > int(newest_active["JOBID"])):
        status = newest_ended.get("STATUS") or ""
        row = ended.get(newest_ended["JOBID"], {})
        if not status.startswith("Complet") and row.get("PHASE") == COPY_PHASE:
            # A job killed in its copy phase (the way out of a stuck update) leaves the copy torn too.
            return Check.blocked(f"QR job {newest_ended['JOBID']} {status.lower()} in its copy phase "
                                 f"({row.get('FAILURE REASON') or 'no reason given'}): the standby's data is "
                                 f"incomplete; run a fresh incremental update", job=newest_ended)
    completed = [j for j in history if (j.get("STATUS") or "").startswith("Complet") and unix_time(j.get("START TIME"))]
    if not completed:
        return Check.blocked("no QR update has completed yet: the standby holds no consistent copy")
    newest = completed[-1]
    point = unix_time(newest["START TIME"])
    assert point is not None
    age_hours = (now - point).total_seconds() / 3600
    words = f"recovery point {point:%Y-%m-%d %H:%M} UTC ({age_hours:.1f} h old, job {newest.get('JOBID')})"
    if newest_active is not None:
        words += (f"; {newest_active.get('OPERATION')} job {newest_active.get('JOBID')} is in its "
                  f"{newest_active.get('PHASE')} phase (the copy is untouched until its copy phase)")
    if max_age_hours is not None and age_hours > max_age_hours:
        return Check.blocked(f"{words}: older than max_recovery_point_age_hours = {max_age_hours:g}; check the "
                             f"incremental update schedule", recovery_point=point.isoformat(), age_hours=age_hours)
    return Check.no_change(words, recovery_point=point.isoformat(), age_hours=round(age_hours, 2))


def last_update(ctx: StepContext, max_age_hours: float | None) -> Check:
    """:func:`judge_last_update` with what the CommServe says now."""
    finished = commvault.finished_jobs(ctx)
    ended = {}
    if finished and not (finished[-1].get("STATUS") or "").startswith("Complet"):
        ended[finished[-1]["JOBID"]] = commvault.job(ctx, finished[-1]["JOBID"]) or {}
    return judge_last_update(commvault.active_jobs(ctx), finished, ended, dt.datetime.now(dt.timezone.utc),
                             max_age_hours)


# --------------------------------------------------------------------------- the plugin object


class SnapEngine:
    """The plugin for the snap engine of ``support`` (its row of the version matrix: the engine's
    name, "QSnap"/"VSS", and the entry point name that prefixes its step ids). Register the object
    itself with pluggy."""

    def __init__(self, support: SnapSupport, production_packages: tuple[str, ...],
                 standby_packages: tuple[str, ...] = ("QuickRecoveryAgent", "QSnap", "MediaAgent")):
        self.support = support
        self.plugin = support.engine
        self.engine = support.label
        self.production_packages = production_packages
        self.standby_packages = standby_packages

    def id(self, what: str) -> str:
        return f"{self.plugin}.{what}"

    @hookimpl
    def qrdr_validate_site(self, site: Site) -> list[str]:
        """Why this engine cannot serve ``site``: its row of the version matrix (:class:`~.support.SnapSupport`)."""
        return self.support.refusals(site)

    @hookimpl
    def qrdr_create_qr_volumes(self, site: Site) -> list[Step]:
        return qr_volumes.steps(self, site)

    def packages_step(self, step_id: str, key: str, packages: tuple[str, ...], runbook: str) -> Step:
        """A probe: ``packages`` (Commvault's) are installed on ``key`` (``runbook`` says where it asks)."""

        def check(ctx: StepContext) -> Check:
            if hosts.is_windows_2000(ctx.site, key):
                return Check.no_change(f"NOT CHECKED on Windows 2000 host {ctx.site.hosts[key].name} (its registry "
                                       f"is not reachable from the management host with qrdr's commands): confirm "
                                       f"by hand that {', '.join(packages)} are installed ({runbook})")
            session = hosts.remote(ctx, key)
            missing = [p for p in packages if not hosts.path_exists(session, f"{catalog.COMMVAULT_PACKAGES_KEY}\\{p}")]
            if missing:
                return Check.blocked(f"{session.name}: {', '.join(missing)} not installed: install it ({runbook}); "
                                     f"qrdr does not install Commvault software")
            return Check.no_change(f"{session.name}: {', '.join(packages)} installed")

        return Step(id=step_id, title=f"{', '.join(packages)} installed ({runbook})", target=key, check=check,
                    apply=never)

    @hookimpl
    def qrdr_preflight(self, site: Site, phase: str) -> list[Step]:
        """Commvault's agents before configuring; before a promote and in ``check``: the QR volumes
        exist and the last update finished (``check`` adds the recovery point's age)."""
        production_agents = self.packages_step(self.id("ready-production-agents"), site.host_key(site.production),
                                               self.production_packages, "runbook: Prepare the Production Server 2")
        standby_agents = self.packages_step(self.id("ready-standby-agents"), site.host_key(site.standby),
                                            self.standby_packages, "runbook: Prepare the Standby Server")
        if phase in ("prepare-production", "create-qr-volumes"):
            return [production_agents, standby_agents]
        if phase not in ("promote", "check"):
            return []
        ck = site.host_key(site.commserve)
        max_age = site.quick_recovery.max_recovery_point_age_hours if phase == "check" else None

        def volumes_present(ctx: StepContext) -> Check:
            node = subclient(ctx)
            if node is None or (node.findtext("qrVolumesCreated") or "").strip() != "true":
                return Check.blocked(f"the QR volumes of subclient {site.quick_recovery.subclient} were never created: "
                                     f"run qrdr create-qr-volumes")
            policy = node.findtext("qrPolicyName")
            return Check.no_change(f"QR volumes of {site.quick_recovery.subclient} present (policy {policy})")

        probes = [
            Step(id=self.id("ready-qr-volumes"), title="QR volumes present", target=ck, check=volumes_present,
                 apply=never),
            Step(id=self.id("last-update-complete"),
                 title="The last QR update finished (not in its copy phase)" +
                       (" and the recovery point is recent" if max_age else ""),
                 target=ck, check=lambda ctx: last_update(ctx, max_age), apply=never),
            standby_agents,
        ]
        if phase == "check":
            probes.append(production_agents)
        return probes
