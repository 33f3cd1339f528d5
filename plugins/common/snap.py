"""Quick Recovery on the CommServe, shared by the snap engine plugins (snap_qsnap, snap_vss).

:class:`QuickRecovery` builds the create-qr-volumes steps (runbook "Configure
the Quick Recovery Agent" 1-6) and the QR readiness probes; a snap engine
plugin gives its engine's name (``QSnap``/``VSS``) and the packages it needs.
Everything said to the CommServe goes through :mod:`.commvault`, which keeps
Commvault's documented command line apart from the Quick Recovery requests no
documentation covers (assumptions, each marked there). Every create is preceded
by a read-back, because a CommServe refuses to create what exists.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from typing import Any

from qrdr.model import Site
from qrdr.steps import Check, Step

from . import catalog, commvault, hosts
from .commvault import (COPY_PHASE, CREATION, INCREMENTAL, QR_JOB_TYPES, CommServeError, client_names, element,
                        entity, execute, read_back, started_job, subclient, unix_time, wait_for_job)

SCHEDULE_NAME = "qrdr-incremental"


def never(ctx: Any) -> dict[str, Any]:
    raise RuntimeError("this step only checks; it changes nothing")


def _commserve_key(site: Site) -> str:
    return site.host_key(site.commserve)


# --------------------------------------------------------------------------- pure judgements (unit-tested)


def mappings(site: Site, content: list[str]) -> list[tuple[str, str, str]]:
    """(source, destination, mount point) for each content volume, from the site's volumes."""
    by_letter = {catalog.letter(v.letter): v for v in site.volumes}
    result = []
    for source in content:
        volume = by_letter.get(catalog.letter(source))
        if volume is None:
            raise CommServeError(f"Add App found {source} on production, which [[volumes]] of {site.source or 'the site'} "
                                 f"does not describe: add it with its standby letter")
        destination = catalog.letter(volume.target_letter)
        result.append((catalog.letter(source), destination, volume.standby_mount_point or destination))
    return result


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


def last_update(ctx: Any, max_age_hours: float | None) -> Check:
    """:func:`judge_last_update` with what the CommServe says now."""
    finished = commvault.finished_jobs(ctx)
    ended = {}
    if finished and not (finished[-1].get("STATUS") or "").startswith("Complet"):
        ended[finished[-1]["JOBID"]] = commvault.job(ctx, finished[-1]["JOBID"]) or {}
    return judge_last_update(commvault.active_jobs(ctx), finished, ended, dt.datetime.now(dt.timezone.utc),
                             max_age_hours)


# --------------------------------------------------------------------------- the steps


class QuickRecovery:
    """create-qr-volumes steps and QR probes for snap engine ``engine`` ("QSnap"/"VSS")."""

    def __init__(self, plugin: str, engine: str, production_packages: tuple[str, ...],
                 standby_packages: tuple[str, ...] = ("QuickRecoveryAgent", "QSnap", "MediaAgent")):
        self.plugin = plugin
        self.engine = engine
        self.production_packages = production_packages
        self.standby_packages = standby_packages

    def id(self, what: str) -> str:
        return f"{self.plugin}.{what}"

    # -- prerequisites (prepare-production, create-qr-volumes, check) ------------------------

    def packages_step(self, step_id: str, key: str, packages: tuple[str, ...], runbook: str) -> Step:
        def check(ctx: Any) -> Check:
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

    # -- create-qr-volumes -----------------------------------------------------------------

    def create_qr_volumes(self, site: Site) -> list[Step]:
        qr = site.quick_recovery
        production_client, standby_client = client_names(site)
        ck = _commserve_key(site)
        i = {w: self.id(w) for w in ("scratch-pool", "qr-policy", "qr-subclient", "volume-mapping",
                                     "incremental-schedule", "qr-volumes")}
        destinations = [catalog.letter(v.target_letter) for v in site.volumes]

        def pool_check(ctx: Any) -> Check:
            for node in read_back(ctx, "scratchpool").findall("scratchPool"):
                if node.get("scratchPoolName") == qr.scratch_pool:
                    have = sorted(v.get("volumeName", "").upper() for v in node.findall("volume"))
                    if have != sorted(destinations):
                        return Check.blocked(f"scratch pool {qr.scratch_pool} exists with volumes {', '.join(have)}, "
                                             f"not {', '.join(destinations)}: rename [quick_recovery] scratch_pool or "
                                             f"fix it on the CommServe")
                    return Check.no_change(f"scratch pool {qr.scratch_pool}: {standby_client} {', '.join(have)}")
            return Check.will_change(f"create scratch pool {qr.scratch_pool} of {standby_client}'s volumes "
                                     f"{', '.join(destinations)} (MediaAgent {standby_client})")

        def pool_apply(ctx: Any) -> dict[str, Any]:
            execute(ctx, element("App_CreateScratchPoolRequest", element(
                "scratchPool", element("scratchPoolName", text=qr.scratch_pool),
                element("mediaAgent", element("clientName", text=standby_client)),
                *(element("volume", element("clientName", text=standby_client), element("volumeName", text=d))
                  for d in destinations))))
            return {"pool": qr.scratch_pool}

        def policy_check(ctx: Any) -> Check:
            for node in read_back(ctx, "qrpolicy").findall("qrPolicy"):
                if node.get("qrPolicyName") == qr.policy:
                    found = (node.get("snapEngine"), node.get("copyManager"), node.get("scratchPoolName"))
                    if found != (self.engine, standby_client, qr.scratch_pool):
                        return Check.blocked(f"QR policy {qr.policy} exists with snap engine {found[0]}, copy manager "
                                             f"{found[1]}, pool {found[2]}; wanted {self.engine}, {standby_client}, "
                                             f"{qr.scratch_pool}")
                    return Check.no_change(f"QR policy {qr.policy}: {self.engine}, copy manager {standby_client}")
            return Check.will_change(f"create QR policy {qr.policy}: snap engine {self.engine}, LAN copy manager "
                                     f"{standby_client}, scratch pool {qr.scratch_pool}")

        def policy_apply(ctx: Any) -> dict[str, Any]:
            execute(ctx, element("App_CreateQRPolicyRequest", element(
                "qrPolicy", element("qrPolicyName", text=qr.policy), element("snapEngine", text=self.engine),
                element("copyManager", element("clientName", text=standby_client)),
                element("scratchPool", element("scratchPoolName", text=qr.scratch_pool)))))
            return {"policy": qr.policy, "snap_engine": self.engine}

        def subclient_check(ctx: Any) -> Check:
            node = subclient(ctx)
            if node is None:
                return Check.will_change(f"create QR subclient {qr.subclient} under {production_client} with policy "
                                         f"{qr.policy}, content found by Add App")
            content = [v.text for v in node.findall("content/volume")]
            return Check.no_change(f"QR subclient {qr.subclient}: content {', '.join(content)}")

        def subclient_apply(ctx: Any) -> dict[str, Any]:
            reply = execute(ctx, element("App_CreateSubClientRequest", element(
                "subClientProperties", entity(ctx.site), element("qrPolicy", element("qrPolicyName", text=qr.policy)),
                element("content", element("addApp", element("applicationName", text="Microsoft Exchange"))))))
            return {"content": [v.text for v in reply.findall("content/volume")]}

        def mapping_wanted(ctx: Any) -> tuple[ET.Element | None, list[tuple[str, str, str]]]:
            node = subclient(ctx)
            if node is None:
                return None, []
            return node, mappings(ctx.site, [v.text or "" for v in node.findall("content/volume")])

        def mapping_check(ctx: Any) -> Check:
            node, wanted = mapping_wanted(ctx)
            if node is None:
                return Check.depends(f"the subclient is created by {i['qr-subclient']} first")
            have = sorted((m.get("sourceVolume"), m.get("destinationVolume"), m.get("mountPoint"))
                          for m in node.findall("volumeMap"))
            if have == sorted(wanted):
                return Check.no_change("volumes mapped: " + ", ".join(f"{s} -> {d}" for s, d, _m in wanted))
            return Check.will_change(*(f"map {production_client} {s} -> {standby_client} {d} (mount point {m})"
                                       for s, d, m in wanted))

        def mapping_apply(ctx: Any) -> dict[str, Any]:
            _node, wanted = mapping_wanted(ctx)
            execute(ctx, element("App_UpdateQRVolumeMappingRequest", entity(ctx.site), *(
                element("volumeMap", element("sourceVolume", text=s), element("destinationVolume", text=d),
                        element("mountPoint", text=m)) for s, d, m in wanted)))
            return {"mapped": wanted}

        def schedule_check(ctx: Any) -> Check:
            node = subclient(ctx)
            if node is None:
                return Check.depends(f"the subclient is created by {i['qr-subclient']} first")
            for schedule in node.findall("schedule"):
                if schedule.get("scheduleName") == SCHEDULE_NAME:
                    return Check.no_change(f"incremental updates scheduled: {schedule.get('pattern')}")
            return Check.will_change(f"schedule incremental updates {qr.incremental_schedule}")

        def schedule_apply(ctx: Any) -> dict[str, Any]:
            execute(ctx, element("App_CreateQRScheduleRequest", entity(ctx.site), element(
                "schedule", element("scheduleName", text=SCHEDULE_NAME), element("updateType", text="Incremental"),
                element("pattern", text=qr.incremental_schedule))))
            return {"schedule": qr.incremental_schedule}

        def volumes_check(ctx: Any) -> Check:
            node = subclient(ctx)
            if node is None:
                return Check.depends(f"the subclient is created by {i['qr-subclient']} first")
            if (node.findtext("qrVolumesCreated") or "").strip() == "true":
                return Check.no_change(f"QR volumes of {qr.subclient} created")
            return Check.will_change(f"create the QR volumes of {qr.subclient} on {standby_client} (a job)")

        def volumes_apply(ctx: Any) -> dict[str, Any]:
            job_id = started_job(execute(ctx, element("App_CreateQRVolumesRequest", entity(ctx.site))))
            wait_for_job(ctx, job_id, "QR volume creation")
            return {"job": job_id}

        return [
            Step(id=i["scratch-pool"], title="Scratch volume pool of the standby's destination volumes (1)", target=ck,
                 check=pool_check, apply=pool_apply, idempotent=False),
            Step(id=i["qr-policy"], title=f"QR policy with snap engine {self.engine} (2)", target=ck,
                 check=policy_check, apply=policy_apply, idempotent=False, after=(i["scratch-pool"],)),
            Step(id=i["qr-subclient"], title="QR subclient under the production client, content by Add App (3-4)",
                 target=ck, check=subclient_check, apply=subclient_apply, idempotent=False, after=(i["qr-policy"],)),
            Step(id=i["volume-mapping"], title="Map each source volume to its destination volume (5)", target=ck,
                 check=mapping_check, apply=mapping_apply, after=(i["qr-subclient"],)),
            Step(id=i["incremental-schedule"], title="Schedule incremental updates (5)", target=ck,
                 check=schedule_check, apply=schedule_apply, idempotent=False, after=(i["volume-mapping"],)),
            Step(id=i["qr-volumes"], title="Create the QR volumes on the standby (6)", target=ck,
                 check=volumes_check, apply=volumes_apply, idempotent=False, after=(i["incremental-schedule"],)),
        ]

    # -- probes ----------------------------------------------------------------------------

    def preflight(self, site: Site, phase: str) -> list[Step]:
        ck = _commserve_key(site)
        probes: list[Step] = []
        if phase in ("prepare-production", "create-qr-volumes"):
            return [self.packages_step(self.id("ready-production-agents"), site.host_key(site.production),
                                       self.production_packages, "runbook: Prepare the Production Server 2"),
                    self.packages_step(self.id("ready-standby-agents"), site.host_key(site.standby),
                                       self.standby_packages, "runbook: Prepare the Standby Server")]
        if phase not in ("promote", "check"):
            return []
        max_age = site.quick_recovery.max_recovery_point_age_hours if phase == "check" else None

        def update_finished(ctx: Any) -> Check:
            return last_update(ctx, max_age)

        def volumes_present(ctx: Any) -> Check:
            node = subclient(ctx)
            if node is None or (node.findtext("qrVolumesCreated") or "").strip() != "true":
                return Check.blocked(f"the QR volumes of subclient {site.quick_recovery.subclient} were never created: "
                                     f"run qrdr create-qr-volumes")
            policy = node.findtext("qrPolicyName")
            return Check.no_change(f"QR volumes of {site.quick_recovery.subclient} present (policy {policy})")

        probes.append(Step(id=self.id("ready-qr-volumes"), title="QR volumes present", target=ck,
                           check=volumes_present, apply=never))
        probes.append(Step(id=self.id("last-update-complete"),
                           title="The last QR update finished (not in its copy phase)" +
                                 (" and the recovery point is recent" if max_age else ""),
                           target=ck, check=update_finished, apply=never))
        probes.append(self.packages_step(self.id("ready-standby-agents"), site.host_key(site.standby),
                                         self.standby_packages, "runbook: Prepare the Standby Server"))
        if phase == "check":
            probes.append(self.packages_step(self.id("ready-production-agents"), site.host_key(site.production),
                                             self.production_packages, "runbook: Prepare the Production Server 2"))
        return probes
