"""Two DCs: changes travel both ways within a deadline; paused replication holds them back.

Each side is read from the receiving DC's own sam.ldb (ldbsearch), not only over LDAP.
"""

from __future__ import annotations

import time

import pytest
from loguru import logger

from qrdr.lab.samba import SambaError, add_user, ldbsearch

pytestmark = pytest.mark.samba

#: seconds; changes normally arrive in a few (bench/lab_samba.py measures it), a missed notification
#: within one periodic pull (samba.REPLICATION_PERIODIC_SECONDS)
DEADLINE = 60.0
#: how long a paused DC is watched for a change it must not get: several notify periods
PAUSED_WATCH = 8.0


def _has_account(dc, name: str) -> bool:
    return bool(ldbsearch(dc, f"(sAMAccountName={name})", ["sAMAccountName"], base=dc.base_dn))


def _replication_view(dc) -> str:
    """What ``samba-tool drs showrepl`` says of ``dc``'s partners (last attempts, failures), for a failure message."""
    shown = dc.samba_tool("drs", "showrepl", dc.address, check=False)
    return f"--- {dc.name}: drs showrepl\n{(shown.stdout or shown.stderr)[-3000:]}"


def _wait_for_account(dc, name: str, deadline: float = DEADLINE) -> float:
    started = time.monotonic()
    while not _has_account(dc, name):
        if time.monotonic() - started >= deadline:
            views = "\n".join(_replication_view(each) for each in (dc, *dc.partners))
            pytest.fail(f"{name} did not reach {dc.name} within {deadline} s\n{views}")
        time.sleep(0.25)
    return time.monotonic() - started


def test_pair_are_two_dcs_of_one_domain(samba_dc_pair):
    dc1, dc2 = samba_dc_pair
    assert dc1.address != dc2.address
    assert dc1.base_dn == dc2.base_dn == "DC=pair,DC=qrdr,DC=lab"
    for dc in (dc1, dc2):
        servers = ldbsearch(dc, "(objectClass=nTDSDSA)", ["objectGUID"], base=f"CN=Sites,{dc.config_dn}")
        assert len(servers) == 2, dc.name


def test_change_on_first_dc_reaches_second_and_back(samba_dc_pair):
    dc1, dc2 = samba_dc_pair
    add_user(dc1, "repl.forward", "F0rward-pass!")
    _wait_for_account(dc2, "repl.forward")
    # the replicated password works on the other DC
    assert dc2.connect("repl.forward@PAIR.QRDR.LAB", "F0rward-pass!").bound
    add_user(dc2, "repl.back", "B4ckward-pass!")
    _wait_for_account(dc1, "repl.back")


def test_paused_inbound_replication_holds_changes_until_resumed(samba_dc_pair):
    dc1, dc2 = samba_dc_pair
    dc2.pause_inbound_replication()
    try:
        assert "DISABLE_INBOUND_REPL" in dc2.dsa_options()
        add_user(dc1, "repl.paused", "P4used-pass!")
        assert _has_account(dc1, "repl.paused")
        with pytest.raises(SambaError, match="drs replicate"):
            dc2.replicate_now(dc1)
        time.sleep(PAUSED_WATCH)
        assert not _has_account(dc2, "repl.paused")
    finally:
        dc2.resume_inbound_replication()  # pulls from its partner, dc1
    assert "DISABLE_INBOUND_REPL" not in dc2.dsa_options()
    # resume forces a pull, so the change is there at once
    assert _has_account(dc2, "repl.paused")


#: A KCC as slow as samba_kcc (a Python program) starting on a loaded machine.
SLOW_KCC = """#!/bin/sh
sleep 8
exec /usr/sbin/samba_kcc "$@"
"""


def test_join_survives_a_busy_kcc(tmp_path, tmp_path_factory):
    """While a KCC run is under way, samba-tool drs kcc is refused at once ("The operation cannot be
    performed", DS_BUSY in the KCC task), and a manual run that the periodic one kills gets no answer
    at all (samba-tool's RPC timeout). The join still ends with both DCs replicating, because it
    waits for the first DC's repsFrom to name the new DC, not for one KCC call to succeed."""
    from qrdr.lab import addresses
    from qrdr.lab.samba import SambaDC
    from qrdr.lab.samba_fixtures import golden_dir, lab_admin_password

    addresses.release_stale()
    wrapper = tmp_path / "slow-kcc"
    wrapper.write_text(SLOW_KCC)
    wrapper.chmod(0o755)
    first = SambaDC.provision(tmp_path / "dc1", realm="slow.qrdr.lab", netbios="SLOW",
                              admin_password=lab_admin_password(), name="DC1", cache_dir=golden_dir(tmp_path_factory))
    config = first.smb_conf.read_text()
    first.smb_conf.write_text(config.replace("[global]", f"[global]\n\tsamba kcc command = {wrapper}", 1))
    second = None
    running = None
    try:
        first.start()
        first.wait_ready(60)
        running = first._samba_tool_process("drs", "kcc", first.address)  # a KCC run under way
        time.sleep(2)
        refused = first.samba_tool("drs", "kcc", first.address, check=False)
        assert refused.returncode != 0 and "3221356597" in refused.stderr, refused.stderr or refused.stdout
        answers: list[str] = []
        logger.enable("qrdr")
        sink = logger.add(lambda message: answers.append(str(message)), level="INFO",
                          filter=lambda record: "KCC of DC1 answered" in record["message"])
        try:
            second = first.join_second_dc(tmp_path / "dc2", name="DC2", timeout=60)
        finally:
            logger.remove(sink)
            logger.disable("qrdr")
        assert second.ntds_guid() in first.inbound_partners()[first.base_dn.lower()]
        # The join's own KCC call met a run under way (the periodic one, 15 s after samba started):
        # refused as busy, or killed by it and left without an answer. The join went on regardless.
        assert any(code in line for line in answers for code in ("3221356597", "3221225653")), answers
        add_user(second, "repl.busykcc", "Bu5y-kcc-pass!")
        _wait_for_account(first, "repl.busykcc")
    finally:
        if running is not None:
            running.kill()
            running.communicate()
        if second is not None:
            second.destroy()
        first.destroy()
