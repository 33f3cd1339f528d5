"""The ``--json`` documents of qrdr's commands: one envelope, one vocabulary, a shipped schema each.

Every document is an object with ``schema_version`` (:data:`SCHEMA_VERSION`), ``kind`` (one of
:data:`SCHEMAS`, which names the JSON Schema shipped in ``qrdr/schemas/`` that it validates
against) and ``site`` (the site's name; ``null`` for an error before the site's config loaded).
The vocabulary, the same as the run report's (docs/cli.md, "JSON documents"):

- ids end in ``_id``: ``run_id``, ``step_id``;
- ``state`` is where the object it is in stands: a site's state, a run's outcome
  (``succeeded``, ``failed`` ...), a step's outcome in a run (``done``, ``no change`` ...) or
  in the journal (``applied``, ``undone`` ...); ``planned`` is a step's outcome in a plan;
- times end in ``_at`` and are ISO-8601 in UTC with their zone (the journal stores seconds
  since the epoch: they are converted here, at output); durations end in ``_seconds``;
- ``attempts`` is how many times a step was applied.

The Python API (:class:`qrdr.api.Runbook`) keeps its own objects; only the command line's
documents are built here.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Iterable

import attrs

from .engine.journal import RunRecord
from .report.model import iso

#: Bumped when a document's keys change in a way a reader must know about.
SCHEMA_VERSION = 1

#: kind -> the schema file in the ``qrdr.schemas`` package that a document of that kind validates against.
SCHEMAS: dict[str, str] = {
    "qrdr plan": "plan.schema.json",
    "qrdr check": "plan.schema.json",
    "qrdr run": "run.schema.json",
    "qrdr status": "status.schema.json",
    "qrdr history": "history.schema.json",
    "qrdr run detail": "run-detail.schema.json",
    "qrdr report written": "report-written.schema.json",
    "qrdr run report": "report.schema.json",
    "qrdr fleet check": "fleet-check.schema.json",
    "qrdr error": "error.schema.json",
    "qrdr lab up": "lab-up.schema.json",
    "qrdr lab status": "lab-status.schema.json",
    "qrdr lab fault": "lab-fault.schema.json",
    "qrdr lab down": "lab-down.schema.json",
}


def schema_text(kind: str) -> str:
    """The JSON Schema (draft 2020-12) of documents of ``kind``, as shipped with the package."""
    return resources.files("qrdr.schemas").joinpath(SCHEMAS[kind]).read_text(encoding="utf-8")


def document(kind: str, site: str | None, body: dict[str, Any]) -> dict[str, Any]:
    """The envelope every ``--json`` document has, around ``body``'s keys."""
    if kind not in SCHEMAS:
        raise ValueError(f"no schema for document kind {kind!r}")
    return {"schema_version": SCHEMA_VERSION, "kind": kind, "site": site, **body}


def error(site: str | None, name: str, message: str, code: int) -> dict[str, Any]:
    """An error as a document: ``error`` is its class (``ConfigError`` ...), ``exit`` the exit code."""
    return document("qrdr error", site, {"error": name, "message": message, "exit": code})


def run_record(record: Any) -> dict[str, Any] | None:
    """A journal run (:class:`qrdr.engine.journal.RunRecord`) in the documents' vocabulary."""
    if record is None:
        return None
    row = attrs.asdict(record)
    return {"run_id": row.pop("id"), "command": row.pop("command"), "state": row.pop("status"),
            "started_at": iso(row.pop("started_at")), "ended_at": iso(row.pop("ended_at")),
            "windows": {name: seconds for name, seconds in row.pop("windows").items()}, **row}


def step_record(record: Any) -> dict[str, Any]:
    """A journal step (:class:`qrdr.engine.journal.StepRecord`) in the documents' vocabulary."""
    row = attrs.asdict(record)
    row["attempts"] = row.pop("apply_count")
    row["started_at"], row["ended_at"] = iso(row["started_at"]), iso(row["ended_at"])
    return row


def event(row: dict[str, Any]) -> dict[str, Any]:
    """A journal event: its time as ISO-8601 UTC; ``kind`` is the event's kind (``start``, ``step`` ...)."""
    return {"run_id": row["run_id"], "at": iso(row["at"]), "step_id": row["step_id"], "kind": row["kind"],
            "message": row["message"]}


def plan(kind: str, site: str, planned: Any) -> dict[str, Any]:
    """``qrdr plan`` / ``qrdr check``: a :class:`qrdr.engine.runner.Plan` (its ``to_dict``)."""
    return document(kind, site, planned.to_dict())


def run_result(site: str, result: Any) -> dict[str, Any]:
    """A run command's outcome (:class:`qrdr.engine.runner.RunResult`, its ``to_dict``); the CLI adds ``report``."""
    return document("qrdr run", site, result.to_dict())


def status(shown: dict[str, Any]) -> dict[str, Any]:
    """``qrdr status``: :meth:`qrdr.api.Runbook.status`'s dict in the documents' vocabulary."""
    return document("qrdr status", shown["site"], {
        "state": shown["state"], "since_at": iso(shown["since"]), "run_id": shown["run"],
        "unfinished": run_record_dict(shown["unfinished"]), "known": list(shown["known"]), "next": shown["next"],
        "cleaned": list(shown["cleaned"]), "failed_over": shown["failed_over"], "busy": shown["busy"],
        "resumable": run_record_dict(shown["resumable"]),
        "last_runs": [run_record_dict(run) for run in shown["last_runs"]],
        "last_check": run_record_dict(shown["last_check"]), "facts": shown["facts"]})


def run_record_dict(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A run already turned into a dict (``attrs.asdict`` of a RunRecord), in the documents' vocabulary."""
    return None if row is None else run_record(RunRecord(**row))


def fleet_check(checked: Any) -> dict[str, Any]:
    """``qrdr fleet check``: a :class:`qrdr.fleet.FleetCheck` (its ``to_dict``). ``site`` is null:
    the document is of many sites, and each object in ``sites`` names its own."""
    return document("qrdr fleet check", None, checked.to_dict())


def history(site: str, runs: Iterable[Any]) -> dict[str, Any]:
    """``qrdr history``: the runs, newest first."""
    return document("qrdr history", site, {"runs": [run_record(run) for run in runs]})


def run_detail(site: str, record: Any, steps: Iterable[Any], events: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``qrdr history --run N``: one run, its steps and its events."""
    return document("qrdr run detail", site, {"run": run_record(record), "steps": [step_record(s) for s in steps],
                                              "events": [event(e) for e in events]})


__all__ = ["SCHEMAS", "SCHEMA_VERSION", "document", "error", "event", "fleet_check", "history", "plan", "run_detail",
           "run_record", "run_result", "schema_text", "status", "step_record"]
