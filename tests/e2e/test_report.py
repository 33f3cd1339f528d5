"""The report of a real lab story, checked against the journal it was built from (issue 13):
configure, create-qr-volumes, a promote interrupted after the account reset and resumed with
``qrdr resume`` (which prints where it wrote the report), and both cleanups, the source's with
its manual safe-mode step confirmed. Exchange 2003 / Windows 2003 / VSS."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from qrdr.api import Runbook
from qrdr.config import site_to_toml
from qrdr.engine.journal import Journal, operator
from qrdr.report import build_report, write_report

from ..json_documents import validated
from ..report.browser import Elements, dump_dom, keep_artifact, network_requests, screenshot
from .story import cleanup_and_check
from .test_interruptions import InterruptAfter

pytestmark = pytest.mark.lab
SITE = "e2003-w2003-vss"


def assert_report_is_the_journal(report: dict, journal: Journal, run_id: int) -> None:
    """What an auditor checks: every step row there, with its state and attempts, and the run's windows."""
    run, steps = journal.run(run_id), journal.steps(run_id)
    assert report["state"] == run.status and report["command"] == run.command
    assert [(s["step_id"], s["target"], s["state"], s["attempts"]) for s in report["steps"]] == [
        (s.step_id, s.target, s.state, s.apply_count) for s in steps]
    assert {w["name"]: w["seconds"] for w in report["windows"]} == run.windows


def test_the_report_of_a_lab_story_is_its_journal(start_site, run_cli, tmp_path):
    lab, runbook, outside = start_site(SITE)
    config = tmp_path / "qrdr.toml"  # the same site and state directory, as the admin's config file
    config.write_text(site_to_toml(runbook.site), encoding="utf-8")
    # configure from the command line, its --json document and status's after it against their schemas
    code, out, err = run_cli("--config", str(config), "--json", "configure", "--yes")
    configure = validated(out, "qrdr run")
    assert (code, configure["state"], configure["site"]) == (0, "succeeded", runbook.site.name), out + err
    code, out, _ = run_cli("--config", str(config), "--json", "status")
    status = validated(out, "qrdr status")
    assert (code, status["state"], status["run_id"]) == (0, "configured", configure["run_id"])
    assert status["last_runs"][0]["state"] == "succeeded" and status["last_runs"][0]["ended_at"]
    volumes = runbook.run("create-qr-volumes", yes=True)
    assert volumes.status == "succeeded", volumes.message
    lab.fault("qr-update")
    lab.fault("power-off", "production")
    interrupting = Runbook(runbook.site, extra_plugins=[("interrupt", InterruptAfter(
        "exchange2003.reset-production-account"))])
    promote = interrupting.run("promote", yes=True)
    assert promote.status == "interrupted", promote.message

    code, out, err = run_cli("--config", str(config), "resume", "--yes")
    assert code == 0, out + err
    page = Path(out.splitlines()[-1].removeprefix("report: "))
    state_dir = Path(runbook.site.state_dir)
    assert page == state_dir / "reports" / f"{runbook.site.name}-run-{promote.run_id}.html" and page.exists()

    journal = Journal(state_dir / f"{runbook.site.name}.journal.sqlite")
    try:
        for run_id in (configure["run_id"], volumes.run_id, promote.run_id):
            assert_report_is_the_journal(build_report(journal.path, run_id), journal, run_id)
        assert [(s["step_id"], s["state"]) for s in configure["steps"]] == [
            (s.step_id, s.state) for s in journal.steps(configure["run_id"])]
        configured = build_report(journal.path, configure["run_id"])
        assert configured["outage"]["seconds"] == journal.run(configure["run_id"]).windows["production outage"] > 0
        promoted = build_report(journal.path, promote.run_id)
        assert promoted["rto"]["seconds"] == journal.run(promote.run_id).windows["mail flowing"] > 0
        # Each window against its critical path: the restarts and installer runs the steps timed.
        assert set(configured["outage"]["unavoidable_waits"]) == {"restart", "setup"}
        restarts = [s["evidence"]["waited"]["restart"] for s in promoted["steps"]
                    if "restart" in (s["evidence"] or {}).get("waited", {})]
        assert len(restarts) == 2  # the standby: out of the domain and renamed, then back in
        rto = promoted["rto"]
        assert rto["unavoidable_waits"] == {"restart": pytest.approx(sum(restarts), abs=0.01)}
        assert 0 <= rto["qrdr_seconds"] == pytest.approx(rto["seconds"] - rto["unavoidable_seconds"], abs=0.01)
    finally:
        journal.close()
    # The resume continued the same run: one run, two sessions, the first interrupted.
    assert [c["run_id"] for c in promoted["chain"]] == [promote.run_id]
    assert [(s["how"], s["state"]) for s in promoted["sessions"]] == [("start", "interrupted"),
                                                                      ("resume", "succeeded")]
    assert {s["operator"] for s in promoted["sessions"]} == {operator()}
    reset = next(s for s in promoted["steps"] if s["step_id"] == "exchange2003.reset-production-account")
    assert (reset["state"], reset["attempts"]) == ("done", 1)  # not applied again by the resume
    # The RPO: from the start of the CommServe's last completed QR update (its own record) to the
    # promote's start, against the site's target; both approvals name the plan they approved.
    targets = runbook.site.targets
    update = [job for job in lab.commserve.jobs if job.status == "Completed"][-1]
    rpo = promoted["rpo"]
    recovery_point = dt.datetime.fromisoformat(rpo["recovery_point_at"])
    assert abs(recovery_point - update.start_time) < dt.timedelta(seconds=1), (rpo, update)  # qlist: whole seconds
    reopened = Journal(journal.path)
    try:
        promote_started = reopened.run(promote.run_id).started_at
    finally:
        reopened.close()
    assert rpo["seconds"] == pytest.approx(promote_started - recovery_point.timestamp(), abs=0.1)
    assert (rpo["target_seconds"], rpo["met"]) == (targets.rpo_minutes * 60, True)
    assert (promoted["rto"]["target_seconds"], promoted["rto"]["met"]) == (targets.rto_minutes * 60, True)
    approvals = [c for c in promoted["confirmations"] if c["kind"] == "plan approved"]
    assert [(a["by"], a["how"]) for a in approvals] == [(operator(), "--yes")] * 2, approvals
    assert all(a["plan_digest"].startswith("sha256:") for a in approvals)
    assert any(c["step_id"].endswith(".last-update-complete") and c["evidence"]["recovery_point"]
               for c in promoted["readiness"])

    # The page the resume wrote, in a real browser: a bar per applied step, nothing fetched.
    dom = dump_dom(page, tmp_path / "profile")
    bars = Elements(dom).find("rect", **{"class": "bar"})
    assert sorted(b["data-step"] for b in bars if b["data-applied"] == "true") == sorted(
        s["step_id"] for s in promoted["steps"] if s["applied"])
    assert network_requests(dom) == []
    assert len(Elements(dom).find("line", **{"class": "rto-target"})) == 1
    keep_artifact(screenshot(page, tmp_path / "profile", tmp_path / "promote.png", height=3000),
                  "report/lab-promote-report.png")
    keep_artifact(page, "report/lab-promote-report.html")
    # Both cleanups: their reports are their journal too. The source's manual safe-mode step
    # (safe mode has no network: a person does it) shows as a wait until the resume, whose
    # check found it done: a "no change" the journal records without anyone's confirmation.
    cleanup_and_check(lab, runbook, outside)
    journal = Journal(state_dir / f"{runbook.site.name}.journal.sqlite")
    try:
        cleanups = [run for run in journal.runs() if run.command == "cleanup" and run.status == "succeeded"]
        assert sorted(run.scope for run in cleanups) == ["recovery", "source"]
        for run in cleanups:
            assert_report_is_the_journal(build_report(journal.path, run.id), journal, run.id)
        source = build_report(journal.path, next(run.id for run in cleanups if run.scope == "source"))
    finally:
        journal.close()
    safe_mode = "exchange2003.source-safe-mode-services"
    assert next(s for s in source["steps"] if s["step_id"] == safe_mode)["state"] == "no change"
    (wait,) = source["timeline"]["waits"]
    resumed = [s for s in source["sessions"] if s["how"] == "resume"]
    assert wait["step_id"] == safe_mode and wait["ended_by"] == "the run taken up again"
    assert len(resumed) == 1 and resumed[0]["operator"] == operator()
    assert [(s["how"], s["state"]) for s in source["sessions"]] == [("start", "waiting"), ("resume", "succeeded")]
    keep_artifact(screenshot(write_report(runbook.site, source["run_id"], "html", tmp_path / "source.html"),
                             tmp_path / "profile", tmp_path / "source.png", height=4000),
                  "report/lab-cleanup-source-report.png")
    configure_page = write_report(runbook.site, configure["run_id"], "html", tmp_path / "configure.html")
    keep_artifact(screenshot(configure_page, tmp_path / "profile", tmp_path / "configure.png", height=4000),
                  "report/lab-configure-report.png")
