"""psrpcore objects shaped as Windows PowerShell 2.0 sends them over PSRP.

Every builder returns a :class:`psrpcore.types.PSObject` whose type names,
adapted properties (``<Props>``: what the .NET or WMI object itself has) and
extended properties (``<MS>``: what PowerShell's type system adds) follow the
CLIXML real Windows produces, as recorded in pypsrp's test responses
(tests/tests_pypsrp/responses/*.yml) for the ServiceController.

Depth: PowerShell remoting serialises a top-level object's properties at depth
1, so a property that is itself an object (an enum such as
``ServiceControllerStatus``, a ``ServiceController[]``) arrives as its
``ToString()`` text, or as a list of strings for an array. The recorded
ServiceController shows exactly that (``<S N="Status">Running</S>``), so the
lab sends those values as strings too.
"""

from __future__ import annotations

import datetime
from typing import Any, Iterable, Mapping

from psrpcore.types import (PSByte, PSCustomObject, PSList, PSNoteProperty, PSObject, PSUInt, PSUInt16, PSUInt64,
                             add_note_property)

WMI_NAMESPACE = "root\\cimv2"


def ps_object(type_names: Iterable[str], adapted: Mapping[str, Any] | None = None,
              extended: Mapping[str, Any] | None = None, to_string: str | None = None) -> PSObject:
    """A PSObject with these type names, adapted and extended note properties and ToString text."""
    obj = PSObject()
    meta = obj.PSObject  # PSObject attribute access is slow: look it up once
    meta.type_names = list(type_names)
    # PSNoteProperty(name, value) builds a throwaway PSObject per property (a third of a WMI
    # query's time); setting the value on the object itself is the same without it.
    for name, value in (adapted or {}).items():
        entry = PSNoteProperty(name)
        entry.set_value(value, obj)
        meta.adapted_properties.append(entry)
    for name, value in (extended or {}).items():
        entry = PSNoteProperty(name)
        entry.set_value(value, obj)
        meta.extended_properties.append(entry)
    if to_string is not None:
        meta.to_string = to_string
    return obj


def typed_list(items: Iterable[Any], type_names: Iterable[str]) -> PSList:
    """A list sent with an array's type names (``System.String[]``, ``...ServiceController[]``)."""
    value = PSList(items)
    value.PSObject.type_names = list(type_names)
    return value


def custom_object(properties: Mapping[str, Any]) -> PSCustomObject:
    """``New-Object PSObject -Property @{...}`` / ``[PSCustomObject]``: note properties only."""
    obj = PSCustomObject()
    for name, value in properties.items():
        add_note_property(obj, name, value)
    return obj


def prop(obj: Any, name: str, default: Any = None) -> Any:
    """A property of a PSObject (adapted or extended, case-insensitive), or a key of a dict."""
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if str(key).lower() == name.lower():
                return value
        return default
    meta = getattr(obj, "PSObject", None)
    if meta is None:
        return getattr(obj, name, default)
    for entry in [*meta.extended_properties, *meta.adapted_properties]:
        if entry.name.lower() == name.lower():
            return entry.get_value(obj)
    return default


def type_names(obj: Any) -> list[str]:
    meta = getattr(obj, "PSObject", None)
    return list(meta.type_names) if meta is not None else []


# --- WMI ---------------------------------------------------------------------------------------

#: class -> (superclass, derivation) as WMI reports them in __SUPERCLASS / __DERIVATION.
WMI_DERIVATION: dict[str, tuple[str, ...]] = {
    "Win32_Service": ("Win32_BaseService", "CIM_Service", "CIM_LogicalElement", "CIM_ManagedSystemElement"),
    "Win32_ComputerSystem": ("CIM_UnitaryComputerSystem", "CIM_ComputerSystem", "CIM_System",
                             "CIM_LogicalElement", "CIM_ManagedSystemElement"),
    "Win32_OperatingSystem": ("CIM_OperatingSystem", "CIM_LogicalElement", "CIM_ManagedSystemElement"),
    "Win32_LogicalDisk": ("CIM_LogicalDisk", "CIM_StorageExtent", "CIM_LogicalDevice", "CIM_LogicalElement",
                          "CIM_ManagedSystemElement"),
    "Win32_DiskDrive": ("CIM_DiskDrive", "CIM_MediaAccessDevice", "CIM_LogicalDevice", "CIM_LogicalElement",
                        "CIM_ManagedSystemElement"),
    "Win32_NetworkAdapterConfiguration": ("CIM_Setting",),
    "Win32_Process": ("CIM_Process", "CIM_LogicalElement", "CIM_ManagedSystemElement"),
}


def wmi_key_text(value: Any) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def wmi_object(server: str, class_name: str, keys: Mapping[str, Any], properties: Mapping[str, Any]) -> PSObject:
    """A ``System.Management.ManagementObject#root\\cimv2\\<class>`` as Get-WmiObject returns it.

    ``keys`` are the class's key properties (they make ``__RELPATH``); all
    properties, keys included, are adapted properties after the WMI system
    properties (``__GENUS`` ... ``__PATH``), as PowerShell 2.0's WMI adapter
    serialises them. ``server`` is the host's NetBIOS name (``__SERVER``).
    """
    derivation = WMI_DERIVATION.get(class_name, ())
    relpath = f"{class_name}." + ",".join(f"{k}={wmi_key_text(v)}" for k, v in keys.items())
    path = f"\\\\{server}\\{WMI_NAMESPACE}:{relpath}"
    all_properties = {**keys, **properties}
    system = {
        "__GENUS": 2,
        "__CLASS": class_name,
        "__SUPERCLASS": derivation[0] if derivation else None,
        "__DYNASTY": derivation[-1] if derivation else class_name,
        "__RELPATH": relpath,
        "__PROPERTY_COUNT": len(all_properties),
        "__DERIVATION": typed_list(derivation, ["System.String[]", "System.Array", "System.Object"]),
        "__SERVER": server,
        "__NAMESPACE": WMI_NAMESPACE,
        "__PATH": path,
    }
    return ps_object(
        [f"System.Management.ManagementObject#{WMI_NAMESPACE}\\{class_name}", "System.Management.ManagementObject",
         "System.Management.ManagementBaseObject", "System.ComponentModel.Component", "System.MarshalByRefObject",
         "System.Object"],
        adapted={**system, **dict(sorted(all_properties.items(), key=lambda item: item[0].lower()))},
        to_string=path,
    )


def wmi_method_result(return_value: int, extra: Mapping[str, Any] | None = None) -> PSObject:
    """The ``__PARAMETERS`` out-parameters object Invoke-WmiMethod returns."""
    values = {"ReturnValue": PSUInt(return_value), **(extra or {})}
    system = {
        "__GENUS": 2, "__CLASS": "__PARAMETERS", "__SUPERCLASS": None, "__DYNASTY": "__PARAMETERS",
        "__RELPATH": None, "__PROPERTY_COUNT": len(values),
        "__DERIVATION": typed_list([], ["System.String[]", "System.Array", "System.Object"]),
        "__SERVER": None, "__NAMESPACE": None, "__PATH": None,
    }
    return ps_object(
        ["System.Management.ManagementBaseObject#\\__PARAMETERS", "System.Management.ManagementBaseObject",
         "System.ComponentModel.Component", "System.MarshalByRefObject", "System.Object"],
        adapted={**system, **values},
        to_string="System.Management.ManagementBaseObject",
    )


def uint32(value: int | None) -> PSUInt | None:
    """A WMI uint32 (CLIXML ``<U32>``); None stays None (a WMI null)."""
    return None if value is None else PSUInt(value)


def uint8(value: int | None) -> PSByte | None:
    """A WMI uint8 (System.Byte)."""
    return None if value is None else PSByte(value)


def uint16(value: int | None) -> PSUInt16 | None:
    return None if value is None else PSUInt16(value)


def uint64(value: int | None) -> PSUInt64 | None:
    """A WMI uint64 such as a disk's Size (CLIXML ``<U64>``)."""
    return None if value is None else PSUInt64(value)


def dmtf_datetime(moment: datetime.datetime) -> str:
    """WMI's CIM_DATETIME text: ``yyyymmddHHMMSS.ffffff+UUU`` (offset in minutes)."""
    offset = moment.utcoffset() or datetime.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return moment.strftime("%Y%m%d%H%M%S.%f") + f"{sign}{abs(minutes):03d}"
