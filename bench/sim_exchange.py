"""Figures of the lab's Exchange and Commvault simulation (no servers: in-process hosts).

Prints:

* seeding a site (hosts from the factory, production Exchange with its stores, the CommServe);
* configuring Quick Recovery with the documented XML requests (qlogin + 6 x qoperation),
  the QR Volume Creation job included;
* one QR incremental update as production's log stream grows (14, 1000, 5000 generations
  on the logs volume): the copy is a file-by-file copy of the volume;
* ``eseutil /r`` soft recovery on the standby over the same log streams.

    /work/venv/bin/python bench/sim_exchange.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

from qrdr import model
from qrdr.lab.sim import commvault, exchange
from qrdr.lab.sim.factory import build_site_hosts
from qrdr.lab.sim.host import Lab
from qrdr.lab.sim.protocol import Invocation

PASSWORD = "bench-Passw0rd"
DOC = Path(__file__).resolve().parents[1] / "docs" / "design" / "commvault-requests.md"


def site() -> model.Site:
    secret = model.SecretRef(env="UNUSED")
    winrm = model.WinRM(user="LAB\\qrdr", password=secret)
    hosts = {key: model.Host(name=name, role=role, address="127.0.0.1", windows=model.WindowsVersion.W2003,
                             winrm=winrm)
             for key, name, role in (("production", "EXCH01", model.Role.PRODUCTION),
                                     ("standby", "EXCH02", model.Role.STANDBY),
                                     ("commserve", "CS01", model.Role.COMMSERVE))}
    return model.Site(
        name="bench", domain=model.Domain("lab.test", "LAB", (model.DomainController("DC1", "127.0.0.1"),),
                                          "admin@lab.test", secret),
        exchange=model.Exchange(model.ExchangeVersion.E2003, "Lab"), hosts=hosts,
        volumes=(model.Volume("E", 100, (model.VolumeContent.DATABASES,)),
                 model.Volume("F", 40, (model.VolumeContent.LOGS, model.VolumeContent.SYSTEM_PATH))),
        snap_engine="qsnap")


def native(host, program: str, *arguments: str) -> list[str]:
    result = host.invoke([Invocation(program, parameters=tuple((None, a) for a in arguments))], [])
    assert result.failed is None and host.last_exit_code == 0, (result, host.last_exit_code)
    return result.output


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    requests = [b for b in re.findall(r"```xml\n(.*?)```", DOC.read_text(), flags=re.S)
                if re.match(r"\s*<App_\w+Request>", b)][:6]
    the_site = site()

    def seed():
        hosts = build_site_hosts(the_site, lab=Lab())
        exchange.seed_site(the_site, hosts, options=exchange.LabOptions(setup_seconds=0))
        commvault.seed_site(the_site, hosts, password=PASSWORD)
        return hosts

    print(f"seed a site: {statistics.median(timed(seed) for _ in range(repeat)):.1f} ms (median of {repeat})")

    for generations in (14, 1000, 5000):
        configure, updates, recoveries = [], [], []
        for _ in range(repeat):
            hosts = seed()
            cs, production, standby = hosts["commserve"], hosts["production"], hosts["standby"]
            exchange.for_host(production).write_transactions(generations - exchange.SEED_LOG_GENERATIONS)

            def configure_qr():
                native(cs, "qlogin", "-cs", "CS01", "-u", "admin", "-clp", PASSWORD)
                for request in requests:
                    cs.files.write_text(r"C:\qrdr\request.xml", request)
                    native(cs, "qoperation", "execute", "-af", r"C:\qrdr\request.xml")

            configure.append(timed(configure_qr))
            updates.append(timed(lambda: commvault.for_host(cs).run_incremental_update()))
            state = exchange.attach(standby, exchange.for_host(production).organization)
            state.install = exchange.ExchangeInstall("2003", "disaster-recovery", r"C:\Program Files\Exchsrvr", ())
            logs = r"F:\Exchsrvr\mdbdata"
            recoveries.append(timed(lambda: native(standby, "eseutil", "/r", "E00", "/l", logs, "/s", logs)))
        print(f"{generations:5d} log generations: configure QR + volume creation {statistics.median(configure):7.1f} ms, "
              f"incremental update {statistics.median(updates):7.1f} ms, eseutil /r {statistics.median(recoveries):7.1f} ms")


if __name__ == "__main__":
    main()
