"""Errors of the remoting layer. Each names the host, and the command where there is one.

None of them ever holds a secret: the command is kept as its rendered text
(``commands.render_pipeline``: secrets masked) and every remote message is
passed through :func:`mask` with the secrets of the command and the
connection's password before it is stored.

``HostUnreachable``
    The host's WinRM endpoint could not be reached or refused us (connection
    refused or reset, TLS certificate not trusted, authentication failed,
    timeout). Nothing ran.
``ConnectionLostDuringChange``
    The connection broke after a changing command was sent: it may or may not
    have taken effect. qrdr never repeats it blindly; a person (or the step's
    own check) must look first.
``RemoteCommandError``
    The pipeline ran and PowerShell reported an error: a terminating error
    (pipeline state Failed) or, unless the caller allowed them, non-terminating
    errors on the error stream. ``errors`` holds every :class:`RemoteError`.
``CommandTimedOut``
    The pipeline ran past the caller's ``timeout``; qrdr stopped it (Ctrl+C).
``RebootFailed``
    A reboot did not go as expected (did not go down, did not come back, came
    back with the old boot time or another name).
"""

from __future__ import annotations

from typing import Iterable

import attrs

from qrdr.errors import QrdrError

MASK = "********"


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of every (non-empty) secret replaced by ``********``."""
    # Longest first, so that a secret containing another one is masked whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


@attrs.frozen
class RemoteError:
    """One PowerShell error record, reduced to what a person needs (secrets already masked)."""

    message: str
    #: e.g. ``NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand``
    fully_qualified_error_id: str = ""
    #: ``ErrorCategory`` name, e.g. ``ObjectNotFound`` (empty when the host did not say).
    category: str = ""
    #: True for the error that ended the pipeline (state Failed).
    terminating: bool = False

    def describe(self) -> str:
        text = self.message or "(no message)"
        if self.fully_qualified_error_id:
            text += f" [{self.fully_qualified_error_id}]"
        return text


class RemoteFailure(QrdrError):
    """Base of the remoting errors; ``host`` is the host's name as the site config spells it."""

    def __init__(self, host: str, message: str):
        self.host = host
        super().__init__(message)


class HostUnreachable(RemoteFailure):
    """The host's WinRM endpoint cannot be reached or refused the connection."""

    def __init__(self, host: str, reason: str):
        self.reason = reason
        super().__init__(host, f"{host} is unreachable over WinRM: {reason}")


class ConnectionLostDuringChange(RemoteFailure):
    """The connection broke while a changing command ran: its effect is unknown; never repeated."""

    def __init__(self, host: str, command: str, reason: str):
        self.command = command
        self.reason = reason
        super().__init__(
            host,
            f"lost the connection to {host} while running `{command}` ({reason}); it may or may not "
            f"have taken effect. qrdr does not repeat a change blindly: check {host} before resuming.",
        )


class RemoteCommandError(RemoteFailure):
    """PowerShell on the host reported errors for a pipeline."""

    def __init__(self, host: str, command: str, errors: list[RemoteError], output: list | None = None):
        self.command = command
        self.errors = errors
        #: What the pipeline wrote to its output before (or besides) the errors.
        self.output = output if output is not None else []
        if len(errors) == 1:
            detail = errors[0].describe()
        else:
            detail = f"{len(errors)} errors:" + "".join(f"\n  - {error.describe()}" for error in errors)
        super().__init__(host, f"`{command}` failed on {host}: {detail}")

    @property
    def fully_qualified_error_ids(self) -> list[str]:
        return [error.fully_qualified_error_id for error in self.errors]


class CommandTimedOut(RemoteFailure):
    """A pipeline ran longer than the caller allowed; it was stopped on the host."""

    def __init__(self, host: str, command: str, timeout: float, changing: bool):
        self.command = command
        self.timeout = timeout
        effect = (f" It may have changed part of what it was meant to: check {host} before resuming."
                  if changing else "")
        super().__init__(host, f"`{command}` did not finish on {host} within {timeout:g} s; qrdr stopped it "
                               f"(Ctrl+C).{effect}")


class RebootFailed(RemoteFailure):
    """A reboot did not go as expected; the message says which deadline or check failed."""
