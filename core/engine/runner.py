"""plan -> check -> confirm -> apply -> verify, with a journal, resume and a lock.

The :class:`Engine` runs *commands* (``promote``, ``configure`` ...), each a
list of phases. For a command it:

1. asks the plugins for the phases' steps and preflight probes, validates and
   orders them (:func:`collect_steps`);
2. plans: runs every probe and every step's read-only check, so the person
   sees per step "will change" (and what), "no change", "depends on an earlier
   step", or "blocked"; anything blocked, or a check that cannot run, refuses
   the run before anything changes. A check sees the world before any step
   ran: a "no change" of a step whose ``rechecked_after`` names an earlier
   step that will (or may) change something is planned as "depends on an
   earlier step", naming that step (:func:`rechecked`);
3. asks for confirmation (``confirm`` callback; ``yes=True`` skips it) when
   something will change, naming the destructive steps;
4. for each step: re-checks right before applying (the step before may have
   changed the world), applies, verifies, journals each state as it happens,
   stops at the first failure with the step, host and reason;
5. on failure, when the command asks for it (``configure``), runs the
   ``undo`` of the steps it completed, newest first, and reports them.

Ctrl-C between steps stops the run cleanly (state ``interrupted``); a second
Ctrl-C interrupts the step itself, which ``resume`` then re-checks.
``resume`` continues the newest unfinished run at its first unfinished step:
completed steps are skipped, a step interrupted while applying is re-checked,
and a completed non-idempotent step is never applied again.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
import time
import traceback
from typing import Any, Callable, Iterable

import attrs
from loguru import logger

from .. import hookspecs
from ..errors import (ConfigError, Interrupted, NotConfirmed, RunLocked, NothingToResume, PluginError, QrdrError, Refused,
                      StepFailed, WaitingForManualStep)
from ..model import Site
from ..pluginmanager import call_each
from ..secrets import mask
from ..steps import WAITED_EVIDENCE, WINDOW_FACT, Check, Outcome, Step
from .context import Connector, NoConnector, RunContext
from .journal import CHECK_NOT_READY, CHECK_READY, INTERRUPTED_PLANNING, Journal, operator
from .lock import SiteLock
from .sitestate import OVERRIDES, SiteState, read_state, refusal

@attrs.frozen
class PlannedStep:
    step: Step
    check: Check | None
    #: Set when the check could not run (host unreachable, an exception): the reason.
    error: str | None = None

    @property
    def status(self) -> str:
        if self.error is not None:
            return "cannot check"
        assert self.check is not None
        return self.check.outcome.value

    @property
    def lines(self) -> tuple[str, ...]:
        if self.error is not None:
            return (self.error,)
        return self.check.changes if self.check else ()

    @property
    def may_change(self) -> bool:
        """Whether applying the step may change something: planned "will change" or "depends"."""
        return self.check is not None and self.check.outcome in (Outcome.WILL_CHANGE, Outcome.DEPENDS)


@attrs.frozen
class Plan:
    command: str
    phases: tuple[str, ...]
    probes: tuple[PlannedStep, ...]
    steps: tuple[PlannedStep, ...]

    @property
    def blockers(self) -> list[str]:
        """Why the run must not start: blocked probes and steps, and checks that could not run."""
        reasons = []
        for planned in (*self.probes, *self.steps):
            if planned.error is not None:
                reasons.append(f"{planned.step.id} ({planned.step.target}): cannot check: {planned.error}")
            elif planned.check is not None and planned.check.outcome is Outcome.BLOCKED:
                reasons += [f"{planned.step.id} ({planned.step.target}): {line}" for line in planned.check.changes]
        return reasons

    @property
    def will_change(self) -> bool:
        return any(p.may_change for p in self.steps)

    @property
    def destructive(self) -> list[Step]:
        return [p.step for p in self.steps if p.step.destructive and p.status != Outcome.NO_CHANGE.value]

    @property
    def unavoidable_waits(self) -> dict[str, dict[str, int]]:
        """target -> wait kind -> how many, over the steps that will or may change something:
        the part of the run's time no tool can shorten (restarts, setup runs, replication)."""
        waits: dict[str, dict[str, int]] = {}
        for planned in self.steps:
            if planned.status != Outcome.NO_CHANGE.value:
                for kind in planned.step.waits:
                    counts = waits.setdefault(planned.step.target, {})
                    counts[kind] = counts.get(kind, 0) + 1
        return waits

    @property
    def digest(self) -> str:
        """``sha256:<hex>`` of the plan as shown (:meth:`to_dict`, keys sorted): what an approval
        names, so that an auditor can tell which plan a person said yes to."""
        text = json.dumps(self.to_dict(), sort_keys=True, default=str, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        """The plan in the ``--json`` documents' vocabulary (qrdr.documents): ``step_id``, ``planned``."""
        def one(p: PlannedStep) -> dict[str, Any]:
            return {"step_id": p.step.id, "title": p.step.title, "phase": p.step.phase, "plugin": p.step.plugin,
                    "target": p.step.target, "planned": p.status, "lines": list(p.lines),
                    "destructive": p.step.destructive, "idempotent": p.step.idempotent, "manual": p.step.manual,
                    "waits": list(p.step.waits)}
        return {"command": self.command, "phases": list(self.phases), "ready": not self.blockers,
                "blockers": list(self.blockers), "unavoidable_waits": self.unavoidable_waits,
                "probes": [one(p) for p in self.probes], "steps": [one(p) for p in self.steps]}


@attrs.frozen
class StepResult:
    step_id: str
    status: str  # done | no change | failed | skipped (done in an earlier process)
    changes: tuple[str, ...] = ()
    evidence: Any = None
    error: str | None = None
    seconds: float = 0.0


@attrs.frozen
class RunResult:
    run_id: int
    command: str
    status: str
    steps: tuple[StepResult, ...]
    windows: dict[str, float]
    undone: tuple[str, ...] = ()
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The outcome in the ``--json`` documents' vocabulary (qrdr.documents): a run's and each
        step's outcome is its ``state``, a step's time ``duration_seconds``."""
        steps = [{"step_id": s.step_id, "state": s.status, "changes": list(s.changes), "evidence": s.evidence,
                  "error": s.error, "duration_seconds": s.seconds} for s in self.steps]
        return {"run_id": self.run_id, "command": self.command, "state": self.status, "steps": steps,
                "windows": dict(self.windows), "undone": list(self.undone), "message": self.message}


class Reporter:
    """What the engine tells the person; the CLI prints, the API default logs."""

    def plan(self, plan: Plan) -> None:
        logger.info("plan for {}: {} steps", plan.command, len(plan.steps))

    def step_started(self, step: Step) -> None:
        logger.info("step {} ({}): {}", step.id, step.target, step.title)

    def step_finished(self, step: Step, result: StepResult) -> None:
        logger.info("step {}: {} in {:.1f}s", step.id, result.status, result.seconds)

    def progress(self, message: str) -> None:
        logger.info(message)

    def note(self, message: str) -> None:
        logger.info(message)

    def manual(self, step: Step, check: Check) -> None:
        """A manual step needs the person: what to do (``step.manual``) and what the check found."""
        logger.warning("manual step {} ({}): {} [{}]", step.id, step.target, step.manual, "; ".join(check.changes))


#: Asks the person whether a manual step is done (the CLI prompts on the terminal); False: not yet.
ConfirmManual = Callable[[Step, Check], bool]


def collect_steps(manager: Any, site: Site, phases: Iterable[str], plugin_config: dict[str, Any],
                  cleanup_scope: str = "recovery") -> list[Step]:
    """Every step of the phases, validated and ordered (phase by phase)."""
    ordered: list[Step] = []
    seen: dict[str, str] = {}
    for phase in phases:
        hook = hookspecs.PHASE_HOOKS[phase]
        results = call_each(manager, hook, site=site, plugin_config=plugin_config, scope=cleanup_scope)
        phase_steps = _validate(results, phase, seen)
        ordered += order_steps(phase_steps, phase)
    _validate_rechecked_after(ordered)
    return ordered


def _validate_rechecked_after(ordered: list[Step]) -> None:
    """A step is re-checked after steps that run before it; ids not in the run are ignored."""
    position = {step.id: number for number, step in enumerate(ordered)}
    for number, step in enumerate(ordered):
        for other in step.rechecked_after:
            if position.get(other, -1) >= number:
                raise PluginError(f"step {step.id!r} (plugin {step.plugin!r}) is re-checked after {other!r}, "
                                  f"which does not run before it")


def rechecked(entry: PlannedStep, earlier: dict[str, PlannedStep]) -> PlannedStep:
    """``entry`` as the plan shows it, given the steps planned before it (by id).

    Its check saw the world before any step ran. When it found "no change" but a step it is
    re-checked after (``Step.rechecked_after``) may change something first, that answer is
    stale: the step depends on that earlier step, which the plan names, with what the check
    found now. Any other answer stands (a "will change" is re-checked before applying anyway).
    """
    if entry.check is None or entry.check.outcome is not Outcome.NO_CHANGE:
        return entry
    changing = [earlier[other] for other in entry.step.rechecked_after if other in earlier and earlier[other].may_change]
    if not changing:
        return entry
    why = [f"checked after {p.step.id} ({p.step.title})" for p in changing]
    return PlannedStep(entry.step, Check.depends(*why, *(f"now: {line}" for line in entry.check.changes),
                                                 **entry.check.facts))


def collect_probes(manager: Any, site: Site, phase: str) -> list[Step]:
    results = call_each(manager, "qrdr_preflight", site=site, phase=phase)
    return _validate(results, f"preflight {phase}", {})


def _validate(results: list[tuple[str, Any]], phase: str, seen: dict[str, str]) -> list[Step]:
    steps = []
    for plugin, returned in results:
        if returned is None:
            continue
        if not isinstance(returned, (list, tuple)):
            raise PluginError(f"plugin {plugin!r} returned {type(returned).__name__} for {phase}; expected a list of Step")
        for step in returned:
            if not isinstance(step, Step):
                raise PluginError(f"plugin {plugin!r} returned {type(step).__name__} in {phase}; expected Step")
            if step.id in seen:
                raise PluginError(f"step id {step.id!r} is returned by both plugin {seen[step.id]!r} and plugin {plugin!r}")
            seen[step.id] = plugin
            steps.append(attrs.evolve(step, plugin=plugin, phase=phase.removeprefix("preflight ")))
    return steps


def order_steps(steps: list[Step], phase: str) -> list[Step]:
    """Topological order by ``after``/``before``; steps not ordered relative to each other go by id."""
    by_id = {step.id: step for step in steps}
    must_precede: dict[str, set[str]] = {step.id: set() for step in steps}
    for step in steps:
        for other in step.after:
            if other not in by_id:
                raise PluginError(f"step {step.id!r} (plugin {step.plugin!r}) runs after {other!r}, "
                                  f"which is not a step of {phase}")
            must_precede[step.id].add(other)
        for other in step.before:
            if other not in by_id:
                raise PluginError(f"step {step.id!r} (plugin {step.plugin!r}) runs before {other!r}, "
                                  f"which is not a step of {phase}")
            must_precede[other].add(step.id)
    ordered: list[Step] = []
    placed: set[str] = set()
    while len(ordered) < len(steps):
        ready = sorted(step_id for step_id, deps in must_precede.items() if step_id not in placed and deps <= placed)
        if not ready:
            cycle = sorted(set(by_id) - placed)
            raise PluginError(f"the steps of {phase} have circular after/before: {', '.join(cycle)}")
        placed.add(ready[0])
        ordered.append(by_id[ready[0]])
    return ordered


class _StopFlag:
    """First Ctrl-C (or SIGTERM, as a service manager sends it): stop between steps. Second:
    interrupt the step in progress."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, reporter: Reporter):
        self.requested = False
        self._reporter = reporter
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopFlag":
        if threading.current_thread() is threading.main_thread():
            for number in self.SIGNALS:
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def _handle(self, number: int, _frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        what = "Ctrl-C" if number == signal.SIGINT else "SIGTERM"
        self._reporter.note(f"{what}: stopping after the current step (again to interrupt it).")

    def __exit__(self, *_: Any) -> None:
        for number, previous in self._previous.items():
            signal.signal(number, previous)


class _Locks:
    """The local lock (runs sharing this state directory) and, where the connector has one, the
    site's lock in its Active Directory (runs on any machine): taken together, released together,
    both naming the run; the site's lock is renewed at every step (a run that lost it stops)."""

    def __init__(self, local: SiteLock, connector: Connector, reporter: Reporter):
        self.local = local
        self._connector = connector
        self._reporter = reporter
        self._site: Any = None
        self._command = ""

    def acquire(self, command: str, *, take_over: bool = False) -> str | None:
        """Both locks; returns the description of a gone holder taken over (for the journal)."""
        from ..directory.errors import DirectoryError
        from ..directory.sitelock import SiteLockHeld

        self.local.acquire(command)
        factory = getattr(self._connector, "site_lock", None)
        if factory is None:
            return None
        try:
            self._site = factory()
            return self._site.acquire(command, take_over=take_over)
        except SiteLockHeld as exc:
            self.release()
            raise RunLocked(str(exc)) from None
        except DirectoryError as exc:
            self.release()
            raise Refused(f"{command} refused: the site's lock in Active Directory could not be taken "
                          "(every machine running qrdr for this site must see it):", [str(exc)]) from None
        except BaseException:
            # Ctrl-C while the directory does not answer: the site's lock was not taken, but the local
            # one was, and an embedding program would keep holding it after the KeyboardInterrupt.
            self._site = None
            self.local.release()
            raise

    def renew(self, run_id: int | None) -> None:
        """At each step: the hold goes on (raises Interrupted when another machine took it over)."""
        self.holding(self._command, run_id)

    def holding(self, command: str, run_id: int | None) -> None:
        """Both locks name ``command`` and run ``run_id`` as their holder."""
        self._command = command
        self.local.set_holder(command=command, run_id=run_id)
        if self._site is not None:
            from ..directory.sitelock import SiteLockHeld

            try:
                self._site.renew(command, run_id)
            except SiteLockHeld as exc:
                raise Interrupted(f"{exc}; `qrdr status` shows where the site stands") from None

    def release(self) -> None:
        if self._site is not None:
            try:
                self._site.release()
            except Exception as exc:  # the object stays; the next run of this host takes it over
                self._reporter.note(f"the site's lock in Active Directory was not released: {_describe(exc)}")
            self._site = None
        self.local.release()


def _retryable(previous: Any) -> bool:
    """Whether a step's record is what ``--retry`` is for: not idempotent, applied, then failed. A
    resume never applies such a step again by itself: its change may have taken effect without
    its check seeing it, and a second one could do harm (a second setup.exe, a second reset)."""
    return previous is not None and not previous.idempotent and previous.apply_count > 0 \
        and previous.state == "failed"


def _why_not_retryable(previous: Any) -> str:
    """Why ``--retry`` does not apply to a step whose record is ``previous`` (None: not in the run)."""
    if previous is None:
        return "no such step in this run"
    return (f"not a failed step that is not idempotent and was applied ({previous.state}, "
            f"{'idempotent' if previous.idempotent else 'not idempotent'})")


def _with_retry_hint(step: Step, reason: str) -> str:
    """A failure after a non-idempotent step's apply began, with the way on (an idempotent step's
    reason as it is: a resume re-checks it and applies it again by itself)."""
    if step.idempotent:
        return reason
    return (f"{reason.rstrip('. ')}. This step is not idempotent: a resume does not apply it again by itself. "
            f"Check {step.target} by hand; if its change did not take effect, `qrdr resume --retry {step.id}` "
            f"applies it again (journaled); `qrdr resume --rollback` undoes the run")


def _undo_stopped(failed: str, undone: list[str], in_order: list[str]) -> str:
    """What a rollback stopped at ``failed`` says: what it undid, what it left, and the way on.
    ``in_order``: the undos it was to run, newest step first."""
    left = in_order[in_order.index(failed) + 1:]
    return (f"undo of {failed} failed (see the events), so the rollback stopped there"
            + (f" after undoing {', '.join(undone)}" if undone else "")
            + (f"; not undone yet: {', '.join(left)}" if left else "")
            + f"; `qrdr resume --rollback` starts again at {failed}")


def _run_check(fn: Callable[[Any], Check], ctx: RunContext, step: Step) -> Check:
    result = fn(ctx)
    if not isinstance(result, Check):
        raise PluginError(f"step {step.id!r} (plugin {step.plugin!r}) check returned {type(result).__name__}; expected Check")
    return result


def _detail_in_journal(journal: Journal, run_id: int, step: Step, exc: BaseException) -> str:
    """For an exception qrdr did not foresee (not a QrdrError or an error of qrdr's directory
    layer: a bug in the step's plugin, most likely), its traceback as a journal event, and what to
    add to the one-line reason."""
    from ..directory.errors import DirectoryError  # (the directory layer imports the engine's Check)

    if isinstance(exc, (QrdrError, DirectoryError)):
        return ""  # already says what is wrong, where (a DC, its URL, the DN)
    journal.event(run_id, "traceback", "".join(traceback.format_exception(exc)), step_id=step.id)
    return f" ({type(exc).__name__} in plugin {step.plugin!r}; its traceback is in the journal: qrdr history --run {run_id})"


def _describe(exc: BaseException) -> str:
    return mask(f"{exc}" if str(exc) else type(exc).__name__)


class Engine:
    """Runs commands on one site. See the module docstring for the contract."""

    def __init__(self, site: Site, manager: Any, *, plugin_names: list[str], plugin_config: dict[str, Any],
                 connector: Connector | None = None, reporter: Reporter | None = None,
                 confirm: Callable[[Plan], bool] | None = None, confirm_manual: ConfirmManual | None = None):
        self.site = site
        self.confirm_manual = confirm_manual
        #: Manual steps the caller says are done (``--done STEP``) for the run under way.
        self._done_by_hand: frozenset[str] = frozenset()
        #: Failed non-idempotent steps a person checked and wants applied again (``--retry STEP``).
        self._retry: frozenset[str] = frozenset()
        self.manager = manager
        self.plugin_names = plugin_names
        self.plugin_config = plugin_config
        self.connector = connector or NoConnector()
        self.reporter = reporter or Reporter()
        self.confirm = confirm
        # The name becomes file names: whatever built the Site (a config file, or automation that
        # embeds qrdr), nothing in it may lead out of state_dir.
        from ..config import site_name_problem

        problem = site_name_problem(site.name)
        if problem:
            raise ConfigError(site.source or "the site given to qrdr", [("name", problem)])
        self.journal_path = site.state_file(".journal.sqlite")
        self.lock = SiteLock(self.journal_path.parent, site.name)
        self.locks = _Locks(self.lock, self.connector, self.reporter)

    # -- public -----------------------------------------------------------

    def plan(self, command: str, phases: list[str], *, cleanup_scope: str = "recovery") -> Plan:
        """Every probe and check of the command, read-only; nothing is journaled, changed or created."""
        return self._plan(self._read_only_context(), command, phases, cleanup_scope)

    def probe(self, phase: str, *, journaled: bool = False) -> Plan:
        """Only the preflight probes of a phase (``"check"`` for the readiness check), read-only on
        the site. ``journaled``: the check is recorded as a run of command ``check`` that ended
        ``ready`` or ``not ready``, each probe with its evidence (what a report and an auditor read:
        when the site was last found ready). It changes nothing, so it never hides an unfinished
        run and never moves the site's state; a journal that cannot be written is said, and the
        check's answer stands."""
        ctx = self._read_only_context()
        probes = tuple(self._plan_step(ctx, probe) for probe in collect_probes(self.manager, self.site, phase))
        plan = Plan(phase, (), probes, ())
        if journaled:
            self._journal_check(plan)
        return plan

    def _journal_check(self, plan: Plan) -> None:
        try:
            journal = Journal(self.journal_path)
            try:
                run_id = journal.start_run(self.site.name, "check", [plan.command], self.plugin_names)
                self._journal_probes(journal, run_id, plan)
                ready = not plan.blockers
                journal.end_run(run_id, CHECK_READY if ready else CHECK_NOT_READY,
                                None if ready else "; ".join(plan.blockers))
            finally:
                journal.close()
        except QrdrError as error:  # a journal locked or unwritable: the check's answer stands
            self.reporter.note(f"the check was not journaled: {error}")

    def _read_only_context(self) -> RunContext:
        """A context with the site's recorded facts, without creating a journal where none exists."""
        facts: dict[str, Any] = {}
        if self.journal_path.exists():
            journal = Journal(self.journal_path)
            try:
                facts = journal.facts()
            finally:
                journal.close()
        return RunContext(self.site, self.connector, facts, self.reporter.progress, self.plugin_config)

    def state(self) -> SiteState:
        """Where the site stands, from its journal (see :mod:`qrdr.engine.sitestate`)."""
        if not self.journal_path.exists():
            return read_state(None, self.site.name)
        journal = Journal(self.journal_path)
        try:
            return read_state(journal, self.site.name)
        finally:
            journal.close()

    def run(self, command: str, phases: list[str], *, yes: bool = False, rollback: bool = False,
            cleanup_scope: str = "recovery", done: Iterable[str] = (), overrides: Iterable[str] = ()) -> RunResult:
        """Plan, confirm and apply a command as a new run (see module docstring). ``done``: ids of
        manual steps the caller says are done (``yes`` never confirms one). ``overrides``: names of
        site-state refusals the person lifts (:data:`qrdr.engine.sitestate.OVERRIDES`), journaled."""
        self._done_by_hand = frozenset(done)
        overrides = frozenset(overrides)
        unknown = sorted(overrides - set(OVERRIDES))
        if unknown:
            raise Refused(f"{command} refused: unknown override {unknown[0]!r}; overrides:",
                          [f"{name}: {text}" for name, text in OVERRIDES.items()])
        taken = self.locks.acquire(command, take_over="site-lock" in overrides)
        journal = Journal(self.journal_path)
        try:
            state = read_state(journal, self.site.name)
            scope = cleanup_scope if "cleanup" in phases else None
            refused = refusal(state, command, cleanup_scope, overrides)
            if refused is not None:
                run_id = journal.start_run(self.site.name, command, phases, self.plugin_names, scope=scope)
                journal.end_run(run_id, "refused", refused.message(command))
                raise Refused(f"{command} refused before planning (run {run_id}; the site is {state.name}):",
                              [refused.reason, f"instead: {refused.instead}"]
                              + ([f"if you know better: --override {refused.override} (journaled)"]
                                 if refused.override else []))
            ctx = self._context(journal)
            try:
                plan = self._plan(ctx, command, phases, cleanup_scope)
            except KeyboardInterrupt:
                # Ctrl-C while checking (a host that does not answer, say): nothing was changed, and the
                # run must not look unfinished, or it would hide one that is (and ask to be resumed).
                run_id = journal.start_run(self.site.name, command, phases, self.plugin_names, scope=scope)
                journal.end_run(run_id, INTERRUPTED_PLANNING, "Ctrl-C while planning: nothing was changed")
                raise Interrupted(f"{command} interrupted (Ctrl-C) while planning (run {run_id}): nothing was "
                                  f"changed") from None
            self.reporter.plan(plan)
            run_id = journal.start_run(self.site.name, command, phases, self.plugin_names, scope=scope)
            self.locks.holding(command, run_id)
            if taken:
                journal.event(run_id, "site lock", f"took over the site's lock in Active Directory from {taken}")
            journal.add_steps(run_id, [self._step_row(p) for p in plan.steps])
            self._journal_probes(journal, run_id, plan)
            for lifted in sorted(overrides):
                journal.event(run_id, "override", f"--override {lifted} by {operator()}: {OVERRIDES[lifted]} "
                                                  f"(the site was {state.name})")
            if plan.blockers:
                journal.end_run(run_id, "refused", "; ".join(plan.blockers))
                raise Refused(f"{command} refused before changing anything (run {run_id}):", plan.blockers)
            if plan.will_change and not self._approved(journal, run_id, plan, yes):
                journal.end_run(run_id, "not confirmed")
                raise NotConfirmed(f"{command} not confirmed: nothing was changed (run {run_id})")
            journal.event(run_id, "start", f"{command} started: phases {', '.join(phases)}")
            self._journal_targets(journal, run_id)
            return self._execute(ctx, journal, run_id, command, [p.step for p in plan.steps], {}, rollback)
        finally:
            journal.close()
            self.locks.release()

    def resume(self, *, yes: bool = False, rollback: bool | None = None, done: Iterable[str] = (),
               overrides: Iterable[str] = (), retry: Iterable[str] = ()) -> RunResult:
        """Continue the newest unfinished run at its first unfinished step (``done`` as for :meth:`run`;
        ``overrides``: only ``site-lock`` applies). ``retry``: ids of steps that are not idempotent
        and failed after being applied, which a person checked on the host and wants applied again
        (without it such a step fails again, naming this); anything else named is refused before
        anything changes."""
        self._done_by_hand = frozenset(done)
        self._retry = frozenset(retry)
        taken = self.locks.acquire("resume", take_over="site-lock" in set(overrides))
        journal = Journal(self.journal_path)
        try:
            record = journal.last_unfinished_run()
            if record is None:
                raise NothingToResume(f"site {self.site.name!r} has no unfinished run to resume")
            ctx = self._context(journal)
            steps = collect_steps(self.manager, self.site, record.phases, self.plugin_config,
                                  record.scope or "recovery")
            done_before = {r.step_id: r for r in journal.steps(record.id)}
            if [s.id for s in steps] != [r.step_id for r in sorted(done_before.values(), key=lambda r: r.seq)]:
                raise PluginError(
                    f"run {record.id} cannot be resumed: the plugins now return different steps than when it started "
                    f"(plugins then: {', '.join(record.plugins)}); load the same plugins and versions"
                )
            not_retryable = [step_id for step_id in sorted(self._retry) if not _retryable(done_before.get(step_id))]
            if not_retryable:
                raise Refused(f"resume of run {record.id} refused before changing anything:", [
                    f"--retry {step_id}: {_why_not_retryable(done_before.get(step_id))}" for step_id in not_retryable])
            self.locks.holding(f"resume {record.command}", record.id)
            if taken:
                journal.event(record.id, "site lock", f"took over the site's lock in Active Directory from {taken}")
            remaining = [s for s in steps if done_before[s.id].state not in ("done", "no change")]
            try:
                planned = self._plan_remaining(ctx, remaining, done_before)
            except KeyboardInterrupt:
                journal.event(record.id, "not resumed", "Ctrl-C while planning the resume: nothing was changed")
                raise Interrupted(f"resume of run {record.id} interrupted (Ctrl-C) while planning: nothing was "
                                  f"changed; the run is still {record.status}") from None
            plan = Plan(record.command, tuple(record.phases), (), planned)
            self.reporter.plan(plan)
            if plan.blockers:
                raise Refused(f"resume of run {record.id} refused before changing anything:", plan.blockers)
            if plan.will_change and not self._approved(journal, record.id, plan, yes):
                raise NotConfirmed(f"resume of run {record.id} not confirmed: nothing was changed")
            journal.adopt_run(record.id)
            journal.event(record.id, "resume", f"resumed by pid {os.getpid()} (was {record.status})")
            for step_id in sorted(self._retry):
                journal.event(record.id, "retry", f"{step_id} applied again: {operator()} checked the host and "
                              f"asked for it (--retry {step_id})", step_id=step_id)
            self._journal_targets(journal, record.id)
            if rollback is None:
                rollback = record.command == "configure"
            return self._execute(ctx, journal, record.id, record.command, steps, done_before, rollback)
        finally:
            journal.close()
            self.locks.release()

    def rollback(self, *, yes: bool = False, overrides: Iterable[str] = ()) -> RunResult:
        """Undo the newest unfinished run instead of continuing it: the ``undo`` of every step it
        changed (done, applied, or interrupted while applying), newest first; for configure that
        brings production back under its own name, with its services and stores. The run ends
        ``rolled back``; a step without an undo is named as left as it is."""
        taken = self.locks.acquire("resume --rollback", take_over="site-lock" in set(overrides))
        journal = Journal(self.journal_path)
        try:
            record = journal.last_unfinished_run()
            if record is None:
                raise NothingToResume(f"site {self.site.name!r} has no unfinished run to roll back")
            ctx = self._context(journal)
            steps = {s.id: s for s in collect_steps(self.manager, self.site, record.phases, self.plugin_config,
                                                    record.scope or "recovery")}
            rows = sorted(journal.steps(record.id), key=lambda r: r.seq)
            touched = [r for r in rows if r.state in ("done", "applied", "applying")
                       or (r.state == "failed" and r.apply_count > 0)]
            missing = [r.step_id for r in touched if r.step_id not in steps]
            if missing:
                raise PluginError(f"run {record.id} cannot be rolled back: the plugins no longer have its steps "
                                  f"{', '.join(missing)} (plugins then: {', '.join(record.plugins)})")
            undoable = [steps[r.step_id] for r in reversed(touched) if steps[r.step_id].undo is not None]
            kept = [r.step_id for r in touched if steps[r.step_id].undo is None]
            plan = Plan(f"rollback of run {record.id} ({record.command})", tuple(record.phases), (), tuple(
                PlannedStep(step, Check.will_change(f"undo: {step.title}")) for step in undoable))
            self.reporter.plan(plan)
            if undoable and not self._approved(journal, record.id, plan, yes):
                raise NotConfirmed(f"rollback of run {record.id} not confirmed: nothing was changed")
            self.locks.holding(f"resume --rollback {record.command}", record.id)
            if taken:
                journal.event(record.id, "site lock", f"took over the site's lock in Active Directory from {taken}")
            journal.adopt_run(record.id)
            journal.event(record.id, "rollback", f"rollback by {operator()} (pid {os.getpid()}; was {record.status})")
            undone, failed = self._rollback(ctx, journal, record.id, list(reversed(undoable)))
            status = "failed" if failed else "rolled back"
            message = (_undo_stopped(failed, undone, [step.id for step in undoable]) if failed
                       else "undone: " + (", ".join(undone) or "nothing had changed")
                       + (f"; left as they are (no undo): {', '.join(kept)}" if kept else ""))
            journal.save_facts(ctx.facts, record.id)
            journal.end_run(record.id, status, message)
            journal.event(record.id, "end", f"rollback of {record.command} {status}: {message}")
            return RunResult(record.id, record.command, status, (), {}, tuple(undone), message)
        finally:
            journal.close()
            self.locks.release()

    # -- internals --------------------------------------------------------

    def _plan_remaining(self, ctx: RunContext, remaining: list[Step], done_before: dict[str, Any]
                        ) -> tuple[PlannedStep, ...]:
        """A resume's plan: a step applied before the interruption will be verified; after the first
        step that still has to run, a check that cannot run yet depends on that earlier step (the world
        is half way: the earlier step makes the later check possible), it does not block. A "no change"
        is planned as in :meth:`plan` (:func:`rechecked`): steps done before the interruption are in the
        world already and make nothing stale."""
        planned: dict[str, PlannedStep] = {}
        pending = False
        for step in remaining:
            if done_before[step.id].state == "applied":
                planned[step.id] = PlannedStep(step, Check.will_change("applied before the interruption; will be verified"))
                pending = True
                continue
            entry = rechecked(self._plan_step(ctx, step), planned)
            if pending and entry.error is not None:
                entry = PlannedStep(step, Check.depends(f"checked when its turn comes (now: {entry.error})"))
            planned[step.id] = entry
            pending = pending or entry.may_change
        return tuple(planned.values())

    def _approved(self, journal: Journal, run_id: int, plan: Plan, yes: bool) -> bool:
        """Whether the plan may be applied: ``--yes``, or the person's yes at the prompt; the
        approval is journaled with who gave it, how, and the plan's :attr:`Plan.digest`. Ctrl-C
        at the question is a "no" (journaled), never a run left running."""
        if yes:
            how = "--yes"
        else:
            try:
                if not self._confirmed(plan):
                    return False
            except (KeyboardInterrupt, EOFError):
                journal.event(run_id, "not confirmed", "interrupted at the confirmation prompt")
                return False
            how = "at the prompt"
        by = operator()
        journal.event(run_id, "approved", f"plan {plan.digest} of {plan.command} approved by {by} ({how})",
                      data={"plan_digest": plan.digest, "by": by, "how": how})
        return True

    def _context(self, journal: Journal) -> RunContext:
        return RunContext(self.site, self.connector, journal.facts(), self.reporter.progress, self.plugin_config)

    def _confirmed(self, plan: Plan) -> bool:
        if self.confirm is None:
            # No way to ask (automation without --yes): refusing is the safe answer.
            return False
        return bool(self.confirm(plan))

    def _plan(self, ctx: RunContext, command: str, phases: list[str], cleanup_scope: str) -> Plan:
        probes = []
        for phase in phases:
            probes += [self._plan_step(ctx, probe) for probe in collect_probes(self.manager, self.site, phase)]
        steps = collect_steps(self.manager, self.site, phases, self.plugin_config, cleanup_scope)
        planned: dict[str, PlannedStep] = {}
        blocked = any(p.error or (p.check and p.check.outcome is Outcome.BLOCKED) for p in probes)
        for step in steps:
            if blocked:
                # Checks after a blocker may touch hosts the blocker says are not ready.
                planned[step.id] = PlannedStep(step, Check.depends("not checked: the run is blocked above"))
                continue
            entry = rechecked(self._plan_step(ctx, step), planned)
            planned[step.id] = entry
            blocked = entry.error is not None or entry.check.outcome is Outcome.BLOCKED
        return Plan(command, tuple(phases), tuple(probes), tuple(planned.values()))

    def _plan_step(self, ctx: RunContext, step: Step) -> PlannedStep:
        try:
            return PlannedStep(step, _run_check(step.check, ctx, step))
        except PluginError:
            raise
        except Exception as exc:  # a check that cannot run is reported, not fatal to planning
            logger.debug("check of {} failed: {}", step.id, traceback.format_exc())
            return PlannedStep(step, None, error=_describe(exc))

    @staticmethod
    def _step_row(planned: PlannedStep) -> dict[str, Any]:
        step = planned.step
        return {"id": step.id, "phase": step.phase, "plugin": step.plugin, "title": step.title,
                "target": step.target, "idempotent": step.idempotent, "destructive": step.destructive,
                "planned": planned.status, "changes": list(planned.lines)}

    def _journal_targets(self, journal: Journal, run_id: int) -> None:
        """The site's RTO and RPO targets as the run starts (or resumes): a report built from the
        journal alone measures the run against what was asked of it then."""
        targets = self.site.targets
        if targets.rto_minutes is None and targets.rpo_minutes is None:
            return
        shown = [f"{name} {value:g} min" for name, value in (("RTO", targets.rto_minutes),
                                                              ("RPO", targets.rpo_minutes)) if value is not None]
        journal.event(run_id, "targets", f"targets: {', '.join(shown)}",
                      data={"rto_minutes": targets.rto_minutes, "rpo_minutes": targets.rpo_minutes})

    @staticmethod
    def _journal_probes(journal: Journal, run_id: int, plan: Plan) -> None:
        for probe in plan.probes:
            journal.event(run_id, "probe", f"{probe.status}: {'; '.join(probe.lines)}", step_id=probe.step.id,
                          data={"state": probe.status, "lines": list(probe.lines),
                                "evidence": probe.check.facts if probe.check is not None else None})

    def _execute(self, ctx: RunContext, journal: Journal, run_id: int, command: str, steps: list[Step],
                 before: dict[str, Any], rollback: bool) -> RunResult:
        results: list[StepResult] = []
        completed: list[Step] = []
        windows = self._load_windows(ctx, run_id, journal)
        status, message = "succeeded", None
        self._notify("qrdr_run_started", run_id=run_id, command=command, steps=list(steps))
        with _StopFlag(self.reporter) as stop:
            try:
                for step in steps:
                    previous = before.get(step.id)
                    if previous is not None and previous.state in ("done", "no change"):
                        results.append(StepResult(step.id, "skipped", error=None))
                        if previous.state == "done":
                            completed.append(step)
                        continue
                    if stop.requested:
                        raise Interrupted(f"stopped by Ctrl-C before step {step.id}; `qrdr resume` continues run {run_id}")
                    result = self._one_step(ctx, journal, run_id, step, previous, windows)
                    results.append(result)
                    if result.status == "done":
                        completed.append(step)
                    if result.status == "failed":
                        raise StepFailed(step.id, step.target, result.error or "failed")
            except Interrupted as exc:
                status, message = "interrupted", str(exc)
            except KeyboardInterrupt:
                status, message = "interrupted", f"interrupted during a step; `qrdr resume` re-checks it (run {run_id})"
            except WaitingForManualStep as exc:
                status, message = "waiting", str(exc)
            except StepFailed as exc:
                status, message = "failed", str(exc)
        undone: list[str] = []
        if status == "failed" and rollback:
            undone, undo_failed = self._rollback(ctx, journal, run_id, completed)
            if undo_failed:
                message = f"{message}; " + _undo_stopped(undo_failed, undone, [s.id for s in reversed(completed)
                                                                             if s.undo is not None])
        durations = self._durations(windows)
        journal.save_facts(ctx.facts, run_id)
        journal.end_run(run_id, status, message, durations)
        journal.event(run_id, "end", f"{command} {status}" + (f": {message}" if message else ""))
        result = RunResult(run_id, command, status, tuple(results), durations, tuple(undone), message)
        self._notify("qrdr_run_finished", run_id=run_id, result=result)
        return result

    def _one_step(self, ctx: RunContext, journal: Journal, run_id: int, step: Step, previous: Any,
                  windows: dict[str, dict[str, float]]) -> StepResult:
        started = time.monotonic()
        self.locks.renew(run_id)
        self.reporter.step_started(step)
        self._notify("qrdr_step_started", run_id=run_id, step=step)
        result = self._attempt(ctx, journal, run_id, step, previous, windows)
        result = attrs.evolve(result, seconds=time.monotonic() - started)
        self.reporter.step_finished(step, result)
        self._notify("qrdr_step_finished", run_id=run_id, step=step, result=result)
        return result

    def _attempt(self, ctx: RunContext, journal: Journal, run_id: int, step: Step, previous: Any,
                 windows: dict[str, dict[str, float]]) -> StepResult:
        # Each change of a step's state that matters to a resume (applying, applied, and its end:
        # failed, no change, done) is journaled with the run's facts, the measured windows among
        # them, in one transaction: a kill never leaves one without the other.
        def fail(reason: str, changes: tuple[str, ...] = ()) -> StepResult:
            journal.set_step(run_id, step.id, "failed", error=reason, facts=ctx.facts)
            journal.event(run_id, "failed", reason, step_id=step.id)
            return StepResult(step.id, "failed", changes, error=mask(reason))

        applied_before = previous is not None and previous.state == "applied"
        journal.set_step(run_id, step.id, "checking")
        if not applied_before:
            try:
                check = _run_check(step.check, ctx, step)
            except Exception as exc:
                return fail(f"check failed: {_describe(exc)}{_detail_in_journal(journal, run_id, step, exc)}")
            if check.outcome is Outcome.NO_CHANGE:
                self._close_window(step, windows)
                journal.set_step(run_id, step.id, "no change", changes=list(check.changes), evidence=check.facts,
                                 facts=ctx.facts)
                return StepResult(step.id, "no change", check.changes, check.facts)
            if check.outcome is not Outcome.WILL_CHANGE:
                return fail(f"{check.outcome.value} when about to apply: {'; '.join(check.changes)}", check.changes)
            if step.manual is not None:
                self._wait_for_person(journal, run_id, step, check)
                evidence, changes = {"done_by_hand": True}, check.changes
                return self._verify(ctx, journal, run_id, step, evidence, changes, windows, fail)
            if _retryable(previous) and step.id not in self._retry:
                return fail(_with_retry_hint(step, "applied once already without the expected result"))
            self._open_window(step, windows)
            journal.set_step(run_id, step.id, "applying", changes=list(check.changes), applying=True,
                             facts=ctx.facts)
            journal.event(run_id, "apply", "; ".join(check.changes) or step.title, step_id=step.id)
            ctx.take_waited()  # a wait noted outside an apply belongs to no step
            try:
                evidence = step.apply(ctx) or {}
            except Exception as exc:
                return fail(_with_retry_hint(step, f"apply failed: {_describe(exc)}"
                                                   f"{_detail_in_journal(journal, run_id, step, exc)}"), check.changes)
            waited = ctx.take_waited()
            if waited and isinstance(evidence, dict):
                evidence = {**evidence, WAITED_EVIDENCE: waited}
            journal.set_step(run_id, step.id, "applied", evidence=evidence, facts=ctx.facts)
            changes = check.changes
        else:
            evidence, changes = previous.evidence or {}, tuple(previous.changes)
        return self._verify(ctx, journal, run_id, step, evidence, changes, windows, fail)

    def _verify(self, ctx: RunContext, journal: Journal, run_id: int, step: Step, evidence: Any,
                changes: tuple[str, ...], windows: dict[str, dict[str, float]],
                fail: Callable[[str, tuple[str, ...]], StepResult]) -> StepResult:
        try:
            verified = _run_check(step.verify or step.check, ctx, step)
        except Exception as exc:
            return fail(_with_retry_hint(step, f"verify failed: {_describe(exc)}"
                                               f"{_detail_in_journal(journal, run_id, step, exc)}"), changes)
        if verified.outcome is not Outcome.NO_CHANGE:
            what = "after the person said it was done" if step.manual is not None else "after applying"
            return fail(_with_retry_hint(step, f"not as expected {what}: "
                                               f"{'; '.join(verified.changes) or verified.outcome.value}"), changes)
        self._close_window(step, windows)
        journal.set_step(run_id, step.id, "done",
                         evidence={**evidence, **verified.facts} if isinstance(evidence, dict) else evidence,
                         facts=ctx.facts)
        journal.event(run_id, "done", "; ".join(verified.changes) or "verified", step_id=step.id)
        return StepResult(step.id, "done", changes, evidence)

    def _wait_for_person(self, journal: Journal, run_id: int, step: Step, check: Check) -> None:
        """Show a manual step's instructions and take the person's word that it is done: ``--done
        STEP`` or the ``confirm_manual`` prompt (never ``--yes``). Journals who confirmed, how and
        when; raises :class:`WaitingForManualStep` (the run waits, resumable) when nobody did."""
        journal.set_step(run_id, step.id, "waiting", changes=list(check.changes))
        journal.event(run_id, "manual", f"{step.manual} ({'; '.join(check.changes)})", step_id=step.id)
        self.reporter.manual(step, check)
        if step.id in self._done_by_hand:
            how = f"--done {step.id}"
        elif self.confirm_manual is not None and self.confirm_manual(step, check):
            how = "typed 'done' at the prompt"
        else:
            journal.event(run_id, "waiting", f"waiting for a person to do {step.id} and confirm it", step_id=step.id)
            raise WaitingForManualStep(step.id, run_id)
        journal.event(run_id, "confirmed", f"{step.id} done by hand, confirmed by {operator()} ({how})",
                      step_id=step.id)

    def _rollback(self, ctx: RunContext, journal: Journal, run_id: int, completed: list[Step]
                  ) -> tuple[list[str], str | None]:
        """Undo ``completed`` newest first: (the steps undone, the step whose undo failed or None).

        The first undo that fails stops the rollback there, as a failed step stops a run: each undo
        presumes the newer ones before it are undone (production cannot take its name back while
        the standby still holds it). The steps after it stay as they are, journaled as they were,
        and ``qrdr resume --rollback`` starts again at the one that failed."""
        undone = []
        for step in reversed(completed):
            if step.undo is None:
                continue
            self.reporter.note(f"Undoing {step.id}: {step.title}")
            # journaled before it begins: an undo cut off half way is on record too
            journal.event(run_id, "undo", step.title, step_id=step.id)
            try:
                step.undo(ctx)
            except Exception as exc:
                journal.event(run_id, "undo failed", _describe(exc), step_id=step.id)
                self.reporter.note(f"Undo of {step.id} failed: {_describe(exc)}")
                return undone, step.id
            self._undo_ends_window(ctx, run_id, step)
            journal.set_step(run_id, step.id, "undone", facts=ctx.facts)
            journal.event(run_id, "undone", step.title, step_id=step.id)
            undone.append(step.id)
        return undone, None

    def _notify(self, hook: str, **kwargs: Any) -> None:
        """Call an event hook's implementations one by one; a failing one is logged and skipped."""
        for impl in getattr(self.manager.hook, hook).get_hookimpls():
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception as exc:  # a notification must never stop a DR run
                logger.warning("plugin {} failed in {}: {}", impl.plugin_name, hook, _describe(exc))

    # -- measured windows -------------------------------------------------

    def _load_windows(self, ctx: RunContext, run_id: int, journal: Journal) -> dict[str, dict[str, float]]:
        windows = ctx.facts.setdefault(WINDOW_FACT, {}).setdefault(str(run_id), {})
        windows.setdefault("run", {"start": journal.run(run_id).started_at})
        return windows

    @staticmethod
    def _open_window(step: Step, windows: dict[str, dict[str, float]]) -> None:
        if step.opens_window and "start" not in windows.get(step.opens_window, {}):
            windows.setdefault(step.opens_window, {})["start"] = time.time()

    @staticmethod
    def _undo_ends_window(ctx: RunContext, run_id: int, step: Step) -> None:
        """The undo of the step that opened a window ends it, if nothing closed it before: undoing
        the stop of production's services ends production's outage as surely as the step that
        starts them would have (the status and the report then say production is back, and
        measure the outage to that moment). A window never opened is left alone."""
        window = ctx.facts.get(WINDOW_FACT, {}).get(str(run_id), {}).get(step.opens_window or "")
        if window is not None and "start" in window and "end" not in window:
            window["end"] = time.time()

    @staticmethod
    def _close_window(step: Step, windows: dict[str, dict[str, float]]) -> None:
        if step.closes_window:
            window = windows.setdefault(step.closes_window, {})
            # A window closed but never opened runs from the start of the run.
            window.setdefault("start", windows["run"]["start"])
            window["end"] = time.time()

    @staticmethod
    def _durations(windows: dict[str, dict[str, float]]) -> dict[str, float]:
        return {name: round(w["end"] - w["start"], 3) for name, w in windows.items()
                if name != "run" and "end" in w and "start" in w}
