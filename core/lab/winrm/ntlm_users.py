"""The process-wide NTLM credential file pyspnego's acceptor reads.

pyspnego's NTLM acceptor verifies a client against the file named by the
``NTLM_USER_FILE`` environment variable: one file for the whole process, read
on every authentication. NTLM never reveals the password to the server, so an
endpoint cannot ask its host ``accepts(user, password)`` with what the client
typed. The design:

* each endpoint keeps its own ``users`` table (account -> password);
* while it runs, its accounts are registered here, and this module writes the
  union of all registered accounts to the one file (NT hashes in smbpasswd
  format, never clear text; mode 0600);
* after pyspnego has verified the password, the endpoint checks that the
  account is one of *its* users and asks its host ``accepts(user, password)``
  with the password from its table (so a host can still refuse, e.g. a
  disabled account).

The same account name (``DOMAIN\\user`` or ``user``) on two endpoints must have
the same password: NTLM has a single store. Registering a clash raises
ValueError naming the account. If ``NTLM_USER_FILE`` is already set when the
first endpoint starts, that file is used (its existing lines are kept).
"""

from __future__ import annotations

import base64
import os
import tempfile
import threading
from collections import Counter

from spnego._ntlm_raw.crypto import lmowfv1, ntowfv1

_lock = threading.Lock()
#: account (folded) -> (display name, password); with a reference count per endpoint registration.
_accounts: dict[str, tuple[str, str]] = {}
_refs: Counter[str] = Counter()
_file_path: str | None = None
_created_file = False
_preexisting: str = ""


def split_account(account: str) -> tuple[str, str]:
    """``DOMAIN\\user`` -> ("DOMAIN", "user"); ``user`` -> ("", "user")."""
    if "\\" in account:
        domain, user = account.split("\\", 1)
        return domain, user
    return "", account


def _key(account: str) -> str:
    domain, user = split_account(account)
    return f"{domain.upper()}\\{user.upper()}"


def register(users: dict[str, str]) -> None:
    """Add an endpoint's accounts to the process-wide file."""
    global _file_path, _preexisting, _created_file
    with _lock:
        for account, password in users.items():
            if ":" in account or "\n" in account or not split_account(account)[1]:
                raise ValueError(f"WinRM endpoint: account name {account!r} cannot be used with NTLM")
            existing = _accounts.get(_key(account))
            if existing is not None and existing[1] != password:
                raise ValueError(
                    f"WinRM endpoint: account {account!r} is already registered with another password; "
                    "NTLM has one credential store per process, so an account must have one password in the lab"
                )
        for account, password in users.items():
            _accounts[_key(account)] = (account, password)
            _refs[_key(account)] += 1
        if _file_path is None:
            configured = os.environ.get("NTLM_USER_FILE")
            if configured:
                _file_path = configured
                try:
                    with open(configured, encoding="utf-8") as handle:
                        _preexisting = handle.read()
                except FileNotFoundError:
                    _preexisting = ""
            else:
                fd, _file_path = tempfile.mkstemp(prefix="qrdr-lab-ntlm-", suffix=".users")
                os.close(fd)
                _created_file = True
                os.environ["NTLM_USER_FILE"] = _file_path
        _write()


def unregister(users: dict[str, str]) -> None:
    """Remove an endpoint's accounts (kept while another endpoint still has them).

    When the last account goes, a file this module created is deleted (and the variable unset).
    """
    global _file_path, _created_file, _preexisting
    with _lock:
        for account in users:
            key = _key(account)
            _refs[key] -= 1
            if _refs[key] <= 0:
                del _refs[key]
                _accounts.pop(key, None)
        if _file_path is None:
            return
        if not _accounts and _created_file:
            try:
                os.remove(_file_path)
            except FileNotFoundError:
                pass
            if os.environ.get("NTLM_USER_FILE") == _file_path:
                del os.environ["NTLM_USER_FILE"]
            _file_path, _created_file, _preexisting = None, False, ""
            return
        _write()


def _write() -> None:
    lines = []
    for account, password in _accounts.values():
        lm = base64.b16encode(lmowfv1(password)).decode()
        nt = base64.b16encode(ntowfv1(password)).decode()
        lines.append(f"{account}:1000:{lm}:{nt}:[U]:LCT-00000000")
    text = _preexisting
    if text and not text.endswith("\n"):
        text += "\n"
    text += "\n".join(lines) + ("\n" if lines else "")
    tmp = f"{_file_path}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, _file_path)
