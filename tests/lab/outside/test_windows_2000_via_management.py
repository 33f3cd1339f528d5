"""Windows 2000 hosts (no PowerShell, no WinRM) driven from the Windows 2003 management host with
``-ComputerName`` and netdom, as on a real site; site e2000-w2000-qsnap (Exchange 2000), plain
pypsrp over HTTPS to the management host, the directory checked with ldap3.

The management host's WinRM session is a network logon: it holds no credentials for a third
computer (the second hop). Every call across carries its own: WMI with ``-Credential``, the service
control manager after ``net use \\\\X\\IPC$``, CDOEXM with the account's user name and password."""

from __future__ import annotations

import pytest

from conftest import (ad_password, computer_object, disabled, domain_admin, ldap, local_password, native, net_use,
                      pool, prop, run, run_failing, run_script, started_lab, wait_until)

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


@pytest.fixture(scope="module")
def account(lab):
    """The directory account the management host's calls carry: QRDR\\Administrator."""
    return {"UserName": f"{lab.site.domain.netbios_name}\\Administrator", "Password": ad_password(lab)}


def remote_services(runspace, lab, computer: str) -> dict[str, tuple]:
    query = " OR ".join(f"Name='{name}'" for name in [*EXCHANGE_2000_SERVICES, "MSExchangeMGMT"])
    rows = run(runspace, "Get-WmiObject", Class="Win32_Service", Filter=query, ComputerName=computer,
               Credential=domain_admin(lab))
    return {prop(r, "Name"): (prop(r, "DisplayName"), prop(r, "StartMode"), prop(r, "State")) for r in rows}


def test_windows_2000_hosts_have_no_endpoint_of_their_own(lab):
    described = lab.describe()["hosts"]
    for key in ("production", "standby"):
        assert key not in lab.endpoints and described[key]["winrm_url"] is None and described[key]["via"] == "mgmt"
    assert lab.bound_site.hosts["production"].winrm is None


def test_computer_and_windows_of_a_2000_host(lab, mgmt):
    admin = domain_admin(lab)
    (system,) = run(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName="EXCH01", Credential=admin)
    assert (prop(system, "Name"), prop(system, "Domain")) == ("EXCH01", "qrdr.lab")
    assert "PartOfDomain" not in system.adapted_properties  # came with XP/2003
    (os_,) = run(mgmt, "Get-WmiObject", Class="Win32_OperatingSystem", ComputerName="EXCH01", Credential=admin)
    assert (prop(os_, "Caption"), prop(os_, "Version"), prop(os_, "CSDVersion")) == (
        "Microsoft Windows 2000 Server", "5.0.2195", "Service Pack 4")
    errors = run_failing(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName="NOSUCHHOST",
                         Credential=admin)
    assert any("RPC server is unavailable" in e for e in errors), errors


def test_the_second_hop_is_refused_without_credentials_of_its_own(lab, mgmt):
    """The session's NTLM logon cannot reach EXCH01 with its own identity, however privileged."""
    errors = run_failing(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName="EXCH01")
    assert errors == ["Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))"]
    wrong = domain_admin(lab)
    wrong.password = "Not-The-Passw0rd!"
    errors = run_failing(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName="EXCH01", Credential=wrong)
    assert errors == ["Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))"]
    # -Credential for the computer the session runs on is WMI's own refusal.
    errors = run_failing(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName="MGMT01",
                         Credential=domain_admin(lab))
    assert [e.strip() for e in errors] == ["User credentials cannot be used for local connections"]
    errors = run_failing(mgmt, "Restart-Computer", ComputerName="EXCH01", Force=True)
    assert errors and "Access is denied" in errors[0], errors


def test_exchange_2000_services_read_and_controlled_remotely(lab):
    # A pool of its own: its net use connection must not be there for the other tests.
    with pool(lab, "mgmt") as mgmt:
        assert remote_services(mgmt, lab, "EXCH01") == EXCHANGE_2000_SERVICES  # no MSExchangeMGMT on 2000
        errors = run_failing(mgmt, "Get-Service", Name=["MSExchangeIS"], ComputerName="EXCH01")
        assert errors == ["Cannot open Service Control Manager on computer 'EXCH01'. This operation might require "
                          "other privileges."]
        lines, code = net_use(mgmt, lab, "EXCH01", password="Not-The-Passw0rd!")
        stderr = [str(e) for e in run.last.streams.error]  # a native program's stderr: error records
        assert (lines, code) == ([], 2) and "Logon failure: unknown user name or bad password." in stderr, stderr
        assert net_use(mgmt, lab, "EXCH01") == (["The command completed successfully."], 0)
        found = {prop(s, "Name"): s for s in run(mgmt, "Get-Service", Name=["MSExchangeIS"], ComputerName="EXCH01")}
        assert {str(s) for s in prop(found["MSExchangeIS"], "ServicesDependedOn")} == {"IISADMIN", "MSExchangeSA"}
        assert prop(found["MSExchangeIS"], "MachineName") == "EXCH01"

        run(mgmt, "Set-Service", Name="MSExchangeMTA", StartupType="Manual", ComputerName="EXCH01")
        assert remote_services(mgmt, lab, "EXCH01")["MSExchangeMTA"][1:] == ("Manual", "Running")
        run(mgmt, "Set-Service", Name="MSExchangeMTA", StartupType="Automatic", ComputerName="EXCH01")
        assert remote_services(mgmt, lab, "EXCH01")["MSExchangeMTA"][1:] == ("Auto", "Running")
    with pool(lab, "mgmt") as fresh:
        # The connection belonged to the other shell's logon session: gone with it.
        errors = run_failing(fresh, "Get-Service", Name=["MSExchangeIS"], ComputerName="EXCH01")
        assert errors and errors[0].startswith("Cannot open Service Control Manager"), errors


def test_store_scripts_open_the_2000_server_by_name(mgmt, account):
    stores = run_script(mgmt, "get_exchange_store.ps1", ComputerName="EXCH01", **account)
    assert {(prop(s, "Name"), prop(s, "Mounted")) for s in stores} == {
        ("Mailbox Store (EXCH01)", True), ("Public Folder Store (EXCH01)", True)}
    run_script(mgmt, "dismount_exchange_store.ps1", Name="Mailbox Store (EXCH01)", ComputerName="EXCH01", **account)
    stores = run_script(mgmt, "get_exchange_store.ps1", ComputerName="EXCH01", **account)
    assert {prop(s, "Name"): prop(s, "Mounted") for s in stores}["Mailbox Store (EXCH01)"] is False
    run_script(mgmt, "mount_exchange_store.ps1", Name="Mailbox Store (EXCH01)", ComputerName="EXCH01", **account)
    run_script(mgmt, "get_exchange_store.ps1", check=False, ComputerName="EXCH01",
               UserName=account["UserName"], Password="Not-The-Passw0rd!")
    errors = [str(e) for e in run.last.streams.error]
    assert errors == ['Exception calling "Open" with "7" argument(s): "Logon failure: unknown user name or bad '
                      'password. (Exception from HRESULT: 0x8007052E)"'], errors


def test_windows_2000_has_no_wmi_rename_netdom_renames_in_the_directory_and_reboot_applies(lab, mgmt):
    errors = run_failing(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName="EXCH02",
                         Credential=domain_admin(lab),
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

    run(mgmt, "Restart-Computer", ComputerName="EXCH02", Force=True, Credential=domain_admin(lab))

    def answers_as(name: str) -> bool:
        rows = run(mgmt, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName=name, check=False,
                   Credential=domain_admin(lab))
        return bool(rows) and prop(rows[0], "Name") == name

    wait_until(lambda: answers_as("EXCH02B"), 20, "EXCH02 comes back as EXCH02B", 0.1)
    assert not answers_as("EXCH02")

    lines, code = native(mgmt, "netdom", "remove", "EXCH02B", "/Domain:qrdr.lab", *admin, "/Force")
    assert code == 0, lines
    assert disabled(computer_object(connection, lab, "EXCH02B"))


def test_windows_2000_has_no_diskpart_and_no_schtasks(lab, mgmt):
    """Both came with Windows XP and Server 2003: a Windows 2000 host is partitioned in Disk Management,
    and its tasks are made with the management host's schtasks /s."""
    for program in ("diskpart /s C:\\qrdr\\partitions.txt", "schtasks /query"):
        (created,) = run(mgmt, "Invoke-WmiMethod", Class="Win32_Process", Name="Create", ArgumentList=[program],
                         ComputerName="EXCH01", Credential=domain_admin(lab))
        assert prop(created, "ReturnValue") == 9, program  # path not found
    lines, code = native(mgmt, "schtasks", "/query", "/s", "EXCH01", "/u", "QRDR\\Administrator",
                         "/p", ad_password(lab))
    assert code == 0, lines


def test_an_admin_share_needs_a_net_use_and_net_use_names_what_is_wrong(lab):
    share = r"\\EXCH01\C$\WINNT"
    with pool(lab, "mgmt") as mgmt:
        assert run(mgmt, "Test-Path", Path=share) == [False]  # denied: Test-Path reports no error
        errors = run_failing(mgmt, "Get-ChildItem", Path=share)
        assert errors == ["Access is denied."], errors
        for unc, number, text in ((r"\\NOSUCHHOST\IPC$", 53, "The network path was not found."),
                                  (r"\\EXCH01\NOSHARE", 67, "The network name cannot be found.")):
            lines, code = native(mgmt, "net", "use", unc, ad_password(lab), "/user:QRDR\\Administrator")
            stderr = [str(e) for e in run.last.streams.error]
            assert code == 2 and stderr[0] == f"System error {number} has occurred." and text in stderr, stderr
        assert net_use(mgmt, lab, "EXCH01") == (["The command completed successfully."], 0)
        assert run(mgmt, "Test-Path", Path=share) == [True]
        lines, code = native(mgmt, "net", "use", r"\\EXCH01\IPC$", local_password(lab), "/user:EXCH01\\Administrator")
        stderr = [str(e) for e in run.last.streams.error]
        assert code == 2 and "System error 1219 has occurred." in stderr, stderr  # a second user name
