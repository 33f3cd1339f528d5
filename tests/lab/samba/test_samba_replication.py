"""Two DCs: changes travel both ways within a deadline; paused replication holds them back.

Each side is read from the receiving DC's own sam.ldb (ldbsearch), not only over LDAP.
"""

from __future__ import annotations

import time

import pytest

from qrdr.lab.samba import SambaError, add_user, ldbsearch

pytestmark = pytest.mark.samba

DEADLINE = 60.0  # seconds; changes normally arrive in a few (bench/lab_samba.py measures it)
#: how long a paused DC is watched for a change it must not get: several notify periods
PAUSED_WATCH = 8.0


def _has_account(dc, name: str) -> bool:
    return bool(ldbsearch(dc, f"(sAMAccountName={name})", ["sAMAccountName"], base=dc.base_dn))


def _wait_for_account(dc, name: str, deadline: float = DEADLINE) -> float:
    started = time.monotonic()
    while not _has_account(dc, name):
        assert time.monotonic() - started < deadline, f"{name} did not reach {dc.name} within {deadline} s"
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
