"""Connection settings from the site model: TLS checks on by default, off only by name (and logged)."""

import pytest

from qrdr.model import Auth, Host, Role, SecretRef, Transport, WindowsVersion, WinRM
from qrdr.remote.session import ConnectionSettings, RemoteHost


def make_host(**winrm_fields):
    winrm = WinRM(user="LAB\\qrdr", password=SecretRef(env="X"), **winrm_fields)
    return Host(name="EXCH01", role=Role.PRODUCTION, address="10.0.0.5", windows=WindowsVersion.W2003, winrm=winrm)


def test_https_checks_certificates_against_the_system_store_by_default():
    settings = ConnectionSettings.from_host(make_host())
    assert settings.cert_validation is True
    assert settings.url == "https://10.0.0.5:5986/wsman"


def test_a_ca_file_is_the_only_trust_anchor(tmp_path):
    settings = ConnectionSettings.from_host(make_host(ca_file=str(tmp_path / "ca.pem")))
    assert settings.cert_validation == str(tmp_path / "ca.pem")
    transport = settings.wsman("pw").transport
    assert transport.cert_validation == str(tmp_path / "ca.pem")


def test_turning_checks_off_is_logged_with_the_host_name(qrdr_log):
    settings = ConnectionSettings.from_host(make_host(verify_tls=False))
    assert settings.cert_validation is False
    assert any("WARNING" in line and "EXCH01" in line and "verify_tls" in line for line in qrdr_log)


def test_http_uses_message_encryption_and_refuses_basic():
    settings = ConnectionSettings.from_host(make_host(transport=Transport.HTTP, auth=Auth.NTLM))
    transport = settings.wsman("pw").transport
    assert settings.url == "http://10.0.0.5:5985/wsman"
    assert transport.wrap_required is True and transport.auth == "ntlm"
    with pytest.raises(ValueError, match="EXCH01.*Basic.*clear"):
        ConnectionSettings.from_host(make_host(transport=Transport.HTTP, auth=Auth.BASIC))


@pytest.mark.parametrize("auth", list(Auth))
def test_every_auth_of_the_model_is_one_pypsrp_accepts(auth):
    settings = ConnectionSettings.from_host(make_host(auth=auth))
    assert settings.wsman("pw").transport.auth == auth.value


def test_timeouts_come_from_the_model_and_probes_shorten_them():
    settings = ConnectionSettings.from_host(make_host(operation_timeout=7, connection_timeout=9))
    wsman = settings.wsman("pw")
    assert wsman.operation_timeout == 7
    assert wsman.transport.connection_timeout == 9 and wsman.transport.read_timeout > 7
    assert settings.wsman("pw", timeout=2).transport.connection_timeout == 2


def test_after_a_rename_kerberos_asks_for_the_new_name():
    remote = RemoteHost(make_host(auth=Auth.KERBEROS), password="pw")
    remote.reconnect_as("EXCH01-TEMP")
    assert remote.name == "EXCH01-TEMP"
    assert remote.settings.server == "10.0.0.5"  # the address stays
    assert remote.settings.wsman("pw").transport.negotiate_hostname_override == "EXCH01-TEMP"


def test_the_password_appears_in_no_repr():
    remote = RemoteHost(make_host(), password="S3cret-pw!")
    assert "S3cret" not in repr(remote)
    assert "EXCH01" in repr(remote)


def test_a_host_without_winrm_is_named():
    host = Host(name="W2K01", role=Role.PRODUCTION, address="10.0.0.6", windows=WindowsVersion.W2000)
    with pytest.raises(ValueError, match="W2K01"):
        RemoteHost(host, password="pw")


def test_a_management_host_must_be_reachable_itself():
    from qrdr.model import Domain, DomainController, Exchange, ExchangeVersion, Site
    from qrdr.remote.session import Sessions

    w2k = Host(name="W2K01", role=Role.PRODUCTION, address="10.0.0.6", windows=WindowsVersion.W2000, via="other")
    other = Host(name="W2K02", role=Role.STANDBY, address="10.0.0.7", windows=WindowsVersion.W2000, via="production")
    domain = Domain(dns_name="lab.test", netbios_name="LAB", controllers=(DomainController("dc1", "10.0.0.1"),),
                    bind_user="u", bind_password=SecretRef(env="X"))
    site = Site(name="lab", domain=domain, exchange=Exchange(ExchangeVersion.E2000, "Org"),
                hosts={"production": w2k, "other": other}, volumes=(), snap_engine="qsnap")
    with pytest.raises(ValueError, match="'production' .* via 'other', which must be .* no via of its own"):
        Sessions(site, lambda host: "pw").host("production")
