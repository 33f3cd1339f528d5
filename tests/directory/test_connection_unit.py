"""Connection settings derived from the site model, with no server."""

from __future__ import annotations

import attrs
import pytest

from qrdr.directory import DirectoryError
from qrdr.directory.connection import _endpoint, _ldap3_user, _Secret
from qrdr.model import Domain, DomainController, LdapBind, SecretRef

DC = DomainController(name="DC1", address="10.0.0.5")
DOMAIN = Domain(dns_name="corp.example", netbios_name="CORP", controllers=(DC,), bind_user="qrdr@corp.example",
                bind_password=SecretRef(env="X"))


@pytest.mark.parametrize("bind,given,expected", [
    (LdapBind.SIMPLE, "qrdr@corp.example", "qrdr@corp.example"),
    (LdapBind.SIMPLE, "CN=qrdr,CN=Users,DC=corp,DC=example", "CN=qrdr,CN=Users,DC=corp,DC=example"),
    (LdapBind.NTLM, "qrdr@corp.example", "CORP\\qrdr"),
    (LdapBind.NTLM, "qrdr", "CORP\\qrdr"),
    (LdapBind.NTLM, "OTHER\\qrdr", "OTHER\\qrdr"),
    (LdapBind.KERBEROS, "CORP\\qrdr", "qrdr@CORP.EXAMPLE"),
    (LdapBind.KERBEROS, "qrdr", "qrdr@CORP.EXAMPLE"),
    (LdapBind.KERBEROS, "qrdr@CORP.EXAMPLE", "qrdr@CORP.EXAMPLE"),
])
def test_bind_name_takes_the_form_the_mechanism_wants(bind, given, expected):
    assert _ldap3_user(attrs.evolve(DOMAIN, bind=bind, bind_user=given)) == expected


@pytest.mark.parametrize("tls,url,expected", [
    ("ldaps", None, ("ldaps://10.0.0.5", "10.0.0.5", 636, True)),
    ("starttls", None, ("ldap://10.0.0.5", "10.0.0.5", 389, False)),
    ("ldaps", "ldaps://dc1.corp.example:3269", ("ldaps://dc1.corp.example:3269", "dc1.corp.example", 3269, True)),
    ("starttls", "ldap://dc1.corp.example", ("ldap://dc1.corp.example", "dc1.corp.example", 389, False)),
])
def test_endpoint_follows_the_tls_setting(tls, url, expected):
    assert _endpoint(attrs.evolve(DOMAIN, tls=tls), attrs.evolve(DC, url=url)) == expected


@pytest.mark.parametrize("tls,url,message", [
    ("ldaps", "ldap://10.0.0.5", "does not match the domain's tls = 'ldaps'"),
    ("starttls", "ldaps://10.0.0.5", "does not match the domain's tls = 'starttls'"),
    ("plain", None, "tls must be 'ldaps' or 'starttls'"),
    ("ldaps", "http://10.0.0.5", "is not ldap:// or ldaps://"),
])
def test_endpoint_errors_name_the_controller_and_field(tls, url, message):
    with pytest.raises(DirectoryError, match=message):
        _endpoint(attrs.evolve(DOMAIN, tls=tls), attrs.evolve(DC, url=url))


def test_secret_never_shows_itself():
    secret = _Secret("hunter2-Long")
    assert "hunter2" not in repr(secret) and "hunter2" not in str(secret) and "hunter2" not in f"{secret}"
    assert secret.scrub("bind with hunter2-Long failed") == "bind with *** failed"
