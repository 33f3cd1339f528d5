"""Faults a test can inject into a running WinRM endpoint.

A :class:`Faults` object is shared by the test and the endpoint; change its
fields at any time (they are read on every request). ``drop_at_request`` counts
from the moment it was set: ``faults.drop_at_request = 2`` drops the second
HTTP request the endpoint receives from then on (the connection is closed
without an answer, as a reset network or a crashed service would), then the
fault clears itself. ``never_return`` makes the next reboot final: the
endpoint keeps serving until ``go_down()`` and then refuses ``come_up()``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field


@dataclass
class Faults:
    """Injected faults; every field may be changed while the endpoint runs."""

    #: Close the connection without answering the Nth HTTP request counted from when this was set.
    drop_at_request: int | None = None
    #: Added latency for every HTTP request, in milliseconds.
    latency_ms: float = 0.0
    #: The host never comes back after its next go_down (reboot, power-off): ``come_up()``
    #: raises RuntimeError. Until then it serves as usual.
    never_return: bool = False

    _seen_since_set: int = field(default=0, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __setattr__(self, name: str, value) -> None:
        if name == "drop_at_request" and "_lock" in self.__dict__:
            with self._lock:
                object.__setattr__(self, "_seen_since_set", 0)
                object.__setattr__(self, name, value)
            return
        object.__setattr__(self, name, value)

    def on_request(self) -> bool:
        """Apply per-request faults; return True when this request must be dropped."""
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000.0)
        with self._lock:
            if self.drop_at_request is None:
                return False
            object.__setattr__(self, "_seen_since_set", self._seen_since_set + 1)
            if self._seen_since_set >= self.drop_at_request:
                object.__setattr__(self, "drop_at_request", None)
                object.__setattr__(self, "_seen_since_set", 0)
                return True
            return False
