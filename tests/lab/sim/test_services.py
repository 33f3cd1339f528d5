"""Services: ServiceController shape, Win32_Service with -Filter, start/stop order, Set-Service, faults."""

from __future__ import annotations

from xml.etree import ElementTree

from psrpcore.types import deserialize, serialize

from qrdr.lab.sim import Lab, WindowsHost
from qrdr.lab.sim.services import add_windows_services, install_exchange_services

from .conftest import call


def test_service_controller_has_the_shape_windows_sends(exchange_host):
    controller = call(exchange_host, ("Get-Service", {"Name": "MSExchangeIS"})).output[0]
    element = serialize(controller, None)
    # What pypsrp receives, read back as a client would.
    received = deserialize(element, None)
    assert received.PSObject.type_names[0] == "Deserialized.System.ServiceProcess.ServiceController"
    assert (received.Name, received.ServiceName, received.Status) == ("MSExchangeIS", "MSExchangeIS", "Running")
    assert received.DisplayName == "Microsoft Exchange Information Store"
    assert list(received.ServicesDependedOn) == ["MSExchangeSA"]
    assert {"IMAP4Svc", "POP3Svc"} <= set(received.DependentServices)
    properties = {node.get("N") for node in element.iter() if node.get("N")}
    assert "StartType" not in properties  # PowerShell 2.0's ServiceController has none
    assert ElementTree.tostring(element).count(b"<T>System.ServiceProcess.ServiceController[]</T>") == 1


def test_exchange_dependencies_follow_real_exchange():
    for version in ("2000", "2003"):
        host = WindowsHost("x", windows="2003")
        add_windows_services(host, winrm=True)
        install_exchange_services(host, version)
        assert "MSExchangeSA" in host.service("MSExchangeIS").depends_on
        assert host.service("MSExchangeMTA").depends_on == ("MSExchangeSA",)
        assert "MSExchangeIS" in host.service("IMAP4Svc").depends_on
        assert "MSExchangeIS" in host.service("POP3Svc").depends_on
        for name in ("RESvc", "SMTPSVC", "NNTPSVC", "W3SVC"):
            assert "IISADMIN" in host.service(name).depends_on
        assert {"RpcSs", "EventLog", "NtLmSsp"} <= set(host.service("MSExchangeSA").depends_on)
        assert (host.service("MSExchangeMGMT") is not None) == (version == "2003")


def test_unknown_service_is_a_non_terminating_error(exchange_host):
    result = call(exchange_host, ("Get-Service", {"Name": ["MSExchangeSA", "NoSuchSvc"]}))
    assert result.failed is None
    assert [s.Name for s in result.output] == ["MSExchangeSA"]
    [error] = result.errors
    assert error.message == "Cannot find any service with service name 'NoSuchSvc'."
    assert error.fully_qualified_error_id == "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"
    assert error.category == "ObjectNotFound"


def test_win32_service_filter_with_or(exchange_host):
    result = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_Service",
                                                    "Filter": "Name='MSExchangeSA' OR name = 'msexchangeis'"}))
    assert result.failed is None
    assert sorted((o.Name, o.State, o.StartMode, o.Started) for o in result.output) == [
        ("MSExchangeIS", "Running", "Auto", True), ("MSExchangeSA", "Running", "Auto", True)]
    service = result.output[0]
    assert service.PSObject.type_names[:2] == ["System.Management.ManagementObject#root\\cimv2\\Win32_Service",
                                               "System.Management.ManagementObject"]
    assert service.__CLASS == "Win32_Service" and service.__SERVER == "EX1"
    assert service.__RELPATH == f'Win32_Service.Name="{service.Name}"'
    assert service.ProcessId > 0


def test_win32_service_rejects_other_wql_forms(exchange_host):
    for bad in ("Name LIKE 'MSEx%'", "Name='A' AND State='Running'", "NoSuchProperty='x'", "Name="):
        result = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_Service", "Filter": bad}))
        assert result.failed is not None, bad
        assert result.failed.message.strip() == "Invalid query"
        assert result.failed.exception_type == "System.Management.ManagementException"


def test_unknown_wmi_class_is_invalid_class(exchange_host):
    result = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_NoSuchThing"}))
    assert result.failed.message.strip() == "Invalid class"


def test_stop_force_stops_dependents_first_and_start_starts_dependencies(exchange_host):
    result = call(exchange_host, ("Stop-Service", {"Name": "MSExchangeSA"}))
    assert "because it has dependent services" in result.errors[0].message
    assert exchange_host.service("MSExchangeSA").running
    call(exchange_host, ("Stop-Service", {"Name": "MSExchangeSA", "Force": True}))
    for name in ("MSExchangeSA", "MSExchangeIS", "MSExchangeMTA"):
        assert exchange_host.service(name).state == "Stopped"
    assert exchange_host.service("IISADMIN").running
    call(exchange_host, ("Start-Service", {"Name": "MSExchangeIS"}))
    assert exchange_host.service("MSExchangeSA").running and exchange_host.service("MSExchangeIS").running
    assert not exchange_host.service("MSExchangeMTA").running  # not asked for


def test_disabled_or_faulty_service_does_not_start(exchange_host):
    call(exchange_host, ("Stop-Service", {"Name": "MSExchangeSA", "Force": True}))
    exchange_host.service("MSExchangeSA").fail_to_start = "Error 1067: The process terminated unexpectedly."
    result = call(exchange_host, ("Start-Service", {"Name": "MSExchangeIS"}))
    [error] = result.errors
    assert error.message == ("Service 'Microsoft Exchange Information Store (MSExchangeIS)' cannot be started due to "
                             "the following error: Cannot start service MSExchangeIS on computer '.'.")
    assert error.fully_qualified_error_id == "CouldNotStartService,Microsoft.PowerShell.Commands.StartServiceCommand"
    assert exchange_host.service("MSExchangeIS").state == "Stopped"
    exchange_host.service("MSExchangeSA").fail_to_start = None
    call(exchange_host, ("Set-Service", {"Name": "MSExchangeIS", "StartupType": "Disabled"}))
    assert call(exchange_host, ("Start-Service", {"Name": "MSExchangeIS"})).errors
    assert exchange_host.service("MSExchangeIS").state == "Stopped"


def test_set_service_startup_type_and_bad_value(exchange_host):
    call(exchange_host, ("Set-Service", {"Name": "MSExchangeMTA", "StartupType": "Manual"}))
    wmi = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_Service", "Filter": "Name='MSExchangeMTA'"}))
    assert wmi.output[0].StartMode == "Manual"
    bad = call(exchange_host, ("Set-Service", {"Name": "MSExchangeMTA", "StartupType": "Auto"}))
    assert bad.failed is not None and "The possible enumeration values are \"Automatic, Manual, Disabled\"" in (
        bad.failed.message)


def test_set_service_status_on_a_windows_2000_host_from_the_management_host():
    lab = Lab()
    management = lab.add(WindowsHost("mgmt", windows="2003"))
    target = lab.add(WindowsHost("w2kex", windows="2000"))
    add_windows_services(management, winrm=True)
    add_windows_services(target, winrm=False)
    install_exchange_services(target, "2000")
    # Windows PowerShell's Set-Service has no -Force: it refuses to stop a service that depends on others
    # (MTA Stacks on the System Attendant) or that others depend on (the System Attendant itself).
    dependent = call(management, ("Set-Service", {"Name": "MSExchangeMTA", "Status": "Stopped",
                                                  "ComputerName": "W2KEX"}))
    assert [e.fully_qualified_error_id for e in dependent.errors] == [
        "ServiceIsDependentOnNoForce,Microsoft.PowerShell.Commands.SetServiceCommand"]
    assert "because it is dependent on other services" in dependent.errors[0].message
    depended_on = call(management, ("Set-Service", {"Name": "MSExchangeSA", "Status": "Stopped",
                                                    "ComputerName": "W2KEX"}))
    assert [e.fully_qualified_error_id for e in depended_on.errors] == [
        "ServiceHasDependentServicesNoForce,Microsoft.PowerShell.Commands.SetServiceCommand"]
    assert target.service("MSExchangeMTA").running and target.service("MSExchangeSA").running
    alone = call(management, ("Set-Service", {"Name": "W32Time", "Status": "Stopped", "ComputerName": "W2KEX"}))
    assert alone.failed is None and alone.errors == []
    assert target.service("W32Time").state == "Stopped"
    call(management, ("Set-Service", {"Name": "W32Time", "Status": "Running", "ComputerName": "w2kex"}))
    assert target.service("W32Time").running
    remote = call(management, ("Get-Service", {"Name": "MSExchangeMTA", "ComputerName": "W2KEX"}))
    assert remote.output[0].MachineName == "W2KEX"
    target.power = "off"
    unreachable = call(management, ("Get-WmiObject", {"Class": "Win32_Service", "ComputerName": "W2KEX"}))
    assert unreachable.errors[0].message == "The RPC server is unavailable. (Exception from HRESULT: 0x800706BA)"
