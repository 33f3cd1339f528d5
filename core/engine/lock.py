"""Only one run per site at a time.

The lock is an exclusive ``flock`` on ``<state dir>/<site>.run.lock`` (one per site,
so two sites sharing a state directory do not wait for each other): the kernel
releases it when the holding process ends, however it ends, so a killed run
never leaves a stale lock. The file's text names the holder (run, pid, host,
command, start time) so a second run is refused with the name of the first.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from ..errors import RunLocked


class SiteLock:
    def __init__(self, state_dir: str | os.PathLike, site: str):
        self.path = Path(state_dir) / f"{site}.run.lock"
        self.site = site
        self._fd: int | None = None

    def acquire(self, command: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._read_holder(fd)
            os.close(fd)
            raise RunLocked(f"site {self.site!r} is busy: {describe_holder(holder)}; "
                            "wait for it to end, or stop it (Ctrl-C) and use `qrdr resume`") from None
        self._fd = fd
        self.set_holder(command=command, run_id=None)

    def set_holder(self, *, command: str, run_id: int | None) -> None:
        assert self._fd is not None
        holder = {"command": command, "run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
                  "since": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime())}
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, json.dumps(holder).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def holder(self) -> dict[str, Any] | None:
        """Who holds the lock now, or None when nobody does."""
        if not self.path.exists():
            return None
        fd = os.open(self.path, os.O_RDWR)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return self._read_holder(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    @staticmethod
    def _read_holder(fd: int) -> dict[str, Any]:
        try:
            return json.loads(os.pread(fd, 4096, 0).decode() or "{}")
        except (ValueError, OSError):
            return {}

    def __enter__(self) -> "SiteLock":
        return self

    def __exit__(self, *_: Any) -> None:
        self.release()


def describe_holder(holder: dict[str, Any] | None) -> str:
    if not holder:
        return "another run holds its lock"
    run = f"run {holder['run_id']}" if holder.get("run_id") else "a run"
    return (f"{run} ({holder.get('command', '?')}) by pid {holder.get('pid', '?')} on {holder.get('host', '?')}"
            f" since {holder.get('since', '?')}")
