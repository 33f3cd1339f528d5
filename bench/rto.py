"""RTO and production's outage on the lab, against the waits the runbook cannot avoid.

    python bench/rto.py [--site e2003-w2003-vss] [--reboot 2 12] [--setup 5]

For each lab reboot time (``--reboot``, seconds a restarting host is down), on a fresh lab
whose setup.exe/update.exe take ``--setup`` seconds: configure, create-qr-volumes, production
fails (powered off), promote. For configure and promote it prints:

- the measured window (the journal's: "production outage", "mail flowing");
- the critical-path minimum: the unavoidable waits of the steps inside that window, one after
  the other (qrdr runs steps one at a time, and the runbook orders these), as the lab itself
  timed them: each restart from Restart-Computer until the host's WinRM endpoint listens again
  (the lab's going-down time plus its reboot time), each setup.exe/update.exe run its setup
  time. sysocmgr and the service starts are instantaneous in the lab, so they add nothing here
  (on real hardware they take minutes);
- the restarts of each host, counted by the lab (not by qrdr);
- qrdr's own time per step: the step's time minus its unavoidable waits (polling, WinRM
  round trips, directory work);
- the window as the run's report shows it (qrdr.report: the waits the steps timed themselves,
  and qrdr's own time), which should agree with the lab's figures;
- ``outage_ratio:`` / ``rto_ratio:`` = measured / minimum. Goal: at most 1.05 each, and a
  promote that restarts the standby at most twice.

Needs root and the lab's Debian packages (scripts/install-system-deps.sh); takes a few minutes
per reboot time.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import attrs

from qrdr.api import Runbook
from qrdr.config import load_site
from qrdr.lab.site import LabOptions, LabSite, builtin_site
from qrdr.report import build_report



class RestartLog:
    """The lab's own record of every restart: (asked at, back at, host key), whatever qrdr believes.

    A restart is asked for when the simulated host takes Restart-Computer and is over when its
    WinRM endpoint listens again (``back at`` None while it is still down).
    """

    def __init__(self, lab: LabSite):
        self.restarts: list[list] = []
        self._lock = threading.Lock()
        keys = {id(host): key for key, host in lab.hosts.items()}
        original = lab.lab.on_restart

        def on_restart(host) -> None:  # the lab's callback for a host going down for a reboot
            with self._lock:
                self.restarts.append([time.time(), None, keys.get(id(host), host.name)])
            original(host)

        lab.lab.on_restart = on_restart
        for key, endpoint in lab.endpoints.items():
            endpoint.come_up = self._noting_return(key, endpoint.come_up)

    def _noting_return(self, key: str, come_up):
        def noted() -> None:
            come_up()
            with self._lock:
                pending = [entry for entry in self.restarts if entry[2] == key and entry[1] is None]
                if pending:
                    pending[-1][1] = time.time()
        return noted

    def between(self, start: float, end: float) -> list[str]:
        """The hosts asked to restart between ``start`` and ``end`` (one entry per restart)."""
        return [key for asked, _back, key in self.restarts if start <= asked <= end]

    def seconds_between(self, start: float, end: float) -> float:
        """How long the restarts asked for between ``start`` and ``end`` kept their hosts away."""
        return sum((back or end) - asked for asked, back, _key in self.restarts if start <= asked <= end)


def setup_seconds_between(lab: LabSite, start: float, end: float) -> float:
    """The lab's time of the setup.exe/update.exe runs started between ``start`` and ``end``, on any host."""
    total = 0.0
    for host in lab.hosts.values():
        state = getattr(host, "exchange", None)
        for run in (state.setup_runs.values() if state is not None else ()):
            if start <= run.started.timestamp() <= end:
                total += (run.finishes - run.started).total_seconds()
    return total


def step_rows(journal: Path, run_id: int) -> list[sqlite3.Row]:
    with sqlite3.connect(journal) as db:
        db.row_factory = sqlite3.Row
        return db.execute("SELECT step_id, state, started_at, ended_at FROM steps WHERE run_id = ? "
                          "AND started_at IS NOT NULL ORDER BY seq", (run_id,)).fetchall()


def report(command: str, result, journal: Path, restarts: RestartLog, lab: LabSite, window: str,
           ratio: str) -> None:
    rows = step_rows(journal, result.run_id)
    minimum = 0.0
    own_lines = []
    inside = range(len(rows))
    if window == "production outage":
        # The window opens when stop-production-services applies and closes with mount-production-stores.
        ids = [row["step_id"].split(".", 1)[1] for row in rows]
        inside = range(ids.index("stop-production-services"), ids.index("mount-production-stores") + 1)
    for index, row in enumerate(rows):
        seconds = (row["ended_at"] or row["started_at"]) - row["started_at"]
        end = row["ended_at"] or row["started_at"]
        unavoidable = (restarts.seconds_between(row["started_at"], end)
                       + setup_seconds_between(lab, row["started_at"], end))
        if index in inside:
            minimum += unavoidable
        if seconds >= 0.05 or unavoidable:
            own_lines.append(f"    {row['step_id']:<45} {seconds:7.2f} s, unavoidable {unavoidable:6.2f} s, "
                             f"qrdr's own {seconds - unavoidable:6.2f} s")
    run_start, run_end = rows[0]["started_at"], rows[-1]["ended_at"] or rows[-1]["started_at"]
    counted = Counter(restarts.between(run_start, run_end))
    measured = result.windows.get(window, 0.0)
    print(f"  {command}: {result.status}; {window}: measured {measured:.2f} s, critical-path minimum "
          f"{minimum:.2f} s")
    print(f"  {command}: restarts per host: " + (", ".join(f"{key} {n}" for key, n in sorted(counted.items()))
                                                 or "none"))
    print("\n".join(own_lines))
    # The same window as the run's report shows it, from the waits the steps timed themselves.
    shown = next((w for w in build_report(journal, result.run_id)["windows"] if w["name"] == window), None)
    if shown and "unavoidable_seconds" in shown:
        kinds = ", ".join(f"{kind} {seconds:.2f} s" for kind, seconds in shown["unavoidable_waits"].items())
        print(f"  {command}: the report: {window} {shown['seconds']:.2f} s, unavoidable waits "
              f"{shown['unavoidable_seconds']:.2f} s ({kinds}), qrdr's own {shown['qrdr_seconds']:.2f} s")
    print(f"{ratio}: {measured / minimum:.3f}" if minimum else f"{ratio}: n/a (no unavoidable wait)")


def run_once(site_name: str, reboot: float, setup: float, workdir: Path) -> None:
    lab = LabSite(load_site(builtin_site(site_name)), workdir / "lab", LabOptions(reboot_seconds=reboot))
    lab.start()
    try:
        lab.organization.options.setup_seconds = setup
        os.environ.update(lab.environment())
        restarts = RestartLog(lab)
        site = attrs.evolve(lab.bound_site, state_dir=str(workdir / "state"))
        runbook = Runbook(site)
        journal = Path(site.state_dir) / f"{site.name}.journal.sqlite"
        print(f"reboot {reboot:g} s, setup {setup:g} s ({site_name}):")
        configured = runbook.run("configure", yes=True)
        report("configure", configured, journal, restarts, lab, "production outage", "outage_ratio")
        if configured.status != "succeeded":
            return
        volumes = runbook.run("create-qr-volumes", yes=True)
        if volumes.status != "succeeded":
            print(f"  create-qr-volumes: {volumes.status}: {volumes.message}")
            return
        lab.fault("qr-update")
        lab.fault("power-off", "production")
        promoted = runbook.run("promote", yes=True)
        report("promote", promoted, journal, restarts, lab, "mail flowing", "rto_ratio")
    finally:
        lab.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", default="e2003-w2003-vss")
    parser.add_argument("--reboot", type=float, nargs="+", default=[2.0, 12.0])
    parser.add_argument("--setup", type=float, default=5.0)
    args = parser.parse_args()
    for reboot in args.reboot:
        with tempfile.TemporaryDirectory(prefix="qrdr-bench-rto-") as workdir:
            run_once(args.site, reboot, args.setup, Path(workdir))


if __name__ == "__main__":
    main()
