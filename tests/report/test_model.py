"""The report model (qrdr.report.build_report) against the journal it is built from: no servers."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3

import pytest

from qrdr import __version__
from qrdr.engine.journal import Journal, operator
from qrdr.report import ReportError, build_report, journal_digest, render_json

from qrdr.report.render import render_html

from .conftest import (SECRET, STORY_RECOVERY_POINT_AGE_SECONDS, STORY_RESTART_SECONDS, STORY_SETUP_SECONDS,
                       journal_rows)


def utc(text: str) -> dt.datetime:
    """An ISO-8601 time the report wrote; it must carry its zone, and the zone must be UTC."""
    parsed = dt.datetime.fromisoformat(text)
    assert parsed.utcoffset() == dt.timedelta(0), text
    return parsed


def same_time(written: str | None, journaled: float | None) -> bool:
    """The report's ISO time is the journal's (seconds since the epoch), to the millisecond it shows."""
    if written is None or journaled is None:
        return written is None and journaled is None
    return abs(utc(written) - dt.datetime.fromtimestamp(journaled, dt.timezone.utc)) < dt.timedelta(milliseconds=1)


def test_every_step_of_the_journal_is_in_the_report_as_journaled(journaled_story):
    run, steps, _ = journal_rows(journaled_story.journal, journaled_story.run_id)
    report = build_report(journaled_story.journal, journaled_story.run_id)
    shown = [(s["step_id"], s["target"], s["planned"], s["state"], s["attempts"], s["changes"]) for s in report["steps"]]
    assert shown == [(s.step_id, s.target, s.planned, s.state, s.apply_count, s.changes) for s in steps]
    for row, step in zip(steps, report["steps"]):
        # The journal's times to the millisecond, in UTC with the zone written out.
        for journaled, written in ((row.started_at, step["started_at"]), (row.ended_at, step["ended_at"])):
            assert same_time(written, journaled)
    assert [s["state"] for s in report["steps"]] == ["done", "done", "done", "no change", "done", "done"]
    assert report["state"] == run.status == "succeeded"
    assert (report["site"], report["command"], report["phases"]) == ("contoso", "promote", ["promote"])
    assert report["plugins"] == run.plugins == ["addon:story"]


def test_the_failed_attempt_is_kept_with_its_error_and_the_step_applied_twice(journaled_story):
    report = build_report(journaled_story.journal)
    attach = next(s for s in report["steps"] if s["step_id"] == "t.attach")
    # Applied once when it failed and once after the resume; the journal keeps the latest error only
    # in the events (the step row's error is the last one set).
    assert attach["attempts"] == 2
    failed = [e for e in report["events"] if e["kind"] == "failed" and e["step_id"] == "t.attach"]
    assert len(failed) == 1 and "the standby refused the login" in failed[0]["message"]


def test_the_sessions_say_who_worked_on_the_run_and_how_each_ended(journaled_story):
    report = build_report(journaled_story.journal)
    assert report["operator"] == operator()
    assert [(s["how"], s["state"]) for s in report["sessions"]] == [
        ("start", "failed"), ("resume", "waiting"), ("resume", "succeeded")]
    assert {s["operator"] for s in report["sessions"]} == {operator()}
    assert {s["qrdr_version"] for s in report["sessions"]} == {__version__}
    assert [r["kind"] for r in report["timeline"]["resumes"]] == ["resume", "resume"]


def test_who_confirmed_the_manual_step_and_when(journaled_story):
    report = build_report(journaled_story.journal)
    (confirmed,) = [c for c in report["confirmations"] if c["kind"] == "manual step done"]
    assert (confirmed["step_id"], confirmed["by"], confirmed["how"]) == ("t.safe-mode", operator(), "--done t.safe-mode")
    _, _, events = journal_rows(journaled_story.journal, journaled_story.run_id)
    (event,) = [e for e in events if e["kind"] == "confirmed"]
    assert same_time(confirmed["at"], event["at"])


def test_the_measured_windows_are_the_runs_windows(journaled_story):
    run, _, _ = journal_rows(journaled_story.journal, journaled_story.run_id)
    report = build_report(journaled_story.journal)
    assert set(run.windows) == {"mail flowing", "production outage"}
    assert report["rto"]["seconds"] == run.windows["mail flowing"]
    assert report["outage"]["seconds"] == run.windows["production outage"]
    # The RTO runs from the promote's start (the run's first session) to the step that closed it.
    assert utc(report["rto"]["started_at"]) <= utc(report["steps"][0]["started_at"])
    assert utc(report["rto"]["ended_at"]) >= utc(report["steps"][-1]["started_at"])
    assert {w["name"]: w["seconds"] for w in report["windows"]} == run.windows


def test_each_window_is_set_against_the_waits_its_steps_noted(journaled_story):
    report = build_report(journaled_story.journal)
    steps = {s["step_id"]: s for s in report["steps"]}
    assert steps["t.start-production"]["evidence"]["waited"] == {"setup": STORY_SETUP_SECONDS}
    assert steps["t.mail"]["evidence"]["waited"] == {"restart": STORY_RESTART_SECONDS}
    # The outage holds the installer run only; the restart came after production was back.
    outage = report["outage"]
    assert outage["unavoidable_waits"] == {"setup": STORY_SETUP_SECONDS}
    assert outage["unavoidable_seconds"] == STORY_SETUP_SECONDS
    assert outage["qrdr_seconds"] == round(outage["seconds"] - STORY_SETUP_SECONDS, 2)
    rto = report["rto"]
    assert rto["unavoidable_waits"] == {"setup": STORY_SETUP_SECONDS, "restart": STORY_RESTART_SECONDS}
    assert rto["qrdr_seconds"] == round(rto["seconds"] - STORY_SETUP_SECONDS - STORY_RESTART_SECONDS, 2)


def test_the_timeline_has_a_lane_per_host_and_a_bar_per_step_that_ran(journaled_story):
    timeline = build_report(journaled_story.journal)["timeline"]
    assert timeline["lanes"] == ["production", "standby", "local"]
    assert [b["step_id"] for b in timeline["bars"]] == ["t.stop-production", "t.attach", "t.safe-mode", "t.ticket",
                                                        "t.start-production", "t.mail"]
    assert [b["applied"] for b in timeline["bars"]] == [True, True, True, False, True, True]
    assert all(0 <= b["start_seconds"] <= b["end_seconds"] <= timeline["total_seconds"] for b in timeline["bars"])


def test_every_time_in_the_json_report_is_utc_with_its_zone(journaled_story):
    document = json.loads(render_json(build_report(journaled_story.journal)))
    times = []

    def walk(value, key=""):
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, k)
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif key == "at" or key.endswith("_at"):
            times.append(value)

    walk(document)
    assert len(times) > 20
    for value in times:
        assert value is None or utc(value)
    assert document["schema_version"] == 1 and document["site"] == "contoso"
    # One vocabulary: no journal column names leak through (apply_count, status, id).
    keys = set()

    def all_keys(value):
        if isinstance(value, dict):
            keys.update(value)
            [all_keys(v) for v in value.values()]
        elif isinstance(value, list):
            [all_keys(v) for v in value]

    all_keys(document)
    assert not keys & {"apply_count", "status", "id", "ended", "started"}


def test_no_secret_reaches_the_report(journaled_story):
    text = render_json(build_report(journaled_story.journal))
    assert SECRET not in text
    assert "********" in text  # the failure message and the evidence named it: masked, not dropped


def test_the_digest_is_of_the_journal_rows_and_changes_when_one_does(journaled_story, tmp_path):
    report = build_report(journaled_story.journal)
    with sqlite3.connect(journaled_story.journal) as db:
        db.row_factory = sqlite3.Row
        rows = {"runs": [dict(r) for r in db.execute("SELECT * FROM runs ORDER BY id")],
                "steps": [dict(r) for r in db.execute("SELECT * FROM steps ORDER BY run_id, seq")],
                "events": [dict(r) for r in db.execute("SELECT * FROM events ORDER BY id")],
                "facts": [dict(r) for r in db.execute("SELECT * FROM facts WHERE key = '_window'")]}
    assert report["source"]["sha256"] == journal_digest(rows)
    assert report["source"]["rows"] == {"runs": 1, "steps": 6, "events": len(rows["events"]), "facts": 1}
    edited = tmp_path / "edited.sqlite"
    shutil.copy(journaled_story.journal, edited)
    for suffix in ("-wal", "-shm"):  # WAL mode: the newest rows may still be in the -wal file
        if journaled_story.journal.with_name(journaled_story.journal.name + suffix).exists():
            shutil.copy(journaled_story.journal.with_name(journaled_story.journal.name + suffix),
                        edited.with_name(edited.name + suffix))
    assert build_report(edited)["source"]["sha256"] == report["source"]["sha256"]
    with sqlite3.connect(edited) as db:
        db.execute("UPDATE events SET message = 'nothing happened' WHERE kind = 'confirmed'")
    assert build_report(edited)["source"]["sha256"] != report["source"]["sha256"]


def test_runs_chained_by_resumed_from_are_one_story(tmp_path):
    journal = Journal(tmp_path / "site.journal.sqlite")
    first = journal.start_run("lab", "promote", ["promote"], ["exchange:exchange2003"])
    journal.add_steps(first, [{"id": "a", "phase": "promote", "plugin": "x", "title": "A", "target": "standby",
                               "idempotent": True, "destructive": False, "planned": "will change"}])
    journal.set_step(first, "a", "checking")
    journal.set_step(first, "a", "failed", error="no answer")
    journal.end_run(first, "failed", "step a failed")
    second = journal.start_run("lab", "promote", ["promote"], ["exchange:exchange2003"], resumed_from=first)
    journal.add_steps(second, [{"id": "a", "phase": "promote", "plugin": "x", "title": "A", "target": "standby",
                                "idempotent": True, "destructive": False, "planned": "will change"}])
    journal.set_step(second, "a", "checking")
    journal.set_step(second, "a", "done")
    journal.end_run(second, "succeeded", windows={"mail flowing": 12.5})
    unrelated = journal.start_run("lab", "cleanup", ["cleanup"], [])
    journal.end_run(unrelated, "succeeded")
    journal.close()
    for asked in (first, second):
        report = build_report(tmp_path / "site.journal.sqlite", asked)
        assert [(c["run_id"], c["state"], c["resumed_from"]) for c in report["chain"]] == [
            (first, "failed", None), (second, "succeeded", first)]
        assert [(s["run_id"], s["state"]) for s in report["steps"]] == [(first, "failed"), (second, "done")]
        assert report["state"] == "succeeded" and report["rto"]["seconds"] == 12.5
    assert [c["run_id"] for c in build_report(tmp_path / "site.journal.sqlite")["chain"]] == [unrelated]


def test_no_journal_or_no_such_run_is_said_and_nothing_is_created(tmp_path, journaled_story):
    missing = tmp_path / "none.journal.sqlite"
    with pytest.raises(ReportError, match="no journal"):
        build_report(missing)
    assert not missing.exists()
    with pytest.raises(ReportError, match="no run 99"):
        build_report(journaled_story.journal, 99)


def test_a_journal_from_before_operators_were_recorded_still_gives_a_report(journaled_story):
    """Journals written by an older qrdr have no runs.operator and no session events: the report says
    the operator is not recorded and shows the run's last process from its row; nothing is invented."""
    with sqlite3.connect(journaled_story.journal) as db:
        db.execute("ALTER TABLE runs DROP COLUMN operator")
        db.execute("DELETE FROM events WHERE kind = 'session'")
    report = build_report(journaled_story.journal)
    assert report["operator"] is None
    (session,) = report["sessions"]
    assert (session["state"], session["qrdr_version"]) == ("succeeded", None)
    assert session["operator"].startswith("?@")
    # Opening it with the journal upgrades it in place: the column is back, empty for old runs.
    journal = Journal(journaled_story.journal)
    try:
        assert journal.run(journaled_story.run_id).operator is None
    finally:
        journal.close()


def test_the_wait_for_the_person_is_marked_until_they_confirmed(journaled_story):
    report = build_report(journaled_story.journal)
    (wait,) = report["timeline"]["waits"]
    (confirmed,) = [c for c in report["confirmations"] if c["kind"] == "manual step done"]
    assert (wait["step_id"], wait["confirmed_at"]) == ("t.safe-mode", confirmed["at"])
    assert report["timeline"]["lanes"][wait["lane"]] == "standby"
    # It began when the run first stopped at the step (the second session), before the third began.
    assert wait["start_seconds"] < wait["end_seconds"] and wait["seconds"] > 0
    third = utc(report["sessions"][2]["started_at"]) - utc(report["started_at"])
    assert wait["start_seconds"] < third.total_seconds() < wait["end_seconds"]


def test_the_rto_and_the_rpo_are_set_against_the_targets_the_run_journaled(journaled_story):
    report = build_report(journaled_story.journal)
    site = journaled_story.site
    assert report["targets"] == {"rto_minutes": site.targets.rto_minutes, "rpo_minutes": site.targets.rpo_minutes}
    rto = report["rto"]
    assert rto["target_seconds"] == site.targets.rto_minutes * 60 and rto["met"] is True
    # The RPO: from the recovery point the promote's readiness check found to the promote's start.
    rpo = report["rpo"]
    run, _, events = journal_rows(journaled_story.journal, journaled_story.run_id)
    (probe,) = [e for e in events if e["kind"] == "probe" and e["step_id"] == "t.last-update-complete"]
    point = dt.datetime.fromisoformat(probe["data"]["evidence"]["recovery_point"])
    assert same_time(rpo["recovery_point_at"], point.timestamp()) and same_time(rpo["promote_started_at"], run.started_at)
    assert rpo["seconds"] == round(run.started_at - point.timestamp(), 1)
    assert STORY_RECOVERY_POINT_AGE_SECONDS <= rpo["seconds"] < STORY_RECOVERY_POINT_AGE_SECONDS + 5
    assert rpo["target_seconds"] == site.targets.rpo_minutes * 60 and rpo["met"] is True


def test_a_figure_past_its_target_is_marked_missed(journaled_story, tmp_path):
    journal = tmp_path / "copy.sqlite"
    shutil.copy(journaled_story.journal, journal)
    with sqlite3.connect(journal) as db:  # the site had asked for a 5-minute RPO
        db.execute("UPDATE events SET data = json_set(data, '$.rpo_minutes', 5) WHERE kind = 'targets'")
    rpo = build_report(journal)["rpo"]
    assert rpo["target_seconds"] == 300 and rpo["seconds"] > 300 and rpo["met"] is False
    assert "MISSED" in render_html(build_report(journal))


def test_each_approval_names_who_gave_it_how_and_the_digest_of_the_plan_shown(journaled_story):
    report = build_report(journaled_story.journal)
    approvals = [c for c in report["confirmations"] if c["kind"] == "plan approved"]
    # the run and its two resumes, each approved with --yes
    assert [(a["by"], a["how"]) for a in approvals] == [(operator(), "--yes")] * 3
    assert approvals[0]["plan_digest"] == journaled_story.plan_digest
    assert all(a["plan_digest"].startswith("sha256:") and len(a["plan_digest"]) == 71 for a in approvals)
    assert journaled_story.plan_digest in render_html(report)


def test_the_readiness_checks_are_in_the_report_with_their_evidence(journaled_story):
    (check,) = build_report(journaled_story.journal)["readiness"]
    assert (check["step_id"], check["state"]) == ("t.last-update-complete", "no change")
    assert check["changes"][0].startswith("recovery point") and check["evidence"]["age_hours"] == 0.17


def test_the_timeline_marks_the_rto_target(journaled_story):
    report = build_report(journaled_story.journal)
    window = next(w for w in report["timeline"]["windows"] if w["name"] == "mail flowing")
    target = report["timeline"]["rto_target"]
    assert target["target_seconds"] == journaled_story.site.targets.rto_minutes * 60
    assert target["at_seconds"] == pytest.approx(window["start_seconds"] + target["target_seconds"], abs=0.01)
    # an hour's target beyond a run of a second: marked at the picture's right edge, said so
    page = render_html(report)
    assert 'class="rto-target"' in page and "RTO target 1 h 00 min 00 s (further right)" in page
