"""``qrdr status`` and ``qrdr history`` on an empty and on a used state directory."""

from __future__ import annotations

import json

import pytest

from qrdr.config import load_site
from qrdr.engine.lock import SiteLock
from qrdr.hookspecs import hookimpl
from qrdr.report import build_report
from qrdr.steps import Check, Step

from ..addon_engine import AddonEngine


class TwoSteps:
    """Promote steps on local state; the second fails when told to."""

    def __init__(self, fail_second: bool):
        self.fail_second = fail_second
        self.done: set[str] = set()

    def _step(self, step_id: str, fail: bool = False, after=()) -> Step:
        def apply(ctx):
            if fail:
                raise RuntimeError("the standby did not answer")
            self.done.add(step_id)

        return Step(id=step_id, title=f"{step_id} title", target="standby", after=after, apply=apply,
                    check=lambda ctx: Check.no_change() if step_id in self.done else Check.will_change(f"do {step_id}"))

    @hookimpl
    def qrdr_promote_standby(self):
        return [self._step("local.one"), self._step("local.two", fail=self.fail_second, after=("local.one",))]


@pytest.fixture
def used_site(bare_site):
    """Two runs journaled in the site's state dir: run 1 succeeded, run 2 failed at local.two."""
    site = load_site(bare_site)
    assert AddonEngine(site, ("local", TwoSteps(fail_second=False))).run("promote").status == "succeeded"
    assert AddonEngine(site, ("local", TwoSteps(fail_second=True))).run("promote").status == "failed"
    return bare_site


def test_status_of_a_site_that_never_ran(bare_site, run_cli):
    code, out, err = run_cli("status", "--config", str(bare_site))
    assert code == 0, err
    assert out.splitlines() == ["Site contoso: UNKNOWN", "  not busy", "  no run has changed this site from here yet",
                                "  next: qrdr check"]




def test_history_of_a_site_that_never_ran(bare_site, run_cli):
    assert run_cli("history", "--config", str(bare_site))[:2] == (0, "")  # --json: tests/cli/test_json_documents.py


def test_status_of_a_used_site_names_the_run_to_resume(used_site, run_cli):
    code, out, _ = run_cli("status", "--config", str(used_site))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Site contoso: PROMOTING since ")
    assert lines[1:5] == ["  not busy",
                          "  run 2 (promote) stopped before its end (failed): the standby may be half way to "
                          "production's place", "  next: qrdr resume",
                          "  run 2 (promote) is failed: `qrdr resume` continues it"]
    assert lines[5].startswith("  run 2: promote failed (started ")
    assert lines[6].startswith("  run 1: promote succeeded (started ")




def test_status_names_the_run_holding_the_site(used_site, run_cli):
    lock = SiteLock(used_site.parent / ".qrdr", "contoso")
    lock.acquire("promote")
    try:
        lock.set_holder(command="promote", run_id=3)
        code, out, _ = run_cli("status", "--config", str(used_site))
    finally:
        lock.release()
    assert code == 0
    busy = out.splitlines()[1]
    assert busy.startswith("  busy: run 3 (promote) by pid ") and " since " in busy
    assert "qrdr resume" not in out, "a run that is in progress is not offered for resume"
    assert "  next: wait until the run under way ends (qrdr status shows it)" in out.splitlines()


def test_history_lists_runs_newest_first_with_the_failure(used_site, run_cli):
    code, out, _ = run_cli("history", "--config", str(used_site))
    assert code == 0
    second, first = out.splitlines()
    assert second.startswith("run 2: promote failed started ")
    assert "step local.two on standby failed: apply failed: the standby did not answer" in second
    assert first.startswith("run 1: promote succeeded started ")


def test_history_of_one_run_shows_its_steps_and_events(used_site, run_cli):
    code, out, _ = run_cli("history", "--run", "2", "--config", str(used_site))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "run 2: promote failed; plugins addon:local"
    assert "   1. [done] local.one (standby) applied 1x" in lines
    assert any(line.startswith("   2. [failed] local.two (standby) applied 1x: apply failed: the standby did not answer")
               for line in lines)
    assert "events:" in lines




def test_history_of_a_run_that_does_not_exist(used_site, run_cli):
    code, _, err = run_cli("history", "--run", "99", "--config", str(used_site))
    assert code == 2 and "99" in err and "Traceback" not in err


class LeakySecret:
    """A step whose change line and failure both carry a secret the plugin resolved."""

    def __init__(self, secret: str):
        self.secret = secret

    @hookimpl
    def qrdr_promote_standby(self):
        def apply(ctx):
            raise RuntimeError(f"login with {self.secret} refused")

        return [Step(id="leaky.login", title=f"log in with {self.secret}", target="standby", apply=apply,
                     check=lambda ctx: Check.will_change(f"password {self.secret} will be used"))]


def test_history_and_journal_never_hold_a_resolved_secret(bare_site, run_cli, monkeypatch):
    from qrdr.model import SecretRef
    from qrdr.secrets import resolve

    monkeypatch.setenv("QRDR_TEST_LEAKY_SECRET", "leaky-7c1e9a2b")
    secret = resolve(SecretRef(env="QRDR_TEST_LEAKY_SECRET"), "test secret")
    site = load_site(bare_site)
    assert AddonEngine(site, ("leaky", LeakySecret(secret))).run("promote").status == "failed"

    code, out, err = run_cli("history", "--run", "1", "--config", str(bare_site))
    assert code == 0
    assert "apply failed: login with ******** refused" in out
    assert "password ******** will be used" in out
    code, out_json, _ = run_cli("--json", "history", "--run", "1", "--config", str(bare_site))
    for text in (out, err, out_json):
        assert secret not in text
    for stored in (bare_site.parent / ".qrdr").iterdir():
        assert secret.encode() not in stored.read_bytes(), stored.name


class ReadinessProbe:
    """The readiness check's one probe: the recovery point, found or not."""

    def __init__(self, ready: bool):
        self.ready = ready

    @hookimpl
    def qrdr_preflight(self, phase):
        if phase != "check":
            return []

        def check(ctx):
            if self.ready:
                return Check.no_change("recovery point 0.5 h old", recovery_point="2026-12-03T06:00:00+00:00")
            return Check.blocked("no QR update has completed yet")

        return [Step(id="local.last-update-complete", title="the last QR update", target="commserve",
                     check=check, apply=lambda ctx: None)]


def test_each_check_is_journaled_and_hides_no_unfinished_run(used_site, run_cli):
    site = load_site(used_site)
    for ready in (False, True):
        plan = AddonEngine(site, ("probe", ReadinessProbe(ready))).engine.probe("check", journaled=True)
        assert bool(plan.blockers) is not ready
    code, out, _ = run_cli("--json", "history", "--config", str(used_site))
    runs = [(run["run_id"], run["command"], run["state"]) for run in json.loads(out)["runs"]]
    assert runs[:2] == [(4, "check", "ready"), (3, "check", "not ready")], runs
    code, out, _ = run_cli("--json", "history", "--run", "4", "--config", str(used_site))
    (probe,) = [e for e in json.loads(out)["events"] if e["kind"] == "probe"]
    assert probe["step_id"] == "local.last-update-complete" and "0.5 h old" in probe["message"]
    # a check changes nothing: the failed promote is still the one to resume, the state unmoved
    code, out, _ = run_cli("--json", "status", "--config", str(used_site))
    status = json.loads(out)
    assert (status["state"], status["resumable"]["run_id"]) == ("promoting", 2), status
    assert (status["last_check"]["run_id"], status["last_check"]["state"]) == (4, "ready")
    code, out, _ = run_cli("status", "--config", str(used_site))
    assert "  last readiness check: ready at " in out and "(run 4)" in out, out
    # its report shows the evidence the auditor asks for
    checked = build_report(site.state_file(".journal.sqlite"), 4)
    assert checked["state"] == "ready" and checked["readiness"][0]["evidence"]["recovery_point"]
