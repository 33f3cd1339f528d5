"""What the built-in plugins record for later steps, resumes and rollbacks: their facts, typed.

Every built-in Exchange and snap plugin builds on these building blocks, so they share one owner
(:data:`OWNER`) in the journal (``ctx.facts_of``): no other plugin's facts are in it, and no
module here spells another's key. Each fact is an attribute of :class:`RunFacts`, with its
meaning; :func:`run_facts` gives the run's.
"""

from __future__ import annotations

from typing import Any

from qrdr.steps import StepContext

#: The journal owner of the built-in plugins' facts.
OWNER = "qrdr.builtin"


class _Fact:
    """One fact: a value (None until recorded), or with ``mapping`` a dict that reading creates."""

    def __init__(self, *, mapping: bool = False) -> None:
        self.mapping = mapping

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    def __get__(self, instance: "RunFacts | None", owner: type) -> Any:
        if instance is None:
            return self
        if self.mapping:
            return instance.store.setdefault(self.key, {})
        return instance.store.get(self.key)

    def __set__(self, instance: "RunFacts", value: Any) -> None:
        instance.store[self.key] = value


class RunFacts:
    """The built-in plugins' facts of a run (a view of the journal's dict: writes are kept)."""

    #: "started" (record-production) or "finished" (configuration-finished); None before configure.
    configuration = _Fact()
    #: Production before qrdr touched it: ``name``, ``addresses``, ``services``, ``volumes``.
    production = _Fact()
    #: Production's stores as recorded (Name, StorageGroup, EdbPath, LogPath, SystemPath...).
    production_stores = _Fact()
    #: Host key -> the storage groups a cleanup deleted (an empty group is invisible afterwards).
    storage_groups_removed = _Fact(mapping=True)
    #: The SID of the computer account the standby runs under as production's name (the ACL grants').
    standby_account_sid = _Fact()
    #: What -> name -> the services or accounts as last set by a step that started or changed them.
    started = _Fact(mapping=True)
    #: Host key -> the host's current name (it changes during configure and promote).
    names = _Fact(mapping=True)
    #: Host key -> True while the host is out of the domain (its local account is the way in).
    workgroup = _Fact(mapping=True)
    #: Host key -> ``{"name", "sid"}`` of the computer the key reached when the site was configured
    #: (the machine SID stays through renames and domain joins; a rebuilt or another computer has another).
    host_identities = _Fact(mapping=True)

    def __init__(self, store: dict[str, Any]) -> None:
        self.store = store


#: Fact names of journals written before facts had owners (each was a key of its own there).
_UNOWNED = tuple(name for name, value in vars(RunFacts).items() if isinstance(value, _Fact))


def run_facts(ctx: StepContext) -> RunFacts:
    """The run's built-in facts. A journal written before facts had owners keeps them at the top
    level: they are taken over once, so a run started by an earlier qrdr resumes and rolls back."""
    store = ctx.facts_of(OWNER)
    for name in _UNOWNED:
        if name in ctx.facts and name not in store:
            store[name] = ctx.facts[name]
    return RunFacts(store)
