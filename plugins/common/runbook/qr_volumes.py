"""Runbook "Configure the Quick Recovery Agent" 1-6: the CommServe's side.

Phase ``create-qr-volumes``, on the CommServe through Commvault's command line (:mod:`..commvault`):
a scratch volume pool of the standby's destination volumes, a QR policy with the snap engine, the
QR subclient under the production client (content by Add App), each source volume mapped to its
destination, incremental updates scheduled, and the QR volumes created (a job, waited for).
Every create is preceded by a read-back, because a CommServe refuses to create what exists; a
completed create is never repeated (``idempotent=False``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from qrdr.model import Site
from qrdr.steps import Check, Step, StepContext

from .. import catalog
from ..commvault import (CommServeError, client_names, element, entity, execute, read_back, started_job, subclient,
                         wait_for_job)
from .base import in_order

SCHEDULE_NAME = "qrdr-incremental"


def _commserve(site: Site) -> str:
    return site.host_key(site.commserve)


def _destinations(site: Site) -> list[str]:
    return [catalog.letter(v.target_letter) for v in site.volumes]


def _needs_subclient(engine: Any) -> Check:
    return Check.depends(f"the subclient is created by {engine.id('qr-subclient')} first")


def _read_back(ctx: StepContext, kind: str, tag: str, name_attribute: str, name: str) -> ET.Element | None:
    """The CommServe's ``tag`` element of that name, from the read-back of ``kind``, or None."""
    return next((node for node in read_back(ctx, kind).findall(tag) if node.get(name_attribute) == name), None)


def _create_check(found: Any, wanted: Any, *, differs: str, same: str, create: str) -> Check:
    """The check of a create on the CommServe, from what the read-back ``found`` (None: nothing
    of that name): absent, create it; as ``wanted``, no change; otherwise blocked, as a CommServe
    refuses to create what exists and qrdr does not change what someone else made."""
    if found is None:
        return Check.will_change(create)
    if found != wanted:
        return Check.blocked(differs)
    return Check.no_change(same)


def scratch_pool(engine: Any, site: Site) -> Step:
    """Step 1: "Create a scratch volume pool that contains the destination volumes on the
    Standby Server." Checks the pool read back (blocked when one of that name holds other volumes);
    applies App_CreateScratchPoolRequest.

    Code: plugins/common/runbook/qr_volumes.py, plugins/common/commvault.py.
    """
    qr = site.quick_recovery
    _production, standby_client = client_names(site)
    destinations = _destinations(site)

    def check(ctx: StepContext) -> Check:
        node = _read_back(ctx, "scratchpool", "scratchPool", "scratchPoolName", qr.scratch_pool)
        have = None if node is None else sorted(v.get("volumeName", "").upper() for v in node.findall("volume"))
        return _create_check(
            have, sorted(destinations),
            differs=f"scratch pool {qr.scratch_pool} exists with volumes {', '.join(have or [])}, not "
                    f"{', '.join(destinations)}: rename [quick_recovery] scratch_pool or fix it on the CommServe",
            same=f"scratch pool {qr.scratch_pool}: {standby_client} {', '.join(have or [])}",
            create=f"create scratch pool {qr.scratch_pool} of {standby_client}'s volumes {', '.join(destinations)} "
                   f"(MediaAgent {standby_client})")

    def apply(ctx: StepContext) -> dict[str, Any]:
        execute(ctx, element("App_CreateScratchPoolRequest", element(
            "scratchPool", element("scratchPoolName", text=qr.scratch_pool),
            element("mediaAgent", element("clientName", text=standby_client)),
            *(element("volume", element("clientName", text=standby_client), element("volumeName", text=d))
              for d in destinations))))
        return {"pool": qr.scratch_pool}

    return Step(id=engine.id("scratch-pool"), title="Scratch volume pool of the standby's destination volumes (1)",
                target=_commserve(site), check=check, apply=apply, idempotent=False)


def qr_policy(engine: Any, site: Site) -> Step:
    """Step 2: "Create a QR policy, set the appropriate snap engine type, use the Standby Server's
    LAN Copy manager, and associate your scratch volume pool." Applies App_CreateQRPolicyRequest.

    Code: plugins/common/runbook/qr_volumes.py, plugins/common/commvault.py.
    """
    qr = site.quick_recovery
    _production, standby_client = client_names(site)

    def check(ctx: StepContext) -> Check:
        node = _read_back(ctx, "qrpolicy", "qrPolicy", "qrPolicyName", qr.policy)
        found = None if node is None else (node.get("snapEngine"), node.get("copyManager"), node.get("scratchPoolName"))
        engine_, manager, pool = found or (None, None, None)
        return _create_check(
            found, (engine.engine, standby_client, qr.scratch_pool),
            differs=f"QR policy {qr.policy} exists with snap engine {engine_}, copy manager {manager}, pool {pool}; "
                    f"wanted {engine.engine}, {standby_client}, {qr.scratch_pool}",
            same=f"QR policy {qr.policy}: {engine.engine}, copy manager {standby_client}",
            create=f"create QR policy {qr.policy}: snap engine {engine.engine}, LAN copy manager {standby_client}, "
                   f"scratch pool {qr.scratch_pool}")

    def apply(ctx: StepContext) -> dict[str, Any]:
        execute(ctx, element("App_CreateQRPolicyRequest", element(
            "qrPolicy", element("qrPolicyName", text=qr.policy), element("snapEngine", text=engine.engine),
            element("copyManager", element("clientName", text=standby_client)),
            element("scratchPool", element("scratchPoolName", text=qr.scratch_pool)))))
        return {"policy": qr.policy, "snap_engine": engine.engine}

    return Step(id=engine.id("qr-policy"), title=f"QR policy with snap engine {engine.engine} (2)",
                target=_commserve(site), check=check, apply=apply, idempotent=False)


def qr_subclient(engine: Any, site: Site) -> Step:
    """Steps 3-4: "Under your Production Server client, create a new QR subclient. Associate the
    QR policy ... use the Add App button to discover all the Exchange volumes". Applies
    App_CreateSubClientRequest with Add App content; the reply names the volumes found.

    Code: plugins/common/runbook/qr_volumes.py, plugins/common/commvault.py.
    """
    qr = site.quick_recovery
    production_client, _standby = client_names(site)

    def check(ctx: StepContext) -> Check:
        node = subclient(ctx)
        if node is None:
            return Check.will_change(f"create QR subclient {qr.subclient} under {production_client} with policy "
                                     f"{qr.policy}, content found by Add App")
        content = [v.text for v in node.findall("content/volume")]
        return Check.no_change(f"QR subclient {qr.subclient}: content {', '.join(content)}")

    def apply(ctx: StepContext) -> dict[str, Any]:
        reply = execute(ctx, element("App_CreateSubClientRequest", element(
            "subClientProperties", entity(ctx.site), element("qrPolicy", element("qrPolicyName", text=qr.policy)),
            element("content", element("addApp", element("applicationName", text="Microsoft Exchange"))))))
        return {"content": [v.text for v in reply.findall("content/volume")]}

    return Step(id=engine.id("qr-subclient"), title="QR subclient under the production client, content by Add App (3-4)",
                target=_commserve(site), check=check, apply=apply, idempotent=False)


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


def volume_mapping(engine: Any, site: Site) -> Step:
    """Step 5: "use the Advanced button to map each source volume to its corresponding
    destination volume and mount point." The mapping comes from the site's [[volumes]] for each
    volume Add App found (:func:`mappings`); applies App_UpdateQRVolumeMappingRequest.

    Code: plugins/common/runbook/qr_volumes.py, plugins/common/commvault.py.
    """
    production_client, standby_client = client_names(site)

    def wanted(ctx: StepContext) -> tuple[ET.Element | None, list[tuple[str, str, str]]]:
        node = subclient(ctx)
        if node is None:
            return None, []
        return node, mappings(ctx.site, [v.text or "" for v in node.findall("content/volume")])

    def check(ctx: StepContext) -> Check:
        node, mapped = wanted(ctx)
        if node is None:
            return _needs_subclient(engine)
        have = sorted((m.get("sourceVolume"), m.get("destinationVolume"), m.get("mountPoint"))
                      for m in node.findall("volumeMap"))
        if have == sorted(mapped):
            return Check.no_change("volumes mapped: " + ", ".join(f"{s} -> {d}" for s, d, _m in mapped))
        return Check.will_change(*(f"map {production_client} {s} -> {standby_client} {d} (mount point {m})"
                                   for s, d, m in mapped))

    def apply(ctx: StepContext) -> dict[str, Any]:
        _node, mapped = wanted(ctx)
        execute(ctx, element("App_UpdateQRVolumeMappingRequest", entity(ctx.site), *(
            element("volumeMap", element("sourceVolume", text=s), element("destinationVolume", text=d),
                    element("mountPoint", text=m)) for s, d, m in mapped)))
        return {"mapped": mapped}

    return Step(id=engine.id("volume-mapping"), title="Map each source volume to its destination volume (5)",
                target=_commserve(site), check=check, apply=apply)


def incremental_schedule(engine: Any, site: Site) -> Step:
    """Step 5: "Schedule an incremental update" with the site's incremental_schedule.
    Applies App_CreateQRScheduleRequest under the name :data:`SCHEDULE_NAME`.

    Code: plugins/common/runbook/qr_volumes.py, plugins/common/commvault.py.
    """
    qr = site.quick_recovery

    def check(ctx: StepContext) -> Check:
        node = subclient(ctx)
        if node is None:
            return _needs_subclient(engine)
        for schedule in node.findall("schedule"):
            if schedule.get("scheduleName") == SCHEDULE_NAME:
                return Check.no_change(f"incremental updates scheduled: {schedule.get('pattern')}")
        return Check.will_change(f"schedule incremental updates {qr.incremental_schedule}")

    def apply(ctx: StepContext) -> dict[str, Any]:
        execute(ctx, element("App_CreateQRScheduleRequest", entity(ctx.site), element(
            "schedule", element("scheduleName", text=SCHEDULE_NAME), element("updateType", text="Incremental"),
            element("pattern", text=qr.incremental_schedule))))
        return {"schedule": qr.incremental_schedule}

    return Step(id=engine.id("incremental-schedule"), title="Schedule incremental updates (5)",
                target=_commserve(site), check=check, apply=apply, idempotent=False)


def qr_volumes(engine: Any, site: Site) -> Step:
    """Step 6: "Create QR volume(s) from Production Server to the Standby Server." Applies
    App_CreateQRVolumesRequest and waits for its job to complete.

    Code: plugins/common/runbook/qr_volumes.py, plugins/common/commvault.py.
    """
    qr = site.quick_recovery
    _production, standby_client = client_names(site)

    def check(ctx: StepContext) -> Check:
        node = subclient(ctx)
        if node is None:
            return _needs_subclient(engine)
        if (node.findtext("qrVolumesCreated") or "").strip() == "true":
            return Check.no_change(f"QR volumes of {qr.subclient} created")
        return Check.will_change(f"create the QR volumes of {qr.subclient} on {standby_client} (a job)")

    def apply(ctx: StepContext) -> dict[str, Any]:
        job_id = started_job(execute(ctx, element("App_CreateQRVolumesRequest", entity(ctx.site))))
        wait_for_job(ctx, job_id, "QR volume creation")
        return {"job": job_id}

    return Step(id=engine.id("qr-volumes"), title="Create the QR volumes on the standby (6)", target=_commserve(site),
                check=check, apply=apply, idempotent=False)


STEPS = (scratch_pool, qr_policy, qr_subclient, volume_mapping, incremental_schedule, qr_volumes)


def steps(engine: Any, site: Site) -> list[Step]:
    """The steps of phase ``create-qr-volumes``, in the runbook's order."""
    return in_order(engine, site, STEPS)
