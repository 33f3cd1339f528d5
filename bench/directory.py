"""Figures of qrdr's Active Directory layer against real Samba DCs on loopback.

Prints, for one fresh domain and then a pair of replicating DCs:

* the security descriptor codec: every nTSecurityDescriptor of the domain (DACL-only
  and full), decoded and encoded back byte for byte, time per descriptor;
* connect + LDAPS simple bind + rootDSE;
* the runbook's three grants (plan, grant, a second grant that adds nothing) and revokes;
* a computer account reset;
* with two DCs: how long until the second DC shows a grant made on the first
  (``wait_replicated``), i.e. what "replicate throughout the domain" costs.

    /work/venv/bin/python bench/directory.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from qrdr.directory import (
    CREATE_DELETE_CHILD,
    FULL_CONTROL,
    Directory,
    ace_present,
    find_computer,
    grant,
    locate,
    plan_grant,
    reset_computer_account,
    revoke,
    wait_replicated,
)
from qrdr.directory.sd import SecurityDescriptor
from qrdr.lab.samba import SambaDC, add_computer, populate_exchange
from qrdr.lab.samba_fixtures import ADMINISTRATIVE_GROUP, ORGANIZATION, lab_admin_password
from qrdr.model import Domain, DomainController, SecretRef


def domain_for(*dcs: SambaDC, ca_file: str) -> Domain:
    return Domain(dns_name=dcs[0].dns_domain, netbios_name=dcs[0].netbios,
                  controllers=tuple(DomainController(name=dc.name, address=dc.address) for dc in dcs),
                  bind_user=dcs[0].admin_user, bind_password=SecretRef(env="UNUSED"), ca_file=ca_file)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def bench_single(work: Path, repeat: int) -> None:
    dc = SambaDC.provision(work / "dc1", realm="bench.lab", netbios="BENCH", admin_password=lab_admin_password(),
                           name="DC1")
    try:
        dc.start()
        dc.wait_ready(60)
        populate_exchange(dc, ORGANIZATION, ADMINISTRATIVE_GROUP, ["EXCH01"])
        add_computer(dc, "EXCH02", password="Bench-Secret-1")
        domain = domain_for(dc, ca_file=str(dc.ca_file))

        connects = timed(lambda: Directory.connect(domain, dc.admin_password).close(), repeat)
        print(f"connect (LDAPS, simple bind, rootDSE): median {ms(statistics.median(connects))}")

        with Directory.connect(domain, dc.admin_password) as directory:
            raws = []
            started = time.perf_counter()
            for flags in (0x4, 0xF):
                for nc in (directory.default_naming_context, directory.configuration_naming_context,
                           f"CN=Schema,{directory.configuration_naming_context}"):
                    raws += [e.first("nTSecurityDescriptor") for e in
                             directory.search(nc, "(objectClass=*)", ["nTSecurityDescriptor"], sd_flags=flags)]
            read_s = time.perf_counter() - started
            started = time.perf_counter()
            same = sum(SecurityDescriptor.decode(raw).encode() == raw for raw in raws)
            codec_s = time.perf_counter() - started
            print(f"security descriptors: {len(raws)} read in {read_s:.2f} s; {same}/{len(raws)} round-trip "
                  f"byte for byte; codec {codec_s * 1e6 / len(raws):.0f} us per descriptor (decode + check + encode)")

            where = locate(directory, ORGANIZATION, ADMINISTRATIVE_GROUP, "EXCH01")
            sid = find_computer(directory, "EXCH02").sid
            grants = [(where.organization_dn, CREATE_DELETE_CHILD), (where.servers_dn, FULL_CONTROL),
                      (where.server_dn, FULL_CONTROL)]
            plans, firsts, seconds, revokes = [], [], [], []
            for _ in range(repeat):
                for dn, mask in grants:
                    plans += timed(lambda: plan_grant(directory, dn, sid, mask), 1)
                    firsts += timed(lambda: grant(directory, dn, sid, mask), 1)
                    seconds += timed(lambda: grant(directory, dn, sid, mask), 1)
                    revokes += timed(lambda: revoke(directory, dn, sid, mask), 1)
            print(f"plan_grant: median {ms(statistics.median(plans))}; grant: {ms(statistics.median(firsts))} "
                  f"(read, write, read back); second grant (no change): {ms(statistics.median(seconds))}; "
                  f"revoke: {ms(statistics.median(revokes))}  [{len(firsts)} of each]")
            resets = timed(lambda: reset_computer_account(directory, "EXCH02"), repeat)
            print(f"reset computer account: median {ms(statistics.median(resets))}")
    finally:
        dc.destroy()


def bench_pair(work: Path, repeat: int) -> None:
    dc1 = SambaDC.provision(work / "p1", realm="benchpair.lab", netbios="BENCHPAIR",
                            admin_password=lab_admin_password(), name="DC1")
    dc2 = None
    try:
        dc1.start()
        dc1.wait_ready(60)
        dc2 = dc1.join_second_dc(work / "p2", name="DC2")
        populate_exchange(dc1, ORGANIZATION, ADMINISTRATIVE_GROUP, ["EXCH01"])
        add_computer(dc1, "EXCH02")
        bundle = work / "ca-bundle.pem"
        bundle.write_text(Path(dc1.ca_file).read_text() + Path(dc2.ca_file).read_text())
        with Directory.connect(domain_for(dc1, dc2, ca_file=str(bundle)), dc1.admin_password) as directory:
            servers = locate(directory, ORGANIZATION, ADMINISTRATIVE_GROUP).servers_dn
            wait_replicated(directory, servers, {"cn": "Servers"}, 120)
            sid = find_computer(directory, "EXCH02").sid
            wait_replicated(directory, find_computer(directory, "EXCH02").dn, {"cn": "EXCH02"}, 120)
            waits = []
            for _ in range(max(3, repeat // 4)):
                grant(directory, servers, sid, FULL_CONTROL)
                waits.append(wait_replicated(directory, servers, ace_present(sid, FULL_CONTROL), 120,
                                             interval_s=0.2).elapsed_s)
                revoke(directory, servers, sid, FULL_CONTROL)
                present = ace_present(sid, FULL_CONTROL)

                def revoked(entry, present=present):
                    return entry is not None and not present(entry)

                revoked.attributes = present.attributes
                wait_replicated(directory, servers, revoked, 120, interval_s=0.2)
            print(f"replication of a grant to the second DC (wait_replicated, 0.2 s polls): "
                  f"median {statistics.median(waits):.1f} s, max {max(waits):.1f} s over {len(waits)} grants")
    finally:
        if dc2 is not None:
            dc2.destroy()
        dc1.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qrdr-bench-directory-") as work:
        bench_single(Path(work), args.repeat)
        bench_pair(Path(work), args.repeat)


if __name__ == "__main__":
    main()
