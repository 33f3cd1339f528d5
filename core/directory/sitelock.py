"""One run per site, whatever machine runs it: a lock object in the site's own Active Directory.

The local lock (:mod:`qrdr.engine.lock`) serializes runs that share a state
directory. Two admins at 3 a.m., on two laptops or jump hosts, each with a copy
of the site config, share nothing but the site itself; so the run also takes a
lock every qrdr sees: the object ``CN=qrdr-lock-<site>,CN=Program Data,<domain>``,
created with one LDAP add. The add is atomic on the DC (entryAlreadyExists for
the second), and the object says who holds it: user, host, pid, command, run,
since when, and until when the hold counts (``deadline``).

A holder that ended without releasing (killed, a lost machine) leaves the
object behind. It is taken over automatically only when it is provably dead: the
same host, and no process with its pid. Otherwise the second qrdr is refused
naming the holder, and after the deadline the message says the lock is stale;
a person takes it over explicitly (``--override site-lock``), which is journaled.

Replication: a second qrdr bound to another DC sees the object once it has
replicated (seconds within a site). Two adds racing on two DCs before that would
both succeed: AD resolves the name conflict at replication (one becomes a
CNF-mangled object), which the loser finds at its next :meth:`DirectoryLock.renew`
(at every step) and stops.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import time
import uuid
from typing import Any

from .connection import Directory
from .errors import DirectoryError
from .. import processes
from ..ldap_escape import rdn

#: Where lock objects live: a container every Windows 2000/2003 domain has for applications' data.
CONTAINER = "CN=Program Data"
#: How long a hold counts without being renewed (a run renews it at every step).
LEASE_S = 6 * 3600


class SiteLockHeld(DirectoryError):
    """Another qrdr holds the site's directory lock; ``holder`` says who."""

    def __init__(self, message: str, holder: dict[str, Any]):
        super().__init__(message)
        self.holder = holder


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def describe(holder: dict[str, Any]) -> str:
    run = f"run {holder['run_id']}" if holder.get("run_id") else "a run"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("since", 0)))
    return (f"{run} ({holder.get('command', '?')}) by {holder.get('user', '?')} on {holder.get('host', '?')} "
            f"(pid {holder.get('pid', '?')}) since {since}")


class DirectoryLock:
    """The site's lock in Active Directory (see the module docstring)."""

    def __init__(self, directory: Directory, site: str, *, lease: float = LEASE_S):
        self.directory = directory
        self.site = site
        self.lease = lease
        base = directory.default_naming_context
        self.dn = f"{rdn('CN', f'qrdr-lock-{site}')},{CONTAINER},{base}"
        self.token = str(uuid.uuid4())
        self._held = False
        self._since = 0.0

    # -- reading -----------------------------------------------------------------------------

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock (the object's record), or None when nobody does."""
        entry = self.directory.read(self.dn, ["description"])
        if entry is None:
            return None
        try:
            return json.loads(entry.text("description") or "{}")
        except ValueError:
            return {"unreadable": entry.text("description")}

    # -- holding -----------------------------------------------------------------------------

    def _record(self, command: str, run_id: int | None) -> dict[str, Any]:
        now = time.time()
        self._since = self._since or now
        return {"token": self.token, "user": _user(), "host": socket.gethostname(), "pid": os.getpid(),
                "command": command, "run_id": run_id, "since": self._since, "deadline": now + self.lease}

    def acquire(self, command: str, *, take_over: bool = False) -> str | None:
        """Hold the lock for ``command``. Returns None, or the description of a dead or stale
        holder this call took over (for the journal). Raises :class:`SiteLockHeld` when another
        qrdr holds it (``take_over``: a person said to take a held lock over)."""
        record = self._record(command, None)
        taken: str | None = None
        for _attempt in range(3):
            if self.directory.add(self.dn, "container", {"description": json.dumps(record)},
                                  what=f"the site lock of {self.site}"):
                self._held = True
                return taken
            current = self.holder()
            if current is None:
                continue  # released between our add and our read: try again
            if current.get("token") == self.token:
                self._held = True  # our own add, answered "exists" after a reconnect
                return taken
            dead = current.get("host") == socket.gethostname() and not processes.alive(int(current.get("pid") or 0))
            if dead or take_over:
                taken = describe(current) + (" (its process had ended)" if dead else " (taken over by request)")
                self.directory.delete(self.dn, what=f"the site lock of {self.site} (left by {taken})")
                continue
            stale = time.time() > float(current.get("deadline") or 0)
            raise SiteLockHeld(
                f"site {self.site!r} is busy on another machine: {describe(current)}"
                + ("; its hold is stale (past its deadline): if that run is gone, take the lock over with "
                   "--override site-lock" if stale else "; wait for it to end")
                + f" (lock object {self.dn})", current)
        raise SiteLockHeld(f"site {self.site!r}: the lock object {self.dn} kept changing hands", {})

    def renew(self, command: str, run_id: int | None) -> None:
        """Say which run holds the lock and push its deadline (called at the start of each step)."""
        if not self._held:
            return
        current = self.holder()
        if current is None or current.get("token") != self.token:
            self._held = False
            raise SiteLockHeld(f"site {self.site!r}: this run's lock was taken over"
                               + (f" by {describe(current)}" if current else "") + "; stopping", current or {})
        self.directory.modify(self.dn, {"description": [("MODIFY_REPLACE", [json.dumps(self._record(command, run_id))])]},
                              what=f"the site lock of {self.site}")

    def release(self) -> None:
        """Give the lock up (only if this run still holds it)."""
        if not self._held:
            return
        self._held = False
        self._since = 0.0
        current = self.holder()
        if current is not None and current.get("token") == self.token:
            self.directory.delete(self.dn, what=f"the site lock of {self.site}")
