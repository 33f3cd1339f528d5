"""Kill matrix (issue 10, partial), Exchange 2003 / Windows 2003 / VSS (test_promote_resume.SITE),
each end state checked from outside qrdr:

* promote: killed with SIGKILL at every step boundary (just after the step is journaled done) and
  resumed ends as an uninterrupted promote, with the account reset (the non-idempotent step)
  applied once (tests/e2e/test_promote_resume.py kills three promote steps while applying);
* configure: killed with SIGKILL at the boundaries of production's outage (the steps that take
  it down, the standby's rename and setup, the steps that bring it back), or with SIGINT (Ctrl-C)
  while production is being renamed; then resumed, ending as an uninterrupted configure, or
  rolled back, ending with production as before configure and the standby under its own name.

Not covered yet: create-qr-volumes and cleanup, and kills while applying every step.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import pytest

from qrdr.api import Runbook
from qrdr.config import load_site

from .outside import Outside
from .test_interruptions import production_as_before
from .test_promote_resume import SITE, applied_counts, assert_promoted, kill_promote_at, kill_run_at, ready_to_promote

pytestmark = [pytest.mark.lab, pytest.mark.kill_matrix]
# The promote plan's steps, in order; each case checks the journaled plan still has exactly these,
# so a step added to promote makes the matrix fail instead of going untested.
PROMOTE_STEPS = ["begin-promote", "soft-recovery", "shut-down-production", "reset-production-account",
                 "rename-standby-to-production", "standby-join-domain", "standby-services", "standby-stores",
                 "take-over-ip", "mail-flowing"]


@pytest.mark.parametrize("killed_after", PROMOTE_STEPS[:-1])
def test_promote_killed_at_step_boundary_and_resumed(lab_site_factory, killed_after):
    lab, config, site, journal = ready_to_promote(lab_site_factory)
    # A step with nothing to do (production already down) ends "no change": its boundary as well.
    # The standby slowed so that the next step has not finished when the kill lands.
    kill_promote_at(lab, config, journal, f"exchange2003.{killed_after}", ("done", "no change"), latency_ms=300)
    assert sorted(applied_counts(journal)) == sorted(f"exchange2003.{s}" for s in PROMOTE_STEPS)

    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    assert_promoted(lab, site, journal)


#: (the configure step killed after, then "resume" or "rollback"): the outage's boundaries
CONFIGURE_KILLS = [
    ("stop-production-services", "rollback"),
    ("rename-production-temp", "resume"),
    ("rename-production-temp", "rollback"),
    ("rename-standby", "rollback"),
    ("setup-dr", "resume"),
    ("rename-production-back", "resume"),
]


def configure_killed(lab_site_factory, step: str, sig: int, states: tuple[str, ...]):
    """A lab site whose ``qrdr configure`` got ``sig`` at ``step`` (both hosts slowed by 100 ms a request,
    so that the signal lands before the next step ends): ``(lab, config path, journal path, ended process)``."""
    lab = lab_site_factory(SITE)
    config = lab.workdir / "qrdr.toml"
    site = load_site(config)
    journal = Path(site.state_dir) / f"{site.name}.journal.sqlite"
    process = kill_run_at(lab, config, journal, "configure", f"exchange2003.{step}", states, latency_ms=100,
                          hosts=("production", "standby"), sig=sig)
    return lab, config, journal, process


def assert_configured(lab, journal: Path) -> None:
    """What an admin checks after configure, from outside: production runs as before under its
    own name, the standby is back under its own, and no step was applied twice."""
    outside = Outside(lab)
    production_as_before(outside)
    assert outside.computer("standby")["Name"] == "EXCH02"
    twice = {step: count for step, count in applied_counts(journal).items() if count > 1}
    assert not twice, f"applied more than once: {twice}"


def assert_as_before_configure(lab) -> None:
    outside = Outside(lab)
    production_as_before(outside)
    assert outside.computer("standby")["Name"] == "EXCH02"


@pytest.mark.parametrize(("killed_after", "then"), CONFIGURE_KILLS)
def test_configure_killed_at_step_boundary_then_resumed_or_rolled_back(lab_site_factory, killed_after, then):
    lab, config, journal, _ = configure_killed(lab_site_factory, killed_after, signal.SIGKILL, ("done", "no change"))
    runbook = Runbook(load_site(config))
    status = runbook.status()
    assert status["state"] == "configuring" and "qrdr resume" in status["next"], status
    if then == "resume":
        result = runbook.resume(yes=True)
        assert result.status == "succeeded", result.message
        assert runbook.state().name == "configured"
        assert_configured(lab, journal)
    else:
        result = runbook.rollback(yes=True)
        assert result.status == "rolled back", result.message
        assert_as_before_configure(lab)
        assert runbook.status()["resumable"] is None


def test_configure_interrupted_with_ctrl_c_while_renaming_production_then_rolled_back(lab_site_factory):
    lab, config, journal, process = configure_killed(lab_site_factory, "rename-production-temp", signal.SIGINT,
                                                     ("applying",))
    output = process.stdout.read()
    assert process.returncode == 6, output  # docs/cli.md: 6 interrupted
    assert "Traceback" not in output and "qrdr resume" in output, output
    runbook = Runbook(load_site(config))
    assert runbook.status()["resumable"] is not None
    result = runbook.rollback(yes=True)
    assert result.status == "rolled back", result.message
    assert_as_before_configure(lab)


@pytest.mark.parametrize("installer", ["setup-dr", "update-dr"])
def test_configure_killed_while_an_installer_runs_waits_for_it_on_resume(lab_site_factory, installer):
    """An installer runs as a scheduled task, which outlives a killed qrdr: the resume follows the
    task still running instead of starting the installer a second time beside it."""
    lab = lab_site_factory(SITE)
    lab.organization.options.setup_seconds = 20.0  # still running when the resume looks
    config = lab.workdir / "qrdr.toml"
    site = load_site(config)
    journal = Path(site.state_dir) / f"{site.name}.journal.sqlite"
    runs = lab.hosts["standby"].exchange.setup_runs
    program = "setup.exe" if installer == "setup-dr" else "update.exe"

    def started() -> list:
        return [run for run in list(runs.values()) if run.program.lower().endswith(program)]

    kill_run_at(lab, config, journal, "configure", f"exchange2003.{installer}", ("applying",), latency_ms=0,
                when=lambda: bool(started()))
    started = started()
    assert len(started) == 1 and not started[0].finished, [(r.program, r.finished) for r in runs.values()]

    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    # the installer's effects showed at once, but the step was not called done while it still ran:
    # the resume waited for the task the killed run had started
    with sqlite3.connect(journal) as db:
        state, evidence = db.execute("SELECT state, evidence FROM steps WHERE step_id = ? AND run_id = "
                                     "(SELECT max(id) FROM runs)", (f"exchange2003.{installer}",)).fetchone()
    assert state == "done" and json.loads(evidence)["exit_code"] == 0, (state, evidence)
    assert started[0].finished
    assert_configured_once_each_installer(lab, journal)


def assert_configured_once_each_installer(lab, journal: Path) -> None:
    outside = Outside(lab)
    production_as_before(outside)
    assert outside.computer("standby")["Name"] == "EXCH02"
    programs = [run.program.lower().rsplit("\\", 1)[-1] for run in lab.hosts["standby"].exchange.setup_runs.values()]
    assert sorted(programs) == ["setup.exe", "update.exe"], programs
    # runbook 2.6-2.7: the standby's Exchange services stopped and manual, none started again by an
    # installer that ended after qrdr had stopped them
    standby = outside.services("standby", ["MSExchangeSA", "MSExchangeIS", "MSExchangeMTA"])
    assert standby and all(state == ("Stopped", "Manual") for state in standby.values()), standby
