"""HTTP requests and wall time of 50 check-then-apply steps on one host: qrdr's session vs quick scripts.

Each step reads a service's start mode (``Get-WmiObject -Class Win32_Service
-Filter "Name='X'"``), then sets it (``Set-Service -Name X -StartupType ...``),
as a plugin step's check and apply do. The host is the lab's simulated Windows
Server 2003 (``qrdr.lab.sim.WindowsHost``) behind the lab's WinRM endpoint,
NTLM over HTTP with message encryption (the site default for HTTP). Requests
are counted at the endpoint (server side).

Compared:

* qrdr: one ``RemoteHost`` for the whole sequence (``run(read, read_only=True)``
  then ``run(set)``);
* quick script, Client per call: what a quick helper ``ps(host, text)`` does:
  ``with Client(...) as c: c.execute_ps(text)`` for the read, then for the set;
* quick script, one Client: a single ``Client`` kept for the whole sequence,
  ``execute_ps`` for the read, then for the set (printed for reference).

``execute_ps`` sends ``Invoke-Expression -Command <text> | Out-String -Stream``,
which the lab host runs for plain command text (``qrdr.lab.sim.expression``). The last
line is ``ratio: N``: the Client-per-call quick script's requests divided by
qrdr's.

    /work/venv/bin/python bench/remote_requests.py [--steps 50]
"""

from __future__ import annotations

import argparse
import time

from pypsrp.client import Client

from qrdr.lab.sim import WindowsHost
from qrdr.lab.sim.host import ServiceState
from qrdr.lab.winrm import WinRMEndpoint
from qrdr.model import Auth, Host, Role, SecretRef, Transport, WindowsVersion, WinRM
from qrdr.remote.commands import Command
from qrdr.remote.session import RemoteHost

USER, PASSWORD = "EXCH01\\qrdr-bench", "Bench-Passw0rd"
SERVICES = ["MSExchangeSA", "MSExchangeIS", "MSExchangeMTA", "RESvc", "IMAP4Svc", "POP3Svc"]


def make_host() -> WindowsHost:
    host = WindowsHost(name="EXCH01", local_users={"qrdr-bench": PASSWORD})
    for name in SERVICES:
        host.add_service(ServiceState(name=name, display_name=name, start_mode="Auto", state="Running"))
    return host


def step_texts(index: int) -> tuple[str, str]:
    name = SERVICES[index % len(SERVICES)]
    mode = "Manual" if (index // len(SERVICES)) % 2 == 0 else "Automatic"
    return (f"Get-WmiObject -Class Win32_Service -Filter \"Name='{name}'\"",
            f"Set-Service -Name {name} -StartupType {mode}")


def step_commands(index: int) -> tuple[Command, Command]:
    name = SERVICES[index % len(SERVICES)]
    mode = "Manual" if (index // len(SERVICES)) % 2 == 0 else "Automatic"
    return (Command("Get-WmiObject", {"Class": "Win32_Service", "Filter": f"Name='{name}'"}),
            Command("Set-Service", {"Name": name, "StartupType": mode}))


def run_qrdr(endpoint: WinRMEndpoint, steps: int) -> None:
    winrm = WinRM(user=USER, password=SecretRef(env="UNUSED"), transport=Transport.HTTP, auth=Auth.NTLM,
                  port=endpoint.port)
    model = Host(name="EXCH01", role=Role.STANDBY, address=endpoint.address, windows=WindowsVersion.W2003,
                 winrm=winrm)
    with RemoteHost(model, password=PASSWORD) as remote:
        for index in range(steps):
            read, change = step_commands(index)
            found = remote.run(read, read_only=True)
            assert found and found[0]["Name"] == change.parameters["Name"], found
            remote.run(change)


def client(endpoint: WinRMEndpoint) -> Client:
    return Client(endpoint.address, port=endpoint.port, ssl=False, auth="ntlm", username=USER, password=PASSWORD)


def run_quick_client_per_call(endpoint: WinRMEndpoint, steps: int) -> None:
    for index in range(steps):
        for text in step_texts(index):
            with client(endpoint) as quick:
                output, streams, had_errors = quick.execute_ps(text)
                assert not had_errors, streams.error


def run_quick_one_client(endpoint: WinRMEndpoint, steps: int) -> None:
    with client(endpoint) as quick:
        for index in range(steps):
            for text in step_texts(index):
                output, streams, had_errors = quick.execute_ps(text)
                assert not had_errors, streams.error


def measure(label: str, runner, steps: int) -> int:
    host = make_host()
    with WinRMEndpoint(host, {USER: PASSWORD}, name="exch01") as endpoint:
        before = endpoint.request_count
        start = time.perf_counter()
        runner(endpoint, steps)
        elapsed = time.perf_counter() - start
        requests = endpoint.request_count - before
    final = {s.name: s.start_mode for s in host.services.values() if s.name in SERVICES}
    print(f"{label:<34} {requests:>6} HTTP requests ({requests / steps:5.2f}/step) "
          f"{elapsed:7.3f} s ({elapsed / steps * 1000:6.1f} ms/step)  final start modes: {sorted(set(final.values()))}")
    return requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    steps = parser.parse_args().steps
    print(f"{steps} steps (read a service's start mode, then Set-Service), NTLM over HTTP, lab endpoint on loopback")
    ours = measure("qrdr RemoteHost", run_qrdr, steps)
    quick = measure("quick script, Client per call", run_quick_client_per_call, steps)
    shared = measure("quick script, one Client", run_quick_one_client, steps)
    print(f"ratio one Client/qrdr: {shared / ours:.2f}")
    print(f"ratio: {quick / ours:.2f}")


if __name__ == "__main__":
    main()
