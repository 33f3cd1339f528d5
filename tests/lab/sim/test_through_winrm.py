"""The simulated host behind the lab's real WinRM endpoint, seen by a plain pypsrp client."""

from __future__ import annotations

import pytest
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from qrdr.lab.sim import Lab, WindowsHost
from qrdr.lab.sim.services import add_windows_services, install_exchange_services
from qrdr.lab.winrm import WinRMEndpoint

pytestmark = pytest.mark.lab

USER, PASSWORD = "Administrator", "Sim-Passw0rd!"


@pytest.fixture
def pool():
    host = Lab().add(WindowsHost("EXCH01", local_users={USER: PASSWORD}))
    add_windows_services(host, winrm=True)
    install_exchange_services(host, "2003")
    endpoint = WinRMEndpoint(host, {USER: PASSWORD}, name="exch01").start()
    try:
        wsman = WSMan(endpoint.address, port=endpoint.port, ssl=False, auth="ntlm", username=USER,
                      password=PASSWORD)
        with RunspacePool(wsman) as opened:
            yield opened
    finally:
        endpoint.stop()


def test_services_and_wmi_reach_pypsrp_with_windows_shapes(pool):
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Service").add_parameter("Name", ["MSExchangeIS", "NoSuchSvc"])
    output = ps.invoke()
    assert not ps.had_errors
    [service] = output
    assert service.adapted_properties["Status"] == "Running"
    assert service.types[0] == "System.ServiceProcess.ServiceController"
    assert "Cannot find any service with service name 'NoSuchSvc'." in str(ps.streams.error[0])

    ps = PowerShell(pool)
    ps.add_cmdlet("Get-WmiObject").add_parameter("Class", "Win32_ComputerSystem")
    ps.add_cmdlet("Invoke-WmiMethod").add_parameter("Name", "Rename").add_parameter("ArgumentList", ["EXCH03"])
    [result] = ps.invoke()
    assert result.adapted_properties["ReturnValue"] == 0


def test_unknown_command_fails_the_pipeline(pool):
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-ServiceTypo")
    ps.invoke()
    assert ps.had_errors
    assert "The term 'Get-ServiceTypo' is not recognized" in str(ps.streams.error[0])
