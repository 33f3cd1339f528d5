"""How simulated commands are registered.

Each module of the simulation (Windows basics, Exchange, Commvault) declares
its commands with :func:`command` (cmdlets and native programs, matched
case-insensitively, native programs also by their file name without path or
``.exe``) or :func:`script` (the scripts qrdr ships, recognised by the
``# qrdr-script: <name>`` line they start with). A handler receives the host,
the invocation and the pipeline input and returns a list of output objects;
it raises :class:`PSError` for a terminating error and calls
``host.write_error(...)`` for a non-terminating one.
"""

from __future__ import annotations

from typing import Any, Callable

from qrdr.remote.scripts import SCRIPT_MARKER, marker_name  # noqa: F401  (SCRIPT_MARKER: for messages)

from .protocol import ErrorInfo, Invocation

Handler = Callable[[Any, Invocation, list[Any]], list[Any]]

#: cmdlet or program name (lower case, no .exe) -> handler
COMMANDS: dict[str, Handler] = {}
#: shipped script name (lower case, e.g. "qrdr:get-exchangestore") -> handler
SCRIPTS: dict[str, Handler] = {}

#: What a started process does: ``handler(host, process)`` runs when Start-Process (or the host)
#: starts the program; it may end the process at once (set ``process.exit_code``), keep it running,
#: hold files open (``process.open_files``) or register ``process.on_stop`` callbacks.
ProgramHandler = Callable[[Any, Any], None]
#: program file name (lower case, no path, no .exe, e.g. "setup") -> handler
PROGRAMS: dict[str, ProgramHandler] = {}
#: program file name -> the memory (MB) it needs while it runs, where that matters: more than a
#: WinRM shell's MaxMemoryPerShellMB, and the program dies when started inside a shell.
PROGRAM_MEMORY_MB: dict[str, int] = {}
#: Programs Windows 2000 does not have; they came with Windows XP and Server 2003: DiskPart (XP Resource
#: Kit, "Enhancements and Changes Since Windows 2000": Windows 2000 has Disk Management only),
#: schtasks.exe (Windows 2000 has at.exe; its Task Scheduler service answers schtasks /s from elsewhere)
#: and bootcfg.exe (Windows 2000's Boot.ini is edited by hand, KB 239780).
NOT_ON_WINDOWS_2000 = frozenset({"bootcfg", "diskpart", "schtasks"})


def host_has_program(windows: str, name: str) -> bool:
    """Whether a computer running ``windows`` ("2000"/"2003") has the program ``name`` (any form:
    path, with or without .exe)."""
    return not (windows == "2000" and program_key(name) in NOT_ON_WINDOWS_2000)


class PSError(Exception):
    """A terminating PowerShell error raised by a handler."""

    def __init__(self, message: str, *, category: str = "NotSpecified", error_id: str = "RuntimeException",
                 exception_type: str = "System.Management.Automation.RuntimeException", target: Any = None):
        super().__init__(message)
        self.info = ErrorInfo(message=message, category=category, fully_qualified_error_id=error_id,
                              exception_type=exception_type, target=target)


def command(*names: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name.lower()] = handler
        return handler
    return register


def script(name: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        SCRIPTS[name.lower()] = handler
        return handler
    return register


def program(*names: str, memory_mb: int | None = None) -> Callable[[ProgramHandler], ProgramHandler]:
    """Register what a process of this program does (names as :func:`program_key` gives them);
    ``memory_mb``: what it needs while it runs (see :data:`PROGRAM_MEMORY_MB`)."""
    def register(handler: ProgramHandler) -> ProgramHandler:
        for name in names:
            PROGRAMS[program_key(name)] = handler
            if memory_mb is not None:
                PROGRAM_MEMORY_MB[program_key(name)] = memory_mb
        return handler
    return register


def script_name(text: str) -> str | None:
    """The shipped script's name from its marker line, folded to lower case as SCRIPTS keys are;
    None for any other script. The marker is read as qrdr's script loader reads it."""
    name = marker_name(text)
    return name.lower() if name else None


def program_key(name: str) -> str:
    """``C:\\Program Files\\Exchsrvr\\bin\\eseutil.exe`` -> ``eseutil``."""
    base = name.replace("/", "\\").rsplit("\\", 1)[-1].lower()
    return base[:-4] if base.endswith(".exe") else base
