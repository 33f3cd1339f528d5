"""A Windows 2000 host administered from the management host: admin shares, StdRegProv, Win32_Process."""

from __future__ import annotations

from qrdr.lab.sim import WindowsHost
from qrdr.lab.sim.objects import prop
from qrdr.lab.sim.services import add_windows_services
from qrdr.lab.sim.storage import GB, add_volume

from .conftest import call

HKLM = "2147483650"


def _pair(lab):
    management = lab.add(WindowsHost("mgmt01", windows="2003", workgroup="WORKGROUP"))
    target = lab.add(WindowsHost("w2k01", windows="2000", workgroup="WORKGROUP"))
    for host in (management, target):
        add_windows_services(host, winrm=host is management)
        add_volume(host, "C", 10 * GB)
    return management, target


def test_admin_share_paths_act_on_the_named_host(lab):
    management, target = _pair(lab)
    call(management, ("New-Item", {"Path": r"\\W2K01\C$\qrdr", "ItemType": "Directory", "Force": True}))
    result = call(management, ("Set-Content", {"Path": r"\\W2K01\C$\qrdr\answer.txt", "Value": ["a", "b"]}))
    assert not result.failed and not result.errors
    assert target.files.read_text(r"C:\qrdr\answer.txt") == "a\r\nb\r\n"
    assert not management.files.exists(r"C:\qrdr\answer.txt")
    assert call(management, ("Get-Content", {"Path": r"\\w2k01\c$\qrdr\answer.txt"})).output == ["a", "b"]
    call(management, ("Remove-Item", {"Path": r"\\W2K01\C$\qrdr", "Recurse": True}))
    assert not target.files.exists(r"C:\qrdr")
    missing = call(management, ("Test-Path", {"Path": r"\\NOSUCH\C$\x"}))
    assert missing.errors and "network path was not found" in missing.errors[0].message


def test_stdregprov_reads_and_deletes_keys(lab):
    management, target = _pair(lab)
    target.registry.set_value(r"HKLM\SOFTWARE\Microsoft\Exchange\Setup", "Services", r"C:\Program Files\Exchsrvr")
    target.registry.set_value(r"HKLM\SOFTWARE\Microsoft\Exchange\Setup", "NewestBuild", 6249)

    def regprov(method, *arguments):
        result = call(management, ("Invoke-WmiMethod", {"Namespace": "root\\default", "Class": "StdRegProv",
                                                        "Name": method, "ArgumentList": [HKLM, *arguments],
                                                        "ComputerName": "W2K01"}))
        assert not result.failed, result.failed
        return result.output[0]

    assert list(prop(regprov("EnumKey", r"SOFTWARE\Microsoft\Exchange"), "sNames")) == ["Setup"]
    values = regprov("EnumValues", r"SOFTWARE\Microsoft\Exchange\Setup")
    assert list(prop(values, "sNames")) == ["Services", "NewestBuild"] and list(prop(values, "Types")) == [1, 4]
    assert prop(regprov("GetStringValue", r"SOFTWARE\Microsoft\Exchange\Setup", "Services"), "sValue") == \
        r"C:\Program Files\Exchsrvr"
    assert prop(regprov("GetDWORDValue", r"SOFTWARE\Microsoft\Exchange\Setup", "NewestBuild"), "uValue") == 6249
    assert prop(regprov("DeleteKey", r"SOFTWARE\Microsoft\Exchange"), "ReturnValue") == 5  # has a subkey
    assert prop(regprov("DeleteKey", r"SOFTWARE\Microsoft\Exchange\Setup"), "ReturnValue") == 0
    assert not target.registry.exists(r"HKLM\SOFTWARE\Microsoft\Exchange\Setup")
    assert prop(regprov("EnumKey", r"SOFTWARE\Microsoft\Exchange\Setup"), "ReturnValue") == 2
    # StdRegProv lives in root\default, not root\cimv2.
    wrong = call(management, ("Invoke-WmiMethod", {"Class": "StdRegProv", "Name": "EnumKey",
                                                   "ArgumentList": [HKLM, "SOFTWARE"], "ComputerName": "W2K01"}))
    assert wrong.failed and "Invalid class" in wrong.failed.message


def test_win32_process_create_runs_a_native_program_into_a_file(lab):
    management, target = _pair(lab)
    target.files.mkdir(r"C:\qrdr")
    add_volume(target, "D", 5 * GB)
    result = call(management, ("Invoke-WmiMethod", {
        "Class": "Win32_Process", "Name": "Create", "ComputerName": "W2K01",
        "ArgumentList": [r'cmd /c "net use > C:\qrdr\out.txt 2>&1"', None, None]}))
    assert not result.failed and prop(result.output[0], "ReturnValue") == 0
    pid = int(prop(result.output[0], "ProcessId"))
    # It ran to its end: no such process any more, its output in the file.
    assert call(management, ("Get-WmiObject", {"Class": "Win32_Process", "Filter": f"ProcessId={pid}",
                                               "ComputerName": "W2K01"})).output == []
    assert target.files.read_text(r"C:\qrdr\out.txt").startswith("New connections will not be remembered.")
    # Windows 2000 has no diskpart: through cmd.exe the output file says so; started directly, path not found.
    call(target, ("Set-Content", {"Path": r"C:\qrdr\dp.txt", "Value": ["select volume D", "detail volume"]}))
    through_cmd = call(management, ("Invoke-WmiMethod", {
        "Class": "Win32_Process", "Name": "Create", "ComputerName": "W2K01",
        "ArgumentList": [r'cmd /c "diskpart /s C:\qrdr\dp.txt > C:\qrdr\dp.out 2>&1"', None, None]}))
    assert prop(through_cmd.output[0], "ReturnValue") == 0
    assert target.files.read_text(r"C:\qrdr\dp.out").startswith("'diskpart' is not recognized")
    direct = call(management, ("Invoke-WmiMethod", {"Class": "Win32_Process", "Name": "Create",
                                                    "ComputerName": "W2K01",
                                                    "ArgumentList": [r"diskpart /s C:\qrdr\dp.txt", None, None]}))
    assert prop(direct.output[0], "ReturnValue") == 9
    unknown = call(management, ("Invoke-WmiMethod", {"Class": "Win32_Process", "Name": "Create",
                                                     "ComputerName": "W2K01", "ArgumentList": ["nosuch.exe", None, None]}))
    assert prop(unknown.output[0], "ReturnValue") == 9
