"""Rendered commands are PowerShell the grammar accepts; bad text is reported by line and column."""

import pytest

from qrdr.remote.commands import Command, Secret, render_pipeline
from qrdr.remote.pscheck import assert_powershell_parses, powershell_syntax_errors

TRICKY = "it's \u2019quoted\u2019 \"$(Stop-Computer)\" `n\nnext line; & calc"

#: One of each command form of docs/design/host-commands.md, with awkward values.
PIPELINES = [
    [Command("Get-WmiObject", {"Class": "Win32_ComputerSystem", "ComputerName": "W2K01"})],
    [Command("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
     Command("Invoke-WmiMethod", {"Name": "Rename", "ArgumentList": ["EXCH01", Secret("pw"), "LAB\\admin"]})],
    [Command("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
     Command("Invoke-WmiMethod", {"Name": "JoinDomainOrWorkgroup",
                                  "ArgumentList": [None, 33, "lab.example", Secret("pw"), "LAB\\admin"]})],
    [Command("Restart-Computer", {"Force": True, "ComputerName": "W2K01"})],
    [Command("Stop-Computer", {"Force": True})],
    [Command("netdom", arguments=("renamecomputer", "W2K01", "/NewName:W2K02", "/UserD:LAB\\u",
                                  Secret("pw"), "/Force"))],
    [Command("bootcfg", arguments=("/raw", "/a", "/safeboot:minimal", "/id", 1))],
    [Command("Get-Service", {"Name": ["MSExchangeSA", "MSExchangeIS", TRICKY]})],
    [Command("Get-WmiObject", {"Class": "Win32_Service", "Filter": "Name='MSExchangeSA' OR Name='RESvc'"})],
    [Command("Start-Service", {"Name": "MSExchangeSA"})],
    [Command("Stop-Service", {"Name": "MSExchangeSA", "Force": True})],
    [Command("Set-Service", {"Name": "MSExchangeIS", "StartupType": "Manual", "ComputerName": "W2K01"})],
    [Command("Set-Content", {"Path": "C:\\qrdr\\dp.txt", "Value": ["select disk 1", "assign letter=E"]})],
    [Command("diskpart", arguments=("/s", "C:\\qrdr\\dp.txt"))],
    [Command("Test-Path", {"Path": "HKLM:\\SOFTWARE\\CommVault Systems\\Galaxy\\Instance001\\QSnap"})],
    [Command("Remove-Item", {"Path": "C:\\Program Files\\Exchsrvr", "Recurse": True, "Force": True})],
    [Command("Get-ItemProperty", {"Path": "HKLM:\\SOFTWARE\\Microsoft\\Exchange\\Setup"})],
    [Command("Stop-Process", {"Id": 4242, "Force": True})],
    [Command("Get-WmiObject", {"Class": "Win32_NetworkAdapterConfiguration", "Filter": "IPEnabled=TRUE"}),
     Command("Invoke-WmiMethod", {"Name": "EnableStatic", "ArgumentList": [["10.0.0.5"], ["255.255.255.0"]]})],
    [Command("sysocmgr", arguments=("/i:C:\\WINDOWS\\inf\\sysoc.inf", "/u:C:\\qrdr\\oc.txt", "/q"))],
    [Command("Start-Process", {"FilePath": "Z:\\setup\\i386\\setup.exe",
                               "ArgumentList": ["/DisasterRecovery", "/UnattendFile", "C:\\qrdr\\dr.ini"],
                               "PassThru": True})],
    [Command("Get-Content", {"Path": "C:\\Exchange Server Setup Progress.log"})],
    [Command("C:\\Program Files\\Exchsrvr\\bin\\eseutil.exe", arguments=("/mh", "F:\\mdbdata\\priv1.edb"))],
    [Command("eseutil", arguments=("/r", "E00", "/l", "E:\\logs", "/s", "E:\\sys"))],
    [Command("qlogin", {"cs": "CS01", "u": "admin", "clp": Secret("pw")})],
    [Command("qoperation", arguments=("execute", "-af", "C:\\qrdr\\request.xml"))],
    [Command("qlist", arguments=("job", "-c", "EXCH01", "-format", "xml"))],
    [Command("qlogout")],
    [Command("Get-Item", {"Path": 1.5, "Filter": False})],
]


@pytest.mark.parametrize("pipeline", PIPELINES, ids=lambda p: " | ".join(c.name for c in p))
def test_every_documented_command_form_renders_to_parseable_powershell(pipeline):
    assert_powershell_parses(render_pipeline(pipeline), what=pipeline[0].name)


def test_broken_text_is_reported_with_its_position():
    problems = powershell_syntax_errors("Get-Service -Name 'A'\nSet-Service -Name ('B' |")
    assert problems and all(problem.startswith("line 2") for problem in problems)
    with pytest.raises(AssertionError, match="line 2"):
        assert_powershell_parses("Get-Service\nif ($x { }", what="broken")


def test_a_shipped_script_renders_as_parseable_powershell_that_names_it():
    from qrdr.remote.commands import Script

    script = Script("qrdr:Mount-ExchangeStore", "param($Name)", {"Name": "Mailbox Store (EXCH01)", "Force": True,
                                                                  "Password": Secret("hunter22")})
    text = render_pipeline([script, Command("Out-Null")])
    assert_powershell_parses(text, what="a rendered script")
    assert "qrdr:Mount-ExchangeStore" in text and "hunter22" not in text
    assert text.endswith("| Out-Null")
