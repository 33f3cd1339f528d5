"""Processes of this machine."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether a process with that id exists on this machine. A process of another user counts
    as alive; so does an id the system gave to a new process since (callers treat "alive" as the
    safe answer: the lock or the shell is then left to its owner, never taken from it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
