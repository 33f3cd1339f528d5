"""RemoteHost against the lab's simulated Windows (qrdr.lab.sim): rename + reboot, and a Windows 2000 reboot."""

import datetime
import threading
import time

import pytest

from qrdr.lab.sim import Lab, WindowsHost
from qrdr.lab.winrm import WinRMEndpoint
from qrdr.model import Domain, DomainController, Exchange, ExchangeVersion, Host, Role, SecretRef, Site, WindowsVersion
from qrdr.remote.commands import Command
from qrdr.remote.results import parse_dmtf
from qrdr.remote.session import RemoteHost, Sessions

from .conftest import model_host

pytestmark = pytest.mark.lab

ADMIN, ADMIN_PASSWORD = "qrdr-remote-admin", "Sim-Adm1n-pw"


class SimulatedSite:
    """A Lab whose reboots take the endpoint down and bring it back after ``delay`` seconds."""

    def __init__(self, delay=0.3):
        self.delay = delay
        self.moment = datetime.datetime.now(datetime.timezone.utc)
        self.lab = Lab(on_restart=self._restart, clock=self._clock)
        self.endpoints = {}
        self.threads = []

    def _clock(self):
        self.moment += datetime.timedelta(seconds=7)  # every boot gets a later boot time
        return self.moment

    def add(self, name, windows="2003", endpoint=True):
        host = self.lab.add(WindowsHost(name=name, windows=windows, workgroup="WORKGROUP",
                                        local_users={ADMIN: ADMIN_PASSWORD}))
        if endpoint:
            self.endpoints[host.name] = WinRMEndpoint(host, {ADMIN: ADMIN_PASSWORD}, name=name.lower()).start()
        return host

    def _restart(self, host):
        endpoint = self.endpoints.get(host.name)

        def reboot():
            time.sleep(0.1)  # the answer to Restart-Computer goes out first
            if endpoint:
                endpoint.go_down()
            time.sleep(self.delay)
            host.complete_boot()
            if endpoint:
                endpoint.come_up()

        thread = threading.Thread(target=reboot, daemon=True)
        self.threads.append(thread)
        thread.start()

    def close(self):
        for thread in self.threads:
            thread.join(timeout=10)
        for endpoint in self.endpoints.values():
            endpoint.stop()


@pytest.fixture
def sim():
    site = SimulatedSite()
    yield site
    site.close()


def test_rename_then_reboot_continues_under_the_new_name(sim):
    standby = sim.add("EXCH01")
    endpoint = sim.endpoints["EXCH01"]
    with RemoteHost(model_host(endpoint, user=ADMIN), password=ADMIN_PASSWORD, retry_backoff=0.05) as remote:
        result = remote.run(Command("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
                            Command("Invoke-WmiMethod", {"Name": "Rename", "ArgumentList": ["EXCH01-TEMP"]}))
        assert result[0]["ReturnValue"] == 0
        assert standby.pending_name == "EXCH01-TEMP"
        evidence = remote.reboot(expected_name="EXCH01-TEMP", down_timeout=10, up_timeout=10, poll_interval=0.1)
        assert remote.computer_name() == "EXCH01-TEMP"
        services = remote.run(Command("Get-WmiObject", {"Class": "Win32_Service"}), read_only=True)
    assert standby.name == "EXCH01-TEMP"
    assert evidence["name_after"] == "EXCH01-TEMP"
    assert parse_dmtf(evidence["boot_after"]) > parse_dmtf(evidence["boot_before"])
    assert all("StartMode" in service for service in services)


def test_a_windows_2000_host_is_rebooted_and_waited_for_through_its_management_host(sim):
    sim.add("MGMT01")
    old = sim.add("W2K01", windows="2000", endpoint=False)
    sim.delay = 0.5
    management = model_host(sim.endpoints["MGMT01"], name="MGMT01", user=ADMIN)
    hosts = {
        "mgmt": Host(name="MGMT01", role=Role.MANAGEMENT, address=management.address, windows=WindowsVersion.W2003,
                     winrm=management.winrm),
        "production": Host(name="W2K01", role=Role.PRODUCTION, address="192.0.2.1", windows=WindowsVersion.W2000,
                           via="mgmt"),
    }
    domain = Domain(dns_name="lab.test", netbios_name="LAB", controllers=(DomainController("dc1", "127.0.0.1"),),
                    bind_user="u", bind_password=SecretRef(env="X"))
    site = Site(name="lab", domain=domain, exchange=Exchange(ExchangeVersion.E2000, "Org"), hosts=hosts,
                volumes=(), snap_engine="qsnap")
    before = old.boot_time
    with Sessions(site, lambda host: ADMIN_PASSWORD, retry_backoff=0.05) as sessions:
        w2k = sessions.host("production")
        assert isinstance(w2k, RemoteHost) and w2k.management is sessions.host("mgmt")
        system = w2k.run(Command("Get-WmiObject", {"Class": "Win32_OperatingSystem"}), read_only=True)
        assert system[0]["CSName"] == "W2K01" and system[0]["Version"].startswith("5.0")
        evidence = w2k.reboot(down_timeout=5, up_timeout=10, poll_interval=0.1)
    assert old.boot_time > before
    assert evidence["name_after"] == "W2K01"
