"""Resolving secret references, and keeping secrets out of every text qrdr writes.

:func:`resolve` turns a :class:`qrdr.model.SecretRef` into the secret at the
moment it is needed. Each value resolved is remembered by the process-wide
:class:`SecretMask` so that log lines, journal entries, reports and error texts
can be scrubbed (:func:`mask`). The values are never written anywhere.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
import threading
from typing import Any, Callable

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
                # The forms a value takes once serialised: a JSON string (quotes, backslashes and
                # control characters escaped; non-ASCII as \uXXXX or as it is) and PowerShell's
                # single-quoted string (quotes doubled): text already serialised is scrubbed too.
                for form in (json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
                             value.replace("'", "''")):
                    if form != value:
                        self._values.add(form)

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
    """``text`` with every secret this process has seen replaced by ``********``."""
    return SECRETS.scrub(text)


def mask_value(value: Any) -> Any:
    """``value`` (str, or dicts, lists and tuples of them, keys included) with every secret masked,
    before it is serialised: what a journal entry or a ``--json`` document is made of."""
    if isinstance(value, str):
        return SECRETS.scrub(value)
    if isinstance(value, dict):
        return {mask_value(key): mask_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(item) for item in value)
    return value


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
