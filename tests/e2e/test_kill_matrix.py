"""Kill matrix, promote part (issue 10, partial): a promote killed with SIGKILL at every step
boundary (just after the step is journaled done) and resumed ends as an uninterrupted promote,
checked from outside qrdr, with the account reset (the non-idempotent step) applied once.
Exchange 2003 / Windows 2003 / VSS. Kills while applying, SIGINT, and the other commands are not
covered yet (see tests/e2e/test_promote_resume.py for kills while applying three promote steps).
"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from qrdr.api import Runbook
from qrdr.config import load_site

from .outside import Outside
from .story import production_services
from .test_promote_resume import qrdr, step_state

pytestmark = [pytest.mark.lab, pytest.mark.kill_matrix]
SITE = "e2003-w2003-vss"
# The promote plan's steps, in order; each case checks the journaled plan still has exactly these,
# so a step added to promote makes the matrix fail instead of going untested.
PROMOTE_STEPS = ["begin-promote", "soft-recovery", "shut-down-production", "reset-production-account",
                 "rename-standby-to-production", "standby-join-domain", "standby-services", "standby-stores",
                 "take-over-ip", "mail-flowing"]


def last_run_steps(journal: Path) -> dict[str, int]:
    with sqlite3.connect(journal) as db:
        return dict(db.execute("SELECT step_id, apply_count FROM steps WHERE run_id = (SELECT max(id) FROM runs)"))


@pytest.mark.parametrize("killed_after", PROMOTE_STEPS[:-1])
def test_promote_killed_at_step_boundary_and_resumed(lab_site_factory, killed_after):
    lab = lab_site_factory(SITE)
    config = lab.workdir / "qrdr.toml"
    site = load_site(config)
    runbook = Runbook(site)
    assert runbook.run("configure", yes=True).status == "succeeded"
    assert runbook.run("create-qr-volumes", yes=True).status == "succeeded"
    lab.fault("qr-update")
    lab.fault("power-off", "production")
    journal = Path(site.state_dir) / f"{site.name}.journal.sqlite"
    step_id = f"exchange2003.{killed_after}"

    # Slow the standby so that the next step has not finished when the kill lands.
    lab.fault("latency", "standby", "300")
    process = qrdr(config, "--plugin", "exchange2003", "--snap", "vss", "promote", "--yes")
    deadline = time.monotonic() + 120
    # a step with nothing to do (production already down) ends "no change": its boundary as well
    while step_state(journal, step_id) not in ("done", "no change") and time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    with sqlite3.connect(journal) as db:
        (status,) = db.execute("SELECT status FROM runs WHERE id = (SELECT max(id) FROM runs)").fetchone()
    assert status == "running", f"the promote ended ({status}) before it could be killed"
    assert sorted(last_run_steps(journal)) == sorted(f"exchange2003.{s}" for s in PROMOTE_STEPS)
    lab.fault("clear", "standby")

    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message

    outside = Outside(lab)
    system = outside.computer("standby")
    assert system["Name"] == "EXCH01" and system["PartOfDomain"]
    running = outside.services("standby", production_services("2003"))
    assert all(state == ("Running", "Auto") for state in running.values()), running
    assert all(s["Mounted"] for s in outside.stores("standby"))
    assert site.takeover.ip_address in outside.ip_addresses("standby")
    assert last_run_steps(journal)["exchange2003.reset-production-account"] == 1
