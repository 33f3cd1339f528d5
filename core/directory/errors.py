"""Errors of qrdr's Active Directory layer.

Every message names what was looked for or done, where (DC URL, DN), and what
went wrong. No message ever contains a password: connection errors are built
from the URL, the bind user and ldap3's result, never from the credentials.
"""

from __future__ import annotations


class DirectoryError(Exception):
    """Base of every error raised by ``qrdr.directory``."""


class ConnectError(DirectoryError):
    """The DC could not be reached, its certificate was refused, or the bind failed."""


class NotFound(DirectoryError):
    """An object looked for by path or by name does not exist."""


class Ambiguous(DirectoryError):
    """A name matched more than one object where exactly one was expected."""


class OperationFailed(DirectoryError):
    """The DC refused or failed a search, modify, rename or password reset."""


class ReplicationTimeout(DirectoryError):
    """Not every DC showed the change before the deadline; ``report`` says which still lag."""

    def __init__(self, message: str, report) -> None:
        super().__init__(message)
        self.report = report
