"""The WinRM shells qrdr opened and has not deleted: :class:`ShellLedger`.

A qrdr process that is killed (SIGKILL, a lost terminal, a host of qrdr's own losing power)
cannot delete its PowerShell sessions. On the Windows host each one stays a shell of the
account, counted against ``MaxShellsPerUser`` (5 on WinRM 2.0), until ``IdleTimeout`` (180 s on
WinRM 2.0) deletes it, and a pipeline it was running goes on meanwhile (docs/design/host-commands.md).
A few kills in a row, each followed by ``qrdr resume``, and the next resume could not open a
session at all; worse, a change the killed run had sent could still be going on while the resume
checks that host.

So every process records each shell it opens, by endpoint, in a small file beside the site's
journal, and removes it when it deletes the shell. Before a process first connects to an
endpoint it deletes (WS-Management Delete of the shell resource, by its ShellId selector) the
shells recorded there by processes of this machine that no longer exist: they can only be
orphans. A shell recorded by a process still alive, or by another machine, is left alone (that
process may still use it); a shell the host no longer knows (IdleTimeout, a restart) is simply
forgotten.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from loguru import logger
from pypsrp.exceptions import WSManFaultError
from pypsrp.wsman import SelectorSet, WSMan

from .. import processes

#: The resource URI of the PowerShell shells qrdr opens (pypsrp's default configuration).
POWERSHELL_RESOURCE = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"


class ShellLedger:
    """The shells opened by qrdr processes and not deleted yet, in the JSON file ``path``
    (``{endpoint url: [{"shell": id, "pid": n, "machine": name, "opened": unix time}]}``), read
    and written under an exclusive lock. ``path`` None: nothing is recorded (no state directory)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.machine = socket.gethostname()

    @contextlib.contextmanager
    def _entries(self) -> Iterator[dict[str, list[dict[str, Any]]]]:
        """The entries, to read and change; written back after. A file that cannot be opened (a
        read-only state directory, say) gives none and keeps none: a connection never fails
        because its shell could not be recorded."""
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(self.path, "a+", encoding="utf-8")
        except OSError as error:
            logger.debug("the shells qrdr opens cannot be recorded in {}: {}", self.path, error)
            yield {}
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.seek(0)
            try:
                entries = json.loads(handle.read() or "{}")
            except ValueError:  # a file cut short by a kill while written: start again
                entries = {}
            if not isinstance(entries, dict):
                entries = {}
            yield entries
            entries = {url: shells for url, shells in entries.items() if shells}
            try:
                handle.seek(0)
                handle.truncate()
                handle.write(json.dumps(entries, indent=1, sort_keys=True))
                handle.flush()
            except OSError as error:  # a full disk: the next process finds less to delete, nothing worse
                logger.debug("the shells qrdr opens cannot be recorded in {}: {}", self.path, error)

    def opened(self, url: str, shell_id: str) -> None:
        """This process opened shell ``shell_id`` at ``url``."""
        if self.path is None or not shell_id:
            return
        with self._entries() as entries:
            entries.setdefault(url, []).append(
                {"shell": shell_id, "pid": os.getpid(), "machine": self.machine, "opened": time.time()})

    def closed(self, url: str, shell_id: str) -> None:
        """Shell ``shell_id`` at ``url`` is deleted (or known gone)."""
        if self.path is None or not shell_id:
            return
        with self._entries() as entries:
            entries[url] = [e for e in entries.get(url, []) if e.get("shell") != shell_id]

    def orphans(self, url: str) -> list[str]:
        """The shells at ``url`` recorded by processes of this machine that no longer exist."""
        if self.path is None or not self.path.exists():
            return []
        with self._entries() as entries:
            return [str(e["shell"]) for e in entries.get(url, [])
                    if e.get("machine") == self.machine and isinstance(e.get("pid"), int) and not processes.alive(e["pid"])]

    def delete_orphans(self, url: str, wsman: Callable[[], WSMan], label: str) -> int:
        """Delete the :meth:`orphans` at ``url`` through a connection ``wsman()`` makes; returns
        how many the host still had. A host that does not answer keeps them recorded (the next
        process tries again); one that no longer knows a shell has it forgotten."""
        shells = self.orphans(url)
        if not shells:
            return 0
        deleted = 0
        connection = wsman()
        try:
            for shell_id in shells:
                selectors = SelectorSet()
                selectors.add_option("ShellId", shell_id)
                try:
                    connection.delete(POWERSHELL_RESOURCE, selector_set=selectors)
                    deleted += 1
                    logger.info("{}: deleted the session {} a killed qrdr left open", label, shell_id)
                except WSManFaultError:  # the host no longer knows the shell (IdleTimeout, a restart)
                    pass
                except Exception as error:  # noqa: BLE001 - not answering now: the next process tries again
                    logger.debug("{}: could not delete the session {} left open ({})", label, shell_id, error)
                    return deleted
                self.closed(url, shell_id)
        finally:
            connection.close()
        return deleted
