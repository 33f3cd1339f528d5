"""Computer: WMI shapes, rename/join in a workgroup, reboot and power, bootcfg."""

from __future__ import annotations

import datetime

from qrdr.lab.sim import Lab, WindowsHost
from qrdr.lab.sim.services import add_windows_services

from .conftest import call


def _system(host):
    return call(host, ("Get-WmiObject", {"Class": "Win32_ComputerSystem"})).output[0]


def test_computer_system_of_a_workgroup_host(exchange_host):
    system = _system(exchange_host)
    assert system.PSObject.type_names[0] == "System.Management.ManagementObject#root\\cimv2\\Win32_ComputerSystem"
    assert (system.Name, system.Domain, system.PartOfDomain, system.Workgroup) == ("EX1", "WORKGROUP", False,
                                                                                   "WORKGROUP")
    assert system.__PATH == '\\\\EX1\\root\\cimv2:Win32_ComputerSystem.Name="EX1"'
    assert "DNSHostName" not in {p.name for p in system.PSObject.adapted_properties}


def test_operating_system_of_2003_and_2000():
    clock = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    lab = Lab(clock=lambda: clock)
    new = lab.add(WindowsHost("a", windows="2003", boot_time=clock))
    old = lab.add(WindowsHost("b", windows="2000"))
    os_2003 = call(new, ("Get-WmiObject", {"Class": "Win32_OperatingSystem"})).output[0]
    assert (os_2003.Caption, os_2003.Version, os_2003.CSDVersion, os_2003.CSName) == (
        "Microsoft(R) Windows(R) Server 2003, Enterprise Edition", "5.2.3790", "Service Pack 2", "A")
    assert os_2003.LastBootUpTime == "20260102030405.000000+000"
    os_2000 = call(new, ("Get-WmiObject", {"Class": "Win32_OperatingSystem", "ComputerName": "B"})).output[0]
    assert (os_2000.Caption, os_2000.Version, os_2000.CSDVersion) == ("Microsoft Windows 2000 Server", "5.0.2195",
                                                                      "Service Pack 4")


def test_rename_is_pending_until_reboot_and_reboot_brings_a_new_boot_time(exchange_host):
    before = exchange_host.boot_time
    result = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
                  ("Invoke-WmiMethod", {"Name": "Rename", "ArgumentList": ["EXNEW", None, None]}))
    out = result.output[0]
    assert out.ReturnValue == 0 and out.__CLASS == "__PARAMETERS"
    assert _system(exchange_host).Name == "EX1"
    restarts = []
    exchange_host.lab.on_restart = restarts.append
    call(exchange_host, ("Restart-Computer", {"Force": True}))
    assert restarts == [exchange_host] and exchange_host.power == "rebooting"
    assert exchange_host.service("MSExchangeIS").state == "Stopped"
    exchange_host.complete_boot()
    assert _system(exchange_host).Name == "EXNEW"
    assert exchange_host.boot_time >= before and exchange_host.service("MSExchangeIS").running
    assert exchange_host.service("IMAP4Svc").state == "Stopped"  # Disabled on Exchange 2003: stays down


def test_rename_rejects_an_invalid_name(exchange_host):
    result = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
                  ("Invoke-WmiMethod", {"Name": "Rename", "ArgumentList": ["NAME_TOO_LONG_FOR_NETBIOS", None, None]}))
    assert result.output[0].ReturnValue == 123
    assert exchange_host.pending_name is None


def test_restart_without_force_is_refused_and_stop_computer_powers_off(exchange_host):
    refused = call(exchange_host, "Restart-Computer")
    assert refused.failed is not None and exchange_host.power == "on"
    off = []
    exchange_host.lab.on_power_off = off.append
    call(exchange_host, ("Stop-Computer", {"Force": True}))
    assert off == [exchange_host] and exchange_host.power == "off"
    exchange_host.power_on()
    assert exchange_host.power == "on" and exchange_host.service("MSExchangeSA").running


def test_join_without_a_domain_backend_cannot_find_the_domain(exchange_host):
    result = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
                  ("Invoke-WmiMethod", {"Name": "JoinDomainOrWorkgroup",
                                        "ArgumentList": [None, 1, "qrdr.lab", "pw", "QRDR\\admin"]}))
    assert result.output[0].ReturnValue == 1355
    unjoin = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
                  ("Invoke-WmiMethod", {"Name": "UnjoinDomainOrWorkgroup", "ArgumentList": [0, None, None]}))
    assert unjoin.output[0].ReturnValue == 2692


def test_bootcfg_safe_mode_switch(exchange_host):
    result = call(exchange_host, ("bootcfg", {}, ["/raw", "/a", "/safeboot:minimal", "/id", "1"]))
    assert result.output == ['SUCCESS: Added the OS load options for the boot entry "1".']
    assert exchange_host.safe_boot == "minimal"
    # /rmsw removes /mm /bv /so /ng only: it cannot take safe mode away.
    refused = call(exchange_host, ("bootcfg", {}, ["/rmsw", "/safeboot", "/id", "1"]))
    assert [e.message for e in refused.errors][0] == "ERROR: Invalid argument/option - '/safeboot'."
    assert exchange_host.last_exit_code == 1 and exchange_host.safe_boot == "minimal"
    # /raw without /a replaces the options: normal boot again.
    call(exchange_host, ("bootcfg", {}, ["/raw", "/fastdetect", "/id", "1"]))
    assert exchange_host.safe_boot is None
    bad = call(exchange_host, ("bootcfg", {}, ["/raw", "/a", "/safeboot:minimal", "/id", "2"]))
    assert bad.errors and exchange_host.last_exit_code == 1


def test_windows_2000_has_no_rename_method():
    lab = Lab()
    management = lab.add(WindowsHost("mgmt"))
    lab.add(WindowsHost("old2k", windows="2000"))
    add_windows_services(management, winrm=True)
    result = call(management, ("Get-WmiObject", {"Class": "Win32_ComputerSystem", "ComputerName": "OLD2K"}),
                  ("Invoke-WmiMethod", {"Name": "Rename", "ArgumentList": ["X", None, None]}))
    assert result.failed is not None and result.failed.message.strip() == "Invalid method"


def test_safe_mode_boot_keeps_winrm_and_exchange_down(exchange_host):
    assert exchange_host.reachable
    call(exchange_host, ("bootcfg", {}, ["/raw", "/a", "/safeboot:minimal", "/id", "1"]))
    exchange_host.restart()
    assert exchange_host.power == "on" and not exchange_host.reachable
    assert not exchange_host.service("MSExchangeSA").running and exchange_host.service("RpcSs").running
    exchange_host.safe_boot = None  # bootcfg /raw "/fastdetect" /id 1 typed at the console: safe mode has no WinRM
    exchange_host.restart()
    assert exchange_host.reachable and exchange_host.service("MSExchangeIS").running


def test_windows_2000_computer_system_has_no_part_of_domain_and_is_found_by_address():
    from qrdr.lab.sim.host import NetworkAdapter

    lab = Lab()
    management = lab.add(WindowsHost("mgmt"))
    old = lab.add(WindowsHost("old2k", windows="2000", domain="qrdr.lab", domain_netbios="QRDR"))
    old.adapters.append(NetworkAdapter(index=1, ip_addresses=["10.0.0.5"], subnet_masks=["255.255.255.0"]))
    system = call(management, ("Get-WmiObject", {"Class": "Win32_ComputerSystem", "ComputerName": "10.0.0.5"}))
    names = {p.name for p in system.output[0].PSObject.adapted_properties}
    assert "PartOfDomain" not in names and "Workgroup" not in names
    assert (system.output[0].Domain, system.output[0].DomainRole) == ("qrdr.lab", 3)


def test_a_reboot_ends_processes_and_the_repr_keeps_passwords_out(exchange_host):
    ended = []
    process = exchange_host.start_process("C:\\WINDOWS\\system32\\notepad.exe")
    process.on_stop.append(lambda host, stopped: ended.append((stopped.id, stopped.exit_code)))
    exchange_host.restart()
    assert ended == [(process.id, 1)] and exchange_host.processes == {}
    assert "local-pw" not in repr(exchange_host)
