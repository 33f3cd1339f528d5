"""Windows 2000 hosts (no PowerShell, no WinRM) driven from the Windows 2003 management host with
``-ComputerName`` and netdom, as on a real site; site e2000-w2000-qsnap (Exchange 2000), plain
pypsrp over HTTPS to the management host, the directory checked with ldap3."""

from __future__ import annotations

import pytest

from conftest import (ad_password, computer_object, disabled, ldap, local_password, native, pool, prop, run,
                      run_failing, run_script, started_lab, wait_until)

pytestmark = pytest.mark.lab

EXCHANGE_2000_SERVICES = {
    "MSExchangeSA": ("Microsoft Exchange System Attendant", "Auto", "Running"),
    "MSExchangeIS": ("Microsoft Exchange Information Store", "Auto", "Running"),
    "MSExchangeMTA": ("Microsoft Exchange MTA Stacks", "Auto", "Running"),
    "RESvc": ("Microsoft Exchange Routing Engine", "Auto", "Running"),
    "IMAP4Svc": ("Microsoft Exchange IMAP4", "Auto", "Running"),  # Exchange 2000 left them Automatic
    "POP3Svc": ("Microsoft Exchange POP3", "Auto", "Running"),
    "MSExchangeES": ("Microsoft Exchange Event", "Manual", "Stopped"),
    "MSExchangeSRS": ("Microsoft Exchange Site Replication Service", "Manual", "Stopped"),
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with started_lab(tmp_path_factory, "e2000-w2000-qsnap", reboot_seconds=0.5) as started:
        yield started


@pytest.fixture(scope="module")
def mgmt(lab):
    with pool(lab, "mgmt") as opened:
        yield opened


def remote_services(runspace, computer: str) -> dict[str, tuple]:
    query = " OR ".join(f"Name='{name}'" for name in [*EXCHANGE_2000_SERVICES, "MSExchangeMGMT"])
    rows = run(runspace, "Get-WmiObject", Class="Win32_Service", Filter=query, ComputerName=computer)
    return {prop(r, "Name"): (prop(r, "DisplayName"), prop(r, "StartMode"), prop(r, "State")) for r in rows}


def test_windows_2000_hosts_have_no_endpoint_of_their_own(lab):
    described = lab.describe()["hosts"]
    for key in ("production", "standby"):
        assert key not in lab.endpoints and described[key]["winrm_url"] is None and described[key]["via"] == "mgmt"
    assert lab.bound_site.hosts["production"].winrm is None


def test_computer_and_windows_of_a_2000_host(mgmt):
    (system,) = run(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName="EXCH01")
    assert (prop(system, "Name"), prop(system, "Domain")) == ("EXCH01", "qrdr.lab")
    assert "PartOfDomain" not in system.adapted_properties  # came with XP/2003
    (os_,) = run(mgmt, "Get-WmiObject", Class="Win32_OperatingSystem", ComputerName="EXCH01")
    assert (prop(os_, "Caption"), prop(os_, "Version"), prop(os_, "CSDVersion")) == (
        "Microsoft Windows 2000 Server", "5.0.2195", "Service Pack 4")
    errors = run_failing(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName="NOSUCHHOST")
    assert any("RPC server is unavailable" in e for e in errors), errors


def test_exchange_2000_services_read_and_controlled_remotely(mgmt):
    assert remote_services(mgmt, "EXCH01") == EXCHANGE_2000_SERVICES  # no MSExchangeMGMT on 2000
    found = {prop(s, "Name"): s for s in run(mgmt, "Get-Service", Name=["MSExchangeIS"], ComputerName="EXCH01")}
    assert {str(s) for s in prop(found["MSExchangeIS"], "ServicesDependedOn")} == {"IISADMIN", "MSExchangeSA"}
    assert prop(found["MSExchangeIS"], "MachineName") == "EXCH01"

    run(mgmt, "Set-Service", Name="MSExchangeMTA", Status="Stopped", ComputerName="EXCH01")
    run(mgmt, "Set-Service", Name="MSExchangeMTA", StartupType="Manual", ComputerName="EXCH01")
    assert remote_services(mgmt, "EXCH01")["MSExchangeMTA"][1:] == ("Manual", "Stopped")
    run(mgmt, "Set-Service", Name="MSExchangeMTA", StartupType="Automatic", ComputerName="EXCH01")
    run(mgmt, "Set-Service", Name="MSExchangeMTA", Status="Running", ComputerName="EXCH01")
    assert remote_services(mgmt, "EXCH01")["MSExchangeMTA"][1:] == ("Auto", "Running")


def test_store_scripts_open_the_2000_server_by_name(mgmt):
    stores = run_script(mgmt, "get_exchange_store.ps1", ComputerName="EXCH01")
    assert {(prop(s, "Name"), prop(s, "Mounted")) for s in stores} == {
        ("Mailbox Store (EXCH01)", True), ("Public Folder Store (EXCH01)", True)}
    run_script(mgmt, "dismount_exchange_store.ps1", Name="Mailbox Store (EXCH01)", ComputerName="EXCH01")
    stores = run_script(mgmt, "get_exchange_store.ps1", ComputerName="EXCH01")
    assert {prop(s, "Name"): prop(s, "Mounted") for s in stores}["Mailbox Store (EXCH01)"] is False
    run_script(mgmt, "mount_exchange_store.ps1", Name="Mailbox Store (EXCH01)", ComputerName="EXCH01")


def test_windows_2000_has_no_wmi_rename_netdom_renames_in_the_directory_and_reboot_applies(lab, mgmt):
    errors = run_failing(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName="EXCH02",
                         pipe=[("Invoke-WmiMethod", {"Name": "Rename", "ArgumentList": ["EXCH02B", "x", "y"]})])
    assert any("Invalid method" in e for e in errors), errors

    admin = ["/UserD:QRDR\\Administrator", f"/PasswordD:{ad_password(lab)}", "/UserO:Administrator",
             f"/PasswordO:{local_password(lab)}"]
    lines, code = native(mgmt, "netdom", "renamecomputer", "EXCH02", "/NewName:EXCH02B", *admin[:2],
                         "/UserO:Administrator", "/PasswordO:Wrong-Passw0rd!", "/Force")
    assert code != 0 and lines[-1] == "The command failed to complete successfully.", lines
    lines, code = native(mgmt, "netdom", "renamecomputer", "EXCH02", "/NewName:EXCH02B", *admin, "/Force")
    assert code == 0 and lines[-1] == "The command completed successfully.", lines
    assert ad_password(lab) not in " ".join(lines)
    connection = ldap(lab)
    assert computer_object(connection, lab, "EXCH02B")["dNSHostName"] == "exch02b.qrdr.lab"
    assert computer_object(connection, lab, "EXCH02") is None

    run(mgmt, "Restart-Computer", ComputerName="EXCH02", Force=True)

    def answers_as(name: str) -> bool:
        rows = run(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName=name, check=False)
        return bool(rows) and prop(rows[0], "Name") == name

    wait_until(lambda: answers_as("EXCH02B"), 20, "EXCH02 comes back as EXCH02B", 0.1)
    assert not answers_as("EXCH02")

    lines, code = native(mgmt, "netdom", "remove", "EXCH02B", "/Domain:qrdr.lab", *admin, "/Force")
    assert code == 0, lines
    assert disabled(computer_object(connection, lab, "EXCH02B"))
