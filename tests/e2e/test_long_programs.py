"""setup.exe runs to its end outside qrdr's remoting shells: qrdr's runspace pools close and reopen
around it (site e2003-w2003-vss; the shells counted at the lab's WinRM endpoint, setup's result
read from outside)."""

from __future__ import annotations

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
