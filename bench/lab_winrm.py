"""Benchmark of the lab WinRM endpoint with plain pypsrp on loopback.

Prints, per transport/auth: pool open time, per-command latency on an open pool
(mean and median over N commands), and HTTP requests per command.
LAB.md's reference: about 7 ms per command on loopback.

    /work/venv/bin/python bench/lab_winrm.py [--commands 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from qrdr.lab.sim.protocol import InvocationResult
from qrdr.lab.tls import make_ca, make_server_cert
from qrdr.lab.winrm import WinRMEndpoint

USER, PASSWORD = "BENCH\\admin", "Bench-Passw0rd"


class EchoHost:
    def accepts(self, user: str, password: str) -> bool:
        return True

    def invoke(self, pipeline, input_objects):
        return InvocationResult(output=[p[1] for p in pipeline[0].parameters])


def measure(label: str, endpoint: WinRMEndpoint, auth: str, ca_path: str | None, commands: int) -> None:
    https = endpoint.transport == "https"
    wsman = WSMan(
        endpoint.address, port=endpoint.port, ssl=https, username=USER, password=PASSWORD, auth=auth,
        cert_validation=ca_path if https else False,
    )
    started = time.perf_counter()
    pool = RunspacePool(wsman)
    pool.open()
    open_ms = (time.perf_counter() - started) * 1000
    latencies = []
    before = endpoint.request_count
    for index in range(commands):
        t0 = time.perf_counter()
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_argument(index)
        assert ps.invoke() == [index]
        latencies.append((time.perf_counter() - t0) * 1000)
    per_command = (endpoint.request_count - before) / commands
    pool.close()
    wsman.close()
    print(
        f"{label:<22} pool open {open_ms:7.1f} ms | per command mean {statistics.mean(latencies):5.2f} ms, "
        f"median {statistics.median(latencies):5.2f} ms over {commands} | {per_command:.1f} HTTP requests/command"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        ca = make_ca(directory)
        cert = make_server_cert(ca, ["127.0.0.1"])
        host = EchoHost()
        with WinRMEndpoint(host, {USER: PASSWORD}) as http, WinRMEndpoint(
            host, {USER: PASSWORD}, transport="https", tls=cert
        ) as https:
            measure("http ntlm+encryption", http, "ntlm", None, args.commands)
            measure("https basic", https, "basic", str(ca.cert_path), args.commands)
            measure("https ntlm+cbt", https, "ntlm", str(ca.cert_path), args.commands)


if __name__ == "__main__":
    main()
