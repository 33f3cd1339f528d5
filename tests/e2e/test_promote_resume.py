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
from typing import Callable

import pytest

from qrdr.api import Runbook
from qrdr.config import load_site

from .outside import Outside
from .story import production_services

pytestmark = pytest.mark.lab
SITE = "e2003-w2003-vss"


def step_state(journal: Path, step_id: str, pid: int | None = None) -> str | None:
    """``step_id``'s state in the journal's newest run (None: no such step yet); with ``pid``, only
    while that run is held by that process (a resume adopts the run it continues, so a state an
    earlier, killed process left is not taken for the resume's)."""
    if not journal.exists():
        return None
    try:
        with sqlite3.connect(journal) as db:
            row = db.execute("SELECT steps.state, runs.pid FROM steps JOIN runs ON runs.id = steps.run_id "
                             "WHERE step_id = ? AND run_id = (SELECT max(id) FROM runs)", (step_id,)).fetchone()
    except sqlite3.OperationalError:  # a first run's journal, its tables not made yet
        return None
    if row is None or (pid is not None and row[1] != pid):
        return None
    return row[0]


def step_error(journal: Path, step_id: str) -> str | None:
    """The error journaled for ``step_id`` in the newest run."""
    with sqlite3.connect(journal) as db:
        row = db.execute("SELECT error FROM steps WHERE step_id = ? AND run_id = (SELECT max(id) FROM runs)",
                         (step_id,)).fetchone()
    return row[0] if row else None


def qrdr(config: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qrdr.cli", "--config", str(config), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))


def ready_to_promote(lab_site_factory, **options):
    """A lab site (LabOptions ``options``) configured, with QR volumes and a fresh recovery point,
    its production dead: ``(lab, config path, site, journal path)``."""
    lab = lab_site_factory(SITE, **options)
    config = lab.workdir / "qrdr.toml"
    site = load_site(config)
    runbook = Runbook(site)
    assert runbook.run("configure", yes=True).status == "succeeded"
    assert runbook.run("create-qr-volumes", yes=True).status == "succeeded"
    lab.fault("qr-update")
    lab.fault("power-off", "production")
    return lab, config, site, Path(site.state_dir) / f"{site.name}.journal.sqlite"


def kill_run_at(lab, config: Path, journal: Path, command: str, step_id: str, states: tuple[str, ...],
                latency_ms: int, hosts: tuple[str, ...] = ("standby",), sig: int = signal.SIGKILL,
                when: Callable[[], bool] | None = None, arguments: tuple[str, ...] = ()) -> subprocess.Popen:
    """``qrdr <command> <arguments> --yes`` as its own process (``resume`` included), sent ``sig`` once
    ``step_id``'s state in the run that process holds is one of ``states`` (and ``when()`` is true,
    if given); the answers of ``hosts`` slowed by ``latency_ms`` meanwhile, so that the signal
    lands before the run ends (asserted: a SIGKILLed run is still "running" in the journal, and
    the step did not end in a state not asked for). Returns the ended process (its output unread)."""
    for host in hosts:
        lab.fault("latency", host, str(latency_ms))
    process = qrdr(config, "--plugin", "exchange2003", "--snap", "vss", command, *arguments, "--yes")
    deadline = time.monotonic() + 300
    while (state := step_state(journal, step_id, process.pid)) not in states or (when is not None and not when()):
        assert process.poll() is None, process.stdout.read()
        assert state not in {"done", "no change", "failed"} - set(states), \
            f"{step_id} ended {state} first: {step_error(journal, step_id)}"
        assert time.monotonic() < deadline, f"{step_id} not {' or '.join(states)} after 300 s"
        time.sleep(0.01)
    process.send_signal(sig)
    process.wait(60)
    if sig == signal.SIGKILL:
        with sqlite3.connect(journal) as db:
            (status,) = db.execute("SELECT status FROM runs WHERE id = (SELECT max(id) FROM runs)").fetchone()
        assert status == "running", f"the {command} ended ({status}) before it could be killed"
    for host in hosts:
        lab.fault("clear", host)
    return process


def kill_promote_at(lab, config: Path, journal: Path, step_id: str, states: tuple[str, ...], latency_ms: int) -> None:
    """A promote SIGKILLed at ``step_id`` (see :func:`kill_run_at`), the standby slowed."""
    kill_run_at(lab, config, journal, "promote", step_id, states, latency_ms)


def applied_counts(journal: Path) -> dict[str, int]:
    """Each step of the last run and how many times it was applied."""
    with sqlite3.connect(journal) as db:
        return dict(db.execute("SELECT step_id, apply_count FROM steps WHERE run_id = (SELECT max(id) FROM runs)"))


def assert_promoted(lab, site, journal: Path, account_resets: int = 1) -> None:
    """What an admin checks after a promote, from outside qrdr: the standby is production (name,
    domain, services, stores, address), and the account reset, the promote's non-idempotent step,
    was applied ``account_resets`` times (once; twice where an apply was cut off before it took
    effect and retried after the admin's check)."""
    outside = Outside(lab)
    system = outside.computer("standby")
    assert system["Name"] == "EXCH01" and system["PartOfDomain"]
    running = outside.services("standby", production_services("2003"))
    assert all(state == ("Running", "Auto") for state in running.values()), running
    assert all(s["Mounted"] for s in outside.stores("standby"))
    assert site.takeover.ip_address in outside.ip_addresses("standby")
    assert applied_counts(journal)["exchange2003.reset-production-account"] == account_resets


@pytest.mark.parametrize("killed_in", ["reset-production-account", "rename-standby-to-production", "standby-services"])
def test_promote_killed_and_resumed(lab_site_factory, killed_in):
    lab, config, site, journal = ready_to_promote(lab_site_factory)
    # The reset is killed once it took effect (a reset killed before its LDAP write is rightly
    # done again on resume); the other steps while they are being applied.
    kill_at = ("applied", "done") if killed_in == "reset-production-account" else ("applying", "applied", "done")
    # Slow the standby's answers a little so that the kill lands inside the step even on a busy machine.
    kill_promote_at(lab, config, journal, f"exchange2003.{killed_in}", kill_at, latency_ms=80)

    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    assert result.windows["mail flowing"] > 0
    assert_promoted(lab, site, journal)
