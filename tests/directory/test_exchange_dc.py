"""Locating the Exchange objects by path on a real Samba DC, and the errors when they are missing."""

from __future__ import annotations

import pytest

from qrdr.directory import Ambiguous, NotFound, locate, organization_dn
from qrdr.lab.samba import populate_exchange

from .conftest import GROUP, ORGANIZATION

#: A name with every RFC 4514/4515 special character (NUL is refused by AD in a CN).
NASTY_ORG = 'Org, *(Test)\\+"<>;=# end'


def exchange_root(dc) -> str:
    return f"CN=Microsoft Exchange,CN=Services,{dc.config_dn}"


def test_locates_every_level_of_the_tree(dc, directory):
    where = locate(directory, ORGANIZATION, GROUP, "EXCH01")
    org = f"CN={ORGANIZATION},{exchange_root(dc)}"
    assert where.organization_dn == org
    assert where.administrative_group_dn == f"CN={GROUP},CN=Administrative Groups,{org}"
    assert where.servers_dn == f"CN=Servers,{where.administrative_group_dn}"
    assert where.server_dn == f"CN=EXCH01,{where.servers_dn}"
    for dn in (where.organization_dn, where.servers_dn, where.server_dn):
        assert directory.read(dn, ["cn"]) is not None


def test_the_only_administrative_group_is_taken_when_none_is_named(directory):
    assert locate(directory, ORGANIZATION).administrative_group_dn.startswith(f"CN={GROUP},")


def test_missing_organization_names_it_and_lists_what_is_there(dc, directory):
    with pytest.raises(NotFound) as caught:
        locate(directory, "No Such Org", GROUP, "EXCH01")
    message = str(caught.value)
    assert "Exchange organization 'No Such Org' not found" in message
    assert f"CN=No Such Org,{exchange_root(dc)}" in message and ORGANIZATION in message
    assert f"ldaps://{dc.address}" in message


def test_missing_administrative_group_names_it(directory):
    with pytest.raises(NotFound, match="administrative group 'Second Group' not found.*First Administrative Group"):
        locate(directory, ORGANIZATION, "Second Group")


def test_missing_server_names_it_and_the_servers_present(directory):
    with pytest.raises(NotFound, match=r"Exchange server object 'EXCH99' not found .*there are: EXCH01"):
        locate(directory, ORGANIZATION, GROUP, "EXCH99")


def test_special_characters_in_names_are_escaped_in_the_dn(dc, directory):
    tree = populate_exchange(dc, NASTY_ORG, GROUP, ["EXCH,01"])
    where = locate(directory, NASTY_ORG, GROUP, "EXCH,01")
    assert directory.read(where.server_dn, ["cn"]).text("cn") == "EXCH,01"
    assert directory.read(where.organization_dn, ["cn"]).text("cn") == NASTY_ORG
    # ldap3's escape_rdn (used by the lab to create it) and ours spell the DN differently;
    # the DC says both name the same object.
    assert directory.read(tree["organization"], ["cn"]).dn == directory.read(where.organization_dn, ["cn"]).dn


def test_several_organizations_without_a_name_are_ambiguous(dc, directory):
    populate_exchange(dc, "Second Org", GROUP, [])
    with pytest.raises(Ambiguous, match=f"Exchange organization below {exchange_root(dc)}.*Second Org"):
        organization_dn(directory, None)
