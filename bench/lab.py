"""Lab start time and per-command latency on an open pool, against a whole lab site.

    python bench/lab.py [--site e2003-w2003-vss] [--commands 200]

Prints: the time to start the lab (directory, hosts, endpoints), the time to
open a runspace pool on production over HTTPS+NTLM, and the latency of
Get-Service on that open pool (mean, median, p95), plus the lab's memory.
Needs root and the lab's Debian packages (scripts/install-system-deps.sh).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from qrdr.config import load_site
from qrdr.lab.site import LabOptions, LabSite, builtin_site


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--site", default="e2003-w2003-vss")
    parser.add_argument("--commands", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qrdr-bench-lab-") as workdir:
        cache = f"{workdir}/golden"
        for attempt in ("cold (provisions a domain)", "warm (copies the provisioned domain)"):
            lab = LabSite(load_site(builtin_site(args.site)), f"{workdir}/{len(attempt)}", LabOptions(samba_cache_dir=cache))
            started = time.perf_counter()
            lab.start()
            print(f"lab start, {attempt}: {time.perf_counter() - started:.2f} s "
                  f"(directory ready {lab.started_seconds['directory ready']:.2f} s)")
            if attempt.startswith("warm"):
                break
            lab.destroy()
        try:
            host = lab.bound_site.hosts["production"]
            wsman = WSMan(host.address, port=host.winrm.port, ssl=True, username=host.winrm.user,
                          password=lab.environment()["QRDR_LAB_AD_PASSWORD"], cert_validation=host.winrm.ca_file,
                          auth="ntlm")
            started = time.perf_counter()
            with RunspacePool(wsman) as pool:
                print(f"pool open (HTTPS, NTLM): {1000 * (time.perf_counter() - started):.1f} ms")
                latencies = []
                for _ in range(args.commands):
                    shell = PowerShell(pool)
                    shell.add_cmdlet("Get-Service").add_parameter("Name", "MSExchangeIS")
                    started = time.perf_counter()
                    shell.invoke()
                    latencies.append(1000 * (time.perf_counter() - started))
            latencies.sort()
            print(f"Get-Service on an open pool, {args.commands} commands: mean {statistics.mean(latencies):.1f} ms, "
                  f"median {statistics.median(latencies):.1f} ms, p95 {latencies[int(0.95 * len(latencies))]:.1f} ms")
            samba_rss = lab.dc.rss_kib()
            print(f"memory: lab process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB max RSS, "
                  f"samba {samba_rss / 1024 if samba_rss else 0:.0f} MB RSS")
        finally:
            lab.destroy()


if __name__ == "__main__":
    main()
