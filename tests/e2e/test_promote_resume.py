"""A promote killed in the middle of a step and resumed ends as an uninterrupted one, with no
non-idempotent step applied twice (issue 5). Exchange 2003 / Windows 2003 / VSS.

The promote runs as the ``qrdr`` command in its own process (as an admin runs it), killed with
SIGKILL while the chosen step is being applied; ``qrdr resume`` then finishes the run.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qrdr.api import Runbook
from qrdr.config import load_site

from .outside import Outside
from .story import production_services

pytestmark = pytest.mark.lab
SITE = "e2003-w2003-vss"


def step_state(journal: Path, step_id: str) -> str | None:
    if not journal.exists():
        return None
    with sqlite3.connect(journal) as db:
        row = db.execute("SELECT state FROM steps WHERE step_id = ? AND run_id = (SELECT max(id) FROM runs)",
                         (step_id,)).fetchone()
    return row[0] if row else None


def qrdr(config: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qrdr.cli", "--config", str(config), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))


@pytest.mark.parametrize("killed_in", ["reset-production-account", "rename-standby-to-production", "standby-services"])
def test_promote_killed_and_resumed(lab_site_factory, killed_in):
    lab = lab_site_factory(SITE)
    config = lab.workdir / "qrdr.toml"
    site = load_site(config)
    runbook = Runbook(site)
    assert runbook.run("configure", yes=True).status == "succeeded"
    assert runbook.run("create-qr-volumes", yes=True).status == "succeeded"
    lab.fault("qr-update")
    lab.fault("power-off", "production")
    journal = Path(site.state_dir) / f"{site.name}.journal.sqlite"
    step_id = f"exchange2003.{killed_in}"

    # Slow the standby's answers a little so that the kill lands inside the step even on a busy machine.
    lab.fault("latency", "standby", "80")
    process = qrdr(config, "--plugin", "exchange2003", "--snap", "vss", "promote", "--yes")
    # The reset is killed once it took effect (a reset killed before its LDAP write is rightly
    # done again on resume); the other steps while they are being applied.
    kill_at = ("applied", "done") if killed_in == "reset-production-account" else ("applying", "applied", "done")
    deadline = time.monotonic() + 120
    while step_state(journal, step_id) not in kill_at and time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    with sqlite3.connect(journal) as db:
        (status,) = db.execute("SELECT status FROM runs WHERE id = (SELECT max(id) FROM runs)").fetchone()
    assert status == "running", f"the promote ended ({status}) before it could be killed"
    lab.fault("clear", "standby")

    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    assert result.windows["mail flowing"] > 0

    outside = Outside(lab)
    system = outside.computer("standby")
    assert system["Name"] == "EXCH01" and system["PartOfDomain"]
    running = outside.services("standby", production_services("2003"))
    assert all(state == ("Running", "Auto") for state in running.values()), running
    assert all(s["Mounted"] for s in outside.stores("standby"))
    assert site.takeover.ip_address in outside.ip_addresses("standby")
    with sqlite3.connect(journal) as db:
        applied = dict(db.execute("SELECT step_id, apply_count FROM steps WHERE run_id = (SELECT max(id) FROM runs)"))
    # The account reset is the promote's non-idempotent step: once done, never applied again.
    assert applied["exchange2003.reset-production-account"] == 1
