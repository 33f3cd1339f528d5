"""Steps: what phase hooks return and the engine runs.

A phase hook does no remote I/O: it returns :class:`Step` objects (data plus
three callables). The engine owns everything around them: planning, asking,
re-checking, applying, verifying, journaling, resuming, timing, reporting.

The three callables receive a :class:`StepContext` (``qrdr.engine.context``)
that gives them the site, remote hosts, the directory and the run's facts:

``check(ctx) -> Check``
    Read-only. Says whether the step must change something, and what.
    Called when planning, and again right before applying. While planning it
    sees the world before any step ran: :attr:`Step.rechecked_after` names the
    earlier steps that change what it reads.
``apply(ctx) -> dict | None``
    Makes the change. Returns evidence (plain JSON-able data) for the journal.
``verify(ctx) -> Check``
    Read-only. After apply, must say ``no_change`` (all is as wanted); anything
    else fails the step. Defaults to running ``check`` again.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any, Callable, Protocol

import attrs

if TYPE_CHECKING:  # only named in annotations: the directory and remote packages import this module
    from .directory import Directory
    from .model import Site
    from .remote import RemoteHost


#: The window from production going down to production serving mail again. A step that takes
#: production down opens it, the step that brings it back closes it: ``qrdr status`` says
#: "production is DOWN since ..." while a stopped run left it open (qrdr.engine.sitestate).
PRODUCTION_OUTAGE = "production outage"
#: The window from the start of a promote to mail flowing on the promoted standby: the RTO.
MAIL_FLOWING = "mail flowing"

#: The journal fact holding each run's window start and end times, by run id then window name
#: (the engine writes it; the site state and the report read it).
WINDOW_FACT = "_window"


class Outcome(str, enum.Enum):
    """What a check found."""

    #: The step must act; ``changes`` says what it would change.
    WILL_CHANGE = "will change"
    #: All is already as the step wants it.
    NO_CHANGE = "no change"
    #: Cannot be judged before an earlier step has run (e.g. the host is renamed by it).
    DEPENDS = "depends on an earlier step"
    #: Something is not as expected: the run must stop here (e.g. a QR update in its copy phase).
    BLOCKED = "blocked"


@attrs.frozen
class Check:
    """The answer of a read-only check."""

    outcome: Outcome
    #: Human lines: what would change, why nothing changes, what it depends on, or why blocked.
    changes: tuple[str, ...] = ()
    #: Facts found, kept in the journal as evidence (plain JSON-able data).
    facts: dict[str, Any] = attrs.field(factory=dict)

    @classmethod
    def will_change(cls, *changes: str, **facts: Any) -> "Check":
        return cls(Outcome.WILL_CHANGE, tuple(changes), facts)

    @classmethod
    def no_change(cls, *why: str, **facts: Any) -> "Check":
        return cls(Outcome.NO_CHANGE, tuple(why), facts)

    @classmethod
    def depends(cls, *on: str, **facts: Any) -> "Check":
        return cls(Outcome.DEPENDS, tuple(on), facts)

    @classmethod
    def blocked(cls, *reasons: str, **facts: Any) -> "Check":
        return cls(Outcome.BLOCKED, tuple(reasons), facts)

    @property
    def needed(self) -> bool:
        return self.outcome is Outcome.WILL_CHANGE


class StepContext(Protocol):
    """What a step's callables may use. Implemented by ``qrdr.engine.context.RunContext``."""

    site: Site
    #: Every fact kept in the journal, by owner (and the engine's own, whose names begin with
    #: ``_``). A plugin reads and writes its own through :meth:`facts_of`.
    facts: dict[str, Any]

    def host(self, key: str) -> RemoteHost:
        """The remote host with this key in ``site.hosts``."""

    @property
    def directory(self) -> Directory:
        """The Active Directory connection."""

    def facts_of(self, owner: str) -> dict[str, Any]:
        """``owner``'s facts (a plugin's or building block's name): a dict of JSON-able values
        kept in the journal, seen by every later step of the run, by its resume and its rollback.
        No other owner's facts are in it. A name beginning with ``_`` is the engine's: ValueError."""

    def run_state(self, owner: str) -> dict[str, Any]:
        """A dict of ``owner``'s (a plugin's or building block's name) for this run only: never
        journaled, gone with the run (sessions it opened, a login it did)."""

    def progress(self, message: str) -> None:
        """Tell the person watching what a long wait is waiting for."""

    def waited(self, kind: str, seconds: float) -> None:
        """Note that the step being applied spent ``seconds`` in an unavoidable wait of ``kind``
        (one of the :attr:`Step.waits` kinds, measured as the step saw it: a restart from
        Restart-Computer until a session opens again, an installer from start to exit). The engine
        journals the totals per kind in the step's evidence under ``"waited"``; the report sets them
        against each measured window (what no tool can shorten, and qrdr's own time)."""


#: Kinds of :attr:`Step.waits`: a host restarting, an installer (setup.exe, update.exe,
#: sysocmgr) running, Active Directory replicating to every domain controller, services starting.
RESTART, SETUP, REPLICATION, SERVICE_START = "restart", "setup", "replication", "service start"
#: The key of a step's journaled evidence holding the waits it noted (:meth:`StepContext.waited`).
WAITED_EVIDENCE = "waited"

CheckFn = Callable[[StepContext], Check]
ApplyFn = Callable[[StepContext], "dict[str, Any] | None"]


@attrs.frozen
class Step:
    """One unit of work the engine plans, applies, verifies and journals.

    ``id`` is unique in a run (``"<plugin>.<what>"`` by convention); ``after``
    names the ids that must run first (order inside a phase is explicit, never
    registration order), ``rechecked_after`` the earlier ids whose changes make
    a "no change" found while planning stale. ``target`` is the host key in
    ``site.hosts``, or ``"directory"`` for steps on Active Directory.
    """

    id: str
    title: str
    target: str
    check: CheckFn
    apply: ApplyFn
    verify: CheckFn | None = None
    #: Can apply run twice without harm? A completed non-idempotent step is never repeated.
    idempotent: bool = True
    #: Resets, renames, shutdowns, uninstalls: named in the plan, need confirmation.
    destructive: bool = False
    after: tuple[str, ...] = ()
    #: Ids of steps that must run after this one (lets an add-on slot a step in).
    before: tuple[str, ...] = ()
    #: Ids of earlier steps of the run (any phase) that change what this step's check reads: the
    #: step that takes the host out of the domain, for a "member of the domain?" check. While
    #: planning, the world is as it is before any of them ran, so when one of them will (or may)
    #: change something, this step's "no change" is planned as "depends on an earlier step", naming
    #: it. Ids of steps that are not in the run are ignored (their phase is not part of the command);
    #: an id of a step that runs later is refused. At run time nothing differs: every step is
    #: re-checked right before it is applied.
    rechecked_after: tuple[str, ...] = ()
    #: Steps that bring things back if a later step of the run fails (production's name, services).
    #: Filled by plugins for configuration; run in reverse order by the engine on failure.
    undo: ApplyFn | None = None
    #: Names a measured window this step opens when it applies (e.g. :data:`PRODUCTION_OUTAGE`).
    opens_window: str | None = None
    #: Names a measured window this step closes once verified; "run" windows start with the run.
    closes_window: str | None = None
    #: A manual step: what the person must do, where no unattended way exists (booting a server
    #: into safe mode, say). The engine never calls ``apply`` for it: when its check says "will
    #: change" it shows these instructions, waits for the person to confirm they are done (never
    #: ``--yes``; automation names the step with ``--done``), then verifies (see :func:`manual_step`).
    manual: str | None = None
    #: The waits the step cannot avoid when it applies, one entry each (:data:`RESTART`,
    #: :data:`SETUP`, :data:`REPLICATION`, :data:`SERVICE_START`): what the plan counts as the
    #: unavoidable part of a window, and bench/rto.py measures qrdr's own time against.
    waits: tuple[str, ...] = ()
    #: Set by the engine: the plugin that returned the step.
    plugin: str | None = None
    #: Set by the engine: the phase the step belongs to.
    phase: str | None = None


GuardFn = Callable[[StepContext], "Check | None"]


def guarded(guard: GuardFn | None, check: CheckFn) -> CheckFn:
    """``check``, asked only when ``guard`` (if any) has no answer of its own: a guard returns a
    Check that settles the step early (e.g. "judged once the configuration has started"), or None."""
    if guard is None:
        return check

    def guarded_check(ctx: StepContext) -> Check:
        early = guard(ctx)
        return early if early is not None else check(ctx)

    return guarded_check


def _done_by_hand(ctx: StepContext) -> dict[str, Any]:
    raise RuntimeError("a manual step is done by a person; the engine never applies it")


def manual_step(*, id: str, title: str, target: str, check: CheckFn, instructions: str,
                verify: CheckFn | None = None, **options: Any) -> Step:
    """A step a person does by hand: ``check`` says whether it is needed (and ``verify``, default
    ``check``, whether it was done), ``instructions`` say how. See :attr:`Step.manual`."""
    return Step(id=id, title=title, target=target, check=check, apply=_done_by_hand, verify=verify,
                manual=instructions, **options)
