"""PowerShell commands as data.

Plugins describe what to run on a host with :class:`Command` (a cmdlet or a
native program with named parameters and positional arguments) and
:class:`Script` (a PowerShell 2.0 script block with a ``param()`` block that
qrdr ships). Values always travel as PSRP parameters, never pasted into script
text: ``Command("Get-Service", {"Name": name})`` is sent as the cmdlet
``Get-Service`` with the parameter ``Name``.

:meth:`Command.render` gives the equivalent PowerShell text, with values
quoted and secrets masked, for plans, journals and logs only; it is also what
the tests parse with the tree-sitter PowerShell grammar.
"""

from __future__ import annotations

from typing import Any, Iterable

import attrs


@attrs.frozen(repr=False)
class Secret:
    """A value that must reach the host but never a log, journal, report or error text."""

    value: str

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__


@attrs.frozen(repr=False)
class Credential:
    """A ``-Credential`` value: a user and password, sent as a PSCredential (its password as a
    SecureString, encrypted with the session key PSRP exchanges first: MS-PSRP 2.2.3.25, 2.2.5.1.24).

    It is how a call leaves the host it runs on with its own identity: a remoting session holds
    none for a second hop (docs/design/host-commands.md, "Who may reach which computer").
    """

    user: str
    password: Secret

    def __repr__(self) -> str:
        return f"Credential({self.user!r}, '********')"

    __str__ = __repr__


#: A switch parameter (``-Force``): pass ``SWITCH`` as the value.
SWITCH = True


def quote(value: Any) -> str:
    """PowerShell literal text for a value, for display only."""
    if isinstance(value, Secret):
        return "'********'"
    if isinstance(value, Credential):
        return f"(New-Object PSCredential {quote(value.user)}, (ConvertTo-SecureString '********' -AsPlainText -Force))"
    if value is True:
        return "$true"
    if value is False:
        return "$false"
    if value is None:
        return "$null"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "@(" + ", ".join(quote(item) for item in value) + ")"
    text = str(value)
    # In a single-quoted PowerShell string only the quote itself is special
    # (including the typographic quotes PowerShell also accepts).
    for mark in ("'", "\u2018", "\u2019", "\u201a", "\u201b"):
        text = text.replace(mark, mark * 2)
    return f"'{text}'"


def _command_name_text(name: str) -> str:
    # A native program path with spaces or a backslash needs the call operator.
    if any(ch in name for ch in " \\:"):
        return f"& {quote(name)}"
    return name


@attrs.frozen
class Command:
    """One command of a pipeline: a cmdlet, function or native program.

    ``parameters`` are named (``-Name value``); a value of ``True`` for a
    switch is sent as a switch. ``arguments`` are positional (what a native
    program such as ``eseutil`` or ``qlist`` takes).
    """

    name: str
    parameters: dict[str, Any] = attrs.field(factory=dict)
    arguments: tuple[Any, ...] = ()

    def render(self) -> str:
        parts = [_command_name_text(self.name)]
        for key, value in self.parameters.items():
            if value is True:
                parts.append(f"-{key}")
            else:
                parts.append(f"-{key} {quote(value)}")
        parts.extend(quote(arg) for arg in self.arguments)
        return " ".join(parts)

    def secrets(self) -> list[str]:
        return _secrets_in([*self.parameters.values(), *self.arguments])


@attrs.frozen
class Script:
    """A script block qrdr ships, run with named parameters.

    ``text`` must be PowerShell 2.0 and start with ``param(...)``; ``name``
    identifies it in plans and journals (and lets the lab recognise it).
    """

    name: str
    text: str
    parameters: dict[str, Any] = attrs.field(factory=dict)

    def render(self) -> str:
        """``& $script <# qrdr:Name #> -Name 'value'``: valid PowerShell naming the shipped script."""
        args = " ".join(
            f"-{key}" if value is True else f"-{key} {quote(value)}" for key, value in self.parameters.items()
        )
        return f"& $script <# {self.name} #> {args}".rstrip()

    def secrets(self) -> list[str]:
        return _secrets_in(self.parameters.values())


def _secrets_in(values: Iterable[Any]) -> list[str]:
    found = []
    for value in values:
        if isinstance(value, Secret):
            found.append(value.value)
        elif isinstance(value, Credential):
            found.append(value.password.value)
        elif isinstance(value, (list, tuple)):
            found.extend(_secrets_in(value))
    return found


def render_pipeline(commands: Iterable[Command | Script], before: Iterable[Command] = ()) -> str:
    """The pipeline as PowerShell text (display only; secrets masked); ``before`` statements first,
    each piped to Out-Null, as :meth:`qrdr.remote.RemoteHost.run` sends them."""
    statements = [f"{command.render()} | Out-Null" for command in before]
    return "; ".join([*statements, " | ".join(command.render() for command in commands)])


def reveal(value: Any) -> Any:
    """The value to send over the wire: a Secret's plain text, a Credential as pypsrp's PSCredential,
    lists revealed item by item."""
    if isinstance(value, Secret):
        return value.value
    if isinstance(value, Credential):
        from pypsrp.complex_objects import PSCredential

        return PSCredential(username=value.user, password=value.password.value)
    if isinstance(value, (list, tuple)):
        return [reveal(item) for item in value]
    return value


def carries_credential(commands: Iterable["Command | Script"]) -> bool:
    """Whether a pipeline sends a Credential (its runspace pool must have exchanged a session key)."""
    def holds(value: Any) -> bool:
        if isinstance(value, Credential):
            return True
        return isinstance(value, (list, tuple)) and any(holds(item) for item in value)

    return any(holds(value) for command in commands
               for value in [*command.parameters.values(), *getattr(command, "arguments", ())])
