"""Resolving secret references, and keeping secrets out of every text qrdr writes.

:func:`resolve` turns a :class:`qrdr.model.SecretRef` into the secret at the
moment it is needed. Each value resolved is remembered by the process-wide
:class:`SecretMask` so that log lines, journal entries, reports and error texts
can be scrubbed (:func:`mask`). The values are never written anywhere.
"""

from __future__ import annotations

import contextlib
import contextvars
import getpass
import json
import os
import sys
import threading
from typing import Any, Callable, Iterator

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


class ResolvedOnce:
    """The secrets resolved during one run, by reference, so that each is asked for (or read) once:
    an environment variable or keyring entry by its name, a prompt by what it asks for (its
    ``purpose``: two hosts that both say ``{ prompt = true }`` are asked each once, not once for
    both). Values live only in this object's memory, never written anywhere; :meth:`clear` drops
    them. Active where :meth:`active` says (a ``with`` block; the Runbook opens one per command),
    in that thread and what it calls."""

    def __init__(self) -> None:
        self._values: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(ref: SecretRef, purpose: str) -> tuple[str, str]:
        if ref.env:
            return ("env", ref.env)
        if ref.keyring:
            return ("keyring", ref.keyring)
        return ("prompt", purpose)

    def get(self, ref: SecretRef, purpose: str) -> str | None:
        with self._lock:
            return self._values.get(self.key(ref, purpose))

    def put(self, ref: SecretRef, purpose: str, value: str) -> None:
        with self._lock:
            self._values[self.key(ref, purpose)] = value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    @contextlib.contextmanager
    def active(self) -> Iterator["ResolvedOnce"]:
        """Within the block, :func:`resolve` answers from (and fills) this cache."""
        token = _ACTIVE.set(self)
        try:
            yield self
        finally:
            _ACTIVE.reset(token)


_ACTIVE: contextvars.ContextVar[ResolvedOnce | None] = contextvars.ContextVar("qrdr_resolved_once", default=None)


def resolve(ref: SecretRef, purpose: str, *, prompt: Callable[[str], str] | None = None) -> str:
    """The secret a reference points at. ``purpose`` says what it is for, in errors and prompts.

    Inside a :meth:`ResolvedOnce.active` block (every Runbook command) a reference already
    resolved in it is not resolved again: the person is asked once per run, not per host and probe.
    Raises :class:`SecretError` naming the reference (never the value) when it
    cannot be resolved (a failure is not remembered: the next use tries again).
    """
    cache = _ACTIVE.get()
    known = cache.get(ref, purpose) if cache is not None else None
    if known is not None:
        return known
    value = _resolve(ref, purpose, prompt)
    if cache is not None:
        cache.put(ref, purpose, value)
    return value


def _resolve(ref: SecretRef, purpose: str, prompt: Callable[[str], str] | None) -> str:
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


#: One question on the terminal at a time: several sites checked at once (``qrdr fleet check``)
#: would otherwise ask over each other.
_PROMPT_LOCK = threading.Lock()


def _terminal_prompt(text: str) -> str:
    if not sys.stdin.isatty():
        raise SecretError(f"{text.rstrip(': ')}: the config says to prompt, but there is no terminal to ask on")
    with _PROMPT_LOCK:
        return getpass.getpass(text)
