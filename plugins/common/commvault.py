"""The CommServe, through Commvault's command line on the CommServe host: the one adapter.

What Commvault documents (its "Command Line Interface" pages; docs/design/host-commands.md,
"Commvault") is used as documented:

* ``qlogin -cs CS -u USER -clp PASSWORD``: success is exit code 0 (V11 prints nothing, v10 printed
  "User logged in successfully."; qrdr reads the code, not the words);
* every q-command exits 0 (done), 1 (usage failure) or 2 (any other failure), with
  ``<entity>: Error <code>: <description>``;
* ``qlist job -c CLIENT -co iospr``: the client's *active* jobs, one per line under a header and a
  row of dashes (columns in the order the codes are given), "No jobs to display" when none;
  ``qlist job -j ID`` shows a finished job too;
* ``qoperation jobcontrol -j ID -o kill``: silent on success;
* ``qoperation execute -af FILE``: runs an XML request; one that starts a job answers
  ``<TMMsg_CreateTaskResp><jobIds val="N"/>``.

What no Commvault documentation covers for Quick Recovery is an ASSUMPTION, each marked where it
is made, and kept here so that a site can fit it to its CommServe version (the documented route
is to record each operation once with the CommCell Console's "Save As Script" and replay it with
``qoperation execute -af``):

* the request documents that create the scratch pool, the QR policy, the QR subclient, the volume
  mapping, the schedule and the QR volumes, and the one that starts an incremental update
  (:data:`ASSUMED_REQUESTS`; shapes in docs/design/commvault-requests.md);
* their read-backs, ``qlist scratchpool|qrpolicy -format xml`` and ``qlist subclient -c CLIENT -a
  Q_QR -format xml`` (no such entities or agent type are documented);
* that finished QR jobs are listed by ``qlist jobhistory -c CLIENT -a Q_QR -s SUBCLIENT
  -dispJobTimeUnix`` (documented for backup jobs), that a QR job's operation type reads
  "QR Volume Creation" / "QR Incremental Update", its phases "Snapshot", "Copy", "Complete", and
  that its START TIME is when its snapshot was taken (the recovery point).
"""

from __future__ import annotations

import datetime as dt
import ntpath
import re
import xml.etree.ElementTree as ET

from qrdr.model import Site
from qrdr.remote import Command, Script, Secret
from qrdr.secrets import resolve
from qrdr.steps import StepContext

from . import catalog, files, hosts

#: ASSUMPTION: the operation types and phases of QR jobs as qlist shows them.
INCREMENTAL, CREATION = "QR Incremental Update", "QR Volume Creation"
QR_JOB_TYPES = (INCREMENTAL, CREATION)
COPY_PHASE = "Copy"
#: ASSUMPTION: the agent type of the Quick Recovery Agent for -a.
QR_AGENT = "Q_QR"
#: ASSUMPTION: the application name a QR subclient is created under.
QR_APP = "Quick Recovery Agent"
#: The request roots qrdr sends: ASSUMPTIONS, but App_CreateSubClientRequest (Commvault's own root,
#: with its subClientEntity; the qrPolicy and content/addApp children are qrdr's).
ASSUMED_REQUESTS = ("App_CreateScratchPoolRequest", "App_CreateQRPolicyRequest", "App_CreateSubClientRequest",
                    "App_UpdateQRVolumeMappingRequest", "App_CreateQRScheduleRequest", "App_CreateQRVolumesRequest",
                    "App_RunQRIncrementalUpdateRequest")
REQUEST_FILE = ntpath.join(catalog.WORK_FOLDER, "qrdr-qr-request.xml")
#: Statuses of a job that is still going (Commvault, "qlist job" -js and -j statuses).
ACTIVE = ("Running", "Pending", "Waiting", "Queued", "Suspended", "Kill Pending", "Suspend Pending")


class CommServeError(RuntimeError):
    """The CommServe refused a command or a request; the message is the CommServe's."""


def _key(site: Site) -> str:
    return site.host_key(site.commserve)


def _run(ctx: StepContext, command: Command, *, read_only: bool = False) -> tuple[list[str], list[str], int]:
    """A q-command on the CommServe: its output lines, its error lines (stderr) and its exit code."""
    session = hosts.remote(ctx, _key(ctx.site))
    output = session.run(command, read_only=read_only, allow_errors=True)
    code = session.run(Script("$LASTEXITCODE", "$LASTEXITCODE"), read_only=True)
    return (hosts.native_lines(list(output)), [error.message for error in output.errors],
            int(code[0]) if code and code[0] is not None else 0)


def login(ctx: StepContext) -> None:
    """qlogin once per run (the CommServe keeps the session for the later q-commands)."""
    cache = ctx.run_state("qrdr.plugins.common.commvault.qlogin")
    if cache.get("done"):
        return
    qr = ctx.site.quick_recovery
    if qr.commcell_password is None:
        raise CommServeError("[quick_recovery] commcell_password is not set: qrdr cannot log in to the CommServe")
    password = Secret(resolve(qr.commcell_password, f"CommCell user {qr.commcell_user}"))
    lines, errors, code = _run(ctx, Command("qlogin", arguments=("-cs", ctx.site.commserve.name, "-u",
                                                                 qr.commcell_user, "-clp", password)))
    if code != 0:
        raise CommServeError(f"{ctx.site.commserve.name}: qlogin as {qr.commcell_user} failed (exit {code}): "
                             f"{' '.join(lines + errors)}")
    cache["done"] = True


def q(ctx: StepContext, *arguments: str, read_only: bool = True) -> list[str]:
    """A q-command's output after logging in; CommServeError with the CommServe's words when it fails."""
    login(ctx)
    lines, errors, code = _run(ctx, Command(arguments[0], arguments=arguments[1:]), read_only=read_only)
    if code != 0:
        raise CommServeError(f"{ctx.site.commserve.name}: {' '.join(arguments[:2])} failed (exit {code}): "
                             f"{' '.join(lines + errors)}")
    return lines


def parse_table(lines: list[str]) -> list[dict[str, str]]:
    """A q-command's text table (a header, a row of dashes, one row per object) as dicts by header.

    Columns are where the dash runs start, as community scripts read them; a message instead of a
    table ("No jobs to display") gives no rows.
    """
    for index in range(1, len(lines)):
        dashes = lines[index]
        if not dashes.strip() or set(dashes.strip()) - {"-", " "}:
            continue
        starts = [match.start() for match in re.finditer(r"-+", dashes)]
        ends = [*starts[1:], None]

        def cells(line: str) -> list[str]:
            return [line[start:end].strip() for start, end in zip(starts, ends)]

        names = cells(lines[index - 1])
        return [dict(zip(names, cells(line))) for line in lines[index + 1:] if line.strip()]
    return []


def active_jobs(ctx: StepContext) -> list[dict[str, str]]:
    """The production client's active jobs (``qlist job -c CLIENT -co iospr``)."""
    production, _ = client_names(ctx.site)
    return parse_table(q(ctx, "qlist", "job", "-c", production, "-co", "iospr"))


def job(ctx: StepContext, job_id: str) -> dict[str, str] | None:
    """One job, finished or not (``qlist job -j ID -co iospr``)."""
    rows = parse_table(q(ctx, "qlist", "job", "-j", job_id, "-co", "iospr"))
    return rows[0] if rows else None


def finished_jobs(ctx: StepContext) -> list[dict[str, str]]:
    """ASSUMPTION: the QR subclient's finished jobs, with Unix times, from ``qlist jobhistory``."""
    production, _ = client_names(ctx.site)
    return parse_table(q(ctx, "qlist", "jobhistory", "-c", production, "-a", QR_AGENT, "-s",
                         ctx.site.quick_recovery.subclient, "-dispJobTimeUnix"))


def wait_for_job(ctx: StepContext, job_id: str, what: str) -> dict[str, str]:
    """Poll ``qlist job -j`` until the job is no longer active; CommServeError unless it completed."""
    import time

    while True:
        found = job(ctx, job_id)
        if found is not None and found.get("STATUS") not in ACTIVE:
            if not (found.get("STATUS") or "").startswith("Complet"):
                raise CommServeError(f"{what} job {job_id} ended {found.get('STATUS')}: "
                                     f"{found.get('FAILURE REASON') or 'no reason given'}")
            return found
        ctx.progress(f"{what} job {job_id}: {found.get('PHASE') if found else 'queued'}")
        time.sleep(2)


# --------------------------------------------------------------------------- the assumed QR requests


def element(tag: str, *children: ET.Element, text: str | None = None) -> ET.Element:
    node = ET.Element(tag)
    node.text = text
    node.extend(children)
    return node


def execute(ctx: StepContext, request: ET.Element) -> ET.Element:
    """Write ``request`` (built with ElementTree, so every value is escaped for XML) to a file on the
    CommServe and run ``qoperation execute -af`` on it; the reply. ASSUMPTION for every QR request
    root (:data:`ASSUMED_REQUESTS`), and for the generic ``<Response errorCode=...>`` reply."""
    if request.tag not in ASSUMED_REQUESTS:
        raise ValueError(f"{request.tag} is not a request qrdr knows")
    login(ctx)
    session = hosts.remote(ctx, _key(ctx.site))
    files.write_file(session, REQUEST_FILE, ET.tostring(request, encoding="unicode"))
    lines, errors, code = _run(ctx, Command("qoperation", arguments=("execute", "-af", REQUEST_FILE)))
    try:
        reply = ET.fromstring("\n".join(lines))
    except ET.ParseError:
        raise CommServeError(f"{ctx.site.commserve.name}: {request.tag} (exit {code}): "
                             f"{' '.join(lines + errors)}") from None
    if code != 0 or reply.get("errorCode", "0") != "0":
        raise CommServeError(f"{ctx.site.commserve.name}: {request.tag} refused (error {reply.get('errorCode')}): "
                             f"{reply.get('errorMessage')}")
    return reply


def started_job(reply: ET.Element) -> str:
    """The job id of a request that started one (``<TMMsg_CreateTaskResp><jobIds val="N"/>``)."""
    node = reply.find("jobIds")
    if node is None or not node.get("val"):
        raise CommServeError(f"the CommServe's reply names no job: {ET.tostring(reply, encoding='unicode')}")
    return str(node.get("val"))


def read_back(ctx: StepContext, *arguments: str) -> ET.Element:
    """ASSUMPTION: ``qlist ... -format xml`` of a QR object (scratch pool, QR policy, QR subclient)."""
    text = "\n".join(q(ctx, "qlist", *arguments, "-format", "xml"))
    try:
        return ET.fromstring(text)
    except ET.ParseError:
        raise CommServeError(f"{ctx.site.commserve.name}: qlist {' '.join(arguments)}: {text}") from None


def client_names(site: Site) -> tuple[str, str]:
    qr = site.quick_recovery
    return qr.production_client or site.production.name, qr.standby_client or site.standby.name


def entity(site: Site) -> ET.Element:
    production, _standby = client_names(site)
    return element("subClientEntity", element("clientName", text=production), element("appName", text=QR_APP),
                   element("subclientName", text=site.quick_recovery.subclient))


def subclient(ctx: StepContext) -> ET.Element | None:
    production, _ = client_names(ctx.site)
    for node in read_back(ctx, "subclient", "-c", production, "-a", QR_AGENT).findall("subclient"):
        if (node.findtext("subclientName") or "") == ctx.site.quick_recovery.subclient:
            return node
    return None


def unix_time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(int(text), dt.timezone.utc) if text and text.strip().isdigit() else None


__all__ = ["CommServeError", "login", "q", "parse_table", "active_jobs", "job", "finished_jobs", "wait_for_job",
           "execute", "started_job", "read_back", "client_names", "entity", "subclient", "element", "unix_time",
           "QR_JOB_TYPES", "INCREMENTAL", "CREATION", "COPY_PHASE", "ACTIVE", "ASSUMED_REQUESTS"]
