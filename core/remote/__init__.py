"""PowerShell remoting to the site's hosts (pypsrp): one runspace pool per host, reused.

Public API (each module's docstring states its contract):

* :mod:`qrdr.remote.commands`: ``Command``, ``Script``, ``Secret``, ``render_pipeline``: commands as data;
* :mod:`qrdr.remote.session`: ``RemoteHost`` (``run``, ``reboot``, ``reconnect_as``, ``is_reachable``,
  ``wait_until_down``/``up``, ``close``), ``ConnectionSettings``, ``Output``;
* ``Sessions`` (in :mod:`qrdr.remote.session`): the run's registry of ``RemoteHost`` by host key;
* :mod:`qrdr.remote.results`: ``PSResult`` (an object's properties with ``type_names``), ``parse_dmtf``;
* :mod:`qrdr.remote.errors`: ``HostUnreachable``, ``RemoteCommandError``, ``ConnectionLostDuringChange``,
  ``RebootFailed``, ``RemoteError``;
* :mod:`qrdr.remote.targeting`: which cmdlets reach a Windows 2000 host with ``-ComputerName``;
* :mod:`qrdr.remote.scripts`: ``load_script`` for plugins' shipped ``.ps1`` files;
* :mod:`qrdr.remote.pscheck`: ``assert_powershell_parses`` (tree-sitter; test extra).
"""

from .commands import SWITCH, Command, Credential, Script, Secret, render_pipeline
from .errors import (CommandTimedOut, ConnectionLostDuringChange, HostUnreachable, RebootFailed,
                     RemoteCommandError, RemoteError)
from .results import PSResult, parse_dmtf
from .scripts import load_script, with_parameters
from .session import ConnectionSettings, Output, RemoteHost, Sessions

__all__ = [
    "SWITCH", "Command", "Credential", "Script", "Secret", "render_pipeline",
    "CommandTimedOut", "ConnectionLostDuringChange", "HostUnreachable", "RebootFailed", "RemoteCommandError", "RemoteError",
    "PSResult", "parse_dmtf", "load_script", "with_parameters",
    "ConnectionSettings", "Output", "RemoteHost", "Sessions",
]
