"""Files, registry and disks as PowerShell 2.0 and Windows 2003 show them."""

from __future__ import annotations

from qrdr.lab.sim.host import RawDisk
from qrdr.lab.sim.storage import GB, add_volume

from .conftest import call


def test_set_content_get_content_and_test_path(exchange_host):
    add_volume(exchange_host, "C", 40 * GB, used=8 * GB)
    assert call(exchange_host, ("Test-Path", {"Path": "C:\\qrdr\\a.txt"})).output == [False]
    missing_parent = call(exchange_host, ("Set-Content", {"Path": "C:\\qrdr\\a.txt", "Value": ["x"]}))
    assert missing_parent.errors[0].message == "Could not find a part of the path 'C:\\qrdr\\a.txt'."
    created = call(exchange_host, ("New-Item", {"Path": "c:/QRDR", "ItemType": "Directory", "Force": True}))
    assert created.output[0].FullName == "C:\\QRDR" and created.output[0].PSIsContainer is True
    call(exchange_host, ("Set-Content", {"Path": "C:\\qrdr\\a.txt", "Value": ["select disk 1", "assign letter=E"]}))
    assert call(exchange_host, ("Get-Content", {"Path": "c:\\QRDR\\A.TXT"})).output == ["select disk 1",
                                                                                     "assign letter=E"]
    assert call(exchange_host, ("Test-Path", {"Path": "C:\\qrdr\\*.txt"})).output == [True]
    assert call(exchange_host, ("Test-Path", {"Path": "C:\\qrdr", "PathType": "Leaf"})).output == [False]
    listing = call(exchange_host, ("Get-ChildItem", {"Path": "C:\\qrdr"})).output
    assert [(item.Name, item.Length) for item in listing] == [("a.txt", len("select disk 1\r\nassign letter=E\r\n"))]
    assert listing[0].PSObject.type_names[0] == "System.IO.FileInfo"


def test_missing_path_errors(exchange_host):
    add_volume(exchange_host, "C", 40 * GB)
    for cmdlet in ("Get-Content", "Get-ChildItem", "Remove-Item", "Get-ItemProperty"):
        result = call(exchange_host, (cmdlet, {"Path": "C:\\nowhere"}))
        assert result.failed is None
        [error] = result.errors
        assert error.message == "Cannot find path 'C:\\nowhere' because it does not exist."
        assert error.fully_qualified_error_id.startswith("PathNotFound,Microsoft.PowerShell.Commands.")
        assert error.exception_type == "System.Management.Automation.ItemNotFoundException"


def test_remove_item_fails_on_a_file_a_process_holds(exchange_host):
    add_volume(exchange_host, "C", 40 * GB)
    folder = "C:\\Program Files\\Exchsrvr\\bin"
    exchange_host.files.write(folder + "\\exchmem.dll", b"MZ", make_parents=True)
    exchange_host.files.write(folder + "\\other.dll", b"MZ")
    process = exchange_host.start_process("C:\\WINDOWS\\system32\\inetinfo.exe")
    process.open_files.add(folder + "\\EXCHMEM.DLL")
    result = call(exchange_host, ("Remove-Item", {"Path": "C:\\Program Files\\Exchsrvr", "Recurse": True,
                                                  "Force": True}))
    messages = [error.message for error in result.errors]
    assert messages[0] == ("Cannot remove item C:\\Program Files\\Exchsrvr\\bin\\exchmem.dll: The process cannot "
                           "access the file 'C:\\Program Files\\Exchsrvr\\bin\\exchmem.dll' because it is being used "
                           "by another process.")
    assert result.errors[0].fully_qualified_error_id == (
        "RemoveFileSystemItemIOError,Microsoft.PowerShell.Commands.RemoveItemCommand")
    assert result.errors[0].exception_type == "System.IO.IOException"
    assert not exchange_host.files.exists(folder + "\\other.dll")
    assert exchange_host.files.exists(folder + "\\exchmem.dll")
    locking = call(exchange_host, ("Get-Process", {"Name": "inetinfo"}), ("Stop-Process", {"Force": True}))
    assert locking.failed is None
    call(exchange_host, ("Remove-Item", {"Path": "C:\\Program Files\\Exchsrvr", "Recurse": True, "Force": True}))
    assert not exchange_host.files.exists("C:\\Program Files\\Exchsrvr")


def test_registry_keys_and_item_properties(exchange_host):
    key = "HKLM:\\SOFTWARE\\Microsoft\\Exchange\\Setup"
    exchange_host.registry.set_value(key, "Services", "C:\\Program Files\\Exchsrvr")
    exchange_host.registry.set_value(key, "MsiProductMajor", 6)
    props = call(exchange_host, ("Get-ItemProperty", {"Path": key})).output[0]
    assert props.Services == "C:\\Program Files\\Exchsrvr" and props.MsiProductMajor == 6
    assert props.PSPath == "Microsoft.PowerShell.Core\\Registry::HKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Exchange\\Setup"
    assert props.PSChildName == "Setup"
    assert call(exchange_host, ("Test-Path", {"Path": "HKLM:\\SOFTWARE\\Microsoft\\Exchange"})).output == [True]
    named = call(exchange_host, ("Get-ItemProperty", {"Path": key, "Name": "NoSuchValue"}))
    assert named.output == [] and "Property NoSuchValue does not exist" in named.errors[0].message
    call(exchange_host, ("New-Item", {"Path": "HKLM:\\SOFTWARE\\qrdr-test", "Force": True}))
    assert exchange_host.registry.exists("HKLM\\SOFTWARE\\QRDR-TEST")
    call(exchange_host, ("Remove-Item", {"Path": "HKLM:\\SOFTWARE\\Microsoft\\Exchange", "Recurse": True}))
    assert call(exchange_host, ("Test-Path", {"Path": key})).output == [False]


def test_logical_disks_in_bytes(exchange_host):
    add_volume(exchange_host, "C", 40 * GB, used=8 * GB)
    add_volume(exchange_host, "E", 100 * GB, label="Exchange E")
    exchange_host.files.write("E:\\priv1.edb", "db", size=5 * GB)
    disks = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_LogicalDisk"})).output
    by_id = {disk.DeviceID: disk for disk in disks}
    assert by_id["E:"].Size == 100 * GB and by_id["E:"].FreeSpace == 95 * GB
    assert by_id["C:"].FreeSpace == 32 * GB and by_id["E:"].DriveType == 3
    assert by_id["E:"].VolumeName == "Exchange E" and by_id["E:"].FileSystem == "NTFS"


def test_diskpart_script_then_format(exchange_host):
    exchange_host.disks.append(RawDisk(index=1, size=60 * GB))
    add_volume(exchange_host, "C", 40 * GB)
    call(exchange_host, ("Set-Content", {"Path": "C:\\dp.txt",
                                         "Value": ["select disk 1", "create partition primary size=51200",
                                                   "assign letter=E"]}))
    result = call(exchange_host, ("diskpart", {}, ["/s", "C:\\dp.txt"]))
    assert "DiskPart succeeded in creating the specified partition." in result.output
    assert "DiskPart successfully assigned the drive letter or mount point." in result.output
    assert exchange_host.last_exit_code == 0
    raw = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_LogicalDisk", "Filter": "DeviceID='E:'"})).output
    assert raw[0].FileSystem is None and raw[0].Size is None
    assert call(exchange_host, ("Test-Path", {"Path": "E:\\"})).output == [False]
    drive = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_DiskDrive", "Filter": "Index=1"})).output[0]
    assert drive.Size == 60 * GB and drive.Partitions == 1
    formatted = call(exchange_host, ("format", {}, ["E:", "/fs:ntfs", "/q", "/y", "/v:EXDATA"]))
    assert "Format complete." in formatted.output and exchange_host.last_exit_code == 0
    disk = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_LogicalDisk", "Filter": "DeviceID='E:'"})).output[0]
    assert (disk.Size, disk.FileSystem, disk.VolumeName) == (50 * GB, "NTFS", "EXDATA")
    assert call(exchange_host, ("Test-Path", {"Path": "E:\\"})).output == [True]
    # The same script again: the letter is taken now; diskpart stops with an error code.
    call(exchange_host, ("Set-Content", {"Path": "C:\\dp.txt", "Value": ["select disk 1",
                                                                       "create partition primary size=1024",
                                                                       "assign letter=E"]}))
    again = call(exchange_host, ("diskpart", {}, ["/s", "C:\\dp.txt"]))
    assert again.output[-1] == "The specified drive letter is not free to be assigned."
    assert exchange_host.last_exit_code != 0
    too_big = call(exchange_host, ("Set-Content", {"Path": "C:\\dp.txt", "Value": [
        "select disk 1", f"create partition primary size={100 * 1024}"]}))
    assert too_big.errors == []
    call(exchange_host, ("diskpart", {}, ["/s", "C:\\dp.txt"]))
    assert exchange_host.last_exit_code == 4
    assert call(exchange_host, ("format", {}, ["E:", "/fs:ntfs", "/q"])).output[-1].startswith("Proceed with Format")
    unlabelled = call(exchange_host, ("format", {}, ["E:", "/fs:ntfs", "/q", "/y"]))
    assert unlabelled.output[-1].startswith("Volume label") and exchange_host.last_exit_code == 4
    call(exchange_host, ("format", {}, ["E:", "/fs:ntfs", "/q", "/y", "/v:" + "x" * 33]))
    assert exchange_host.last_exit_code == 4
    assert call(exchange_host, ("format", {}, ["C:", "/fs:ntfs", "/q", "/y"])).output[-1] == (
        "Format cannot run because the volume is in use by another process.")
