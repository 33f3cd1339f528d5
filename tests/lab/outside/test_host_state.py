"""A lab host as an admin sees it over WinRM on HTTP (NTLM with message encryption, WinRM's default
listener on Windows 2003): computer, services, disks, components, files, registry, processes.

One lab for the module (site e2003-w2003-vss, endpoints on HTTP); the tests that change a host
put it back, or act on a part no other test here reads.
"""

from __future__ import annotations

import pytest
from pypsrp.exceptions import AuthenticationError, WinRMTransportError
from pypsrp.powershell import RunspacePool
from pypsrp.wsman import WSMan

from conftest import (ad_password, local_password, native, pool, prop, run, run_failing, run_script, set_content,
                      started_lab, store_script, types_of, wsman)

pytestmark = pytest.mark.lab

EXCHANGE_2003_SERVICES = {
    # name: (display name, start mode, state on a running production server)
    "MSExchangeSA": ("Microsoft Exchange System Attendant", "Auto", "Running"),
    "MSExchangeIS": ("Microsoft Exchange Information Store", "Auto", "Running"),
    "MSExchangeMTA": ("Microsoft Exchange MTA Stacks", "Auto", "Running"),
    "RESvc": ("Microsoft Exchange Routing Engine", "Auto", "Running"),
    "IMAP4Svc": ("Microsoft Exchange IMAP4", "Disabled", "Stopped"),
    "POP3Svc": ("Microsoft Exchange POP3", "Disabled", "Stopped"),
    "MSExchangeMGMT": ("Microsoft Exchange Management", "Auto", "Running"),
    "MSExchangeES": ("Microsoft Exchange Event", "Manual", "Stopped"),
    "MSExchangeSRS": ("Microsoft Exchange Site Replication Service", "Manual", "Stopped"),
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with started_lab(tmp_path_factory, winrm_transport="http") as started:
        yield started


@pytest.fixture(scope="module")
def production(lab):
    with pool(lab, "production") as opened:
        yield opened


@pytest.fixture(scope="module")
def standby(lab):
    with pool(lab, "standby") as opened:
        yield opened


def services(runspace: RunspacePool, *names: str) -> dict[str, dict]:
    """Win32_Service rows by name (State, StartMode ...), filtered as a script would."""
    query = " OR ".join(f"Name='{name}'" for name in names)
    rows = run(runspace, "Get-WmiObject", Class="Win32_Service", Filter=query)
    return {prop(row, "Name"): {k: prop(row, k) for k in ("DisplayName", "State", "StartMode", "Started")}
            for row in rows}


# --- transport and logon --------------------------------------------------------------------------


def test_http_endpoint_needs_ntlm_with_encryption_and_the_right_password(lab):
    endpoint = lab.endpoints["production"]
    assert endpoint.url.startswith("http://") and lab.bound_site.hosts["production"].winrm.transport.value == "http"
    with pytest.raises((AuthenticationError, WinRMTransportError)):
        with RunspacePool(wsman(lab, "production", password="Wrong-Passw0rd!")):
            pass
    # Without message encryption the endpoint does not serve plain HTTP (Windows' AllowUnencrypted=false).
    host = lab.bound_site.hosts["production"]
    plain = WSMan(host.address, port=host.winrm.port, ssl=False, auth="ntlm", encryption="never",
                  username=host.winrm.user, password=ad_password(lab), connection_timeout=5)
    with pytest.raises(AuthenticationError):  # HTTP 401, as Windows answers unencrypted traffic
        with RunspacePool(plain):
            pass
    # The local Administrator logs on too (what qrdr uses once a host has left the domain).
    with pool(lab, "production", user="Administrator", password=local_password(lab)) as opened:
        (computer,) = run(opened, "Get-WmiObject", Class="Win32_ComputerSystem")
        assert prop(computer, "Name") == "EXCH01"


def test_unknown_command_fails_its_pipeline_with_command_not_found(production):
    errors = run_failing(production, "Get-ExchangeServer")
    assert any("is not recognized as the name of a cmdlet" in error for error in errors), errors


# --- computer -------------------------------------------------------------------------------------


def test_computer_name_domain_and_windows_version(production):
    (computer,) = run(production, "Get-WmiObject", Class="Win32_ComputerSystem")
    assert types_of(computer)[0] == "System.Management.ManagementObject#root\\cimv2\\Win32_ComputerSystem"
    assert (prop(computer, "Name"), prop(computer, "Domain"), prop(computer, "PartOfDomain")) == ("EXCH01", "qrdr.lab", True)
    assert "DNSHostName" not in computer.adapted_properties  # absent on Windows 2003
    (system,) = run(production, "Get-WmiObject", Class="Win32_OperatingSystem")
    assert prop(system, "Caption") == "Microsoft(R) Windows(R) Server 2003, Enterprise Edition"
    assert (prop(system, "Version"), prop(system, "CSDVersion"), prop(system, "CSName")) == (
        "5.2.3790", "Service Pack 2", "EXCH01")
    boot = prop(system, "LastBootUpTime")
    assert len(boot) == 25 and boot[14] == "." and boot[21] in "+-", boot  # DMTF yyyymmddHHMMSS.ffffff+000


# --- services -------------------------------------------------------------------------------------


def test_exchange_2003_services_display_names_start_modes_and_states(production):
    rows = services(production, *EXCHANGE_2003_SERVICES)
    assert {name: (row["DisplayName"], row["StartMode"], row["State"]) for name, row in rows.items()} == \
        EXCHANGE_2003_SERVICES


def test_get_service_returns_service_controllers_with_dependencies(production):
    found = {prop(s, "Name"): s for s in run(production, "Get-Service", Name=["MSExchangeSA", "MSExchangeIS"])}
    system_attendant, store = found["MSExchangeSA"], found["MSExchangeIS"]
    assert types_of(store)[0] == "System.ServiceProcess.ServiceController"
    assert prop(store, "DisplayName") == "Microsoft Exchange Information Store"
    assert prop(store, "Status") == "Running"
    assert "StartType" not in store.adapted_properties  # PowerShell 2.0 has none
    depended_on = [str(s) for s in prop(store, "ServicesDependedOn")]
    assert depended_on == ["MSExchangeSA"], depended_on
    dependents = {str(s) for s in prop(system_attendant, "DependentServices")}
    assert {"MSExchangeIS", "MSExchangeMTA"} <= dependents, dependents
    assert {str(s) for s in prop(system_attendant, "ServicesDependedOn")} == {
        "EventLog", "NtLmSsp", "RpcSs", "LanmanServer", "LanmanWorkstation"}


def test_unknown_service_is_a_non_terminating_error(production):
    output = run(production, "Get-Service", Name=["MSExchangeIS", "NoSuchSvc"], check=False)
    assert [prop(s, "Name") for s in output] == ["MSExchangeIS"]
    errors = [str(e) for e in run.last.streams.error]
    assert len(errors) == 1 and "NoSuchSvc" in errors[0], errors
    assert run.last.streams.error[0].fq_error == "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"


def test_stop_and_start_follow_dependencies(production):
    errors = run_failing(production, "Stop-Service", Name="MSExchangeSA")
    assert any("dependent" in e.lower() for e in errors), errors
    assert services(production, "MSExchangeSA")["MSExchangeSA"]["State"] == "Running"

    run(production, "Stop-Service", Name="MSExchangeSA", Force=True)
    states = {name: row["State"] for name, row in services(production, *EXCHANGE_2003_SERVICES).items()}
    assert states["MSExchangeSA"] == states["MSExchangeIS"] == states["MSExchangeMTA"] == "Stopped"
    assert states["MSExchangeMGMT"] == states["RESvc"] == "Running"  # they do not depend on the System Attendant
    # Stopping the Information Store dismounted the stores.
    assert {prop(s, "Mounted") for s in store_script(production, "get_exchange_store.ps1")} == {False}

    run(production, "Start-Service", Name="MSExchangeIS")  # its dependency starts first
    states = {name: row["State"] for name, row in services(production, "MSExchangeSA", "MSExchangeIS").items()}
    assert states == {"MSExchangeSA": "Running", "MSExchangeIS": "Running"}
    assert {prop(s, "Mounted") for s in store_script(production, "get_exchange_store.ps1")} == {True}
    run(production, "Start-Service", Name="MSExchangeMTA")


def test_set_service_start_mode_and_a_disabled_service_will_not_start(production):
    run(production, "Set-Service", Name="MSExchangeES", StartupType="Disabled")
    try:
        assert services(production, "MSExchangeES")["MSExchangeES"]["StartMode"] == "Disabled"
        errors = run_failing(production, "Start-Service", Name="MSExchangeES")
        assert errors and services(production, "MSExchangeES")["MSExchangeES"]["State"] == "Stopped"
        run(production, "Set-Service", Name="MSExchangeES", StartupType="Manual")
        run(production, "Start-Service", Name="MSExchangeES")
        assert services(production, "MSExchangeES")["MSExchangeES"]["State"] == "Running"
        run(production, "Stop-Service", Name="MSExchangeES", Force=True)
    finally:
        run(production, "Set-Service", Name="MSExchangeES", StartupType="Manual", check=False)


def test_a_service_of_a_disabled_dependency_does_not_start(production):
    """IMAP4 (Disabled on Exchange 2003) depends on the Information Store: enabling IMAP4 alone
    lets it start; a disabled dependency stops a start."""
    run(production, "Set-Service", Name="IMAP4Svc", StartupType="Manual")
    run(production, "Set-Service", Name="MSExchangeMTA", StartupType="Disabled")
    try:
        run(production, "Start-Service", Name="IMAP4Svc")
        assert services(production, "IMAP4Svc")["IMAP4Svc"]["State"] == "Running"
        run(production, "Stop-Service", Name="IMAP4Svc", Force=True)
        run(production, "Stop-Service", Name="MSExchangeMTA", Force=True)
        errors = run_failing(production, "Start-Service", Name="MSExchangeMTA")
        assert errors, "a Disabled service started"
    finally:
        run(production, "Set-Service", Name="IMAP4Svc", StartupType="Disabled", check=False)
        run(production, "Set-Service", Name="MSExchangeMTA", StartupType="Automatic", check=False)
        run(production, "Start-Service", Name="MSExchangeMTA", check=False)
    assert services(production, "MSExchangeMTA")["MSExchangeMTA"]["State"] == "Running"


def wmi_service_method(runspace: RunspacePool, name: str, method: str, *arguments) -> int:
    """``Get-WmiObject Win32_Service -Filter "Name='X'" | Invoke-WmiMethod -Name METHOD``: its ReturnValue."""
    stage = {"Name": method, **({"ArgumentList": list(arguments)} if arguments else {})}
    (answer,) = run(runspace, "Get-WmiObject", Class="Win32_Service", Filter=f"Name='{name}'",
                    pipe=[("Invoke-WmiMethod", stage)])
    return int(prop(answer, "ReturnValue"))


def test_win32_service_methods_start_stop_and_change_start_mode(production):
    # WMI does not stop dependents: 3 while the Information Store runs on the System Attendant.
    assert wmi_service_method(production, "MSExchangeSA", "StopService") == 3
    assert wmi_service_method(production, "MSExchangeMTA", "StopService") == 0
    assert wmi_service_method(production, "MSExchangeMTA", "StopService") == 5  # not running
    assert services(production, "MSExchangeMTA")["MSExchangeMTA"]["State"] == "Stopped"
    assert wmi_service_method(production, "MSExchangeMTA", "ChangeStartMode", "Disabled") == 0
    assert services(production, "MSExchangeMTA")["MSExchangeMTA"]["StartMode"] == "Disabled"
    assert wmi_service_method(production, "MSExchangeMTA", "StartService") == 14
    assert wmi_service_method(production, "MSExchangeMTA", "ChangeStartMode", "Sometimes") == 21
    assert wmi_service_method(production, "MSExchangeMTA", "ChangeStartMode", "Automatic") == 0
    assert wmi_service_method(production, "MSExchangeMTA", "StartService") == 0
    assert wmi_service_method(production, "MSExchangeMTA", "StartService") == 10  # already running
    assert services(production, "MSExchangeMTA")["MSExchangeMTA"] == {
        "DisplayName": "Microsoft Exchange MTA Stacks", "State": "Running", "StartMode": "Auto", "Started": True}


# --- disks ----------------------------------------------------------------------------------------


GB = 1024 ** 3


def test_standby_disks_partitioned_with_diskpart_and_formatted(standby):
    drives = sorted((int(prop(d, "Index")), int(prop(d, "Size"))) for d in
                    run(standby, "Get-WmiObject", Class="Win32_DiskDrive"))
    assert [index for index, _ in drives] == [0, 1, 2]
    # The site's volumes: E: 20 GB and F: 10 GB, as raw disks (install-dr partitions them).
    assert drives[1][1] >= 20 * GB and drives[2][1] >= 10 * GB
    partitions = {int(prop(p, "DiskIndex")) for p in run(standby, "Get-WmiObject", Class="Win32_DiskPartition")}
    assert partitions == {0}
    letters = {prop(d, "DeviceID") for d in run(standby, "Get-WmiObject", Class="Win32_LogicalDisk")}
    assert "C:" in letters and not {"E:", "F:"} & letters

    set_content(standby, r"C:\qrdr\bad.txt", "select disk 9\r\ncreate partition primary")
    lines, code = native(standby, "diskpart", "/s", r"C:\qrdr\bad.txt")
    assert code != 0 and any("disk you specified is not valid" in line for line in lines), (code, lines)

    script = "select disk 1\r\ncreate partition primary\r\nassign letter=E\r\n" \
             "select disk 2\r\ncreate partition primary size=5120\r\nassign letter=F\r\n"
    set_content(standby, r"C:\qrdr\diskpart.txt", script)
    lines, code = native(standby, "diskpart", "/s", r"C:\qrdr\diskpart.txt")
    assert code == 0, lines
    # Without /v: format asks for a label when it is done; a remote session cannot answer.
    lines, code = native(standby, "format", "E:", "/fs:ntfs", "/q", "/y")
    assert (code, lines[-1]) == (4, "Volume label (32 characters, ENTER for none)? "), lines
    for letter in ("E:", "F:"):
        lines, code = native(standby, "format", letter, "/fs:ntfs", "/q", "/y", f"/v:Exchange{letter[0]}")
        assert code == 0 and lines[-3:][0] == "Format complete.", lines
    disks = {prop(d, "DeviceID"): d for d in run(standby, "Get-WmiObject", Class="Win32_LogicalDisk")}
    assert int(prop(disks["E:"], "DriveType")) == 3
    assert 19.9 * GB <= int(prop(disks["E:"], "Size")) <= 20.1 * GB
    assert int(prop(disks["F:"], "Size")) == 5120 * 1024 ** 2
    assert 0 < int(prop(disks["F:"], "FreeSpace")) <= int(prop(disks["F:"], "Size"))
    partitions = sorted((int(prop(p, "DiskIndex")), int(prop(p, "Size"))) for p in
                        run(standby, "Get-WmiObject", Class="Win32_DiskPartition"))
    assert [disk for disk, _ in partitions] == [0, 1, 2]
    assert partitions[2][1] == 5120 * 1024 ** 2  # the rest of disk 2 stays unpartitioned
    assert run(standby, "Test-Path", Path="E:\\") == [True]


# --- components, registry, files, processes -------------------------------------------------------

GALAXY = "HKLM:\\SOFTWARE\\CommVault Systems\\Galaxy\\Instance001"
UNINSTALL = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
UNINSTALL_KEYS = ("{65D9643D-06E8-47d6-865E-80F4CC9BB879}", "{13F9F3AF-9463-4492-854A-191CCC441FDB}")


def test_components_production_has_and_the_standby_lacks_until_sysocmgr(production, standby):
    aspnet = "HKLM:\\SOFTWARE\\Microsoft\\ASP.NET"
    assert run(production, "Test-Path", Path=aspnet) == [True]
    assert {prop(s, "Name") for s in run(production, "Get-Service", Name=["SMTPSVC", "NNTPSVC"])} == {"SMTPSVC", "NNTPSVC"}
    for package in ("QuickRecoveryAgent", "VSSEnabler"):  # a vss site: QR agent and VSS Enabler on production
        assert run(production, "Test-Path", Path=f"{GALAXY}\\{package}") == [True], package
    for package in ("QuickRecoveryAgent", "MediaAgent"):
        assert run(standby, "Test-Path", Path=f"{GALAXY}\\{package}") == [True], package
    assert run(standby, "Test-Path", Path=aspnet) == [False]
    run(standby, "Get-Service", Name="NNTPSVC", check=False)
    assert run.last.streams.error, "the standby has NNTP before the component is installed"

    lines, code = native(standby, "sysocmgr", r"/i:C:\WINDOWS\inf\sysoc.inf", r"/u:C:\qrdr\missing.txt", "/q")
    assert code == 1
    set_content(standby, r"C:\qrdr\sysoc.txt", "[Components]\r\niis_nntp = on\r\niis_smtp = on\r\naspnet = on\r\n")
    lines, code = native(standby, "sysocmgr", r"/i:C:\WINDOWS\inf\sysoc.inf", r"/u:C:\qrdr\sysoc.txt", "/q")
    assert code == 0, lines
    assert {prop(s, "Name"): prop(s, "Status") for s in run(standby, "Get-Service", Name=["SMTPSVC", "NNTPSVC"])} == \
        {"SMTPSVC": "Running", "NNTPSVC": "Running"}
    assert run(standby, "Test-Path", Path=aspnet) == [True]


def test_exchange_registry_and_the_two_uninstall_keys(production, standby):
    (setup,) = run(production, "Get-ItemProperty", Path="HKLM:\\SOFTWARE\\Microsoft\\Exchange\\Setup")
    assert (prop(setup, "MsiProductMajor"), prop(setup, "ServicePackBuild")) == (6, 7638)
    assert prop(setup, "Services") == "C:\\Program Files\\Exchsrvr"
    for key in UNINSTALL_KEYS:
        assert run(production, "Test-Path", Path=f"{UNINSTALL}\\{key}") == [True], key
        assert run(standby, "Test-Path", Path=f"{UNINSTALL}\\{key}") == [False], key
    run(standby, "Get-ItemProperty", Path="HKLM:\\SOFTWARE\\Microsoft\\Exchange\\Setup", check=False)
    assert run.last.streams.error, "the standby has an Exchange setup key before setup ran"


def test_files_created_read_listed_and_removed(standby):
    set_content(standby, r"C:\qrdr\notes\a.txt", "first\r\nsecond")
    assert [str(line) for line in run(standby, "Get-Content", Path=r"C:\qrdr\notes\a.txt")] == ["first", "second"]
    names = [prop(item, "Name") for item in run(standby, "Get-ChildItem", Path=r"C:\qrdr\notes")]
    assert names == ["a.txt"]
    run(standby, "Remove-Item", Path=r"C:\qrdr\notes", Recurse=True, Force=True)
    assert run(standby, "Test-Path", Path=r"C:\qrdr\notes") == [False]
    errors = run_failing(standby, "Get-Content", Path=r"C:\qrdr\notes\a.txt")
    assert any("does not exist" in e for e in errors), errors


def test_registry_keys_created_and_removed(standby):
    key = "HKLM:\\SOFTWARE\\qrdr-outside-test"
    run(standby, "New-Item", Path=key, Force=True)
    assert run(standby, "Test-Path", Path=key) == [True]
    run(standby, "Remove-Item", Path=key, Recurse=True, Force=True)
    assert run(standby, "Test-Path", Path=key) == [False]


def test_a_started_process_is_listed_until_stopped(standby):
    set_content(standby, r"C:\qrdr\tool.exe", "MZ")
    (started,) = run(standby, "Start-Process", FilePath=r"C:\qrdr\tool.exe", PassThru=True)
    assert types_of(started)[0] == "System.Diagnostics.Process"
    process_id = int(prop(started, "Id"))
    listed = {int(prop(p, "Id")): prop(p, "ProcessName") for p in run(standby, "Get-Process")}
    assert listed.get(process_id) == "tool", listed
    run(standby, "Stop-Process", Id=process_id, Force=True)
    assert process_id not in {int(prop(p, "Id")) for p in run(standby, "Get-Process")}
    errors = run_failing(standby, "Stop-Process", Id=process_id, Force=True)
    assert any(str(process_id) in e for e in errors), errors
