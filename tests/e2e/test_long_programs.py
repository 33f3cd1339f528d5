"""setup.exe runs to its end outside qrdr's remoting shells: qrdr's runspace pools close and reopen
around it (site e2003-w2003-vss; the shells counted at the lab's WinRM endpoint, setup's result
read from outside)."""

from __future__ import annotations

import threading
import time

import pytest

from qrdr.api import Runbook
from qrdr.hookspecs import hookimpl

pytestmark = pytest.mark.lab

SITE = "e2003-w2003-vss"
SETUP_LOG = r"C:\Exchange Server Setup Progress.log"


class PoolWatcher:
    """During the step ``step_id``: qrdr's session to the standby recycles its pool every two
    pipelines, and the shells the standby's endpoint creates are counted."""

    def __init__(self, runbook: Runbook, endpoint, step_id: str):
        self.runbook, self.endpoint, self.step_id = runbook, endpoint, step_id
        self.created_before = self.created_during = 0

    @hookimpl
    def qrdr_step_started(self, run_id, step):
        if step.id == self.step_id:
            self.runbook.connector.host("standby").pipelines_per_pool = 2
            self.created_before = self.endpoint.shells_created

    @hookimpl
    def qrdr_step_finished(self, run_id, step, result):
        if step.id == self.step_id:
            self.created_during = self.endpoint.shells_created - self.created_before


def test_setup_runs_to_its_end_while_qrdrs_pools_close_and_reopen(start_site):
    lab, runbook, outside = start_site(SITE)
    lab.organization.options.setup_seconds = 8.0  # long enough for several polls and pool recycles
    watcher = PoolWatcher(runbook, lab.endpoints["standby"], "exchange2003.setup-dr")
    watched = Runbook(runbook.site, connector=runbook.connector, extra_plugins=[("pool-watcher", watcher)])
    result = watched.run("configure", yes=True)
    assert result.status == "succeeded", result.message
    setup = next(step for step in result.steps if step.step_id == "exchange2003.setup-dr")
    assert setup.status == "done" and setup.seconds >= 8.0
    assert setup.evidence["exit_code"] == 0 and not setup.evidence["stopped_by_qrdr"], setup.evidence
    assert watcher.created_during >= 3, watcher.created_during  # pools closed and reopened around setup
    log = outside.run("standby", lambda shell, _computer: shell.add_cmdlet("Get-Content").add_parameter(
        "Path", SETUP_LOG))
    assert "Setup completed" in "\n".join(str(line) for line in log)


class PowerLossDuring:
    """While setup.exe runs on the standby (started by the step ``step_id``), the standby loses
    power for a moment and boots again, as a lab fault."""

    def __init__(self, lab, step_id: str):
        self.lab, self.step_id = lab, step_id
        self.thread: threading.Thread | None = None

    def _cut_power_once_setup_runs(self) -> None:
        runs = self.lab.hosts["standby"].exchange.setup_runs
        deadline = time.monotonic() + 60
        while not any(run.program.lower().endswith("setup.exe") for run in list(runs.values())):
            assert time.monotonic() < deadline, "setup.exe never started"
            time.sleep(0.05)
        time.sleep(2.0)  # qrdr has heard back from `schtasks /run` and polls the task
        self.lab.fault("power-off", "standby")
        time.sleep(1.0)
        self.lab.fault("power-on", "standby")

    @hookimpl
    def qrdr_step_started(self, run_id, step):
        if step.id == self.step_id and self.thread is None:
            self.thread = threading.Thread(target=self._cut_power_once_setup_runs, daemon=True)
            self.thread.start()


def test_setup_cut_off_by_a_power_loss_fails_the_step_at_once_and_resume_finishes(start_site):
    """A power loss ends setup.exe and the batch that would write its exit code: qrdr says so as
    soon as the host is back (instead of waiting for an exit code that can never come, up to the
    program's deadline of hours), and ``qrdr resume`` finishes configure. (What a real setup.exe
    cut off by a power loss leaves installed is not documented; the lab's leaves its files copied,
    which the step's check takes as installed.)"""
    lab, runbook, outside = start_site(SITE)
    lab.organization.options.setup_seconds = 8.0  # still running when the power goes
    cut = PowerLossDuring(lab, "exchange2003.setup-dr")
    started = time.monotonic()
    result = Runbook(runbook.site, extra_plugins=[("power-loss", cut)]).run("configure", yes=True)
    assert result.status == "failed", result.message
    assert time.monotonic() - started < 300
    setup = next(step for step in result.steps if step.step_id == "exchange2003.setup-dr")
    assert setup.status == "failed" and "ended without its exit code" in setup.error, setup.error
    assert "lost power" in setup.error and "`qrdr resume --retry exchange2003.setup-dr`" in setup.error
    first = [run for run in lab.hosts["standby"].exchange.setup_runs.values() if run.program.lower().endswith("setup.exe")]
    assert len(first) == 1 and not first[0].finished, first

    resumed = runbook.resume(yes=True)
    assert resumed.status == "succeeded", resumed.message
    assert runbook.state().name == "configured"
    assert outside.computer("production")["Name"] == "EXCH01"
