"""The session DC: reachable over verified LDAPS, Exchange tree and computer accounts in place.

Truth is read twice where it matters: over LDAP (ldap3) and straight from the DC's sam.ldb
with ``ldbsearch``, which does not go through the LDAP server at all.
"""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import ldap3
import pytest
from ldap3.core.exceptions import LDAPSocketOpenError
from ldap3.utils.conv import escape_filter_chars

from qrdr.lab.samba import (SambaError, _parse_ldif, add_computer, add_user, exchange_dns, ldbsearch,
                            populate_exchange)
from qrdr.lab.samba_fixtures import (ADMINISTRATIVE_GROUP, EXCHANGE_SERVERS, ORGANIZATION,
                                     default_computer_password)

pytestmark = pytest.mark.samba


def _exists_over_ldap(dc, dn: str) -> bool:
    connection = dc.connect()
    try:
        return connection.search(dn, "(objectClass=*)", search_scope=ldap3.BASE)
    finally:
        connection.unbind()


def test_admin_binds_over_ldaps_and_sees_the_domain(samba_dc):
    connection = samba_dc.connect()
    connection.search("", "(objectClass=*)", search_scope=ldap3.BASE,
                      attributes=["defaultNamingContext", "configurationNamingContext"])
    attributes = connection.entries[0].entry_attributes_as_dict
    assert attributes["defaultNamingContext"] == ["DC=qrdr,DC=lab"] == [samba_dc.base_dn]
    assert attributes["configurationNamingContext"] == [samba_dc.config_dn]
    assert samba_dc.admin_user == "Administrator@QRDR.LAB"


def test_certificate_is_checked_against_the_dc_name(samba_dc):
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(samba_dc.ca_file),
                    valid_names=["not-the-dc.qrdr.lab"])
    server = ldap3.Server(samba_dc.address, port=636, use_ssl=True, tls=tls, connect_timeout=5)
    with pytest.raises(LDAPSocketOpenError, match="doesn't match"):
        ldap3.Connection(server, user=samba_dc.admin_user, password=samba_dc.admin_password).bind()


def test_simple_bind_without_tls_is_refused_as_ad_does(samba_dc):
    connection = ldap3.Connection(ldap3.Server(samba_dc.address, port=389, connect_timeout=5),
                                  user=samba_dc.admin_user, password=samba_dc.admin_password)
    assert not connection.bind()
    assert connection.result["description"] == "strongerAuthRequired"


def test_password_stays_out_of_repr_and_errors(samba_dc):
    assert samba_dc.admin_password not in repr(samba_dc)
    with pytest.raises(SambaError) as raised:
        samba_dc.samba_tool("user", "show", "no-such-user", "-H", samba_dc.ldap_url)
    assert "no-such-user" in str(raised.value)
    assert samba_dc.admin_password not in str(raised.value)


def test_samba_tool_gets_the_password_outside_its_command_line(samba_dc):
    """Any local user can read /proc/PID/cmdline; the password must not be there."""
    process = samba_dc._samba_tool_process("drs", "options", samba_dc.address)
    seen = []
    try:
        while process.poll() is None:
            seen.append(Path(f"/proc/{process.pid}/cmdline").read_bytes().decode(errors="replace"))
            time.sleep(0.01)
    finally:
        output, errors = process.communicate(timeout=120)
    cmdline = next((line for line in seen if "samba-tool" in line), "")
    assert "drs" in cmdline, seen[:3]
    assert samba_dc.admin_password not in cmdline
    assert process.returncode == 0, errors
    assert "IS_GC" in output  # it did authenticate


@pytest.mark.parametrize("server", EXCHANGE_SERVERS)
def test_exchange_tree_is_there_for_each_server(samba_dc, server):
    tree = exchange_dns(samba_dc, ORGANIZATION, ADMINISTRATIVE_GROUP, server)
    assert tree["server"] == (f"CN={server},CN=Servers,CN=First Administrative Group,CN=Administrative Groups,"
                              "CN=First Organization,CN=Microsoft Exchange,CN=Services,CN=Configuration,"
                              "DC=qrdr,DC=lab")
    for key in ("organization", "servers", "server", "information_store", "storage_group", "mailbox_store",
                "public_store"):
        assert _exists_over_ldap(samba_dc, tree[key]), key
    server_on_disk = ldbsearch(samba_dc, "(objectClass=*)", ["cn"], base=tree["server"], scope="base")
    assert [entry["dn"][0].lower() for entry in server_on_disk] == [tree["server"].lower()]
    on_disk = ldbsearch(samba_dc, "(objectClass=container)", ["cn"], base=tree["server"])
    assert sorted(entry["cn"][0] for entry in on_disk) == sorted(
        [server, "InformationStore", "First Storage Group", f"Mailbox Store ({server})",
         f"Public Folder Store ({server})"])


def test_populate_exchange_is_idempotent_and_escapes_names(samba_dc):
    organization = "Contoso, Inc. #1+"
    first = populate_exchange(samba_dc, organization, "AG=1", ["MAIL;01"])
    again = populate_exchange(samba_dc, organization, "AG=1", ["MAIL;01"])
    assert first == again
    assert first["organization"].startswith("CN=Contoso\\, Inc. #1\\+,")
    found = ldbsearch(samba_dc, "(cn=Contoso, Inc. #1+)", ["cn"], base=f"CN=Services,{samba_dc.config_dn}")
    assert [entry["cn"] for entry in found] == [["Contoso, Inc. #1+"]]
    stores = ldbsearch(samba_dc, f"(cn={escape_filter_chars('Mailbox Store (MAIL;01)')})", ["cn"],
                       base=first["organization"])
    assert [entry["cn"] for entry in stores] == [["Mailbox Store (MAIL;01)"]]


@pytest.mark.parametrize("server", EXCHANGE_SERVERS)
def test_computer_account_is_a_workstation_trust_with_host_spns(samba_dc, server):
    entries = ldbsearch(samba_dc, f"(sAMAccountName={server}$)",
                        ["userAccountControl", "dNSHostName", "servicePrincipalName", "objectClass"])
    assert len(entries) == 1
    entry = entries[0]
    assert entry["dn"] == [f"CN={server},CN=Computers,DC=qrdr,DC=lab"]
    assert entry["userAccountControl"] == ["4096"]
    assert entry["dNSHostName"] == [f"{server.lower()}.qrdr.lab"]
    assert set(entry["servicePrincipalName"]) >= {f"HOST/{server}", f"HOST/{server.lower()}.qrdr.lab"}
    assert "computer" in entry["objectClass"]


@pytest.mark.parametrize("server", EXCHANGE_SERVERS)
def test_computer_binds_with_its_password_and_not_with_another(samba_dc, server):
    connection = samba_dc.connect(f"QRDR\\{server}$", default_computer_password(server))
    assert connection.bound
    connection.unbind()
    with pytest.raises(SambaError, match="invalidCredentials"):
        samba_dc.connect(f"QRDR\\{server}$", "not-its-password")


def test_disabled_computer_cannot_bind(samba_dc):
    add_computer(samba_dc, "OLDBOX", password="oldbox", enabled=False)
    assert ldbsearch(samba_dc, "(sAMAccountName=OLDBOX$)", ["userAccountControl"])[0]["userAccountControl"] == [
        str(4096 | 2)]
    with pytest.raises(SambaError, match="invalidCredentials"):
        samba_dc.connect("QRDR\\OLDBOX$", "oldbox")


def test_duplicate_computer_is_refused_with_its_name(samba_dc):
    with pytest.raises(SambaError, match="EXCH01"):
        add_computer(samba_dc, "EXCH01", password="whatever")


def test_bad_computer_name_is_refused_before_ldap(samba_dc):
    with pytest.raises(ValueError, match="SIXTEEN-CHARS-XX"):
        add_computer(samba_dc, "SIXTEEN-CHARS-XX")


def test_user_is_created_and_binds(samba_dc):
    dn = add_user(samba_dc, "lab.operator", "Op3rator-pass!")
    assert dn == "CN=lab.operator,CN=Users,DC=qrdr,DC=lab"
    connection = samba_dc.connect("lab.operator@QRDR.LAB", "Op3rator-pass!")
    assert connection.bound
    connection.unbind()


def test_ldif_reader_joins_folded_lines_and_decodes_base64():
    text = ("# record 1\n"
            "dn: CN=A very long name,CN=Servers,CN=First Administrative Group,CN=Administrative Gro\n"
            " ups,DC=qrdr,DC=lab\n"
            "cn:: TWFpbGJveCBTdG9yZSAoRVhDSDAx\n"
            " KQ==\n"
            "member: one\n"
            "member: two\n"
            "\n"
            "# returned 1 records\n")
    assert _parse_ldif(text) == [{
        "dn": ["CN=A very long name,CN=Servers,CN=First Administrative Group,CN=Administrative Groups,"
               "DC=qrdr,DC=lab"],
        "cn": ["Mailbox Store (EXCH01)"], "member": ["one", "two"]}]
