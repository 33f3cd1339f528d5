"""Fixtures for the WinRM endpoint tests: the scripted host, a lab CA, endpoints, pypsrp clients."""

from __future__ import annotations

import threading

import pytest

from qrdr.lab.tls import make_ca, make_server_cert
from qrdr.lab.winrm import WinRMEndpoint

from winrm_testhost import LOCAL_USER, PASSWORD, USER, ScriptedHost


@pytest.fixture
def host():
    scripted = ScriptedHost()
    yield scripted
    scripted.wake.set()


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("lab-ca"))


@pytest.fixture(scope="session")
def server_cert(lab_ca):
    return make_server_cert(lab_ca, ["winrm-host.lab.test", "127.0.0.1"])


@pytest.fixture
def http_endpoint(host):
    endpoint = WinRMEndpoint(host, {USER: PASSWORD}, name="winrm-host").start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def https_endpoint(host, server_cert):
    """HTTPS with Basic switched on (winrm set winrm/config/service/auth @{Basic="true"}) for the local account."""
    endpoint = WinRMEndpoint(host, {USER: PASSWORD, LOCAL_USER: PASSWORD}, transport="https", tls=server_cert,
                             name="winrm-host", allow_basic=True).start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def connect(lab_ca):
    """Factory: a pypsrp WSMan for an endpoint (NTLM by default; HTTPS checks against the lab CA)."""
    from pypsrp.wsman import WSMan

    opened = []

    def factory(endpoint, auth="ntlm", username=USER, password=PASSWORD, **options):
        https = endpoint.transport == "https"
        options.setdefault("cert_validation", str(lab_ca.cert_path) if https else False)
        wsman = WSMan(
            endpoint.address, port=endpoint.port, ssl=https, username=username, password=password, auth=auth,
            **options,
        )
        opened.append(wsman)
        return wsman

    yield factory
    for wsman in opened:
        wsman.close()


@pytest.fixture(autouse=True)
def no_endpoint_threads_left():
    """Every test leaves no listener, connection or pipeline thread of the endpoint behind."""
    yield
    import time

    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        left = [t.name for t in threading.enumerate() if t.name.startswith("winrm-")]
        if not left:
            return
        time.sleep(0.05)
    raise AssertionError(f"endpoint threads still running after the test: {left}")
