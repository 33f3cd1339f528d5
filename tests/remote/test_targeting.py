"""Windows 2000 hosts: -ComputerName added where PowerShell 2.0 takes it, refused where it cannot work."""

import pytest

from qrdr.remote.commands import Command, Script
from qrdr.remote.targeting import NotRedirectable, redirect


def test_computername_is_added_to_cmdlets_that_take_it():
    sent = redirect([Command("Get-Service", {"Name": ["MSExchangeSA"]})], "W2K01", "MGMT01")
    assert sent == [Command("Get-Service", {"Name": ["MSExchangeSA"], "ComputerName": "W2K01"})]
    sent = redirect([Command("Set-Service", {"Name": "MSExchangeIS", "Status": "Stopped"})], "W2K01", "MGMT01")
    assert sent[0].parameters["ComputerName"] == "W2K01"
    sent = redirect([Command("restart-computer", {"Force": True})], "W2K01", "MGMT01")
    assert sent[0].parameters == {"Force": True, "ComputerName": "W2K01"}


def test_a_piped_wmi_method_acts_on_the_piped_object_and_gets_no_computername():
    pipeline = [Command("Get-WmiObject", {"Class": "Win32_Service"}), Command("Invoke-WmiMethod", {"Name": "X"})]
    sent = redirect(pipeline, "W2K01", "MGMT01")
    assert sent[0].parameters["ComputerName"] == "W2K01"
    assert "ComputerName" not in sent[1].parameters


def test_netdom_runs_on_the_management_host_unchanged():
    netdom = Command("netdom", arguments=("renamecomputer", "W2K01", "/NewName:W2K02"))
    assert redirect([netdom], "W2K01", "MGMT01") == [netdom]


def test_commands_that_would_act_on_the_management_host_are_refused():
    with pytest.raises(NotRedirectable, match=r"Start-Service.*W2K01.*MGMT01.*-ComputerName"):
        redirect([Command("Start-Service", {"Name": "MSExchangeSA"})], "W2K01", "MGMT01")
    with pytest.raises(NotRedirectable, match="script qrdr:Get-ExchangeStore"):
        redirect([Script("qrdr:Get-ExchangeStore", "param()")], "W2K01", "MGMT01")


def test_a_command_naming_another_computer_is_refused():
    with pytest.raises(NotRedirectable, match="OTHER"):
        redirect([Command("Get-Service", {"ComputerName": "OTHER"})], "W2K01", "MGMT01")
    same = Command("Get-Service", {"computername": "w2k01"})
    assert redirect([same], "W2K01", "MGMT01") == [same]


def test_file_cmdlets_pass_on_the_targets_admin_share_only():
    on_share = Command("Set-Content", {"Path": "\\\\W2K01\\C$\\qrdr\\answer.txt", "Value": "x"})
    assert redirect([on_share], "w2k01", "MGMT01") == [on_share]
    with pytest.raises(NotRedirectable, match=r"administrative share"):
        redirect([Command("Test-Path", {"Path": "C:\\qrdr"})], "W2K01", "MGMT01")
    with pytest.raises(NotRedirectable, match=r"W2K01's administrative share"):
        redirect([Command("Remove-Item", {"Path": "\\\\OTHER\\C$\\qrdr"})], "W2K01", "MGMT01")


def test_static_wmi_method_gets_the_target():
    call = Command("Invoke-WmiMethod", {"Namespace": "root\\default", "Class": "StdRegProv", "Name": "EnumKey",
                                        "ArgumentList": ["2147483650", "SOFTWARE"]})
    assert redirect([call], "W2K01", "MGMT01")[0].parameters["ComputerName"] == "W2K01"
