"""Resolving secret references, and keeping secrets out of every text qrdr writes.

:func:`resolve` turns a :class:`qrdr.model.SecretRef` into the secret at the
moment it is needed. Each value resolved is remembered by the process-wide
:class:`SecretMask` so that log lines, journal entries, reports and error texts
can be scrubbed (:func:`mask`). The values are never written anywhere.
"""

from __future__ import annotations

import getpass
import os
import sys
import threading
from typing import Callable

from .errors import SecretError
from .model import SecretRef

MASK = "********"


class SecretMask:
    """The set of secret values seen by this process; :meth:`scrub` replaces them in text."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str) -> None:
        # Very short values would mask ordinary words; the config refuses none, but
        # masking "a" everywhere would make every report unreadable.
        if value and len(value) >= 4:
            with self._lock:
                self._values.add(value)

    def scrub(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            if value in text:
                text = text.replace(value, MASK)
        return text


#: The process-wide mask used by the CLI's log sink, the journal and reports.
SECRETS = SecretMask()


def mask(text: str) -> str:
    return SECRETS.scrub(text)


def resolve(ref: SecretRef, purpose: str, *, prompt: Callable[[str], str] | None = None) -> str:
    """The secret a reference points at. ``purpose`` says what it is for, in errors and prompts.

    Raises :class:`SecretError` naming the reference (never the value) when it
    cannot be resolved.
    """
    if ref.env:
        value = os.environ.get(ref.env)
        if not value:
            raise SecretError(f"{purpose}: environment variable {ref.env} is not set")
    elif ref.keyring:
        service, _, user = ref.keyring.partition("/")
        try:
            import keyring  # optional: pip install qrdr[keyring]
        except ImportError:
            raise SecretError(f"{purpose}: keyring entry {ref.keyring} needs the keyring package (pip install 'qrdr[keyring]')") from None
        value = keyring.get_password(service, user)
        if not value:
            raise SecretError(f"{purpose}: keyring has no entry {ref.keyring}")
    elif ref.prompt:
        ask = prompt or _terminal_prompt
        value = ask(f"{purpose}: ")
        if not value:
            raise SecretError(f"{purpose}: no value was entered")
    else:
        raise SecretError(f"{purpose}: the secret reference names no source")
    SECRETS.add(value)
    return value


def _terminal_prompt(text: str) -> str:
    if not sys.stdin.isatty():
        raise SecretError(f"{text.rstrip(': ')}: the config says to prompt, but there is no terminal to ask on")
    return getpass.getpass(text)
