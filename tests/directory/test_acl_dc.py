"""Granting and revoking the runbook's rights on a real Samba DC.

Independent truth: Samba's own ``samba-tool dsacl get`` prints the descriptor as SDDL.
"""

from __future__ import annotations

import re

import attrs
import pytest

from qrdr.directory import (
    CREATE_DELETE_CHILD,
    FULL_CONTROL,
    Directory,
    NotFound,
    OperationFailed,
    find_computer,
    grant,
    locate,
    plan_grant,
    plan_revoke,
    revoke,
)
from qrdr.lab.samba import add_computer, add_user

from .conftest import GROUP, ORGANIZATION

FULL_CONTROL_SDDL = "RPWPCRCCDCLCLORCWOWDSDDTSW"


def dsacl(dc, dn: str) -> str:
    """The descriptor of ``dn`` as Samba prints it (SDDL)."""
    out = dc.samba_tool("dsacl", "get", f"--objectdn={dn}", "-H", dc.ldap_url).stdout
    lines = [line for line in out.splitlines() if re.match(r"^[OGDS]:", line)]
    assert len(lines) == 1, out
    return lines[0]


@pytest.fixture(scope="module")
def standby(dc):
    add_computer(dc, "STANDBY01", password="Some-Machine-Secret-1")
    return "STANDBY01"


@pytest.mark.parametrize("target,mask,sddl_rights", [
    ("organization_dn", CREATE_DELETE_CHILD, "CCDC"),
    ("servers_dn", FULL_CONTROL, FULL_CONTROL_SDDL),
    ("server_dn", FULL_CONTROL, FULL_CONTROL_SDDL),
])
def test_grant_adds_one_ace_that_samba_shows_and_keeps_the_rest(dc, directory, standby, target, mask,
                                                                sddl_rights):
    where = locate(directory, ORGANIZATION, GROUP, "EXCH01")
    dn = getattr(where, target)
    account = find_computer(directory, standby)
    before = dsacl(dc, dn)
    ace_sddl = f"(A;;{sddl_rights};;;{account.sid})"
    assert ace_sddl not in before

    plan = plan_grant(directory, dn, account.sid, mask)
    rights = "Full Control" if mask == FULL_CONTROL else "Create all child objects + Delete all child objects"
    assert plan.describe() == f"allow {dc.netbios}\\STANDBY01$ {rights} on {dn}"

    first = grant(directory, dn, account.sid, mask)
    assert first.changed and first.description == f"added: {plan.describe()}"
    after = dsacl(dc, dn)
    assert after.count(account.sid) == 1 and ace_sddl in after
    # Everything else is as it was: remove the new ACE and the text is the old one.
    assert after.replace(ace_sddl, "") == before
    # Canonical position: explicit ACEs first, the new one right before the first inherited ACE.
    dacl = re.findall(r"\(([^)]*)\)", after.split("D:", 1)[1].split("S:", 1)[0])
    position = dacl.index(ace_sddl[1:-1])
    assert all("ID" not in ace.split(";")[1] for ace in dacl[:position])
    assert all("ID" in ace.split(";")[1] for ace in dacl[position + 1:])

    second = grant(directory, dn, account.sid, mask)
    assert not second.changed and "already has" in second.description
    assert plan_grant(directory, dn, account.sid, mask) is None
    assert dsacl(dc, dn) == after

    assert plan_revoke(directory, dn, account.sid, mask).describe() == plan.describe()
    removed = revoke(directory, dn, account.sid, mask)
    assert removed.changed and removed.description == f"removed: {plan.describe()}"
    assert dsacl(dc, dn) == before
    assert not revoke(directory, dn, account.sid, mask).changed


def test_a_smaller_grant_is_covered_by_full_control(dc, directory, standby):
    where = locate(directory, ORGANIZATION, GROUP, "EXCH01")
    account = find_computer(directory, standby)
    grant(directory, where.server_dn, account.sid, FULL_CONTROL)
    try:
        assert plan_grant(directory, where.server_dn, account.sid, CREATE_DELETE_CHILD) is None
    finally:
        revoke(directory, where.server_dn, account.sid, FULL_CONTROL)


def test_revoke_leaves_aces_it_did_not_add(dc, directory, standby):
    """An ACE with other rights for the same account stays when the grant is revoked."""
    where = locate(directory, ORGANIZATION, GROUP, "EXCH01")
    account = find_computer(directory, standby)
    grant(directory, where.organization_dn, account.sid, 0x10)  # Read all properties, as someone else set it
    grant(directory, where.organization_dn, account.sid, CREATE_DELETE_CHILD)
    revoke(directory, where.organization_dn, account.sid, CREATE_DELETE_CHILD)
    text = dsacl(dc, where.organization_dn)
    assert f"(A;;RP;;;{account.sid})" in text and f"(A;;CCDC;;;{account.sid})" not in text
    revoke(directory, where.organization_dn, account.sid, 0x10)
    assert account.sid not in dsacl(dc, where.organization_dn)


def test_grant_on_a_missing_object_names_it(directory, standby):
    account = find_computer(directory, standby)
    missing = f"CN=Nowhere,{directory.configuration_naming_context}"
    with pytest.raises(NotFound, match=re.escape(missing)):
        grant(directory, missing, account.sid, FULL_CONTROL)


def test_bad_sid_is_refused_before_anything_is_read(directory):
    with pytest.raises(ValueError, match="S-1-5-oops"):
        plan_grant(directory, directory.default_naming_context, "S-1-5-oops", FULL_CONTROL)


def test_plan_warns_when_a_deny_ace_for_the_account_would_override_the_grant(dc, directory):
    add_computer(dc, "DENIED01")
    account = find_computer(directory, "DENIED01")
    where = locate(directory, ORGANIZATION, GROUP, "EXCH02")
    # Someone denied the account Create child on the server object, with Samba's own tool.
    dc.samba_tool("dsacl", "set", f"--objectdn={where.server_dn}", f"--sddl=(D;;CC;;;{account.sid})",
                  "-H", dc.ldap_url)
    plan = plan_grant(directory, where.server_dn, account.sid, FULL_CONTROL)
    assert plan.warnings == (f"a deny ACE for {dc.netbios}\\DENIED01$ (Create all child objects) takes "
                             f"precedence over this allow",)
    # The grant keeps the deny ACE (it writes back every ACE it did not add).
    grant(directory, where.server_dn, account.sid, FULL_CONTROL)
    assert f"(D;;CC;;;{account.sid})" in dsacl(dc, where.server_dn)


def test_a_grant_the_bind_account_may_not_make_fails_naming_the_ace_and_the_dc(dc, domain, standby):
    add_user(dc, "plainuser", password="Plain-User-Pass-3")
    with Directory.connect(attrs.evolve(domain, bind_user=f"plainuser@{dc.realm}"), "Plain-User-Pass-3") as weak:
        where = locate(weak, ORGANIZATION, GROUP)
        account = find_computer(weak, standby)
        before = dsacl(dc, where.servers_dn)
        with pytest.raises(OperationFailed) as caught:
            grant(weak, where.servers_dn, account.sid, FULL_CONTROL)
    message = str(caught.value)
    assert f"granting allow {dc.netbios}\\STANDBY01$ Full Control on {where.servers_dn}" in message
    assert f"ldaps://{dc.address}" in message and "insufficientAccessRights" in message
    assert dsacl(dc, where.servers_dn) == before
