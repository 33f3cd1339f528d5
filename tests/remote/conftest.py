"""Fixtures of the remoting tests: a capture of qrdr's log lines."""

import pytest
from loguru import logger


@pytest.fixture
def qrdr_log():
    """Every line qrdr logs during the test (the library's logger is enabled for the test only)."""
    lines: list[str] = []
    logger.enable("qrdr")
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(sink)
    logger.disable("qrdr")


# -- the lab endpoint with a tiny host ------------------------------------------------------

import attrs  # noqa: E402

from qrdr.lab.tls import make_ca, make_server_cert  # noqa: E402
from qrdr.lab.winrm import WinRMEndpoint  # noqa: E402
from qrdr.model import Auth, Host, Role, SecretRef, Transport, WindowsVersion, WinRM  # noqa: E402

from .labhost import TinyWindowsHost  # noqa: E402

USER = "LAB\\qrdr-remote"
PASSWORD = "Remote-Pa55'$(x)"
#: The host's own account: Basic authentication takes local accounts only.
LOCAL_USER = "qrdr-local"


@pytest.fixture(scope="session")
def lab_ca(tmp_path_factory):
    return make_ca(tmp_path_factory.mktemp("remote-ca"))


@pytest.fixture(scope="session")
def server_cert(lab_ca):
    return make_server_cert(lab_ca, ["exch01.lab.test", "127.0.0.1"])


@pytest.fixture
def lab():
    """Factory: ``lab(name, transport="http")`` -> (TinyWindowsHost, started WinRMEndpoint); all stopped after."""
    started = []

    def start(name="EXCH01", *, transport="http", tls=None, allow_basic=False, **host_options):
        host = TinyWindowsHost(name, **host_options)
        endpoint = WinRMEndpoint(host, {USER: PASSWORD, LOCAL_USER: PASSWORD}, transport=transport, tls=tls,
                                 name=name.lower(), allow_basic=allow_basic)
        host.endpoint = endpoint
        endpoint.start()
        started.append((host, endpoint))
        return host, endpoint

    yield start
    for host, endpoint in started:
        endpoint.faults.never_return = False
        host.join()
        endpoint.stop()


def model_host(endpoint, name="EXCH01", **winrm_fields) -> Host:  # noqa: D401
    """A site-model Host pointing at a lab endpoint (NTLM over HTTP unless told otherwise)."""
    transport = Transport(endpoint.transport)
    winrm = WinRM(user=USER, password=SecretRef(env="UNUSED"), transport=transport, auth=Auth.NTLM,
                  port=endpoint.port, operation_timeout=5, connection_timeout=5)
    winrm = attrs.evolve(winrm, **winrm_fields)
    return Host(name=name, role=Role.STANDBY, address=endpoint.address, windows=WindowsVersion.W2003, winrm=winrm)
