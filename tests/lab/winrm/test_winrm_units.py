"""Pure pieces of the WinRM endpoint: WS-Man envelopes, the NTLM user file, lab certificates."""

from __future__ import annotations

import ipaddress
import os
import stat

import pytest
from cryptography import x509
from pypsrp.wsman import WSMan

from qrdr.lab.tls import make_ca, make_server_cert
from qrdr.lab.winrm import ntlm_users, wsman


def test_operation_timeouts_parse():
    assert wsman.parse_duration("PT20S") == 20
    assert wsman.parse_duration("PT1M30.5S") == 90.5
    with pytest.raises(wsman.WSManFault, match="bad duration"):
        wsman.parse_duration("20 seconds")


def test_timed_out_fault_reads_as_windows_fault_in_pypsrp():
    request = wsman.parse_request(
        b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
        b'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"><s:Header>'
        b"<a:Action>x</a:Action><a:MessageID>uuid:1</a:MessageID></s:Header><s:Body/></s:Envelope>"
    )
    fault = WSMan._parse_wsman_fault(wsman.build_fault(request, wsman.timed_out_fault(), "exch1").decode())
    assert fault.code == 2150858793
    assert fault.machine == "exch1"
    assert "OperationTimeout" in fault.reason


def test_request_without_header_names_what_is_missing():
    with pytest.raises(wsman.WSManFault, match="no s:Header"):
        wsman.parse_request(b'<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"/>')


def test_ntlm_user_file_holds_hashes_only():
    users = {"UNIT\\hashonly": "Clear-Text-Secret"}
    ntlm_users.register(users)
    try:
        path = os.environ["NTLM_USER_FILE"]
        text = open(path, encoding="utf-8").read()
        assert "UNIT\\hashonly:1000:" in text
        assert "Clear-Text-Secret" not in text
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        ntlm_users.unregister(users)
    # The last account gone, the file this module made is gone too.
    assert not os.path.exists(path) or "UNIT\\hashonly" not in open(path, encoding="utf-8").read()


def test_ntlm_user_file_refuses_unusable_names():
    with pytest.raises(ValueError, match="cannot be used with NTLM"):
        ntlm_users.register({"bad:name": "x"})


def test_server_certificate_names_and_chain(tmp_path):
    ca = make_ca(tmp_path / "ca")
    cert = make_server_cert(ca, ["dc1.lab.test", "127.0.0.7"])
    loaded = x509.load_pem_x509_certificate(cert.cert_path.read_bytes())
    san = loaded.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["dc1.lab.test"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.7")]
    assert loaded.issuer == ca.certificate.subject
    loaded.verify_directly_issued_by(ca.certificate)
    assert stat.S_IMODE(os.stat(cert.key_path).st_mode) == 0o600
    assert cert.ca_path == ca.cert_path


def test_server_certificate_needs_names(tmp_path):
    with pytest.raises(ValueError, match="names must be non-empty"):
        make_server_cert(make_ca(tmp_path), [])
