"""Connecting to a real Samba DC: TLS checked, errors that name the DC, no password anywhere."""

from __future__ import annotations

import attrs
import pytest

from qrdr.directory import ConnectError, Directory, DirectoryError
from qrdr.directory.connection import SACL_SECURITY_INFORMATION, DACL_SECURITY_INFORMATION
from qrdr.directory.sd import SecurityDescriptor
from qrdr.model import DomainController

from .conftest import domain_for


def test_connects_over_ldaps_and_reads_the_naming_contexts_from_the_rootdse(dc, domain):
    with Directory.connect(domain, dc.admin_password) as directory:
        assert directory.url == f"ldaps://{dc.address}"
        assert directory.configuration_naming_context == dc.config_dn
        assert directory.default_naming_context == dc.base_dn
        assert directory.dsa_dn.startswith("CN=NTDS Settings,CN=DC1,")


def test_connects_with_starttls(dc):
    domain = domain_for(dc, tls="starttls")
    with Directory.connect(domain, dc.admin_password) as directory:
        assert directory.url == f"ldap://{dc.address}" and directory.encrypted
        assert directory.read(dc.base_dn, ["objectClass"]) is not None


def test_certificate_is_rejected_without_the_dcs_ca(dc):
    domain = domain_for(dc, ca_file=None)  # system store: does not know the lab's CA
    with pytest.raises(ConnectError) as caught:
        Directory.connect(domain, dc.admin_password)
    message = str(caught.value)
    assert f"ldaps://{dc.address}" in message and "certificate" in message and "ca_file" in message


def test_certificate_is_rejected_when_it_does_not_name_the_dc(dc, domain):
    impostor = DomainController(name="other-dc", address=dc.address)
    with pytest.raises(ConnectError, match="doesn't match"):
        Directory.connect(attrs.evolve(domain, controllers=(impostor,)), dc.admin_password)


def test_checks_off_only_by_name_and_then_warns(dc, qrdr_log):
    domain = domain_for(dc, ca_file=None, verify_tls=False)
    with Directory.connect(domain, dc.admin_password) as directory:
        assert directory.read(dc.base_dn, ["objectClass"]) is not None
    warnings = [line for line in qrdr_log if line.startswith("WARNING")]
    assert warnings and f"ldaps://{dc.address}" in warnings[0] and "OFF" in warnings[0]


def test_wrong_password_names_the_dc_and_user_but_not_the_password(dc, domain, qrdr_log):
    wrong = "Not-The-Password-42"
    with pytest.raises(ConnectError) as caught:
        Directory.connect(domain, wrong)
    message = str(caught.value)
    assert f"ldaps://{dc.address}" in message and dc.admin_user in message and "invalidCredentials" in message
    assert wrong not in message and wrong not in repr(caught.value)
    assert not any(wrong in line for line in qrdr_log)


def test_password_is_in_no_repr(dc, domain, qrdr_log):
    with Directory.connect(domain, dc.admin_password) as directory:
        assert dc.admin_password not in repr(directory)
        assert dc.admin_password not in repr(vars(directory))
        assert dc.admin_password not in repr(directory._connection)
    assert not any(dc.admin_password in line for line in qrdr_log)


def test_unreachable_dc_is_named_and_the_next_one_is_used(dc, domain):
    dead = DomainController(name="DC9", address="127.0.0.1", url="ldaps://127.0.0.1:1")
    with Directory.connect(attrs.evolve(domain, controllers=(dead, *domain.controllers)),
                           dc.admin_password) as directory:
        assert directory.url == f"ldaps://{dc.address}"
    with pytest.raises(ConnectError, match=r"ldaps://127\.0\.0\.1:1 \(DC DC9\): connect failed"):
        Directory.connect(attrs.evolve(domain, controllers=(dead,)), dc.admin_password)


def test_url_scheme_must_agree_with_the_tls_setting(dc, domain):
    plain = DomainController(name="DC1", address=dc.address, url=f"ldap://{dc.address}")
    with pytest.raises(DirectoryError, match="tls = 'ldaps'"):
        Directory.connect(attrs.evolve(domain, controllers=(plain,)), dc.admin_password)


def test_every_descriptor_of_the_domain_round_trips_byte_for_byte(directory):
    """All nTSecurityDescriptor values, read with the SD flags control, encode back unchanged."""
    count = 0
    naming_contexts = [directory.default_naming_context, directory.configuration_naming_context,
                       f"CN=Schema,{directory.configuration_naming_context}"]
    for flags in (DACL_SECURITY_INFORMATION, 0x7 | SACL_SECURITY_INFORMATION):
        for naming_context in naming_contexts:
            for entry in directory.search(naming_context, "(objectClass=*)", ["nTSecurityDescriptor"],
                                          sd_flags=flags):
                raw = entry.first("nTSecurityDescriptor")
                assert SecurityDescriptor.decode(raw).encode() == raw, entry.dn
                count += 1
    # a fresh domain has well over a thousand objects in these three naming contexts
    assert count > 2 * 1500


def test_a_lost_connection_is_reopened_once(dc, domain, qrdr_log):
    """AD drops idle connections; the DC restarting here drops ours the same way."""
    with Directory.connect(domain, dc.admin_password) as directory:
        assert directory.read(dc.base_dn, ["objectClass"]) is not None
        dc.stop()
        dc.start()
        dc.wait_ready(60)
        assert directory.read(dc.base_dn, ["objectClass"]) is not None
        assert any(f"connection to ldaps://{dc.address} lost" in line and "reconnecting" in line
                   for line in qrdr_log)
        directory.modify(f"CN=Computers,{dc.base_dn}",
                         {"description": [("MODIFY_REPLACE", ["written after a reconnect"])]}, what="test write")
        assert directory.read(f"CN=Computers,{dc.base_dn}", ["description"]).text("description") == \
            "written after a reconnect"
