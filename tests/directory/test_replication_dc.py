"""Waiting for every DC to show a change, with two real replicating Samba DCs."""

from __future__ import annotations

import time

import pytest

from qrdr.directory import (
    CREATE_DELETE_CHILD,
    FULL_CONTROL,
    Directory,
    ReplicationTimeout,
    ace_present,
    discover_controllers,
    find_computer,
    grant,
    wait_replicated,
)
from qrdr.lab.samba import add_computer, populate_exchange

from .conftest import GROUP, ORGANIZATION, domain_for


@pytest.fixture(scope="module")
def pair(samba_dc_pair):
    dc1, dc2 = samba_dc_pair
    populate_exchange(dc1, ORGANIZATION, GROUP, ["EXCH01"])
    add_computer(dc1, "STANDBY02")
    return dc1, dc2


@pytest.fixture
def pair_directory(pair):
    dc1, dc2 = pair
    with Directory.connect(domain_for(dc1, dc2), dc1.admin_password) as directory:
        yield directory


def test_finds_both_dcs_from_the_configuration_nc_and_maps_them_to_the_config(pair, pair_directory):
    dc1, dc2 = pair
    found = discover_controllers(pair_directory)
    assert [d.dns_host_name for d in found] == [dc1.host_name, dc2.host_name]
    assert [d.configured.address for d in found] == [dc1.address, dc2.address]


def test_wait_sees_a_grant_on_both_dcs(pair, pair_directory):
    dc1, dc2 = pair
    servers = f"CN=Servers,CN={GROUP},CN=Administrative Groups,CN={ORGANIZATION}," \
              f"CN=Microsoft Exchange,CN=Services,{dc1.config_dn}"
    # Wait until the tree and the account made on DC1 reached DC2 before working on them.
    wait_replicated(pair_directory, servers, {"cn": "Servers"}, 60)
    account = find_computer(pair_directory, "STANDBY02")
    assert grant(pair_directory, servers, account.sid, FULL_CONTROL).changed
    lines: list[str] = []
    report = wait_replicated(pair_directory, servers, ace_present(account.sid, FULL_CONTROL), 60,
                             progress=lines.append, interval_s=0.5)
    assert report.complete and not report.lagging
    assert sorted(state.url for state in report.controllers) == sorted([dc1.ldaps_url, dc2.ldaps_url])
    assert lines and lines[-1].startswith("2/2 domain controllers show")
    # Independent check on DC2 itself: Samba's dsacl shows the ACE there.
    sddl = dc2.samba_tool("dsacl", "get", f"--objectdn={servers}", "-H", dc2.ldap_url).stdout
    assert f"(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;{account.sid})" in sddl


def test_with_replication_paused_the_wait_stops_at_its_deadline_naming_the_lagging_dc(pair, pair_directory):
    dc1, dc2 = pair
    account_dn = find_computer(pair_directory, "STANDBY02").dn
    wait_replicated(pair_directory, account_dn, {"description": None}, 60)
    dc2.pause_inbound_replication()
    try:
        pair_directory.modify(account_dn, {"description": [("MODIFY_REPLACE", ["standby for EXCH01"])]},
                              what="setting a description")
        started = time.monotonic()
        with pytest.raises(ReplicationTimeout) as caught:
            wait_replicated(pair_directory, account_dn, {"description": "standby for EXCH01"}, 3, interval_s=0.5)
        waited = time.monotonic() - started
        report = caught.value.report
        assert [state.name for state in report.lagging] == [dc2.host_name]
        assert report.lagging[0].url == dc2.ldaps_url
        assert report.lagging[0].shows == "description=(absent)"
        message = str(caught.value)
        assert dc2.host_name in message and "description=(absent)" in message and dc1.host_name not in message
        assert 3 <= waited < 10

        # The same for a grant: the report says what the lagging DC allows the account.
        account = find_computer(pair_directory, "STANDBY02")
        organization = f"CN={ORGANIZATION},CN=Microsoft Exchange,CN=Services,{dc1.config_dn}"
        grant(pair_directory, organization, account.sid, CREATE_DELETE_CHILD)
        trustee = f"{dc1.netbios}\\STANDBY02$"
        report = wait_replicated(pair_directory, organization,
                                 ace_present(account.sid, CREATE_DELETE_CHILD, trustee=trustee), 2,
                                 raise_on_timeout=False)
        assert not report.done and [state.name for state in report.lagging] == [dc2.host_name]
        assert report.lagging[0].shows == f"no allow ACE for {trustee}"
        assert f"do not show allow {trustee} Create all child objects + Delete all child objects" \
            in report.describe()
    finally:
        dc2.resume_inbound_replication(from_dcs=[dc1])
    report = wait_replicated(pair_directory, account_dn, {"description": "standby for EXCH01"}, 30)
    assert report.complete


def test_a_dc_that_cannot_be_reached_counts_as_lagging(pair, pair_directory):
    dc1, dc2 = pair
    report = wait_replicated(pair_directory, dc1.base_dn, {"objectClass": ["top", "domain", "domainDNS"]}, 1,
                             raise_on_timeout=False)
    assert report.complete  # both DCs up: baseline
    dc2.stop()
    try:
        report = wait_replicated(pair_directory, dc1.base_dn, {"objectClass": ["top", "domain", "domainDNS"]}, 1,
                                 raise_on_timeout=False)
        assert not report.complete
        assert [state.name for state in report.lagging] == [dc2.host_name]
        assert "an error" in report.lagging[0].shows and dc2.address in report.lagging[0].shows
    finally:
        dc2.start()
        dc2.wait_ready(60)


def test_each_dc_lists_the_naming_contexts_it_holds(pair, pair_directory):
    dc1, _ = pair
    for found in discover_controllers(pair_directory, f"CN=Computers,{dc1.base_dn}"):
        assert {dc1.base_dn, dc1.config_dn} <= set(found.naming_contexts)
