"""Logon and transport security of the lab WinRM endpoint, seen through plain pypsrp."""

from __future__ import annotations

import pytest
import requests
from pypsrp.client import Client
from pypsrp.exceptions import AuthenticationError
from pypsrp.powershell import PowerShell, RunspacePool

from qrdr.lab.winrm import WinRMEndpoint

from winrm_testhost import LOCAL_USER, PASSWORD, USER


def run_one(wsman) -> list:
    with RunspacePool(wsman) as pool:
        ps = PowerShell(pool)
        ps.add_cmdlet("Write-Output").add_argument("pong")
        return ps.invoke()


def test_ntlm_with_message_encryption_over_http(http_endpoint, connect):
    wsman = connect(http_endpoint, auth="ntlm")
    assert run_one(wsman) == ["pong"]
    # pypsrp really encrypted: its transport holds an encryption context for this connection.
    assert wsman.transport.encryption is not None


def test_negotiate_over_http_works_too(http_endpoint, connect):
    assert run_one(connect(http_endpoint, auth="negotiate")) == ["pong"]


def test_basic_over_https_with_the_lab_ca(https_endpoint, connect):
    assert run_one(connect(https_endpoint, auth="basic", username=LOCAL_USER)) == ["pong"]


def test_ntlm_over_https_with_channel_binding(https_endpoint, connect):
    assert run_one(connect(https_endpoint, auth="ntlm")) == ["pong"]


def test_channel_binding_is_enforced(https_endpoint, connect):
    # An endpoint expecting another certificate's binding must refuse the client's NTLM token.
    https_endpoint.channel_binding = b"tls-server-end-point:" + b"\x00" * 32
    with pytest.raises(AuthenticationError):
        run_one(connect(https_endpoint, auth="ntlm"))


@pytest.mark.parametrize("auth", ["ntlm", "negotiate"])
def test_wrong_password_is_rejected_over_http(http_endpoint, connect, auth):
    with pytest.raises(AuthenticationError):
        run_one(connect(http_endpoint, auth=auth, password="not-the-password"))


def test_wrong_password_is_rejected_with_basic(https_endpoint, connect):
    with pytest.raises(AuthenticationError):
        run_one(connect(https_endpoint, auth="basic", username=LOCAL_USER, password="not-the-password"))


def test_basic_refuses_a_domain_account_and_is_off_unless_switched_on(https_endpoint, connect):
    with pytest.raises(AuthenticationError):
        run_one(connect(https_endpoint, auth="basic"))  # LAB\\winrmadmin: a domain account
    https_endpoint.allow_basic = False  # the service's default
    with pytest.raises(AuthenticationError):
        run_one(connect(https_endpoint, auth="basic", username=LOCAL_USER))
    assert run_one(connect(https_endpoint, auth="ntlm")) == ["pong"]


def test_basic_over_plain_http_is_refused(http_endpoint, connect):
    with pytest.raises(AuthenticationError):
        run_one(connect(http_endpoint, auth="basic", username=LOCAL_USER, encryption="never"))


def test_certificate_rejected_without_the_lab_ca(https_endpoint, connect):
    with pytest.raises(requests.exceptions.SSLError):
        run_one(connect(https_endpoint, auth="basic", username=LOCAL_USER, cert_validation=True))


def test_host_can_refuse_an_account(http_endpoint, host, connect):
    host.refused_users.add(USER.lower())
    with pytest.raises(AuthenticationError):
        run_one(connect(http_endpoint, auth="ntlm"))


def test_account_of_another_endpoint_is_not_let_in(http_endpoint, host, connect):
    # Both accounts are in the one process-wide NTLM file, but each endpoint admits only its own.
    other = WinRMEndpoint(host, {"OTHER\\someone": "Other-Passw0rd"}, name="other").start()
    try:
        with pytest.raises(AuthenticationError):
            run_one(connect(http_endpoint, auth="ntlm", username="OTHER\\someone", password="Other-Passw0rd"))
        assert run_one(connect(other, auth="ntlm", username="OTHER\\someone", password="Other-Passw0rd")) == ["pong"]
    finally:
        other.stop()


def test_same_account_with_two_passwords_is_refused_at_start(http_endpoint, host):
    clash = WinRMEndpoint(host, {USER: "a-different-password"}, name="clash")
    with pytest.raises(ValueError, match="another password"):
        clash.start()
    assert "a-different-password" not in repr(clash)


def test_execute_ps_through_the_client(https_endpoint, lab_ca):
    client = Client(
        "127.0.0.1", port=https_endpoint.port, ssl=True, username=USER, password=PASSWORD, auth="ntlm",
        cert_validation=str(lab_ca.cert_path),
    )
    output, streams, had_errors = client.execute_ps("Write-Output hello")
    assert (output, had_errors) == ("hello", False)


def test_a_wrong_path_is_not_found(http_endpoint, connect):
    from pypsrp.exceptions import WinRMTransportError

    with pytest.raises(WinRMTransportError) as caught:
        run_one(connect(http_endpoint, path="notwsman"))
    assert caught.value.code == 404
