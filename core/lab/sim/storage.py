"""Files, registry and disks: Test-Path, Get-ChildItem, New-Item, Remove-Item, Set-Content,
Get-Content, Get-ItemProperty; Win32_LogicalDisk, Win32_DiskDrive, Win32_DiskPartition;
``diskpart /s`` and ``format``.

Paths are Windows paths (case-insensitive) on the host's virtual file system,
or registry paths (``HKLM:\\...``, ``Registry::HKEY_LOCAL_MACHINE\\...``).
Errors are the records PowerShell 2.0 writes: a missing path is the
non-terminating ``PathNotFound`` (ItemNotFoundException); removing a file a
process holds open is ``RemoveFileSystemItemIOError`` (IOException "... because
it is being used by another process"), as Windows answers for exchmem.dll
after an Exchange uninstall. The file cmdlets also take administrative-share
paths (``\\\\HOST\\C$\\...``) that act on another lab host (:mod:`.remote_admin`).

Sizes are bytes, as Windows reports them. Free space of a volume is its size
minus ``Volume.used_base`` minus the sizes of the files on it.
"""

from __future__ import annotations

import ntpath
import re
from typing import Any

from .host import (FileEntry, NativeOutput, Param, Partition, RawDisk, Volume, WindowsHost, as_list, cmdlet,
                   has_wildcard, is_registry_path, native, normalize_key, normalize_path)
from .objects import ps_object, typed_list, uint16, uint32, uint64, wmi_object
from .registry import PSError
from .remote_admin import on_admin_share
from .wmi import wmi_class

GB = 1024 ** 3
MB = 1024 ** 2

# --- objects ------------------------------------------------------------------------------------


def _fs_ps_path(path: str) -> str:
    return f"Microsoft.PowerShell.Core\\FileSystem::{path}"


def file_item(entry: FileEntry) -> Any:
    """``System.IO.FileInfo`` / ``System.IO.DirectoryInfo`` as Get-ChildItem and New-Item return them."""
    parent = ntpath.dirname(entry.path) if ntpath.dirname(entry.path) != entry.path else ""
    extended = {
        "PSPath": _fs_ps_path(entry.path),
        "PSParentPath": _fs_ps_path(parent) if parent else "",
        "PSChildName": entry.name,
        "PSDrive": entry.path[0],
        "PSProvider": "Microsoft.PowerShell.Core\\FileSystem",
        "PSIsContainer": entry.is_dir,
    }
    common = {
        "Name": entry.name,
        "Exists": True,
        "FullName": entry.path,
        "Extension": ntpath.splitext(entry.name)[1],
        "CreationTime": entry.created,
        "CreationTimeUtc": entry.created,
        "LastAccessTime": entry.modified,
        "LastAccessTimeUtc": entry.modified,
        "LastWriteTime": entry.modified,
        "LastWriteTimeUtc": entry.modified,
        "Attributes": "Directory" if entry.is_dir else "Archive",
    }
    if entry.is_dir:
        return ps_object(["System.IO.DirectoryInfo", "System.IO.FileSystemInfo", "System.MarshalByRefObject",
                          "System.Object"],
                         adapted={**common, "Parent": ntpath.basename(parent) if parent else None,
                                  "Root": entry.path[:3]},
                         extended={**extended, "Mode": "d----"}, to_string=entry.name)
    return ps_object(["System.IO.FileInfo", "System.IO.FileSystemInfo", "System.MarshalByRefObject", "System.Object"],
                     adapted={**common, "Length": entry.size, "DirectoryName": parent, "Directory": parent,
                              "IsReadOnly": False},
                     extended={**extended, "Mode": "-a---",
                               "VersionInfo": f"File:             {entry.path}"},
                     to_string=entry.name)


def _registry_ps_path(key: str) -> str:
    hive, _, rest = key.partition("\\")
    long_hive = {"HKLM": "HKEY_LOCAL_MACHINE", "HKCU": "HKEY_CURRENT_USER"}[hive]
    return f"Microsoft.PowerShell.Core\\Registry::{long_hive}" + (f"\\{rest}" if rest else "")


def _registry_extended(key: str) -> dict[str, Any]:
    parent = key.rpartition("\\")[0]
    return {
        "PSPath": _registry_ps_path(key),
        "PSParentPath": _registry_ps_path(parent) if parent else "",
        "PSChildName": key.rpartition("\\")[2],
        "PSDrive": key.partition("\\")[0],
        "PSProvider": "Microsoft.PowerShell.Core\\Registry",
    }


def registry_key_item(host: WindowsHost, key: str) -> Any:
    """``Microsoft.Win32.RegistryKey`` as Get-ChildItem / New-Item return it."""
    entry = host.registry.get(key)
    assert entry is not None
    long_name = _registry_ps_path(entry.path).split("::", 1)[1]
    return ps_object(["Microsoft.Win32.RegistryKey", "System.MarshalByRefObject", "System.Object"],
                     adapted={"Name": long_name, "SubKeyCount": len(host.registry.subkeys(entry.path)),
                              "ValueCount": len(entry.values)},
                     extended={**_registry_extended(entry.path), "PSIsContainer": True,
                               "Property": typed_list(list(entry.values), ["System.String[]", "System.Array",
                                                                           "System.Object"])},
                     to_string=long_name)


# --- errors -------------------------------------------------------------------------------------


def path_not_found(host: WindowsHost, cmdlet_name: str, path: Any) -> None:
    host.write_error(f"Cannot find path '{path}' because it does not exist.", category="ObjectNotFound",
                     error_id=f"PathNotFound,Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                     exception_type="System.Management.Automation.ItemNotFoundException", target=str(path))


def _io_error(host: WindowsHost, error_id: str, cmdlet_name: str, message: str, path: str,
              exception: str = "System.IO.IOException", category: str = "WriteError") -> None:
    host.write_error(message, category=category,
                     error_id=f"{error_id},Microsoft.PowerShell.Commands.{cmdlet_name}Command",
                     exception_type=exception, target=path)


def _paths(args: dict[str, Any]) -> list[str]:
    return [str(path) for path in as_list(args.get("Path") or args.get("LiteralPath"))]


def _resolve_fs(host: WindowsHost, path: str) -> list[FileEntry]:
    if has_wildcard(path):
        return host.files.glob(path)
    entry = host.files.get(path)
    return [entry] if entry is not None else []


# --- cmdlets ------------------------------------------------------------------------------------


@cmdlet("Test-Path", Param("Path", 0), Param("LiteralPath", aliases=("PSPath",)), Param("PathType"),
        Param("IsValid", switch=True), Param("Filter"), Param("Include"), Param("Exclude"), Param("Credential"))
@on_admin_share("Test-Path")
def test_path(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    kind = str(args.get("PathType") or "Any").lower()
    results = []
    for path in _paths(args) or [str(obj) for obj in input_objects]:
        if is_registry_path(path):
            exists = host.registry.exists(path)
            results.append(exists and kind in ("any", "container"))
            continue
        matches = _resolve_fs(host, path)
        if kind == "leaf":
            matches = [entry for entry in matches if not entry.is_dir]
        elif kind == "container":
            matches = [entry for entry in matches if entry.is_dir]
        results.append(bool(matches))
    return results


@cmdlet("Get-ChildItem", Param("Path", 0), Param("Filter", 1), Param("LiteralPath", aliases=("PSPath",)),
        Param("Include"), Param("Exclude"), Param("Recurse", switch=True), Param("Force", switch=True),
        Param("Name", switch=True))
@on_admin_share("Get-ChildItem")
def get_child_item(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    output: list[Any] = []
    for path in _paths(args) or ["C:\\"]:
        if is_registry_path(path):
            if not host.registry.exists(path):
                path_not_found(host, "GetChildItem", path)
                continue
            keys = host.registry.subkeys(path)
            output.extend(key.path.rpartition("\\")[2] if args.get("Name") else registry_key_item(host, key.path)
                          for key in keys)
            continue
        entries = _resolve_fs(host, path)
        if not entries:
            path_not_found(host, "GetChildItem", path)
            continue
        found: list[FileEntry] = []
        for entry in entries:
            if entry.is_dir and not has_wildcard(path):
                found.extend(host.files.descendants(entry.path) if args.get("Recurse")
                             else host.files.children(entry.path))
            else:
                found.append(entry)
        if args.get("Filter"):
            pattern = str(args["Filter"])
            found = [entry for entry in found if re.fullmatch(_glob_regex(pattern), entry.name, re.IGNORECASE)]
        output.extend(entry.name if args.get("Name") else file_item(entry) for entry in found)
    return output


def _glob_regex(pattern: str) -> str:
    return "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)


@cmdlet("New-Item", Param("Path", 0), Param("Name"), Param("ItemType", aliases=("Type",)), Param("Value"),
        Param("Force", switch=True), Param("Credential"), Param("WhatIf", switch=True), Param("Confirm", switch=True))
@on_admin_share("New-Item")
def new_item(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    output = []
    kind = str(args.get("ItemType") or "File").lower()
    for path in _paths(args):
        if args.get("Name"):
            path = path.rstrip("\\") + "\\" + str(args["Name"])
        if is_registry_path(path):
            if host.registry.exists(path) and not args.get("Force"):
                _io_error(host, "System.IO.IOException", "NewItem", "A key at this path already exists", path,
                          category="ResourceExists")
                continue
            host.registry.create(path)
            output.append(registry_key_item(host, normalize_key(path)))
            continue
        existing = host.files.get(path)
        drive = normalize_path(path)[:3]
        if not host.files.is_dir(drive):
            host.write_error(f"Cannot find drive. A drive with the name '{drive[0]}' does not exist.",
                             category="ObjectNotFound",
                             error_id="DriveNotFound,Microsoft.PowerShell.Commands.NewItemCommand",
                             exception_type="System.Management.Automation.DriveNotFoundException", target=drive[0])
            continue
        if kind == "directory":
            if existing is not None and not args.get("Force"):
                _io_error(host, "DirectoryExist", "NewItem",
                          f"Item with specified name {normalize_path(path)} already exists.", path,
                          category="ResourceExists")
                continue
            if existing is not None and not existing.is_dir:
                _io_error(host, "NewItemIOError", "NewItem", f"The file '{normalize_path(path)}' already exists.",
                          path)
                continue
            output.append(file_item(host.files.mkdir(path)))
        elif kind == "file":
            if existing is not None and not args.get("Force"):
                _io_error(host, "NewItemIOError", "NewItem", f"The file '{normalize_path(path)}' already exists.",
                          path)
                continue
            try:
                entry = host.files.write(path, _text_of(args.get("Value")) if args.get("Value") is not None else "",
                                         make_parents=bool(args.get("Force")))
            except FileNotFoundError:
                _io_error(host, "NewItemIOError", "NewItem", f"Could not find a part of the path "
                          f"'{normalize_path(path)}'.", path, exception="System.IO.DirectoryNotFoundException")
                continue
            output.append(file_item(entry))
        else:
            raise PSError("The type is not a known type for the file system. Only \"file\" and \"directory\" can "
                          "be created.", category="InvalidArgument",
                          error_id="Argument,Microsoft.PowerShell.Commands.NewItemCommand",
                          exception_type="System.Management.Automation.PSArgumentException", target=path)
    return output


@cmdlet("Remove-Item", Param("Path", 0), Param("LiteralPath", aliases=("PSPath",)), Param("Filter"),
        Param("Include"), Param("Exclude"), Param("Recurse", switch=True), Param("Force", switch=True),
        Param("Credential"), Param("WhatIf", switch=True), Param("Confirm", switch=True))
@on_admin_share("Remove-Item")
def remove_item(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """Removes files, folders (with -Recurse) and registry keys; a file a process holds open stays,
    with the IOException record, and so do the folders above it."""
    for path in _paths(args) or [str(obj) for obj in input_objects]:
        if is_registry_path(path):
            if not host.registry.exists(path):
                path_not_found(host, "RemoveItem", path)
                continue
            if host.registry.subkeys(path) and not args.get("Recurse"):
                _non_interactive(host, path)
                continue
            host.registry.delete(path)
            continue
        entries = _resolve_fs(host, path)
        if not entries:
            path_not_found(host, "RemoveItem", path)
            continue
        for entry in entries:
            if entry.is_dir and host.files.children(entry.path) and not args.get("Recurse"):
                _non_interactive(host, entry.path)
                continue
            _remove_entry(host, entry)
    return []


def _non_interactive(host: WindowsHost, path: str) -> None:
    # Without -Recurse PowerShell asks for confirmation; a remote session cannot prompt.
    host.write_error("Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
                     category="InvalidOperation",
                     error_id="RemoveItemUnauthorizedAccessError,Microsoft.PowerShell.Commands.RemoveItemCommand",
                     exception_type="System.Management.Automation.PSInvalidOperationException", target=path)


def _remove_entry(host: WindowsHost, entry: FileEntry) -> bool:
    """Remove a file or a whole folder; False when something under it is held open."""
    if entry.is_dir:
        ok = True
        for child in host.files.children(entry.path):
            ok = _remove_entry(host, child) and ok
        if not ok:
            _io_error(host, "RemoveFileSystemItemIOError", "RemoveItem",
                      f"Cannot remove item {entry.path}: The directory is not empty.", entry.path)
            return False
        host.files.remove(entry.path)
        return True
    holders = host.processes_holding(entry.path)
    if holders:
        _io_error(host, "RemoveFileSystemItemIOError", "RemoveItem",
                  f"Cannot remove item {entry.path}: The process cannot access the file '{entry.path}' because it "
                  "is being used by another process.", entry.path)
        return False
    host.files.remove(entry.path)
    return True


def _text_of(value: Any) -> str:
    """Set-Content writes each value on its own line (CRLF), the last one included."""
    return "".join(f"{line}\r\n" for line in as_list(value))


@cmdlet("Set-Content", Param("Path", 0), Param("Value", 1), Param("LiteralPath", aliases=("PSPath",)),
        Param("Encoding"), Param("Force", switch=True), Param("PassThru", switch=True), Param("Credential"),
        Param("Filter"), Param("Include"), Param("Exclude"), Param("WhatIf", switch=True),
        Param("Confirm", switch=True))
@on_admin_share("Set-Content")
def set_content(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    value = args.get("Value") if "Value" in args else input_objects
    for path in _paths(args):
        if host.processes_holding(path):
            _io_error(host, "GetContentWriterIOError", "SetContent", f"The process cannot access the file "
                      f"'{normalize_path(path)}' because it is being used by another process.", path)
            continue
        try:
            host.files.write(path, _text_of(value))
        except FileNotFoundError:
            _io_error(host, "GetContentWriterDirectoryNotFoundError", "SetContent",
                      f"Could not find a part of the path '{normalize_path(path)}'.", path,
                      exception="System.IO.DirectoryNotFoundException", category="ObjectNotFound")
        except IsADirectoryError:
            _io_error(host, "GetContentWriterUnauthorizedAccessError", "SetContent",
                      f"Access to the path '{normalize_path(path)}' is denied.", path,
                      exception="System.UnauthorizedAccessException", category="PermissionDenied")
    return []


@cmdlet("Get-Content", Param("Path", 0), Param("LiteralPath", aliases=("PSPath",)), Param("TotalCount"),
        Param("ReadCount"), Param("Encoding"), Param("Force", switch=True), Param("Credential"), Param("Filter"),
        Param("Include"), Param("Exclude"))
@on_admin_share("Get-Content")
def get_content(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    lines: list[Any] = []
    for path in _paths(args):
        entry = host.files.get(path)
        if entry is None:
            path_not_found(host, "GetContent", path)
            continue
        if entry.is_dir:
            host.write_error(f"Access to the path '{entry.path}' is denied.", category="PermissionDenied",
                             error_id="GetContentReaderUnauthorizedAccessError,"
                                      "Microsoft.PowerShell.Commands.GetContentCommand",
                             exception_type="System.UnauthorizedAccessException", target=path)
            continue
        text = host.files.read_text(path) or ""
        found = text.replace("\r\n", "\n").split("\n")
        if found and found[-1] == "":
            found.pop()
        if args.get("TotalCount") is not None and int(args["TotalCount"]) >= 0:
            found = found[:int(args["TotalCount"])]
        lines.extend(found)
    return lines


@cmdlet("Get-ItemProperty", Param("Path", 0), Param("Name", 1, aliases=("PSProperty",)),
        Param("LiteralPath", aliases=("PSPath",)), Param("Credential"), Param("Filter"), Param("Include"),
        Param("Exclude"))
def get_item_property(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """A registry key's values as a PSCustomObject (with PSPath, PSParentPath, PSChildName, PSDrive,
    PSProvider), or a file's FileInfo."""
    from .objects import custom_object

    output = []
    names = [str(name) for name in as_list(args.get("Name"))]
    for path in _paths(args):
        if not is_registry_path(path):
            entry = host.files.get(path)
            if entry is None:
                path_not_found(host, "GetItemProperty", path)
            else:
                output.append(file_item(entry))
            continue
        key = host.registry.get(path)
        if key is None:
            path_not_found(host, "GetItemProperty", path)
            continue
        values = dict(key.values)
        if names:
            picked = {}
            for name in names:
                match = next((value_name for value_name in values if value_name.lower() == name.lower()), None)
                if match is None:
                    long_name = _registry_ps_path(key.path).split("::", 1)[1]
                    host.write_error(f"Property {name} does not exist at path {long_name}.",
                                     category="InvalidArgument",
                                     error_id="System.Management.Automation.PSArgumentException,"
                                              "Microsoft.PowerShell.Commands.GetItemPropertyCommand",
                                     exception_type="System.Management.Automation.PSArgumentException", target=name)
                else:
                    picked[match] = values[match]
            if not picked:
                continue
            values = picked
        output.append(custom_object({**values, **_registry_extended(key.path)}))
    return output


# --- WMI: disks ---------------------------------------------------------------------------------


def volume_free_space(host: WindowsHost, volume: Volume) -> int:
    used = volume.used_base + sum(entry.size for entry in host.files.descendants(f"{volume.letter}:\\"))
    return max(volume.size - used, 0)


@wmi_class("Win32_LogicalDisk")
def win32_logical_disk(host: WindowsHost) -> list[Any]:
    objects = []
    for letter in sorted(host.volumes):
        volume = host.volumes[letter]
        formatted = volume.file_system is not None
        objects.append(wmi_object(host.name, "Win32_LogicalDisk", {"DeviceID": f"{letter}:"}, {
            "Access": uint16(0) if formatted else None,
            "Caption": f"{letter}:",
            "Compressed": False,
            "CreationClassName": "Win32_LogicalDisk",
            "Description": "Local Fixed Disk",
            "DriveType": uint32(3),
            "FileSystem": volume.file_system,
            "FreeSpace": uint64(volume_free_space(host, volume)) if formatted else None,
            "MediaType": uint32(12),
            "Name": f"{letter}:",
            "Size": uint64(volume.size) if formatted else None,
            "SystemCreationClassName": "Win32_ComputerSystem",
            "SystemName": host.name,
            "VolumeName": volume.label if formatted else None,
            "VolumeSerialNumber": f"{abs(hash((host.name, letter))) % 0xFFFFFFFF:08X}" if formatted else None,
        }))
    return objects


@wmi_class("Win32_DiskDrive")
def win32_disk_drive(host: WindowsHost) -> list[Any]:
    return [wmi_object(host.name, "Win32_DiskDrive", {"DeviceID": f"\\\\.\\PHYSICALDRIVE{disk.index}"}, {
        "BytesPerSector": uint32(512),
        "Caption": disk.model,
        "CreationClassName": "Win32_DiskDrive",
        "Description": "Disk drive",
        "Index": uint32(disk.index),
        "InterfaceType": "SCSI",
        "MediaType": "Fixed hard disk media",
        "Model": disk.model,
        "Name": f"\\\\.\\PHYSICALDRIVE{disk.index}",
        "Partitions": uint32(len(disk.partitions)),
        "Size": uint64(disk.size),
        "Status": "OK",
        "SystemName": host.name,
    }) for disk in host.disks]


@wmi_class("Win32_DiskPartition")
def win32_disk_partition(host: WindowsHost) -> list[Any]:
    objects = []
    for disk in host.disks:
        offset = 32256
        for index, partition in enumerate(disk.partitions):
            device = f"Disk #{disk.index}, Partition #{index}"
            objects.append(wmi_object(host.name, "Win32_DiskPartition", {"DeviceID": device}, {
                "BlockSize": uint64(512), "Bootable": disk.index == 0 and index == 0, "BootPartition": disk.index == 0
                and index == 0, "Caption": device, "DiskIndex": uint32(disk.index), "Index": uint32(index), "Name": device,
                "PrimaryPartition": True, "Size": uint64(partition.size), "StartingOffset": uint64(offset),
                "Type": "Installable File System", "SystemName": host.name,
            }))
            offset += partition.size
    return objects


# --- diskpart and format ------------------------------------------------------------------------

_DISKPART_BANNER = ["", "Microsoft DiskPart version 5.2.3790.3959", "Copyright (C) 1999-2001 Microsoft Corporation."]


def _diskpart_fail(lines: list[str], message: str, code: int) -> NativeOutput:
    return NativeOutput(lines + ["", message], exit_code=code)


@native("diskpart")
def diskpart(host: WindowsHost, arguments: list[str], input_objects: list[Any]) -> NativeOutput:
    """``diskpart /s FILE``: select disk N, create partition primary [size=MB], assign letter=X,
    select volume X, remove letter=X, rescan, exit. Stops at the first error (exit code 2 for a
    bad argument, 4 for a failed operation), as diskpart does without ``noerr``."""
    lines = [*_DISKPART_BANNER, f"On computer: {host.name}"]
    lowered = [argument.lower() for argument in arguments]
    if "/s" not in lowered or lowered.index("/s") + 1 >= len(arguments):
        return _diskpart_fail(lines, "The arguments you specified for this command are not valid.", 2)
    script_path = arguments[lowered.index("/s") + 1]
    text = host.files.read_text(script_path)
    if text is None:
        return _diskpart_fail(lines, "The system cannot find the file specified.", 3)
    disk: RawDisk | None = None
    partition: Partition | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        words = raw.strip().split()
        if not words or words[0].lower() in ("rem", "#"):
            continue
        verb = [word.lower() for word in words]
        options = dict(word.split("=", 1) for word in verb if "=" in word)
        if verb[:2] == ["select", "disk"] and len(verb) == 3 and verb[2].isdigit():
            disk = next((d for d in host.disks if d.index == int(verb[2])), None)
            if disk is None:
                return _diskpart_fail(lines, "The disk you specified is not valid.", 2)
            lines += ["", f"Disk {disk.index} is now the selected disk."]
        elif verb[:3] == ["create", "partition", "primary"]:
            if disk is None:
                return _diskpart_fail(lines, "There is no disk selected.", 2)
            size = int(options["size"]) * MB if "size" in options else disk.free
            if size <= 0 or size > disk.free:
                return _diskpart_fail(lines, "DiskPart was unable to create the specified partition.", 4)
            partition = Partition(size)
            disk.partitions.append(partition)
            lines += ["", "DiskPart succeeded in creating the specified partition."]
        elif verb[:2] == ["select", "volume"] and len(verb) == 3:
            letter = verb[2].rstrip(":").upper()
            volume = host.volumes.get(letter)
            if volume is None:
                return _diskpart_fail(lines, "The volume you selected is not valid or does not exist.", 2)
            partition = _partition_of(host, letter)
            lines += ["", f"Volume {sorted(host.volumes).index(letter)} is the selected volume."]
        elif verb[0] == "assign":
            letter = options.get("letter", "").rstrip(":").upper()
            if partition is None:
                return _diskpart_fail(lines, "There is no volume selected.", 2)
            if not re.fullmatch(r"[D-Z]", letter) or letter in host.volumes:
                return _diskpart_fail(lines, "The specified drive letter is not free to be assigned.", 4)
            partition.letter = letter
            owner = next(d for d in host.disks if partition in d.partitions)
            host.volumes[letter] = Volume(letter, partition.size, file_system=None, disk_index=owner.index)
            lines += ["", "DiskPart successfully assigned the drive letter or mount point."]
        elif verb[0] == "remove":
            letter = options.get("letter", "").rstrip(":").upper()
            if partition is None or partition.letter is None or (letter and letter != partition.letter):
                return _diskpart_fail(lines, "There is no volume selected.", 2)
            host.volumes.pop(partition.letter, None)
            host.files.remove_drive(partition.letter)
            partition.letter = None
            lines += ["", "DiskPart successfully removed the drive letter or mount point."]
        elif verb[0] in ("rescan", "exit"):
            if verb[0] == "rescan":
                lines += ["", "Please wait while DiskPart scans your configuration...", "",
                          "DiskPart has finished scanning your configuration."]
        else:
            return _diskpart_fail(lines, f"The command or parameters are not valid: {raw.strip()}", 2)
    lines += ["", "Leaving DiskPart..."]
    return NativeOutput(lines)


def _partition_of(host: WindowsHost, letter: str) -> Partition | None:
    for disk in host.disks:
        for partition in disk.partitions:
            if partition.letter == letter:
                return partition
    return None


@native("format")
def format_volume(host: WindowsHost, arguments: list[str], input_objects: list[Any]) -> NativeOutput:
    """``format E: /fs:ntfs /q /y /v:LABEL``: a new empty file system (everything on it is lost)."""
    if not arguments or not re.fullmatch(r"[A-Za-z]:", arguments[0]):
        return NativeOutput([], exit_code=4, stderr=["Required parameter missing -"])
    letter = arguments[0][0].upper()
    lowered = [argument.lower() for argument in arguments[1:]]
    volume = host.volumes.get(letter)
    if volume is None:
        return NativeOutput([f"The system cannot find the drive specified."], exit_code=4)
    if letter == "C":
        return NativeOutput(["The type of the file system is NTFS.",
                             "Format cannot run because the volume is in use by another process."], exit_code=4)
    file_system = next((arg.split(":", 1)[1].upper() for arg in lowered if arg.startswith("/fs:")), "NTFS")
    if file_system not in ("NTFS", "FAT32", "FAT"):
        return NativeOutput([f"The file system {file_system} is not supported."], exit_code=4)
    if "/y" not in lowered:
        # format asks before destroying data; a remote session has no console to answer it.
        return NativeOutput([f"WARNING, ALL DATA ON NON-REMOVABLE DISK", f"DRIVE {letter}: WILL BE LOST!",
                             "Proceed with Format (Y/N)? "], exit_code=4)
    holders = [p for p in host.processes.values() if any(normalize_path(f).upper().startswith(f"{letter}:\\")
                                                        for f in p.open_files)]
    if holders:
        return NativeOutput(["Format cannot run because the volume is in use by another process."], exit_code=4)
    label = next((argument.split(":", 1)[1] for argument in arguments[1:] if argument.lower().startswith("/v:")), None)
    if label is not None and len(label) > (32 if file_system == "NTFS" else 11):
        return NativeOutput([f"The volume label is not valid: at most {32 if file_system == 'NTFS' else 11} "
                             "characters."], exit_code=4)  # the limits are NTFS's and FAT's; the wording is not documented
    previous = volume.file_system or "RAW"
    host.files.remove_drive(letter)
    host.files.add_drive(letter)
    volume.file_system = file_system
    volume.label = label or ""
    volume.used_base = 64 * MB
    size_gb = volume.size / GB
    lines = [f"The type of the file system is {previous}.", f"The new file system is {file_system}.",
             f"QuickFormatting {volume.size // MB}M" if "/q" in lowered else f"Verifying {volume.size // MB}M"]
    if label is None:
        # "If you omit the /v command-line option ..., format prompts you for the volume label after the
        # formatting is complete" (format.md). A remote session has no console to answer; what format
        # then does is not documented: the lab ends it there, formatted and unlabelled, with exit code 4.
        return NativeOutput([*lines, "Volume label (32 characters, ENTER for none)? "], exit_code=4)
    return NativeOutput([*lines, "Creating file system structures.", "Format complete.",
                         f"{size_gb:>8.1f} GB total disk space.",
                         f"{volume_free_space(host, volume) / GB:>8.1f} GB are available."])


def format_new_volume(host: WindowsHost, letter: str, size: int) -> Volume:
    """What a person does in Disk Management: a primary partition of ``size`` bytes on the disk with
    the least room that holds it, drive ``letter``, formatted NTFS. ValueError when no disk has room."""
    fitting = sorted((disk.free, disk.index) for disk in host.disks if disk.free >= size)
    if not fitting:
        raise ValueError(f"{host.name}: no disk has {size // MB} MB unpartitioned for {letter}:")
    disk = next(d for d in host.disks if d.index == fitting[0][1])
    volume = add_volume(host, letter, size, disk=disk)
    volume.used_base = 64 * MB
    return volume


def add_volume(host: WindowsHost, letter: str, size: int, *, label: str = "", disk: RawDisk | None = None,
               used: int = 0) -> Volume:
    """A formatted NTFS volume on its own disk (or on ``disk``): what a host starts with."""
    letter = letter.rstrip(":").upper()
    if disk is None:
        disk = RawDisk(index=len(host.disks), size=size + 8 * MB)
        host.disks.append(disk)
    disk.partitions.append(Partition(size, letter))
    volume = Volume(letter, size, label=label, disk_index=disk.index, used_base=used)
    host.volumes[letter] = volume
    host.files.add_drive(letter)
    return volume
