"""Sessions for a run, and a Windows 2000 host reached through its management host."""

import pytest

from qrdr.model import Domain, DomainController, Exchange, ExchangeVersion, Host, Role, SecretRef, Site, WindowsVersion
from qrdr.remote.commands import Command
from qrdr.remote.errors import HostUnreachable, RemoteCommandError
from qrdr.remote.session import Sessions
from qrdr.remote.targeting import NotRedirectable

from .conftest import PASSWORD, USER, model_host

pytestmark = pytest.mark.lab


def make_site(management_endpoint, standby_endpoint):
    management = model_host(management_endpoint, name="MGMT01")
    management = Host(name="MGMT01", role=Role.MANAGEMENT, address=management.address,
                      windows=WindowsVersion.W2003, winrm=management.winrm)
    production = Host(name="W2K01", role=Role.PRODUCTION, address="192.0.2.10", windows=WindowsVersion.W2000,
                      via="mgmt")
    standby = model_host(standby_endpoint, name="EXCH02")
    domain = Domain(dns_name="lab.test", netbios_name="LAB", controllers=(DomainController("dc1", "127.0.0.1"),),
                    bind_user="u", bind_password=SecretRef(env="X"))
    return Site(name="lab", domain=domain, exchange=Exchange(ExchangeVersion.E2000, "Org"),
                hosts={"mgmt": management, "production": production, "standby": standby}, volumes=(),
                snap_engine="qsnap")


def test_sessions_make_one_remote_host_per_key_and_close_them_all(lab):
    management_host, management_endpoint = lab("MGMT01", known_computers=("W2K01",))
    standby_host, standby_endpoint = lab("EXCH02")
    asked = []

    def password_for(host):
        asked.append(host.name)
        return PASSWORD

    sessions = Sessions(make_site(management_endpoint, standby_endpoint), password_for)
    assert sessions.host("standby") is sessions.host("standby")
    assert asked == []  # nothing opened yet, no password asked
    sessions.host("standby").run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)
    w2k = sessions.host("production")
    system = w2k.run(Command("Get-WmiObject", {"Class": "Win32_OperatingSystem"}), read_only=True)
    assert system[0]["Version"] == "5.2.3790"
    # The Windows 2000 host borrowed the management host's session and acts with its account.
    assert asked == ["EXCH02", "MGMT01", "MGMT01"]
    # The management host received the command with -ComputerName of the Windows 2000 host and a
    # PSCredential: its session holds no credentials for the second hop.
    sent = management_host.invocations[-1][0].named()
    assert sent["computername"] == "W2K01" and sent["credential"].UserName == USER
    assert sent["credential"].Password.decrypt() == PASSWORD
    with pytest.raises(NotRedirectable, match="Start-Service.*W2K01.*MGMT01"):
        w2k.run(Command("Start-Service", {"Name": "MSExchangeSA"}))
    assert management_endpoint.shell_count == 1 and standby_endpoint.shell_count == 1
    sessions.close_all()
    assert management_endpoint.shell_count == 0 and standby_endpoint.shell_count == 0
    with pytest.raises(KeyError, match="no host 'commserve'"):
        sessions.host("commserve")


def test_a_windows_2000_host_error_names_it_and_its_management_host(lab):
    management_host, management_endpoint = lab("MGMT01")  # does not know W2K01: RPC server unavailable
    standby_host, standby_endpoint = lab("EXCH02")
    with Sessions(make_site(management_endpoint, standby_endpoint), lambda host: PASSWORD) as sessions:
        w2k = sessions.host("production")
        with pytest.raises(RemoteCommandError) as caught:
            w2k.run(Command("Get-WmiObject", {"Class": "Win32_OperatingSystem"}), read_only=True)
        assert "W2K01 (via MGMT01)" in str(caught.value)
        assert "-ComputerName 'W2K01'" in str(caught.value) and "RPC server is unavailable" in str(caught.value)
        assert not w2k.is_reachable()


def test_a_windows_2000_host_that_answers_but_refuses_is_not_taken_for_down(lab):
    management_host, management_endpoint = lab("MGMT01")
    standby_host, standby_endpoint = lab("EXCH02")
    management_host.denying_computers.add("w2k01")
    with Sessions(make_site(management_endpoint, standby_endpoint), lambda host: PASSWORD,
                  retry_backoff=0.01) as sessions:
        w2k = sessions.host("production")
        assert w2k.is_reachable()  # access denied: it is alive
        management_endpoint.go_down()
        with pytest.raises(HostUnreachable, match="MGMT01"):
            w2k.is_reachable()  # the management host is gone: nothing is known about W2K01
        management_endpoint.come_up()
