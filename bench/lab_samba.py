"""Figures of the lab's Samba AD DCs (qrdr.lab.samba) on this machine.

Prints:

* provision (``samba-tool domain provision``) vs. copy of a golden provisioned directory;
* start to ready (an authenticated LDAPS bind works), for a fresh and for a copied DC;
* resident memory (RSS) of the samba process when ready and after the Exchange tree;
* populate_exchange and add_computer;
* joining a second DC (join, start, ready, SPNs, first replication);
* replication delay both ways (a user added on one DC until ``ldbsearch`` finds it in the
  other DC's sam.ldb), and how long a resumed DC takes to get a change held while paused;
* stop (SIGTERM until the process is gone and the address removed).

    /work/venv/bin/python bench/lab_samba.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from qrdr.lab.samba import SambaDC, add_computer, add_user, ldbsearch, populate_exchange
from qrdr.lab.samba_fixtures import ADMINISTRATIVE_GROUP, EXCHANGE_SERVERS, ORGANIZATION, lab_admin_password


def timed(function, *args, **kwargs):
    started = time.monotonic()
    result = function(*args, **kwargs)
    return result, time.monotonic() - started


def wait_for_account(dc: SambaDC, name: str, deadline: float = 120.0) -> float:
    started = time.monotonic()
    while not ldbsearch(dc, f"(sAMAccountName={name})", ["sAMAccountName"], base=dc.base_dn):
        if time.monotonic() - started > deadline:
            raise TimeoutError(f"{name} did not reach {dc.name} in {deadline} s")
        time.sleep(0.05)
    return time.monotonic() - started


def summary(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f} s"
    return (f"median {statistics.median(values):.2f} s, min {min(values):.2f} s, max {max(values):.2f} s "
            f"(n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="replication measurements per direction")
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="qrdr-bench-samba-") as scratch:
        base = Path(scratch)
        cache = base / "golden"
        started_dcs: list[SambaDC] = []
        try:
            fresh, provision_seconds = timed(SambaDC.provision, base / "fresh", admin_password=lab_admin_password())
            print(f"provision (samba-tool):              {provision_seconds:.2f} s")
            fresh.start()
            started_dcs.append(fresh)
            print(f"start to ready (fresh):              {fresh.wait_ready(60):.2f} s")
            print(f"RSS when ready:                      {fresh.rss_kib() / 1024:.1f} MiB")
            _, stop_seconds = timed(fresh.stop)
            started_dcs.remove(fresh)
            print(f"stop:                                {stop_seconds:.2f} s")

            first_copy, golden_seconds = timed(SambaDC.provision, base / "first-copy",
                                               admin_password=lab_admin_password(), cache_dir=cache)
            first_copy.stop()  # never started: this releases its address
            print(f"golden provision + first copy:       {golden_seconds:.2f} s")
            dc1, copy_seconds = timed(SambaDC.provision, base / "dc1", admin_password=lab_admin_password(),
                                      cache_dir=cache)
            print(f"copy of the golden:                  {copy_seconds:.2f} s")
            dc1.start()
            started_dcs.append(dc1)
            print(f"start to ready (copy):               {dc1.wait_ready(60):.2f} s")
            _, exchange_seconds = timed(populate_exchange, dc1, ORGANIZATION, ADMINISTRATIVE_GROUP,
                                        list(EXCHANGE_SERVERS))
            print(f"populate_exchange (2 servers):       {exchange_seconds:.2f} s")
            _, computer_seconds = timed(add_computer, dc1, "EXCH01", password="exch01")
            print(f"add_computer with password:          {computer_seconds:.2f} s")
            print(f"RSS after content:                   {dc1.rss_kib() / 1024:.1f} MiB")

            dc2, join_seconds = timed(dc1.join_second_dc, base / "dc2", name="DC2")
            started_dcs.append(dc2)
            print(f"second DC join (to ready + synced):  {join_seconds:.2f} s")
            print(f"RSS of the second DC:                {dc2.rss_kib() / 1024:.1f} MiB")

            forward, backward = [], []
            for n in range(arguments.repeat):
                add_user(dc1, f"fwd{n}", "F0rward-pass!")
                forward.append(wait_for_account(dc2, f"fwd{n}"))
                add_user(dc2, f"back{n}", "B4ckward-pass!")
                backward.append(wait_for_account(dc1, f"back{n}"))
            print(f"  (each: {', '.join(f'{value:.1f}' for value in forward)} / "
                  f"{', '.join(f'{value:.1f}' for value in backward)} s)")
            print(f"replication DC1 -> DC2:              {summary(forward)}")
            print(f"replication DC2 -> DC1:              {summary(backward)}")

            _, pause_seconds = timed(dc2.pause_inbound_replication)
            add_user(dc1, "held", "H3ld-pass!x")
            time.sleep(5)
            held_arrived = bool(ldbsearch(dc2, "(sAMAccountName=held)", base=dc2.base_dn))
            _, resume_seconds = timed(dc2.resume_inbound_replication, from_dcs=[dc1])
            arrived_after = wait_for_account(dc2, "held")
            print(f"pause inbound replication:           {pause_seconds:.2f} s "
                  f"(held change arrived while paused: {held_arrived})")
            print(f"resume + forced replicate:           {resume_seconds:.2f} s "
                  f"(change present {arrived_after:.2f} s later)")
        finally:
            for dc in reversed(started_dcs):
                dc.stop()


if __name__ == "__main__":
    main()
