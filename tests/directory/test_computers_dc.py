"""Computer accounts on a real Samba DC: find, reset, rename, disable, enable, escaping.

Independent truth: a bind as the computer account itself, and ``ldbsearch`` on the DC's sam.ldb.
"""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from qrdr.directory import (
    ConnectError,
    Directory,
    NotFound,
    OperationFailed,
    default_password,
    disable_computer,
    enable_computer,
    find_computer,
    rename_computer,
    reset_computer_account,
)
from qrdr.lab.samba import add_computer, ldbsearch
from qrdr.plugins.common.accounts import check_enabled, check_renamed, check_reset
from qrdr.steps import Outcome


@pytest.fixture(scope="module")
def other_computers(dc):
    """Accounts that a wildcard or an injected filter would match."""
    return [add_computer(dc, name) for name in ("FINDME02", "VALID01")]


def bind_as(domain, user: str, password: str) -> None:
    """Bind as ``user`` (must work, else ConnectError) and close."""
    Directory.connect(attrs.evolve(domain, bind_user=user), password).close()


def sam_entry(dc, sam: str) -> dict:
    entries = ldbsearch(dc, f"(sAMAccountName={sam})",
                        ["sAMAccountName", "dNSHostName", "userAccountControl", "servicePrincipalName", "cn"])
    assert len(entries) == 1, entries
    return entries[0]


def test_find_returns_the_account(dc, directory):
    add_computer(dc, "FINDME01")
    account = find_computer(directory, "findme01$")
    assert account.sam_account_name == "FINDME01$" and account.name == "FINDME01"
    assert account.dn == f"CN=FINDME01,CN=Computers,{dc.base_dn}"
    assert account.dns_host_name == f"findme01.{dc.dns_domain}"
    assert account.enabled and account.sid.startswith("S-1-5-21-")
    assert ldbsearch(dc, "(sAMAccountName=FINDME01$)", ["objectSid"])[0]["objectSid"] == [account.sid]


@pytest.mark.parametrize("name", ["*", "*)(objectClass=*", "FIND*", "a\\b", "x\x00y", 'q,+"<>;=#'])
def test_filter_metacharacters_never_match_other_accounts(directory, other_computers, name):
    with pytest.raises(NotFound, match="not found"):
        find_computer(directory, name)


def test_reset_sets_the_default_password_aduc_would(dc, directory, domain):
    add_computer(dc, "PRODSRV01", password="Before-Reset-Secret-7")
    user = f"PRODSRV01$@{dc.realm}"
    with pytest.raises(ConnectError):
        bind_as(domain, user, "prodsrv01")  # not the default password yet
    started = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=2)
    plan = check_reset(directory, "PRODSRV01")
    assert plan.outcome is Outcome.WILL_CHANGE and "cannot be detected by reading" in plan.changes[0]

    change = reset_computer_account(directory, "PRODSRV01")
    assert change.changed and "PRODSRV01$" in change.description
    bind_as(domain, user, "prodsrv01")
    bind_as(domain, f"CN=PRODSRV01,CN=Computers,{dc.base_dn}", "prodsrv01")
    assert check_reset(directory, "PRODSRV01", since=started).outcome is Outcome.NO_CHANGE


def test_default_password_is_the_lower_case_name_cut_to_14(dc, directory, domain):
    assert default_password("EXCHANGE-SRV-001$") == "exchange-srv-0"
    add_computer(dc, "LONGNAMESRV0015", password="Another-Secret-8")
    reset_computer_account(directory, "LONGNAMESRV0015")
    bind_as(domain, f"LONGNAMESRV0015$@{dc.realm}", "longnamesrv001")


def test_reset_of_a_missing_account_names_it(directory):
    with pytest.raises(NotFound, match=r"GHOST01\$ not found in DC="):
        reset_computer_account(directory, "GHOST01")
    assert check_reset(directory, "GHOST01").outcome is Outcome.BLOCKED


def test_rename_changes_cn_sam_and_dns_name_and_samba_moves_the_spns(dc, directory):
    add_computer(dc, "OLDNAME01")
    assert check_renamed(directory, "OLDNAME01", "NEWNAME01").outcome is Outcome.WILL_CHANGE
    change = rename_computer(directory, "OLDNAME01", "NEWNAME01")
    assert change.changed
    account = find_computer(directory, "NEWNAME01")
    assert account.dn == f"CN=NEWNAME01,CN=Computers,{dc.base_dn}"
    assert account.dns_host_name == f"newname01.{dc.dns_domain}"
    truth = sam_entry(dc, "NEWNAME01$")
    assert truth["cn"] == ["NEWNAME01"] and truth["dNSHostName"] == [f"newname01.{dc.dns_domain}"]
    assert f"HOST/newname01.{dc.dns_domain}" in truth["servicePrincipalName"]
    assert not any("OLDNAME01" in spn.upper() for spn in truth["servicePrincipalName"])
    assert ldbsearch(dc, "(sAMAccountName=OLDNAME01$)", ["cn"]) == []
    assert check_renamed(directory, "OLDNAME01", "NEWNAME01").outcome is Outcome.NO_CHANGE
    assert not rename_computer(directory, "NEWNAME01", "NEWNAME01").changed


def test_rename_onto_an_existing_account_fails_before_writing(dc, directory):
    add_computer(dc, "TAKEN01")
    add_computer(dc, "MOVER01")
    with pytest.raises(OperationFailed, match=r"TAKEN01\$"):
        rename_computer(directory, "MOVER01", "TAKEN01")
    assert sam_entry(dc, "MOVER01$")["cn"] == ["MOVER01"]
    assert check_renamed(directory, "MOVER01", "TAKEN01").outcome is Outcome.BLOCKED


@pytest.mark.parametrize("bad", ["FAR-TOO-LONG-NAME-X", "bad,name", "star*"])
def test_rename_refuses_invalid_names(directory, other_computers, bad):
    with pytest.raises(ValueError, match="new computer name"):
        rename_computer(directory, "VALID01", bad)


def test_disable_and_enable(dc, directory):
    add_computer(dc, "TOGGLE01")
    assert check_enabled(directory, "TOGGLE01", False).outcome is Outcome.WILL_CHANGE
    assert disable_computer(directory, "TOGGLE01").changed
    assert int(sam_entry(dc, "TOGGLE01$")["userAccountControl"][0]) & 0x2
    assert not find_computer(directory, "TOGGLE01").enabled
    assert not disable_computer(directory, "TOGGLE01").changed
    assert check_enabled(directory, "TOGGLE01", False).outcome is Outcome.NO_CHANGE
    assert enable_computer(directory, "TOGGLE01").changed
    uac = int(sam_entry(dc, "TOGGLE01$")["userAccountControl"][0])
    assert not uac & 0x2 and uac & 0x1000  # still a workstation trust account
    assert find_computer(directory, "TOGGLE01").enabled
