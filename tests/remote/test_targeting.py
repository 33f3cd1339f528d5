"""Windows 2000 hosts: every call from the management host carries the account to act with
(-ComputerName and -Credential on WMI, a net use before a share), refused where it cannot work."""

import pytest

from qrdr.remote.commands import Command, Credential, Script, Secret, render_pipeline
from qrdr.remote.targeting import NotRedirectable, net_use, redirect

ACCOUNT = Credential("QRDR\\Administrator", Secret("Pa55-word!"))


def test_wmi_cmdlets_get_the_target_and_the_account():
    sent, before = redirect([Command("Get-WmiObject", {"Class": "Win32_Service"})], "W2K01", "MGMT01", ACCOUNT)
    assert sent == [Command("Get-WmiObject", {"Class": "Win32_Service", "ComputerName": "W2K01",
                                              "Credential": ACCOUNT})]
    assert before == []
    sent, _ = redirect([Command("restart-computer", {"Force": True})], "W2K01", "MGMT01", ACCOUNT)
    assert sent[0].parameters == {"Force": True, "ComputerName": "W2K01", "Credential": ACCOUNT}


def test_the_password_never_shows_in_the_rendered_pipeline():
    sent, before = redirect([Command("Get-WmiObject", {"Class": "Win32_OperatingSystem"})], "W2K01", "MGMT01",
                            ACCOUNT)
    shown = render_pipeline(sent, before)
    assert "Pa55-word!" not in shown and "QRDR\\Administrator" in shown


def test_a_piped_wmi_method_acts_on_the_piped_object_and_gets_neither():
    pipeline = [Command("Get-WmiObject", {"Class": "Win32_Service"}), Command("Invoke-WmiMethod", {"Name": "X"})]
    sent, _ = redirect(pipeline, "W2K01", "MGMT01", ACCOUNT)
    assert sent[0].parameters["ComputerName"] == "W2K01" and sent[0].parameters["Credential"] == ACCOUNT
    assert "ComputerName" not in sent[1].parameters and "Credential" not in sent[1].parameters


def test_netdom_and_schtasks_run_on_the_management_host_unchanged():
    netdom = Command("netdom", arguments=("renamecomputer", "W2K01", "/NewName:W2K02"))
    assert redirect([netdom], "W2K01", "MGMT01", ACCOUNT) == ([netdom], [])
    schtasks = Command("schtasks", arguments=("/query", "/s", "W2K01"))
    assert redirect([schtasks], "W2K01", "MGMT01", ACCOUNT) == ([schtasks], [])


def test_service_cmdlets_without_credential_are_refused():
    # Get-Service and Set-Service -ComputerName have no -Credential in PowerShell 2.0: from the
    # management host's session they would act with its own identity, which the target refuses.
    for command in (Command("Get-Service", {"Name": "MSExchangeSA"}), Command("Set-Service", {"Name": "X"}),
                    Command("Start-Service", {"Name": "MSExchangeSA"})):
        with pytest.raises(NotRedirectable, match=rf"{command.name}.*W2K01.*MGMT01.*-Credential"):
            redirect([command], "W2K01", "MGMT01", ACCOUNT)
    with pytest.raises(NotRedirectable, match="script qrdr:Get-ExchangeStore"):
        redirect([Script("qrdr:Get-ExchangeStore", "param()")], "W2K01", "MGMT01", ACCOUNT)


def test_a_command_naming_another_computer_is_refused():
    with pytest.raises(NotRedirectable, match="OTHER"):
        redirect([Command("Get-WmiObject", {"ComputerName": "OTHER"})], "W2K01", "MGMT01", ACCOUNT)
    same, _ = redirect([Command("Get-WmiObject", {"computername": "w2k01"})], "W2K01", "MGMT01", ACCOUNT)
    assert same[0].parameters["computername"] == "w2k01"


def test_file_cmdlets_pass_on_the_targets_admin_share_after_a_net_use():
    on_share = Command("Set-Content", {"Path": "\\\\W2K01\\C$\\qrdr\\answer.txt", "Value": "x"})
    sent, before = redirect([on_share], "w2k01", "MGMT01", ACCOUNT)
    assert sent == [on_share]
    assert before == [net_use("w2k01", ACCOUNT)]
    assert before[0].arguments == ("use", "\\\\w2k01\\IPC$", ACCOUNT.password, "/user:QRDR\\Administrator")
    with pytest.raises(NotRedirectable, match=r"administrative share"):
        redirect([Command("Test-Path", {"Path": "C:\\qrdr"})], "W2K01", "MGMT01", ACCOUNT)
    with pytest.raises(NotRedirectable, match=r"W2K01's administrative share"):
        redirect([Command("Remove-Item", {"Path": "\\\\OTHER\\C$\\qrdr"})], "W2K01", "MGMT01", ACCOUNT)


def test_static_wmi_method_gets_the_target_and_the_account():
    call = Command("Invoke-WmiMethod", {"Namespace": "root\\default", "Class": "StdRegProv", "Name": "EnumKey",
                                        "ArgumentList": ["2147483650", "SOFTWARE"]})
    sent, _ = redirect([call], "W2K01", "MGMT01", ACCOUNT)
    assert sent[0].parameters["ComputerName"] == "W2K01" and sent[0].parameters["Credential"] == ACCOUNT
