"""The result of a directory change: did it write anything, and what, in words."""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Change:
    """What a grant, revoke, reset, rename, disable or enable did. True when something was written.

    ``description`` is the sentence shown to the person running qrdr, e.g.
    ``"added: allow QRDR\\EXCH02$ Full Control on CN=Servers,..."``; ``details`` is
    the plan or facts behind it (an :class:`~qrdr.directory.acl.AcePlan`, an account, ...).
    """

    changed: bool
    description: str
    details: Any = None

    def __bool__(self) -> bool:
        return self.changed
