"""Loading the PowerShell scripts that plugins ship as package data.

A shipped script is a ``.ps1`` file next to the plugin's code whose first
lines are comments including the marker ``# qrdr-script: <name>`` (the name,
e.g. ``qrdr:Get-ExchangeStore``, identifies it in plans and journals and lets
the lab recognise it), followed by a PowerShell 2.0 ``param(...)`` block::

    # qrdr-script: qrdr:Find-LockingProcess
    # Processes that hold a file open.
    param([string]$Path)
    ...

    FIND_LOCKING = load_script("qrdr.plugins.common", "find_locking_process.ps1")
    host.run(with_parameters(FIND_LOCKING, Path=r"C:\\Exchsrvr\\bin\\x.dll"))

Values are never pasted into the text: give them as the Script's parameters.

A function several scripts share is written once, in a fragment next to them (its first line
``# qrdr-fragment: <name>``), and each script names it on a line of its own:
``# qrdr-include: find_store.ps1``. :func:`load_script` puts the fragment's text there (a
fragment may include others; each goes in once), so the host receives one self-contained
script. A param block several scripts share is such a fragment too, included first: what
must begin with ``param(...)`` is the script as sent.
"""

from __future__ import annotations

import functools
import re
from importlib import resources
from typing import Any

import attrs

from qrdr.errors import PluginError

from .commands import Script

#: The marker line a shipped script starts with (the lab's registry recognises the same line).
SCRIPT_MARKER = "# qrdr-script:"

#: A line naming a fragment whose text replaces it (see the module docstring).
INCLUDE_MARKER = "# qrdr-include:"

_PARAM_START = re.compile(r"^\s*(\[[^\]]*\]\s*)*param\s*\(", re.IGNORECASE)


def marker_name(text: str) -> str | None:
    """The name on the ``# qrdr-script:`` line among the leading comments (case kept), or None."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.lower().startswith(SCRIPT_MARKER):
            return stripped[len(SCRIPT_MARKER):].strip() or None
        if stripped and not stripped.startswith("#"):
            break
    return None


@functools.lru_cache(maxsize=None)
def _read(package: str, filename: str) -> str:
    try:
        return resources.files(package).joinpath(filename).read_text(encoding="utf-8-sig")
    except (FileNotFoundError, ModuleNotFoundError, IsADirectoryError) as error:
        raise PluginError(f"shipped script {filename} not found in package {package}: {error}") from None


def load_script(package: str, filename: str, **parameters: Any) -> Script:
    """The script ``filename`` of ``package`` as a :class:`Script` with ``parameters``.

    Raises :class:`~qrdr.errors.PluginError` naming the package and file when
    the file is missing, has no ``# qrdr-script:`` marker among its leading
    comments, or does not begin (after them) with a ``param(...)`` block.
    """
    text = _with_fragments(package, filename, _read(package, filename))
    name = marker_name(text)
    if name is None:
        raise PluginError(f"{package}/{filename}: no '{SCRIPT_MARKER} <name>' line among the leading comments")
    body = "\n".join(line for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))
    if not _PARAM_START.match(body):
        raise PluginError(f"{package}/{filename} ({name}): the script must begin with a param(...) block")
    return Script(name=name, text=text, parameters=dict(parameters))


def _with_fragments(package: str, filename: str, text: str, included: set[str] | None = None) -> str:
    """``text`` with each ``# qrdr-include: F`` line replaced by fragment F's text (F in the
    folder of ``filename``), fragments' own includes in turn. A fragment is put in once per
    script: a later line naming it again is dropped (its functions are defined already). A
    fragment that is missing, or is a script itself, is a PluginError."""
    included = set() if included is None else included
    folder = filename.rpartition("/")[0]
    lines = []
    for line in text.splitlines():
        if not line.strip().lower().startswith(INCLUDE_MARKER):
            lines.append(line)
            continue
        fragment = line.strip()[len(INCLUDE_MARKER):].strip()
        if fragment in included:
            continue
        included.add(fragment)
        fragment_text = _read(package, f"{folder}/{fragment}" if folder else fragment)
        if marker_name(fragment_text) is not None:
            raise PluginError(f"{package}/{filename}: includes {fragment}, which is a script, not a fragment")
        lines.append(_with_fragments(package, filename, fragment_text, included).rstrip("\n"))
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def with_parameters(script: Script, **parameters: Any) -> Script:
    """A copy of ``script`` with ``parameters`` added to (or replacing) its own."""
    return attrs.evolve(script, parameters={**script.parameters, **parameters})
