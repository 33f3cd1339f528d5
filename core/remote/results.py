"""Pipeline output as plain data that a step can compare and journal.

pypsrp deserialises CLIXML into its own classes; steps should not depend on
them. :func:`plain` turns them into:

* primitives (str, int, float, bool, None, bytes) as they are; ``DateTime``
  and ``TimeSpan`` values as their CLIXML text (pypsrp keeps them as text);
  WMI dates are DMTF strings on the wire anyway: :func:`parse_dmtf` reads them;
* lists (arrays, ArrayList, List) as ``list``; hashtables as ``dict``;
* enum values (``System.ServiceProcess.ServiceControllerStatus``...) as their
  name (``"Running"``), the way PowerShell prints them;
* every other object as a :class:`PSResult`: a ``dict`` of its properties
  (adapted and extended, nested objects converted the same way) that also keeps
  ``type_names`` (most derived first, as PowerShell's ``PSTypeNames``) and
  ``to_string``.

Example: ``Get-Service -Name W3SVC`` gives
``PSResult({"Name": "W3SVC", "Status": "Running", ...})`` with
``type_names[0] == "System.ServiceProcess.ServiceController"``.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from pypsrp.complex_objects import ComplexObject, GenericComplexObject


class PSResult(dict):
    """An object's properties by name, plus its PowerShell type names and ToString text."""

    def __init__(self, properties: dict[str, Any] | None = None, type_names: tuple[str, ...] = (),
                 to_string: str | None = None):
        super().__init__(properties or {})
        #: Most derived first, e.g. ("System.ServiceProcess.ServiceController", "System.ComponentModel.Component", ...)
        self.type_names = tuple(type_names)
        self.to_string = to_string

    def is_a(self, type_name: str) -> bool:
        """Whether ``type_name`` is one of the object's type names (case-insensitive)."""
        wanted = type_name.lower()
        return any(name.lower() == wanted for name in self.type_names)

    def __repr__(self) -> str:
        kind = self.type_names[0] if self.type_names else "PSObject"
        return f"PSResult<{kind}>({dict.__repr__(self)})"

    def __reduce__(self):
        return (PSResult, (dict(self), self.type_names, self.to_string))


def plain(value: Any) -> Any:
    """``value`` (as pypsrp deserialised it) as plain data; see the module docstring."""
    return _plain(value, {})


def _plain(value: Any, seen: dict[int, Any]) -> Any:
    if value is None or isinstance(value, (str, int, float, bool, bytes)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(item, seen) for item in value]
    if isinstance(value, dict):
        return {_plain(key, seen): _plain(item, seen) for key, item in value.items()}
    if isinstance(value, GenericComplexObject):
        # Objects can reference each other (CLIXML <Ref>): convert each once.
        if id(value) in seen:
            return seen[id(value)]
        types = tuple(value.types)
        if "System.Enum" in types:
            return value.to_string if value.to_string is not None else _first(value.property_sets)
        if not value.adapted_properties and not value.extended_properties:
            if value.property_sets:
                # A primitive carrying extra type names (e.g. a string with a note type).
                return _plain(_first(value.property_sets), seen)
            return value.to_string
        result = PSResult(type_names=types, to_string=value.to_string)
        seen[id(value)] = result
        for key, item in value.adapted_properties.items():
            result[key] = _plain(item, seen)
        for key, item in value.extended_properties.items():
            result[key] = _plain(item, seen)
        return result
    if isinstance(value, ComplexObject):
        # One of pypsrp's known PSRP structures (Color, ErrorRecord, ...) in the output.
        return str(value)
    return value


def _first(items: list) -> Any:
    return items[0] if items else None


_DMTF = re.compile(r"^(\d{14})\.(\d{6})([+-])(\d{3})$")


def parse_dmtf(text: str) -> datetime.datetime:
    """A WMI DMTF date (``20261123195937.000000+060``: offset in minutes) as an aware datetime."""
    match = _DMTF.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a DMTF date (yyyymmddHHMMSS.ffffff+UUU): {text!r}")
    stamp, micro, sign, offset = match.groups()
    minutes = int(offset) * (1 if sign == "+" else -1)
    zone = datetime.timezone(datetime.timedelta(minutes=minutes))
    return datetime.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(microsecond=int(micro), tzinfo=zone)
