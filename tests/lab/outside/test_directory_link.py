"""The lab's network between qrdr and its DC (LabOptions.directory_link, qrdr.lab.relay), seen by
a plain ldap3 client connecting as qrdr's site config says: TLS end to end (the DC's certificate
checked against its name), the faults directory-latency, directory-cut and directory-down/-up."""

from __future__ import annotations

import ssl
import time
import urllib.parse

import ldap3
import pytest
from ldap3.core import exceptions as ldap_exc

from conftest import ad_password, started_lab

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with started_lab(tmp_path_factory, directory_link=True) as started:
        yield started


def connection(lab) -> ldap3.Connection:
    """Bound as the site's bind user to the DC at the URL qrdr is given (the relay's)."""
    (controller,) = lab.bound_site.domain.controllers
    url = urllib.parse.urlsplit(controller.url)
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(lab.dc.ca_file),
                    valid_names=[lab.dc.tls_server_name, lab.dc.host_name])
    server = ldap3.Server(url.hostname, port=url.port, use_ssl=True, tls=tls, get_info=ldap3.NONE, connect_timeout=5)
    bound = ldap3.Connection(server, user=lab.dc.admin_user, password=ad_password(lab), receive_timeout=10,
                             raise_exceptions=True)
    bound.bind()
    return bound


def read_root(bound: ldap3.Connection) -> str:
    """The domain object's DN, read at the domain's base (from the bind user's UPN)."""
    base = ",".join(f"DC={part}" for part in bound.user.split("@")[1].split("."))
    bound.search(base, "(objectClass=domain)", search_scope=ldap3.BASE, attributes=["distinguishedName"])
    return bound.entries[0].entry_dn


def test_qrdr_is_given_the_relay_and_reaches_the_dc_through_it_with_its_certificate_checked(lab):
    (controller,) = lab.bound_site.domain.controllers
    assert controller.url == f"ldaps://{lab.dc.address}:{lab.directory_links[lab.dc.name].port}"
    with connection(lab) as bound:
        assert read_root(bound) == lab.dc.base_dn


def test_directory_latency_slows_every_round_trip(lab):
    with connection(lab) as bound:
        started = time.monotonic()
        read_root(bound)
        fast = time.monotonic() - started
        lab.fault("directory-latency", "300")
        try:
            started = time.monotonic()
            read_root(bound)
            slow = time.monotonic() - started
        finally:
            lab.fault("directory-latency", "0")
    assert slow >= 0.6 > fast, (fast, slow)  # the request and the answer each waited 300 ms


def test_directory_cut_resets_open_connections_and_new_ones_are_accepted(lab):
    bound = connection(lab)
    read_root(bound)
    # (a connection an earlier test closed may still be on its way out: at least this one)
    assert lab.fault("directory-cut").endswith(" connection(s) to the DCs cut")
    with pytest.raises(ldap_exc.LDAPException):
        read_root(bound)
    with connection(lab) as again:
        assert read_root(again) == lab.dc.base_dn


def test_directory_down_cuts_open_connections_and_leaves_new_ones_unanswered_until_up(lab):
    bound = connection(lab)
    read_root(bound)
    assert lab.fault("directory-down").startswith("the DCs stop answering")
    try:
        with pytest.raises(ldap_exc.LDAPException):
            read_root(bound)
        started = time.monotonic()
        with pytest.raises(ldap_exc.LDAPException):  # taken in, never answered: the client's timeout ends it
            connection(lab)
        assert time.monotonic() - started >= 4.5  # connect_timeout=5: not refused at once
    finally:
        lab.fault("directory-up")
    with connection(lab) as again:
        assert read_root(again) == lab.dc.base_dn


def test_directory_faults_need_the_link(tmp_path):
    """Without the option qrdr connects to the DC directly; its faults are then refused, naming it."""
    from qrdr.config import load_site
    from qrdr.lab.site import LabOptions, LabSite, builtin_site

    direct = LabSite(load_site(builtin_site("e2003-w2003-vss")), tmp_path, LabOptions())
    for fault in (("directory-cut",), ("directory-latency", "10"), ("directory-down",), ("directory-up",)):
        with pytest.raises(ValueError, match="start the lab with directory_link"):
            direct.fault(*fault)
