"""The lab's CommServe: Quick Recovery objects, jobs, and the q-commands that drive them.

What the runbook's "Configure the Quick Recovery Agent" builds, held on the
CommServe: a scratch volume pool (the standby's destination volumes), a QR
policy (snap engine, the standby as LAN copy manager, the pool), a QR subclient
under the production client (content found by "Add App": the volumes that hold
production's Exchange databases, logs and system path), a mapping of each source
volume to a destination volume and mount point, an incremental-update schedule,
and jobs ("QR Volume Creation", "QR Incremental Update") that go Snapshot ->
Copy -> Complete.

A job's snapshot captures every file of the mapped production volumes at that
instant (database files carry their ESE state, ``qrdr.lab.sim.ese``); its copy
phase replaces the destination volume's files on the standby with them. A job
stuck in its copy phase (the seed's danger, lab fault ``qr_update_stuck_in_copy``)
leaves the destination's database files torn (blocks of two points in time):
ESE reports them corrupt, so Exchange will not start on them.

Commvault's XML request schemas are not available here: the request and reply
shapes the lab accepts are designed in Commvault's style (``App_...Request``
roots, ``subClientEntity`` blocks) and documented in docs/design/commvault-requests.md.
They are plausible and consistent, not Commvault's own. Every object a request
creates can be read back with a ``qlist`` form, so a plugin can check before it
creates (idempotence lives in the caller: creating an existing object is an
error, as on a real CommServe).

Schedules are recorded, not run by a clock: the lab (or a test) runs an update
with :meth:`CommServe.run_incremental_update`.

Python control API (the lab and tests)::

    commserve = seed_site(site, hosts, password=..., stuck_in_copy=False)  # on the commserve host
    CommServe.for_host(hosts["commserve"]) is commserve
    configure_from_site(commserve, site)     # QR as qrdr's configure phase leaves it (optional)
    job = commserve.run_incremental_update()                  # Snapshot -> Copy -> Complete
    job = commserve.run_incremental_update(stuck_in_copy=True)  # stays Running in Copy
    commserve.finish_stuck_copy(job); commserve.kill_job(job.job_id)
    commserve.jobs, commserve.recovery_point, commserve.qr_update_stuck_in_copy = True

Command line on the CommServe host: ``qlogin``, ``qlogout``, ``qlist``,
``qoperation execute -af FILE``, ``qoperation jobcontrol -j ID -o kill``
(:func:`run_qcommand`).
"""

from __future__ import annotations

import datetime as dt
import ntpath
import xml.etree.ElementTree as ET
from typing import Any, Callable

import attrs

from . import ese

QR_APP_NAME = "Quick Recovery Agent"
#: The agent type qlist takes with -a.
QR_AGENT_TYPE = "Q_QR"
SNAP_ENGINES = ("QSnap", "VSS")
PACKAGES_KEY = r"HKLM:\SOFTWARE\CommVault Systems\Galaxy\Instance001"

VOLUME_CREATION = "QR Volume Creation"
INCREMENTAL_UPDATE = "QR Incremental Update"

# Reply error codes (the lab's; see docs/design/commvault-requests.md).
E_OK = 0
E_BAD_REQUEST = 1
E_NOT_FOUND = 2
E_EXISTS = 3
E_NOT_SUPPORTED = 4
E_JOB_CONFLICT = 5
E_NOT_READY = 6


class RequestError(Exception):
    """A request the CommServe refuses: an error code and message for the reply."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------- objects


@attrs.define
class Client:
    """A Commvault client: its name and the lab host behind it.

    ``port`` is the host's :class:`qrdr.lab.sim.exchange.HostPort`; ``exchange``
    gives the host's Exchange state (for "Add App" discovery), or None.
    ``reachable`` says whether the host is up (a powered-off production fails
    its snapshot).
    """

    name: str
    port: Any
    exchange: Callable[[], Any] = lambda: None
    reachable: Callable[[], bool] = lambda: True

    def has_package(self, package: str) -> bool:
        return self.port.registry_exists(f"{PACKAGES_KEY}\\{package}")


@attrs.define
class ScratchPool:
    name: str
    media_agent: str
    #: (client name, volume) of each destination volume, e.g. ("STANDBY", "E:").
    volumes: list[tuple[str, str]] = attrs.field(factory=list)


@attrs.define
class QRPolicy:
    name: str
    snap_engine: str
    copy_manager: str
    scratch_pool: str


@attrs.define
class VolumeMapping:
    source: str
    destination: str
    mount_point: str


@attrs.define
class Schedule:
    name: str
    update_type: str
    pattern: str


@attrs.define
class QRSubclient:
    client: str
    name: str
    policy: str
    #: Source volumes ("E:") found by Add App.
    content: list[str] = attrs.field(factory=list)
    mappings: list[VolumeMapping] = attrs.field(factory=list)
    schedules: list[Schedule] = attrs.field(factory=list)
    #: Set once a QR Volume Creation job completed.
    volumes_created: bool = False


@attrs.define
class QRJob:
    job_id: int
    job_type: str
    client: str
    subclient: str
    phase: str
    status: str
    start_time: dt.datetime
    end_time: dt.datetime | None = None
    #: When the snapshot was taken: the recovery point a completed job gives the standby.
    snapshot_time: dt.datetime | None = None
    failure: str | None = None


# --------------------------------------------------------------------------- the CommServe


class CommServe:
    """The CommServe's Quick Recovery state and the lab's controls over it."""

    def __init__(self, name: str, users: dict[str, str], *, clock: Callable[[], dt.datetime],
                 qr_update_stuck_in_copy: bool = False):
        self.name = name
        self._users = {user.lower(): password for user, password in users.items()}
        self.clock = clock
        #: Lab fault: the next incremental updates stop in their copy phase for good.
        self.qr_update_stuck_in_copy = qr_update_stuck_in_copy
        self.clients: dict[str, Client] = {}
        self.pools: dict[str, ScratchPool] = {}
        self.policies: dict[str, QRPolicy] = {}
        self.subclients: dict[tuple[str, str], QRSubclient] = {}
        self.jobs: list[QRJob] = []
        #: The user of the qlogin session on the CommServe host, or None.
        self.session_user: str | None = None
        self._next_job_id = 1001
        #: Snapshots of jobs stuck in their copy phase, by job id (kept to finish them later).
        self._snapshots: dict[int, dict[str, dict[str, str]]] = {}

    @staticmethod
    def for_host(host: Any) -> "CommServe":
        """The CommServe a lab host carries (``host.commvault``); ValueError names the host when none."""
        if not isinstance(host.commvault, CommServe):
            raise ValueError(f"lab host {host.name} is not a CommServe: call qrdr.lab.sim.commvault.attach() first")
        return host.commvault

    def __repr__(self) -> str:  # never the users' passwords
        return f"CommServe({self.name!r}, clients={sorted(self.clients)}, jobs={len(self.jobs)})"

    # ------------------------------------------------------------------ lab controls

    def add_client(self, client: Client) -> None:
        self.clients[client.name.upper()] = client

    def login(self, commserve: str, user: str, password: str) -> bool:
        if commserve.upper() != self.name.upper():
            return False
        if self._users.get(user.lower()) != password:
            return False
        self.session_user = user
        return True

    def run_incremental_update(self, stuck_in_copy: bool | None = None, subclient: QRSubclient | None = None) -> QRJob:
        """Lab control: run a QR incremental update now (as its schedule would).

        ``stuck_in_copy`` (default: the lab fault ``qr_update_stuck_in_copy``)
        leaves the job in its Copy phase, Running, for good.
        """
        target = subclient or self._only_subclient()
        stuck = self.qr_update_stuck_in_copy if stuck_in_copy is None else stuck_in_copy
        return self._run_job(target, INCREMENTAL_UPDATE, stuck_in_copy=stuck)

    def finish_stuck_copy(self, job: QRJob) -> None:
        """Lab control: a job stuck in its copy phase completes after all (the link came back)."""
        if job.phase != "Copy" or job.status != "Running":
            raise ValueError(f"job {job.job_id} is not stuck in its copy phase")
        subclient = self.subclients[(job.client.lower(), job.subclient.lower())]
        self._copy(subclient, self._snapshots.pop(job.job_id), torn=False)
        self._complete(job, subclient)

    def kill_job(self, job_id: int) -> QRJob:
        """``qoperation jobcontrol -j ID -o kill``: a running job ends as Killed.

        A job killed in its copy phase leaves the destination volumes torn: the
        standby stays unusable until a later update completes.
        """
        job = next((j for j in self.jobs if j.job_id == job_id), None)
        if job is None:
            raise RequestError(E_NOT_FOUND, f"Job [{job_id}] does not exist.")
        if job.status != "Running":
            raise RequestError(E_NOT_READY, f"Job [{job_id}] is not running (status {job.status}).")
        job.status, job.end_time, job.failure = "Killed", self.clock(), "Killed by user."
        self._snapshots.pop(job.job_id, None)
        return job

    @property
    def recovery_point(self) -> dt.datetime | None:
        """Snapshot time of the newest completed QR job: how old the standby's data is."""
        done = [job.snapshot_time for job in self.jobs if job.status == "Completed" and job.snapshot_time]
        return max(done) if done else None

    def _only_subclient(self) -> QRSubclient:
        if len(self.subclients) != 1:
            raise ValueError(f"the CommServe has {len(self.subclients)} QR subclients: name the one to update")
        return next(iter(self.subclients.values()))

    # ------------------------------------------------------------------ lookups

    def client(self, name: str) -> Client:
        client = self.clients.get(name.upper())
        if client is None:
            raise RequestError(E_NOT_FOUND, f"Client [{name}] is not configured on CommServe [{self.name}].")
        return client

    def pool(self, name: str) -> ScratchPool:
        pool = self.pools.get(name.lower())
        if pool is None:
            raise RequestError(E_NOT_FOUND, f"Scratch volume pool [{name}] does not exist.")
        return pool

    def policy(self, name: str) -> QRPolicy:
        policy = self.policies.get(name.lower())
        if policy is None:
            raise RequestError(E_NOT_FOUND, f"QR policy [{name}] does not exist.")
        return policy

    def subclient(self, client: str, name: str) -> QRSubclient:
        found = self.subclients.get((client.lower(), name.lower()))
        if found is None:
            raise RequestError(E_NOT_FOUND, f"Subclient [{name}] does not exist under client [{client}] "
                                            f"({QR_APP_NAME}).")
        return found

    # ------------------------------------------------------------------ requests

    def create_scratch_pool(self, name: str, media_agent: str, volumes: list[tuple[str, str]]) -> ScratchPool:
        if name.lower() in self.pools:
            raise RequestError(E_EXISTS, f"Scratch volume pool [{name}] already exists.")
        agent = self.client(media_agent)
        if not agent.has_package("MediaAgent"):
            raise RequestError(E_NOT_SUPPORTED, f"Client [{agent.name}] has no MediaAgent installed.")
        if not volumes:
            raise RequestError(E_BAD_REQUEST, f"Scratch volume pool [{name}] names no volume.")
        checked = []
        for client_name, volume in volumes:
            client = self.client(client_name)
            letter = _letter(volume)
            if letter not in {_letter(v) for v in client.port.volumes()}:
                raise RequestError(E_NOT_FOUND, f"Volume [{volume}] does not exist on client [{client.name}].")
            checked.append((client.name, letter))
        pool = ScratchPool(name, agent.name, checked)
        self.pools[name.lower()] = pool
        return pool

    def create_policy(self, name: str, snap_engine: str, copy_manager: str, scratch_pool: str) -> QRPolicy:
        if name.lower() in self.policies:
            raise RequestError(E_EXISTS, f"QR policy [{name}] already exists.")
        engine = next((e for e in SNAP_ENGINES if e.lower() == snap_engine.lower()), None)
        if engine is None:
            raise RequestError(E_BAD_REQUEST, f"Snap engine [{snap_engine}] is not one of {', '.join(SNAP_ENGINES)}.")
        manager = self.client(copy_manager)
        if not manager.has_package("QuickRecoveryAgent"):
            raise RequestError(E_NOT_SUPPORTED, f"Client [{manager.name}] has no Quick Recovery Agent installed: "
                                                "it cannot be a copy manager.")
        pool = self.pool(scratch_pool)
        policy = QRPolicy(name, engine, manager.name, pool.name)
        self.policies[name.lower()] = policy
        return policy

    def create_subclient(self, client_name: str, name: str, policy_name: str, add_app: bool,
                         volumes: list[str]) -> QRSubclient:
        client = self.client(client_name)
        if (client.name.lower(), name.lower()) in self.subclients:
            raise RequestError(E_EXISTS, f"Subclient [{name}] already exists under client [{client.name}].")
        policy = self.policy(policy_name)
        for package in ("QuickRecoveryAgent", "QSnap"):
            if not client.has_package(package):
                raise RequestError(E_NOT_SUPPORTED, f"Client [{client.name}] has no {package} installed.")
        if policy.snap_engine == "VSS":
            if client.port.windows_version() != "2003":
                raise RequestError(E_NOT_SUPPORTED, f"Snap engine [VSS] is not supported on client [{client.name}]: "
                                                    "VSS needs Windows Server 2003.")
            if not client.has_package("VSSEnabler"):
                raise RequestError(E_NOT_SUPPORTED, f"Client [{client.name}] has no VSS Enabler installed.")
        content = [_letter(v) for v in volumes]
        if add_app:
            for letter in self.discover_exchange_volumes(client):
                if letter not in content:
                    content.append(letter)
        if not content:
            raise RequestError(E_BAD_REQUEST, f"Subclient [{name}] has no content: Add App found no Exchange "
                                              f"volume on client [{client.name}].")
        subclient = QRSubclient(client.name, name, policy.name, content)
        self.subclients[(client.name.lower(), name.lower())] = subclient
        return subclient

    def discover_exchange_volumes(self, client: Client) -> list[str]:
        """"Add App": the volumes that hold the client's Exchange databases, logs and system path.

        The system drive is left out: QR volumes are data volumes, and C: holds Windows.
        """
        if not client.reachable():
            raise RequestError(E_NOT_READY, f"Client [{client.name}] is not reachable.")
        state = client.exchange()
        server = state.server if state is not None and state.install is not None else None
        if server is None:
            return []
        letters: list[str] = []
        for group in server.storage_groups:
            paths = [group.log_path, group.system_path]
            for store in group.stores:
                paths += [store.edb_path, store.stm_path]
            for path in paths:
                letter = _letter(path)
                if letter != "C:" and letter not in letters:
                    letters.append(letter)
        return sorted(letters)

    def map_volumes(self, client: str, name: str, mappings: list[VolumeMapping]) -> QRSubclient:
        """Set the subclient's source -> destination mapping (replaces any earlier one)."""
        subclient = self.subclient(client, name)
        pool = self.pool(self.policy(subclient.policy).scratch_pool)
        pool_volumes = {letter for _client, letter in pool.volumes}
        seen: set[str] = set()
        checked = []
        for mapping in mappings:
            source, destination = _letter(mapping.source), _letter(mapping.destination)
            if source not in subclient.content:
                raise RequestError(E_NOT_FOUND, f"Source volume [{mapping.source}] is not in the content of "
                                                f"subclient [{subclient.name}].")
            if destination not in pool_volumes:
                raise RequestError(E_NOT_FOUND, f"Destination volume [{mapping.destination}] is not in scratch "
                                                f"volume pool [{pool.name}].")
            if destination in seen:
                raise RequestError(E_BAD_REQUEST, f"Destination volume [{mapping.destination}] is mapped twice.")
            seen.add(destination)
            mount_point = _mount_point(mapping.mount_point or destination)
            manager = self.client(self.policy(subclient.policy).copy_manager)
            if _letter(mount_point) not in {_letter(v) for v in manager.port.volumes()}:
                raise RequestError(E_NOT_FOUND, f"Mount point [{mount_point}] is not on a volume of client "
                                                f"[{manager.name}].")
            checked.append(VolumeMapping(source, destination, mount_point))
        subclient.mappings = checked
        return subclient

    def add_schedule(self, client: str, name: str, schedule: Schedule) -> QRSubclient:
        subclient = self.subclient(client, name)
        if schedule.update_type.lower() != "incremental":
            raise RequestError(E_BAD_REQUEST, f"Update type [{schedule.update_type}] is not Incremental.")
        if any(s.name.lower() == schedule.name.lower() for s in subclient.schedules):
            raise RequestError(E_EXISTS, f"Schedule [{schedule.name}] already exists on subclient [{subclient.name}].")
        subclient.schedules.append(Schedule(schedule.name, "Incremental", schedule.pattern))
        return subclient

    def create_qr_volumes(self, client: str, name: str) -> QRJob:
        subclient = self.subclient(client, name)
        unmapped = [v for v in subclient.content if v not in {m.source for m in subclient.mappings}]
        if unmapped:
            raise RequestError(E_NOT_READY, f"Source volume(s) {', '.join(unmapped)} of subclient "
                                            f"[{subclient.name}] have no destination volume.")
        return self._run_job(subclient, VOLUME_CREATION, stuck_in_copy=False)

    def request_incremental_update(self, client: str, name: str) -> QRJob:
        subclient = self.subclient(client, name)
        return self.run_incremental_update(subclient=subclient)

    # ------------------------------------------------------------------ jobs

    def _run_job(self, subclient: QRSubclient, job_type: str, *, stuck_in_copy: bool) -> QRJob:
        if job_type == INCREMENTAL_UPDATE and not subclient.volumes_created:
            raise RequestError(E_NOT_READY, f"QR volumes of subclient [{subclient.name}] have not been created.")
        running = [j for j in self.jobs if j.status == "Running" and j.subclient.lower() == subclient.name.lower()
                   and j.client.lower() == subclient.client.lower()]
        if running:
            raise RequestError(E_JOB_CONFLICT, f"Job [{running[0].job_id}] of subclient [{subclient.name}] is still "
                                               f"running ({running[0].phase} phase).")
        now = self.clock()
        job = QRJob(self._next_job_id, job_type, subclient.client, subclient.name, "Snapshot", "Running", now)
        self._next_job_id += 1
        self.jobs.append(job)
        source = self.client(subclient.client)
        if not source.reachable():
            job.status, job.failure, job.end_time = "Failed", f"Client [{source.name}] is not reachable.", now
            return job
        snapshot = {m.source: {path: source.port.read_text(path) or ""
                               for path in source.port.list_tree(m.source + "\\")}
                    for m in subclient.mappings}
        job.snapshot_time = now
        job.phase = "Copy"
        manager = self.client(self.policy(subclient.policy).copy_manager)
        if stuck_in_copy:
            self._snapshots[job.job_id] = snapshot
            if manager.reachable():
                try:
                    self._copy(subclient, snapshot, torn=True)
                except OSError:
                    pass  # nothing written: the job is stuck all the same
            return job
        if not manager.reachable():
            job.status, job.failure, job.end_time = "Failed", f"Copy manager [{manager.name}] is not reachable.", now
            return job
        try:
            self._copy(subclient, snapshot, torn=False)
        except OSError as exc:  # a destination that vanished: the job fails, as a QR copy would
            job.status, job.failure, job.end_time = "Failed", f"Copy to [{manager.name}] failed: {exc!r}", self.clock()
            return job
        self._complete(job, subclient)
        return job

    def _complete(self, job: QRJob, subclient: QRSubclient) -> None:
        job.phase, job.status, job.end_time = "Complete", "Completed", self.clock()
        if job.job_type == VOLUME_CREATION:
            subclient.volumes_created = True

    def _copy(self, subclient: QRSubclient, snapshot: dict[str, dict[str, str]], *, torn: bool) -> None:
        """The copy phase: each destination volume becomes a block copy of its source.

        ``torn``: the copy stopped half-way: database files are a mix of old and
        new blocks (ESE finds them corrupt); other files are left as they were.
        """
        manager = self.client(self.policy(subclient.policy).copy_manager)
        port = manager.port
        for mapping in subclient.mappings:
            files = snapshot[mapping.source]
            root = _root(mapping.mount_point)
            if torn:
                for path, text in files.items():
                    record = ese.parse(text)
                    target = _rebase(path, mapping.source, root)
                    if isinstance(record, ese.DatabaseHeader):
                        record.torn = True
                        port.write_text(target, record.to_text())
                    elif path.lower().endswith(".stm"):
                        port.write_text(target, "lab streaming file (partially copied)")
                continue
            port.clear_tree(root)
            for path, text in files.items():
                target = _rebase(path, mapping.source, root)
                port.make_folder(ntpath.dirname(target))
                port.write_text(target, text)


def _letter(volume: str) -> str:
    """``e``, ``E:``, ``E:\\`` -> ``E:``."""
    text = volume.strip()
    if len(text) == 1 and text.isalpha():
        return text.upper() + ":"
    return text[:2].upper() if text[1:2] == ":" else text


def _mount_point(text: str) -> str:
    """A drive (``e``, ``E:``, ``E:\\``) as ``E:``; a folder mount point (``C:\\QR\\E``) as given."""
    stripped = text.strip().rstrip("\\")
    return _letter(stripped) if len(stripped) <= 2 else stripped


def _root(mount_point: str) -> str:
    text = mount_point.rstrip("\\")
    return text + "\\" if len(text) == 2 and text[1] == ":" else text


def _rebase(path: str, source: str, root: str) -> str:
    relative = path[len(_letter(source)):].lstrip("\\")
    return ntpath.join(root, relative)


# --------------------------------------------------------------------------- the XML requests


def _text(element: ET.Element, path: str, what: str) -> str:
    found = element.find(path)
    if found is None or not (found.text or "").strip():
        raise RequestError(E_BAD_REQUEST, f"<{element.tag}> lacks <{path}> ({what}).")
    return found.text.strip()


def _entity(root: ET.Element) -> tuple[str, str]:
    entity = root.find(".//subClientEntity")
    if entity is None:
        raise RequestError(E_BAD_REQUEST, f"<{root.tag}> lacks <subClientEntity>.")
    app = (entity.findtext("appName") or QR_APP_NAME).strip()
    if app.lower() != QR_APP_NAME.lower():
        raise RequestError(E_NOT_SUPPORTED, f"appName [{app}] is not [{QR_APP_NAME}].")
    return _text(entity, "clientName", "the client"), _text(entity, "subclientName", "the subclient")


def execute_request(commserve: CommServe, xml_text: str) -> ET.Element:
    """Run one request document; the reply element.

    A request that starts a job answers ``<TMMsg_CreateTaskResp><jobIds val="N"/></TMMsg_CreateTaskResp>``,
    what Commvault's job-starting requests print (community scripts read ``jobIds val``); any other
    answers ``<Response errorCode="0" errorMessage=""/>``, and a refused one that form with its code
    and message: that generic reply is an assumption (docs/design/commvault-requests.md).
    """
    reply = ET.Element("Response")
    try:
        try:
            root = ET.fromstring(xml_text)
        except ET.ParseError as exc:
            raise RequestError(E_BAD_REQUEST, f"The request is not well-formed XML: {exc}.") from None
        handler = _REQUESTS.get(root.tag)
        if handler is None:
            raise RequestError(E_BAD_REQUEST, f"Unknown request <{root.tag}>; known: {', '.join(sorted(_REQUESTS))}.")
        handler(commserve, root, reply)
    except RequestError as exc:
        reply.clear()
        reply.set("errorCode", str(exc.code))
        reply.set("errorMessage", str(exc))
        return reply
    if reply.find("jobIds") is not None:
        task = ET.Element("TMMsg_CreateTaskResp")
        task.extend(reply)
        return task
    reply.set("errorCode", "0")
    reply.set("errorMessage", "")
    return reply


def _req_pool(cs: CommServe, root: ET.Element, reply: ET.Element) -> None:
    pool = root.find("scratchPool")
    if pool is None:
        raise RequestError(E_BAD_REQUEST, "<App_CreateScratchPoolRequest> lacks <scratchPool>.")
    volumes = [(_text(v, "clientName", "the volume's client"), _text(v, "volumeName", "the volume"))
               for v in pool.findall("volume")]
    cs.create_scratch_pool(_text(pool, "scratchPoolName", "the pool name"),
                           _text(pool, "mediaAgent/clientName", "the MediaAgent"), volumes)


def _req_policy(cs: CommServe, root: ET.Element, reply: ET.Element) -> None:
    policy = root.find("qrPolicy")
    if policy is None:
        raise RequestError(E_BAD_REQUEST, "<App_CreateQRPolicyRequest> lacks <qrPolicy>.")
    cs.create_policy(_text(policy, "qrPolicyName", "the policy name"), _text(policy, "snapEngine", "the snap engine"),
                     _text(policy, "copyManager/clientName", "the LAN copy manager"),
                     _text(policy, "scratchPool/scratchPoolName", "the scratch pool"))


def _req_subclient(cs: CommServe, root: ET.Element, reply: ET.Element) -> None:
    props = root.find("subClientProperties")
    if props is None:
        raise RequestError(E_BAD_REQUEST, "<App_CreateSubClientRequest> lacks <subClientProperties>.")
    client, name = _entity(props)
    content = props.find("content")
    add_app = content is not None and content.find("addApp") is not None
    volumes = [v.text.strip() for v in (content.findall("volume") if content is not None else []) if v.text]
    subclient = cs.create_subclient(client, name, _text(props, "qrPolicy/qrPolicyName", "the QR policy"),
                                    add_app, volumes)
    found = ET.SubElement(reply, "content")
    for letter in subclient.content:
        ET.SubElement(found, "volume").text = letter


def _req_mapping(cs: CommServe, root: ET.Element, reply: ET.Element) -> None:
    client, name = _entity(root)
    mappings = [VolumeMapping(_text(m, "sourceVolume", "the source volume"),
                              _text(m, "destinationVolume", "the destination volume"),
                              (m.findtext("mountPoint") or "").strip())
                for m in root.findall("volumeMap")]
    if not mappings:
        raise RequestError(E_BAD_REQUEST, "<App_UpdateQRVolumeMappingRequest> has no <volumeMap>.")
    cs.map_volumes(client, name, mappings)


def _req_schedule(cs: CommServe, root: ET.Element, reply: ET.Element) -> None:
    client, name = _entity(root)
    schedule = root.find("schedule")
    if schedule is None:
        raise RequestError(E_BAD_REQUEST, "<App_CreateQRScheduleRequest> lacks <schedule>.")
    cs.add_schedule(client, name, Schedule(_text(schedule, "scheduleName", "the schedule name"),
                                           _text(schedule, "updateType", "the update type"),
                                           _text(schedule, "pattern", "the schedule pattern")))


def _req_create_volumes(cs: CommServe, root: ET.Element, reply: ET.Element) -> None:
    job = cs.create_qr_volumes(*_entity(root))
    ET.SubElement(reply, "jobIds", val=str(job.job_id))


def _req_incremental(cs: CommServe, root: ET.Element, reply: ET.Element) -> None:
    job = cs.request_incremental_update(*_entity(root))
    ET.SubElement(reply, "jobIds", val=str(job.job_id))


_REQUESTS: dict[str, Callable[[CommServe, ET.Element, ET.Element], None]] = {
    "App_CreateScratchPoolRequest": _req_pool,
    "App_CreateQRPolicyRequest": _req_policy,
    "App_CreateSubClientRequest": _req_subclient,
    "App_UpdateQRVolumeMappingRequest": _req_mapping,
    "App_CreateQRScheduleRequest": _req_schedule,
    "App_CreateQRVolumesRequest": _req_create_volumes,
    "App_RunQRIncrementalUpdateRequest": _req_incremental,
}


# --------------------------------------------------------------------------- q-commands


def _epoch(moment: dt.datetime | None) -> str:
    return str(int(moment.timestamp())) if moment else ""


def _shown(moment: dt.datetime | None) -> str:
    return moment.strftime("%m/%d/%Y %H:%M:%S") if moment else ""


def _xml_lines(root: ET.Element) -> list[str]:
    ET.indent(root)
    return ET.tostring(root, encoding="unicode").splitlines()


def _options(args: list[str], value_flags: tuple[str, ...] = (), flags: tuple[str, ...] = ()) -> dict[str, str]:
    """``-c X -format xml`` -> {"c": "X", "format": "xml"} (keys lower-case). A flag in
    ``value_flags`` always takes the next argument, even one starting with "-" (a password); one in
    ``flags`` never takes one."""
    options: dict[str, str] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("-"):
            takes_next = index + 1 < len(args) and arg[1:].lower() not in flags and (
                arg[1:].lower() in value_flags or not args[index + 1].startswith("-"))
            value = args[index + 1] if takes_next else ""
            options[arg[1:].lower()] = value
            index += 2 if value else 1
        else:
            options.setdefault("", arg)
            index += 1
    return options


def jobs_xml(jobs: list[QRJob]) -> ET.Element:
    root = ET.Element("JobList")
    for job in jobs:
        element = ET.SubElement(root, "job")
        for tag, value in (("JobID", str(job.job_id)), ("Type", job.job_type), ("Phase", job.phase),
                           ("Status", job.status), ("Client", job.client), ("Subclient", job.subclient),
                           ("StartTime", _epoch(job.start_time)), ("EndTime", _epoch(job.end_time)),
                           ("SnapshotTime", _epoch(job.snapshot_time)), ("FailureReason", job.failure or "")):
            ET.SubElement(element, tag).text = value
    return root


def subclients_xml(subclients: list[QRSubclient]) -> ET.Element:
    root = ET.Element("SubclientList")
    for sub in subclients:
        element = ET.SubElement(root, "subclient")
        ET.SubElement(element, "subclientName").text = sub.name
        ET.SubElement(element, "clientName").text = sub.client
        ET.SubElement(element, "appName").text = QR_APP_NAME
        ET.SubElement(element, "qrPolicyName").text = sub.policy
        content = ET.SubElement(element, "content")
        for letter in sub.content:
            ET.SubElement(content, "volume").text = letter
        for mapping in sub.mappings:
            ET.SubElement(element, "volumeMap", sourceVolume=mapping.source, destinationVolume=mapping.destination,
                          mountPoint=mapping.mount_point)
        for schedule in sub.schedules:
            ET.SubElement(element, "schedule", scheduleName=schedule.name, updateType=schedule.update_type,
                          pattern=schedule.pattern)
        ET.SubElement(element, "qrVolumesCreated").text = "true" if sub.volumes_created else "false"
    return root


def pools_xml(pools: list[ScratchPool]) -> ET.Element:
    root = ET.Element("ScratchPoolList")
    for pool in pools:
        element = ET.SubElement(root, "scratchPool", scratchPoolName=pool.name, mediaAgent=pool.media_agent)
        for client, volume in pool.volumes:
            ET.SubElement(element, "volume", clientName=client, volumeName=volume)
    return root


def policies_xml(policies: list[QRPolicy]) -> ET.Element:
    root = ET.Element("QRPolicyList")
    for policy in policies:
        ET.SubElement(root, "qrPolicy", qrPolicyName=policy.name, snapEngine=policy.snap_engine,
                      copyManager=policy.copy_manager, scratchPoolName=policy.scratch_pool)
    return root


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A q-command text table: a header row, a row of dashes under each header, then one row per object
    (columns as wide as their widest cell; community scripts read the columns by the dash runs)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths)).rstrip()
    return [line(header), line(["-" * len(h) for h in header])] + [line(r) for r in rows]


#: ``qlist job -co`` column codes (Commvault, "qlist job"): id, operation type, status, phase, failure
#: reason, description, complete percentage. By default all but the reason. Header words: STATUS,
#: FAILURE REASON and COMPLETE PERCENTAGE are seen in real output (community scripts); the others are
#: not documented and are the lab's.
JOB_COLUMNS = {"i": "JOBID", "o": "OPERATION", "s": "STATUS", "p": "PHASE", "r": "FAILURE REASON",
               "d": "DESCRIPTION", "c": "COMPLETE PERCENTAGE"}
DEFAULT_JOB_COLUMNS = "iospdc"
#: Job statuses of active jobs ("qlist job" lists only these unless -j names a job).
ACTIVE_STATUSES = ("Running", "Pending", "Waiting", "Queued", "Suspended", "Kill Pending", "Suspend Pending")
#: Exit codes of every q-command (Commvault V11 QCommand pages): usage failure, any other failure.
USAGE_FAILURE, OTHER_FAILURE = 1, 2


def _usage(command: str, message: str) -> tuple[list[str], int]:
    return [f"{command}: {message}"], USAGE_FAILURE


def _failure(entity: str, code: int, message: str) -> tuple[list[str], int]:
    """``<entity>: Error <code>: <description>``, the documented form (codes other than 0x268 are the lab's)."""
    return [f"{entity}: Error 0x{code:x}: {message}"], OTHER_FAILURE


def _job_cell(job: QRJob, code: str) -> str:
    return {"i": str(job.job_id), "o": job.job_type, "s": job.status, "p": job.phase,
            "r": job.failure or "", "d": "", "c": "100" if job.status == "Completed" else
            ("50" if job.phase == "Copy" else "0")}[code]


def qlist(cs: CommServe, args: list[str]) -> tuple[list[str], int]:
    """``qlist job``, ``qlist jobhistory``, and the lab's Quick Recovery read-backs.

    ``qlist job [-c CLIENT] [-j ID] [-co CODES] [-js STATUS]``: the active jobs (finished ones only
    when ``-j`` names them), one per line, "No jobs to display" when none; no ``-format`` option.
    ``qlist jobhistory -c CLIENT [-a AGENT] [-s SUBCLIENT] [-js Completed|Failed|Killed]
    [-dispJobTime|-dispJobTimeUnix]``: finished jobs ("No job history found"). That QR jobs appear
    in jobhistory is NOT DOCUMENTED (Commvault documents it for backup jobs): the lab assumes they do.
    ``qlist subclient -c CLIENT -a Q_QR -format xml``, ``qlist scratchpool``, ``qlist qrpolicy``: NOT
    DOCUMENTED anywhere for Quick Recovery; the lab's own read-backs (docs/design/commvault-requests.md).
    """
    if not args:
        return _usage("qlist", "missing entity (job, jobhistory, ...)")
    what = args[0].lower()
    try:
        if what == "job":
            options = _options(args[1:])
            unknown = set(options) - {"c", "j", "co", "js", "jt", "cs", "tf", "tk"}
            if unknown:
                return _usage("qlist job", f"unsupported option -{sorted(unknown)[0]}")
            jobs = cs.jobs
            if options.get("c"):
                client = cs.client(options["c"])
                jobs = [j for j in jobs if j.client.lower() == client.name.lower()]
            if options.get("j"):
                jobs = [j for j in jobs if str(j.job_id) == options["j"]]
            else:
                jobs = [j for j in jobs if j.status in ACTIVE_STATUSES]
            if options.get("js"):
                jobs = [j for j in jobs if j.status.lower() == options["js"].lower()]
            if not jobs:
                return ["No jobs to display"], 0
            codes = options.get("co") or DEFAULT_JOB_COLUMNS
            if any(code not in JOB_COLUMNS for code in codes):
                return _usage("qlist job", f"-co takes letters of {''.join(JOB_COLUMNS)}, not {codes!r}")
            return _table([JOB_COLUMNS[c] for c in codes], [[_job_cell(j, c) for c in codes] for j in jobs]), 0
        if what == "jobhistory":
            options = _options(args[1:], flags=("dispjobtime", "dispjobtimeunix"))
            if not options.get("c"):
                return _usage("qlist jobhistory", "missing -c <client>")
            client = cs.client(options["c"])
            jobs = [j for j in cs.jobs if j.client.lower() == client.name.lower() and j.status not in ACTIVE_STATUSES]
            if options.get("s"):
                jobs = [j for j in jobs if j.subclient.lower() == options["s"].lower()]
            if options.get("js"):
                jobs = [j for j in jobs if j.status.lower() == options["js"].lower()]
            if not jobs:
                return ["No job history found"], 0
            unix = "dispjobtimeunix" in options

            def when(moment: dt.datetime | None) -> str:
                return _epoch(moment) if unix else _shown(moment)
            return _table(["JOBID", "STATUS", "STORAGE POLICY", "APPTYPE", "BACKUPSET", "SUBCLIENT", "INSTANCE",
                           "START TIME", "END TIME"],
                          [[str(j.job_id), j.status, cs.subclient(j.client, j.subclient).policy, QR_APP_NAME,
                            "defaultBackupSet", j.subclient, "N/A", when(j.start_time), when(j.end_time)]
                           for j in sorted(jobs, key=lambda j: j.job_id)]), 0
        options = _options(args[1:])
        as_xml = options.get("format", "").lower() == "xml"
        if what == "subclient":
            client = cs.client(options.get("c", ""))
            agent = options.get("a", QR_AGENT_TYPE)
            if agent.lower() != QR_AGENT_TYPE.lower():
                return _failure("subclient", 0x1f4, f"Agent type [{agent}] is not installed on client [{client.name}].")
            subs = [s for s in cs.subclients.values() if s.client.lower() == client.name.lower()]
            if as_xml:
                return _xml_lines(subclients_xml(subs)), 0
            return _table(["SUBCLIENT NAME"], [[s.name] for s in subs]), 0
        if what == "scratchpool":
            pools = list(cs.pools.values())
            if as_xml:
                return _xml_lines(pools_xml(pools)), 0
            return _table(["SCRATCH POOL", "MEDIAAGENT", "VOLUMES"],
                          [[p.name, p.media_agent, ",".join(f"{c}:{v}" for c, v in p.volumes)] for p in pools]), 0
        if what == "qrpolicy":
            policies = list(cs.policies.values())
            if as_xml:
                return _xml_lines(policies_xml(policies)), 0
            return _table(["QR POLICY", "SNAP ENGINE", "COPY MANAGER", "SCRATCH POOL"],
                          [[p.name, p.snap_engine, p.copy_manager, p.scratch_pool] for p in policies]), 0
    except RequestError as exc:
        return _failure(what, 0x1f4 + exc.code, str(exc))
    return _usage("qlist", f"unknown entity [{args[0]}]")


#: The one error text Commvault documents ("qlogout: Error 0x268: User not logged in"), for any q-command.
NOT_LOGGED_IN = (0x268, "User not logged in")


def run_qcommand(cs: CommServe, program: str, args: list[str],
                 read_file: Callable[[str], str | None]) -> tuple[list[str], int]:
    """Run ``qlogin``/``qlogout``/``qoperation``/``qlist`` on the CommServe host: (output lines, exit code).

    Exit codes as Commvault documents for every q-command: 0 done, 1 a usage failure (an unsupported
    option, a missing argument), 2 any other failure, with ``<entity>: Error <code>: <description>``.
    ``read_file`` reads a file of the CommServe host (``qoperation execute -af FILE``). Passwords never
    appear in the output.
    """
    args = [str(arg) for arg in args]
    if program == "qlogin":
        options = _options(args, value_flags=("cs", "u", "clp", "ps"))
        if not options.get("clp") and not options.get("ps"):
            # qlogin prompts for the password; a remote session has no console to answer it.
            return _failure("qlogin", 0x1f5, "No password given (-clp or -ps) and no console to prompt on")
        if options.get("cs") and options["cs"].upper() != cs.name.upper():
            return _failure("qlogin", 0x1f6, f"Unable to connect to the CommServe [{options['cs']}]")
        if not cs.login(cs.name, options.get("u", ""), options.get("clp") or options.get("ps", "")):
            return _failure("qlogin", 0x1f7, "Invalid user name or password")
        return ["User logged in successfully."], 0
    if program == "qlogout":
        if cs.session_user is None:
            return _failure("qlogout", *NOT_LOGGED_IN)
        cs.session_user = None
        return ["User logged out successfully."], 0
    entity = args[0].lower() if args else program
    if cs.session_user is None:
        return _failure(entity if program == "qlist" else program, *NOT_LOGGED_IN)
    if program == "qlist":
        return qlist(cs, args)
    if program == "qoperation" and args and args[0].lower() == "jobcontrol":
        options = _options(args[1:])
        operation = options.get("o", "").lower()
        if operation not in ("kill", "suspend", "resume", "changepriority") or not options.get("j", "").isdigit():
            return _usage("qoperation jobcontrol", "usage: -j <job id> -o kill|suspend|resume|changepriority")
        if operation != "kill":
            return _failure("jobcontrol", 0x1f8, f"The lab's CommServe kills jobs only, it does not {operation} them")
        try:
            cs.kill_job(int(options["j"]))
        except RequestError as exc:
            return _failure("jobcontrol", 0x1f4 + exc.code, str(exc))
        return [], 0  # "If the operation is successful, no message is displayed"
    if program == "qoperation" and args and args[0].lower() == "execute":
        path = _options(args[1:]).get("af")
        if not path:
            return _usage("qoperation execute", "missing -af <file>")
        text = read_file(path)
        if text is None:
            return _failure("execute", 0x1f9, f"Cannot read the file [{path}]")
        reply = execute_request(cs, text)
        return _xml_lines(reply), OTHER_FAILURE if reply.get("errorCode", "0") != "0" else 0
    return _usage(program, "not a q-command this lab knows (qlogin, qlogout, qlist, qoperation execute|jobcontrol)")


def install_packages(port: Any, packages: list[str]) -> None:
    """Lab control: the Commvault packages a host has (registry keys the plugins test for)."""
    for package in packages:
        port.registry_set(f"{PACKAGES_KEY}\\{package}", {"Installed": 1})


# --------------------------------------------------------------------------- the lab's hosts

from .host import NativeOutput, native  # noqa: E402


def attach(host: Any, commserve: CommServe) -> CommServe:
    """Make a lab host the CommServe (``host.commvault``): the q-commands run there."""
    host.commvault = commserve
    return commserve


for_host = CommServe.for_host


def client_for(name: str, host: Any) -> Client:
    """A Commvault client backed by a lab host (files, registry, its Exchange state, power)."""
    from .exchange import ExchangeState, WindowsHostPort

    def exchange() -> Any:
        return host.exchange if isinstance(host.exchange, ExchangeState) else None

    return Client(name=name, port=WindowsHostPort(host), exchange=exchange, reachable=lambda: host.power == "on")


#: Packages by role, as seed step 2 and "Prepare the Standby Server" install them.
PRODUCTION_PACKAGES = ["QuickRecoveryAgent", "QSnap"]
STANDBY_PACKAGES = ["QuickRecoveryAgent", "QSnap", "MediaAgent"]


def configure_from_site(commserve: CommServe, site: Any) -> QRJob:
    """Lab control: Quick Recovery as qrdr's configure phase leaves it, without running it.

    The scratch pool of the standby's target volumes, the QR policy (the site's snap
    engine, the standby as copy manager), the subclient under production (Add App),
    each production volume mapped to its ``target_letter`` (mounted at
    ``standby_mount_point`` when set), the incremental schedule, and the QR
    Volume Creation job; names from ``site.quick_recovery``. Returns that job.
    Raises :class:`RequestError` with the CommServe's words when the site is not
    ready for it (e.g. the standby's volumes not partitioned yet, seed step 2.3).
    """
    qr = site.quick_recovery
    production = qr.production_client or site.production.name
    standby = qr.standby_client or site.standby.name
    commserve.create_scratch_pool(qr.scratch_pool, standby, [(standby, v.target_letter) for v in site.volumes])
    engine = "VSS" if site.snap_engine.lower() == "vss" else "QSnap"
    commserve.create_policy(qr.policy, engine, standby, qr.scratch_pool)
    subclient = commserve.create_subclient(production, qr.subclient, qr.policy, add_app=True, volumes=[])
    mappings = [VolumeMapping(v.letter, v.target_letter, v.standby_mount_point or v.target_letter)
                for v in site.volumes if _letter(v.letter) in subclient.content]
    commserve.map_volumes(production, qr.subclient, mappings)
    commserve.add_schedule(production, qr.subclient, Schedule("qrdr-incremental", "Incremental",
                                                              qr.incremental_schedule))
    return commserve.create_qr_volumes(production, qr.subclient)


def seed_site(site: Any, hosts: dict[str, Any], *, password: str, stuck_in_copy: bool = False,
              install_agents: bool = True) -> CommServe:
    """The CommServe of a site's lab: on the host with role commserve, the production and
    standby hosts as clients (``site.quick_recovery`` names them), the CommCell user
    ``quick_recovery.commcell_user`` with ``password``; the QR agents installed on both
    (VSS Enabler too when the site's snap engine is VSS) unless ``install_agents`` is False."""
    from .exchange import WindowsHostPort

    qr = site.quick_recovery
    commserve_host = hosts[site.host_key(site.commserve)]
    commserve = CommServe(commserve_host.name, {qr.commcell_user: password}, clock=commserve_host.now,
                          qr_update_stuck_in_copy=stuck_in_copy)
    attach(commserve_host, commserve)
    for host_model, client_name, packages in (
            (site.production, qr.production_client or site.production.name, PRODUCTION_PACKAGES),
            (site.standby, qr.standby_client or site.standby.name, STANDBY_PACKAGES)):
        lab_host = hosts[site.host_key(host_model)]
        commserve.add_client(client_for(client_name, lab_host))
        if install_agents:
            extra = ["VSSEnabler"] if site.snap_engine.lower() == "vss" and host_model is site.production else []
            install_packages(WindowsHostPort(lab_host), packages + extra)
            lab_host.components.update(packages + extra)
    return commserve


def _register_qcommand(program: str) -> None:
    @native(program)
    def handler(host: Any, arguments: list[str], _input: list[Any]) -> NativeOutput:
        """A q-command on the CommServe host. qoperation's XML reply is on stdout whatever its
        errorCode (the caller parses it); other failures go to stderr, with a non-zero exit code."""
        commserve = host.commvault
        if not isinstance(commserve, CommServe):
            return NativeOutput([], 1, [f"{program}: the Commvault command line is not installed on this host "
                                        "(run the q-commands on the CommServe)."])
        lines, code = run_qcommand(commserve, program, arguments, host.files.read_text)
        if code and not (program == "qoperation" and lines and lines[0].startswith("<")):
            return NativeOutput([], code, lines)
        return NativeOutput(lines, code)


for _program in ("qlogin", "qlogout", "qlist", "qoperation"):
    _register_qcommand(_program)
