"""A run's report, built only from the site's journal.

:func:`build_report` reads the rows of one run (and of the runs chained to it by
``runs.resumed_from``), their steps and events and the measured windows the engine
keeps in the ``_window`` fact, and turns them into one plain dict: the JSON report,
and what the HTML template renders. Nothing else is consulted (no config, no
host), so ``qrdr report`` can rebuild any run's report long after the run, on any
machine holding the journal file.

The dict's vocabulary (the JSON report's keys, :data:`SCHEMA_VERSION`):

* ids end in ``_id`` (``run_id``, ``step_id``); a run's and a step's outcome is its ``state``;
* times end in ``_at`` and are ISO-8601 in UTC with their zone (``2026-12-02T06:08:04.123+00:00``);
* durations end in ``_seconds`` (numbers);
* lists of text lines are ``changes``; plugin evidence is ``evidence`` (JSON, masked).

Every text passes through :func:`qrdr.secrets.mask_value` before it is returned (the
journal masks on writing too; this catches a secret seen by the process building the
report that an older qrdr did not mask).

The ``source.sha256`` digest is over the journal rows read, exactly as stored, in a
canonical JSON form (:func:`journal_digest`): anyone holding the journal can recompute
it and see the report was built from those rows and nothing else.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

from .. import __version__
from ..secrets import mask_value
from ..steps import MAIL_FLOWING, PRODUCTION_OUTAGE, WAITED_EVIDENCE, WINDOW_FACT

#: Bumped when a key changes meaning or goes away (adding keys keeps the version).
SCHEMA_VERSION = 1

#: The probe whose evidence holds the recovery point a promote starts from (plugins/common/snap.py).
RECOVERY_POINT_PROBE = ".last-update-complete"

#: Event kinds that begin a process's work on a run; "session" is written by the journal itself.
_SESSION_KINDS = ("session",)
_CONFIRMED = re.compile(r"^(?P<step>\S+) done by hand, confirmed by (?P<by>\S+) \((?P<how>.*)\)$")
_SESSION = re.compile(r"^(?P<by>\S+) pid (?P<pid>\d+) qrdr (?P<version>\S+)$")


class ReportError(Exception):
    """The report cannot be built: no journal, no such run."""


def iso(timestamp: float | None) -> str | None:
    """A journal time (seconds since the epoch) as ISO-8601 in UTC with its zone; None stays None."""
    if timestamp is None:
        return None
    return _dt.datetime.fromtimestamp(timestamp, _dt.timezone.utc).isoformat(timespec="milliseconds")


def _seconds(start: float | None, end: float | None) -> float | None:
    return round(end - start, 3) if start is not None and end is not None else None


def _connect(path: Path) -> sqlite3.Connection:
    """Read-only: building a report never creates a journal nor changes one (a run may be writing it)."""
    if not path.exists():
        raise ReportError(f"no journal at {path}: no run has been journaled for this site here")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    db.row_factory = sqlite3.Row
    return db


def _rows(db: sqlite3.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in db.execute(sql, args).fetchall()]


def journal_digest(rows: dict[str, list[dict[str, Any]]]) -> str:
    """SHA-256 of the rows (table name -> rows as stored) in canonical JSON: keys sorted, no spaces,
    tables in name order, rows in the order given (runs and events by id, steps by run and seq)."""
    canonical = json.dumps({table: rows[table] for table in sorted(rows)}, sort_keys=True,
                           separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _chain(db: sqlite3.Connection, run_id: int) -> list[dict[str, Any]]:
    """The run and every run chained to it by ``resumed_from`` (back to the first, on to the last), oldest first."""
    first = _rows(db, "SELECT * FROM runs WHERE id = ?", run_id)
    if not first:
        raise ReportError(f"no run {run_id} in the journal")
    chain = first
    while chain[0]["resumed_from"] is not None:
        earlier = _rows(db, "SELECT * FROM runs WHERE id = ?", chain[0]["resumed_from"])
        if not earlier or earlier[0]["id"] in {r["id"] for r in chain}:
            break
        chain = earlier + chain
    while True:
        later = _rows(db, "SELECT * FROM runs WHERE resumed_from = ? ORDER BY id LIMIT 1", chain[-1]["id"])
        if not later or later[0]["id"] in {r["id"] for r in chain}:
            break
        chain = chain + later
    return chain


def last_run_id(journal_path: str | Path) -> int:
    """The newest run of the journal (what ``qrdr report`` shows without ``--run``)."""
    db = _connect(Path(journal_path))
    try:
        row = db.execute("SELECT max(id) FROM runs").fetchone()
    finally:
        db.close()
    if row is None or row[0] is None:
        raise ReportError(f"the journal {journal_path} has no run yet")
    return int(row[0])


def build_report(journal_path: str | Path, run_id: int | None = None) -> dict[str, Any]:
    """The report of run ``run_id`` (default: the newest run) from the journal at ``journal_path``.

    Returns the JSON report (see the module docstring for its keys). Raises :class:`ReportError`
    when there is no journal or no such run. Reads only; never writes to the journal.
    """
    path = Path(journal_path)
    if run_id is None:
        run_id = last_run_id(path)
    db = _connect(path)
    try:
        runs = _chain(db, run_id)
        ids = [run["id"] for run in runs]
        marks = ",".join("?" * len(ids))
        steps = _rows(db, f"SELECT * FROM steps WHERE run_id IN ({marks}) ORDER BY run_id, seq", *ids)
        events = _rows(db, f"SELECT * FROM events WHERE run_id IN ({marks}) ORDER BY id", *ids)
        facts = _rows(db, "SELECT * FROM facts WHERE key = ?", WINDOW_FACT)
    finally:
        db.close()
    digest = journal_digest({"runs": runs, "steps": steps, "events": events, "facts": facts})
    window_times = json.loads(facts[0]["value"]) if facts else {}
    report = _assemble(run_id, runs, steps, events, window_times)
    report["source"] = {
        "journal": str(path), "sha256": digest, "algorithm": "sha256 of canonical JSON rows (qrdr.report.model)",
        "rows": {"runs": len(runs), "steps": len(steps), "events": len(events), "facts": len(facts)},
    }
    return mask_value(report)


def _window_list(run: dict[str, Any], window_times: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's measured windows: the seconds the engine recorded on the run, with their start and
    end from the ``_window`` fact where it still holds them."""
    measured = json.loads(run["windows"] or "{}")
    times = window_times.get(str(run["id"]), {})
    shown = []
    for name, seconds in measured.items():
        span = times.get(name, {})
        shown.append({"name": name, "run_id": run["id"], "seconds": seconds,
                      "started_at": iso(span.get("start")), "ended_at": iso(span.get("end")),
                      "_start": span.get("start"), "_end": span.get("end")})
    return shown


def _waits_in(window: dict[str, Any], steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The window set against its critical path: the unavoidable waits (restarts, installers) that
    the steps applied inside it noted (``evidence["waited"]``: qrdr.steps.StepContext.waited), per
    kind, and what is left of the window: qrdr's own time (checks, commands, polling). Empty when
    the window's ends are no longer known."""
    if window["_start"] is None or window["_end"] is None:
        return {}
    kinds: dict[str, float] = {}
    for step in steps:
        end = step["_end"] or step["_start"]
        waited = step["evidence"].get(WAITED_EVIDENCE) if isinstance(step["evidence"], dict) else None
        if step["_start"] is None or not waited or end < window["_start"] or step["_start"] > window["_end"]:
            continue
        for kind, seconds in waited.items():
            kinds[kind] = round(kinds.get(kind, 0.0) + float(seconds), 2)
    unavoidable = round(sum(kinds.values()), 2)
    return {"unavoidable_waits": kinds, "unavoidable_seconds": unavoidable,
            "qrdr_seconds": round(max(0.0, window["seconds"] - unavoidable), 2)}


def _sessions(events: list[dict[str, Any]], runs_by_id: dict[int, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each process that worked on the chain's runs: who, which process and qrdr, when it began and how
    it ended (the next ``end`` event of its run). Runs journaled before sessions were recorded get one
    session from the run row (its last process's host and pid)."""
    sessions: list[dict[str, Any]] = []
    open_by_run: dict[int, dict[str, Any]] = {}
    for event in events:
        run_id = event["run_id"]
        if event["kind"] in _SESSION_KINDS:
            found = _SESSION.match(event["message"])
            session = {"run_id": run_id, "operator": found["by"] if found else event["message"],
                       "pid": int(found["pid"]) if found else None,
                       "qrdr_version": found["version"] if found else None,
                       "started_at": iso(event["at"]), "ended_at": None, "state": None, "how": None}
            sessions.append(session)
            open_by_run[run_id] = session
        elif event["kind"] in ("start", "resume", "rollback") and run_id in open_by_run:
            open_by_run[run_id]["how"] = event["kind"]
        elif event["kind"] == "end" and run_id in open_by_run:
            session = open_by_run.pop(run_id)
            session["ended_at"] = iso(event["at"])
            session["state"] = _end_state(event["message"], runs_by_id[run_id]["command"])
    for run_id, run in runs_by_id.items():
        if not any(s["run_id"] == run_id for s in sessions):
            sessions.append({"run_id": run_id, "operator": run.get("operator") or f"?@{run['hostname']}",
                             "pid": run["pid"], "qrdr_version": None, "started_at": iso(run["started_at"]),
                             "ended_at": iso(run["ended_at"]), "state": run["status"], "how": "start"})
    for session in sessions:  # a session with no end event: refused, not confirmed, or the process died
        if session["state"] is None:
            run = runs_by_id[session["run_id"]]
            last = session is [s for s in sessions if s["run_id"] == session["run_id"]][-1]
            session["state"] = run["status"] if last else "ended without an end event (process died)"
            if last and run["status"] not in ("running",):
                session["ended_at"] = session["ended_at"] or iso(run["ended_at"])
    return sessions


def _end_state(message: str, command: str) -> str:
    """The run state an ``end`` event names ("promote failed: ...", "rollback of configure rolled back: ...")."""
    head = message.split(":", 1)[0]
    for prefix in (f"rollback of {command} ", f"{command} "):
        if head.startswith(prefix):
            return head[len(prefix):]
    return head


def _confirmations(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Who confirmed what and when: manual steps confirmed done, overrides given, rollbacks ordered."""
    shown = []
    for event in events:
        if event["kind"] == "confirmed":
            found = _CONFIRMED.match(event["message"])
            shown.append({"run_id": event["run_id"], "at": iso(event["at"]), "kind": "manual step done",
                          "step_id": event["step_id"], "by": found["by"] if found else None,
                          "how": found["how"] if found else None, "message": event["message"]})
        elif event["kind"] == "approved":
            data = _data(event)
            shown.append({"run_id": event["run_id"], "at": iso(event["at"]), "kind": "plan approved",
                          "step_id": None, "by": data.get("by"), "how": data.get("how"),
                          "plan_digest": data.get("plan_digest"), "message": event["message"]})
        elif event["kind"] in ("override", "rollback", "site lock"):
            by = re.search(r" by (\S+@\S+)", event["message"])
            shown.append({"run_id": event["run_id"], "at": iso(event["at"]), "kind": event["kind"],
                          "step_id": event["step_id"], "by": by[1].rstrip(":,") if by else None,
                          "how": None, "message": event["message"]})
    return shown


def _data(event: dict[str, Any]) -> dict[str, Any]:
    """An event's ``data`` (JSON in the journal; none in journals older than the column)."""
    raw = event.get("data")
    found = json.loads(raw) if isinstance(raw, str) and raw else raw
    return found if isinstance(found, dict) else {}


def _readiness(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The readiness checks (probes) each run made before it changed anything, with their evidence
    (a journal older than events' data has only the event's words: "<state>: <lines>")."""
    checks = []
    for event in events:
        if event["kind"] != "probe":
            continue
        data = _data(event)
        state, _, lines = event["message"].partition(":")
        checks.append({"run_id": event["run_id"], "at": iso(event["at"]), "step_id": event["step_id"],
                       "state": data.get("state") or state, "changes": data.get("lines") or [lines.strip()],
                       "evidence": data.get("evidence")})
    return checks


def _targets(events: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The site's targets as the newest run of the chain journaled them (None: none set)."""
    found = [_data(e) for e in events if e["kind"] == "targets"]
    return {"rto_minutes": found[-1].get("rto_minutes"), "rpo_minutes": found[-1].get("rpo_minutes")} if found else None


def _against(seconds: float | None, target_minutes: float | None) -> dict[str, Any]:
    """A figure's target in seconds and whether it was met (None: no target, or no figure)."""
    if target_minutes is None:
        return {"target_seconds": None, "met": None}
    target = target_minutes * 60
    return {"target_seconds": target, "met": None if seconds is None else seconds <= target}


def _rpo(runs: list[dict[str, Any]], readiness: list[dict[str, Any]], targets: dict[str, Any] | None
         ) -> dict[str, Any] | None:
    """The RPO a promote achieved: from the recovery point its readiness check found (the start of
    the last complete QR update) to the promote's start. None for a chain without a promote."""
    promote = next((r for r in runs if r["command"] == "promote"), None)
    if promote is None:
        return None
    found = [c for c in readiness if c["run_id"] == promote["id"] and (c["step_id"] or "").endswith(RECOVERY_POINT_PROBE)
             and isinstance(c["evidence"], dict) and c["evidence"].get("recovery_point")]
    if not found:
        return None
    point = _dt.datetime.fromisoformat(found[0]["evidence"]["recovery_point"])
    seconds = round(promote["started_at"] - point.timestamp(), 1)
    return {"recovery_point_at": iso(point.timestamp()), "promote_started_at": iso(promote["started_at"]),
            "seconds": seconds, **_against(seconds, (targets or {}).get("rpo_minutes"))}


def _applied(step: dict[str, Any]) -> bool:
    """Whether the step changed something or was done by hand: applied at least once, or done."""
    return step["apply_count"] > 0 or step["state"] == "done"


def _assemble(run_id: int, runs: list[dict[str, Any]], steps: list[dict[str, Any]], events: list[dict[str, Any]],
              window_times: dict[str, Any]) -> dict[str, Any]:
    runs_by_id = {run["id"]: run for run in runs}
    asked = runs_by_id[run_id]
    last = runs[-1]
    windows = [w for run in runs for w in _window_list(run, window_times)]
    step_list = [{
        "run_id": s["run_id"], "seq": s["seq"], "step_id": s["step_id"], "title": s["title"], "phase": s["phase"],
        "plugin": s["plugin"], "target": s["target"], "idempotent": bool(s["idempotent"]),
        "destructive": bool(s["destructive"]), "planned": s["planned"], "state": s["state"],
        "started_at": iso(s["started_at"]), "ended_at": iso(s["ended_at"]),
        "duration_seconds": _seconds(s["started_at"], s["ended_at"]), "attempts": s["apply_count"],
        "applied": _applied(s), "changes": json.loads(s["changes"] or "[]"),
        "evidence": json.loads(s["evidence"]) if s["evidence"] else None, "error": s["error"],
        "_start": s["started_at"], "_end": s["ended_at"],
    } for s in steps]
    for window in windows:
        window.update(_waits_in(window, step_list))
    counts: dict[str, int] = {}
    for step in step_list:
        counts[step["state"]] = counts.get(step["state"], 0) + 1

    def figure(name: str) -> dict[str, Any] | None:
        found = [w for w in windows if w["name"] == name]
        return {k: v for k, v in found[-1].items() if not k.startswith("_")} if found else None

    targets = _targets(events)
    readiness = _readiness(events)
    rto = figure(MAIL_FLOWING)
    if rto is not None:
        rto.update(_against(rto.get("seconds"), (targets or {}).get("rto_minutes")))

    report = {
        "schema_version": SCHEMA_VERSION,
        "kind": "qrdr run report",
        "qrdr_version": __version__,
        "generated_at": iso(_dt.datetime.now(_dt.timezone.utc).timestamp()),
        "site": asked["site"],
        "run_id": run_id,
        # The story's outcome is the last run's state: a failed run resumed to success succeeded.
        "state": last["status"],
        "message": last["message"],
        "command": asked["command"],
        "phases": json.loads(asked["phases"]),
        "plugins": json.loads(asked["plugins"]),
        "scope": asked.get("scope"),
        "operator": asked.get("operator"),
        "started_at": iso(runs[0]["started_at"]),
        "ended_at": iso(last["ended_at"]),
        "duration_seconds": _seconds(runs[0]["started_at"], last["ended_at"]),
        "chain": [{"run_id": r["id"], "command": r["command"], "state": r["status"], "resumed_from": r["resumed_from"],
                   "operator": r.get("operator"), "hostname": r["hostname"], "started_at": iso(r["started_at"]),
                   "ended_at": iso(r["ended_at"]), "message": r["message"]} for r in runs],
        "sessions": _sessions(events, runs_by_id),
        "confirmations": _confirmations(events),
        "windows": [{k: v for k, v in w.items() if not k.startswith("_")} for w in windows],
        "targets": targets,
        "rto": rto,
        "rpo": _rpo(runs, readiness, targets),
        "outage": figure(PRODUCTION_OUTAGE),
        "readiness": readiness,
        "step_counts": counts,
        "steps": [{k: v for k, v in s.items() if not k.startswith("_")} for s in step_list],
        "events": [{"run_id": e["run_id"], "at": iso(e["at"]), "step_id": e["step_id"], "kind": e["kind"],
                    "message": e["message"]} for e in events],
    }
    report["timeline"] = _timeline(step_list, windows, events, runs, targets)
    return report


def _timeline(steps: list[dict[str, Any]], windows: list[dict[str, Any]], events: list[dict[str, Any]],
              runs: list[dict[str, Any]], targets: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the picture draws, in seconds from the chain's start: one lane per target host (in the
    order hosts first appear), one bar per step that ran (was checked at least once), the measured
    windows, the moments a process took the run up again (resumes), and where the RTO target
    falls (``rto_target``: the RTO window's start plus the target; None without either)."""
    origin = runs[0]["started_at"]
    ran = [s for s in steps if s["_start"] is not None]
    ends = [s["_end"] or s["_start"] for s in ran] + [r["ended_at"] or r["started_at"] for r in runs]
    ends += [w["_end"] for w in windows if w["_end"]]
    total = max([e - origin for e in ends] + [0.001])
    lanes: list[str] = []
    for step in ran:
        if step["target"] not in lanes:
            lanes.append(step["target"])
    bars = [{"step_id": s["step_id"], "run_id": s["run_id"], "lane": lanes.index(s["target"]), "target": s["target"],
             "state": s["state"], "applied": s["applied"], "start_seconds": round(s["_start"] - origin, 3),
             "end_seconds": round((s["_end"] or s["_start"]) - origin, 3), "started_at": s["started_at"],
             "ended_at": s["ended_at"], "attempts": s["attempts"]} for s in ran]
    spans = [{"name": w["name"], "start_seconds": round(w["_start"] - origin, 3),
              "end_seconds": round(w["_end"] - origin, 3), "seconds": w["seconds"]}
             for w in windows if w["_start"] is not None and w["_end"] is not None]
    resumes = [{"at": iso(e["at"]), "at_seconds": round(e["at"] - origin, 3), "kind": e["kind"]}
               for e in events if e["kind"] in ("resume", "rollback")]
    rto_window = [w for w in windows if w["name"] == MAIL_FLOWING and w["_start"] is not None]
    rto_minutes = (targets or {}).get("rto_minutes")
    rto_target = None
    if rto_window and rto_minutes is not None:
        rto_target = {"at_seconds": round(rto_window[-1]["_start"] - origin + rto_minutes * 60, 3),
                      "target_seconds": rto_minutes * 60}
    return {"total_seconds": round(total, 3), "lanes": lanes, "bars": bars, "windows": spans, "resumes": resumes,
            "waits": _waits(events, ran, lanes, origin, total), "rto_target": rto_target}


def _waits(events: list[dict[str, Any]], ran: list[dict[str, Any]], lanes: list[str], origin: float,
           total: float) -> list[dict[str, Any]]:
    """Time spent waiting for a person: from the first time a manual step asked for them (its
    ``manual`` event) to their confirmation, or else to the next process taking the run up (a
    ``qrdr resume`` whose check found the step done needs no confirmation), or else to the end of
    the picture (still waiting)."""
    target = {s["step_id"]: s["target"] for s in ran}
    waits: dict[str, dict[str, Any]] = {}
    for event in events:
        step_id = event["step_id"]
        if event["kind"] in _SESSION_KINDS:
            for wait in waits.values():
                if wait["run_id"] == event["run_id"] and wait["end_seconds"] is None and "_resumed" not in wait:
                    wait["_resumed"] = round(event["at"] - origin, 3)
            continue
        if step_id not in target:
            continue
        if event["kind"] == "manual" and step_id not in waits:
            waits[step_id] = {"step_id": step_id, "run_id": event["run_id"], "lane": lanes.index(target[step_id]),
                              "start_seconds": round(event["at"] - origin, 3), "end_seconds": None,
                              "confirmed_at": None, "ended_by": None}
        elif event["kind"] == "confirmed" and step_id in waits and waits[step_id]["end_seconds"] is None:
            waits[step_id]["end_seconds"] = round(event["at"] - origin, 3)
            waits[step_id]["confirmed_at"] = iso(event["at"])
            waits[step_id]["ended_by"] = "confirmed"
    for wait in waits.values():
        resumed = wait.pop("_resumed", None)
        if wait["end_seconds"] is None and resumed is not None:
            wait["end_seconds"], wait["ended_by"] = resumed, "the run taken up again"
        elif wait["end_seconds"] is None:
            wait["end_seconds"], wait["ended_by"] = round(total, 3), "still waiting"
        wait["seconds"] = round(wait["end_seconds"] - wait["start_seconds"], 3)
    return list(waits.values())
