"""The contract between the lab's WinRM endpoint and a simulated host.

The endpoint (``qrdr.lab.winrm``) speaks WS-Management and PSRP; for every
pipeline a client starts it builds a list of :class:`Invocation` and calls
:meth:`SimulatedHost.invoke`. The simulated host (``qrdr.lab.sim``) behaves
as Windows with PowerShell 2.0 would and returns an :class:`InvocationResult`.

Output objects are psrpcore objects (``psrpcore.types.PSObject`` and friends,
built with the real type names and properties Windows sends) or primitives
(str, int, bool, None, lists of them); the endpoint serialises them as CLIXML.
"""

from __future__ import annotations

from typing import Any, Protocol

import attrs


@attrs.frozen
class Invocation:
    """One command of a pipeline as the client sent it.

    ``name`` is the cmdlet, function or native program name, or the script
    text when ``is_script`` is true. ``parameters`` keeps the client's order:
    ``(name, value)`` for a named parameter (a switch has the value True),
    ``(None, value)`` for a positional argument.
    """

    name: str
    is_script: bool = False
    parameters: tuple[tuple[str | None, Any], ...] = ()

    def named(self) -> dict[str, Any]:
        """Named parameters with case-insensitive keys folded to lower case."""
        return {key.lower(): value for key, value in self.parameters if key is not None}

    def positional(self) -> list[Any]:
        return [value for key, value in self.parameters if key is None]


@attrs.frozen
class ErrorInfo:
    """An error record as PowerShell would write it."""

    message: str
    #: ``System.Management.Automation.ErrorCategory`` name, e.g. "ObjectNotFound".
    category: str = "NotSpecified"
    #: e.g. "CommandNotFoundException" or "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"
    fully_qualified_error_id: str = "RuntimeException"
    #: .NET exception type name, e.g. "System.Management.Automation.CommandNotFoundException".
    exception_type: str = "System.Management.Automation.RuntimeException"
    target: Any = None
    #: The command the error came from (InvocationInfo.MyCommand), if any.
    command: str | None = None


class PipelineFailed(Exception):
    """A terminating error: the pipeline ends in the Failed state with this record."""

    def __init__(self, error: ErrorInfo):
        super().__init__(error.message)
        self.error = error


@attrs.define
class InvocationResult:
    """What a pipeline produced. ``failed`` set means the pipeline state is Failed."""

    output: list[Any] = attrs.field(factory=list)
    #: Non-terminating errors written to the error stream.
    errors: list[ErrorInfo] = attrs.field(factory=list)
    failed: ErrorInfo | None = None


@attrs.frozen
class Logon:
    """Who runs a pipeline or a process, and what that logon can reach (docs/design/host-commands.md,
    "Who may reach which computer").

    ``network_credentials``: the logon holds the user's password (a console or batch logon, a
    scheduled task run with /ru /rp), so a program can reach other computers as the user. A
    network logon does not: a WinRM session authenticated with NTLM (or Kerberos without
    delegation), or a process created remotely through WMI. ``shell``: the WinRM shell (runspace
    pool) whose job object holds the processes started in it; they end with the shell.
    """

    user: str
    network_credentials: bool = False
    shell: str | None = None
    #: The password a logon with credentials holds (a task's /rp), checked by the computers it
    #: reaches; None for the console, whose administrator every lab host accepts.
    password: str | None = attrs.field(default=None, repr=False, eq=False)


#: A person at the host's console: an interactive logon, with credentials, in no shell.
CONSOLE = Logon("Administrator", network_credentials=True)


class SimulatedHost(Protocol):
    """A Windows host behind one WinRM endpoint."""

    def accepts(self, user: str, password: str) -> bool:
        """Whether this user/password may log on over WinRM (local or domain account)."""

    def invoke(self, pipeline: list[Invocation], input_objects: list[Any],
               logon: Logon | None = None) -> InvocationResult:
        """Run a pipeline as ``logon`` (default :data:`CONSOLE`). Never raises for PowerShell errors:
        they go in the result."""

    def end_shell(self, shell: str) -> None:
        """The WinRM shell ``shell`` ended (deleted, timed out, or the host went down): what it
        started ends with it, as its job object's processes do."""
