"""Figures of the lab's simulated Windows hosts (qrdr.lab.sim), without WinRM in between.

Prints the time per pipeline for the commands qrdr runs most (Get-Service of the
Exchange services, Win32_Service with a filter, Win32_LogicalDisk, a rename
through Invoke-WmiMethod, a reboot), the CLIXML size of their output as the
endpoint sends it, and how long building a whole site's hosts takes.

    /work/venv/bin/python bench/lab_sim.py [--repeat 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from xml.etree import ElementTree

from psrpcore.types import serialize

from qrdr.lab.sim import Lab, WindowsHost
from qrdr.lab.sim.factory import build_site_hosts
from qrdr.lab.sim.protocol import Invocation
from qrdr.lab.sim.services import add_windows_services, install_exchange_services
from qrdr.lab.sim.storage import GB, add_volume
from qrdr.model import (Domain, DomainController, Exchange, ExchangeVersion, Host, Role, SecretRef, Site, Volume,
                        WindowsVersion, WinRM)

EXCHANGE = ["MSExchangeSA", "MSExchangeIS", "MSExchangeMTA", "RESvc", "IMAP4Svc", "POP3Svc", "MSExchangeMGMT"]


def _host() -> WindowsHost:
    host = Lab().add(WindowsHost("EXCH01"))
    add_windows_services(host, winrm=True)
    install_exchange_services(host, "2003")
    add_volume(host, "C", 40 * GB, used=8 * GB)
    add_volume(host, "E", 100 * GB)
    return host


def _measure(label: str, repeat: int, run) -> None:
    times = []
    output = None
    for _ in range(repeat):
        start = time.perf_counter()
        output = run()
        times.append(time.perf_counter() - start)
    size = sum(len(ElementTree.tostring(serialize(obj, None))) for obj in (output or []) if obj is not None)
    print(f"{label:<48} median {statistics.median(times) * 1e6:8.1f} us   p95 "
          f"{sorted(times)[int(len(times) * 0.95) - 1] * 1e6:8.1f} us   output {size:7d} bytes CLIXML")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2000)
    repeat = parser.parse_args().repeat
    host = _host()
    _measure("Get-Service -Name <7 Exchange services>", repeat, lambda: host.invoke(
        [Invocation("Get-Service", parameters=(("Name", EXCHANGE),))], []).output)
    wql = " OR ".join(f"Name='{name}'" for name in EXCHANGE)
    _measure("Get-WmiObject Win32_Service -Filter <7 names>", repeat, lambda: host.invoke(
        [Invocation("Get-WmiObject", parameters=(("Class", "Win32_Service"), ("Filter", wql)))], []).output)
    _measure("Get-WmiObject Win32_LogicalDisk", repeat, lambda: host.invoke(
        [Invocation("Get-WmiObject", parameters=(("Class", "Win32_LogicalDisk"),))], []).output)
    _measure("Win32_ComputerSystem | Invoke-WmiMethod Rename", repeat, lambda: host.invoke(
        [Invocation("Get-WmiObject", parameters=(("Class", "Win32_ComputerSystem"),)),
         Invocation("Invoke-WmiMethod", parameters=(("Name", "Rename"), ("ArgumentList", ["EXCH02"])))], []).output)
    _measure("Restart-Computer -Force (reboot completes at once)", max(repeat // 10, 1), lambda: host.invoke(
        [Invocation("Restart-Computer", parameters=(("Force", True),))], []).output)
    _measure("unknown command (CommandNotFoundException)", repeat, lambda: host.invoke(
        [Invocation("Get-ServiceTypo")], []).output)

    winrm = WinRM(user="Administrator", password=SecretRef(env="X"))
    site = Site(name="bench", domain=Domain("qrdr.lab", "QRDR", (DomainController("DC1", "127.0.0.1"),), "admin",
                                            SecretRef(env="Y")),
                exchange=Exchange(ExchangeVersion.E2003, "First Organization"),
                hosts={"production": Host("EXCH01", Role.PRODUCTION, "10.0.0.21", WindowsVersion.W2003, winrm=winrm),
                       "standby": Host("EXCH02", Role.STANDBY, "10.0.0.22", WindowsVersion.W2003, winrm=winrm),
                       "commserve": Host("CS01", Role.COMMSERVE, "10.0.0.30", WindowsVersion.W2003, winrm=winrm)},
                volumes=(Volume("E", 100), Volume("F", 40)), snap_engine="vss")
    times = []
    for _ in range(max(repeat // 10, 1)):
        start = time.perf_counter()
        build_site_hosts(site)
        times.append(time.perf_counter() - start)
    print(f"{'build_site_hosts (3 hosts)':<48} median {statistics.median(times) * 1e3:8.2f} ms")


if __name__ == "__main__":
    main()
