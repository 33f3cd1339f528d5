"""Where the site stands, read from its journal, and which commands that makes dangerous.

The journal records every run; the runs that changed something tell where the site
is now (refused and unconfirmed runs changed nothing and are passed over):

============== ===============================================================
state          the journal shows
============== ===============================================================
unknown        no run of this site's journal changed anything (a site set up
               by hand, or from another machine: nothing is assumed)
configuring    a configure (or one of its phases) stopped before its end;
               production may be down (the outage window is open)
configured     the last configure finished
qr-ready       QR volumes were created after it
promoting      a promote stopped before its end
promoted       a promote finished: the standby holds production's name
cleaning       a cleanup stopped before its end
cleaned        a cleanup finished (of the recovery server after a promote,
               or of either server outside one)
============== ===============================================================

:func:`refusal` says, before anything is planned, why a command must not run in
that state (and what to run instead), or None. Refusals are made on evidence
only: with no journal (state ``unknown``) the plan and its probes decide, so a
site configured from another machine can still be promoted at 3 a.m. The one
exception is the source server's cleanup, which uninstalls Exchange from the
server production ran on: without a finished promote in the journal nothing
shows that it no longer serves mail, so it is refused unless the person says so.

A person who knows better overrides a refusal by its name (``--override NAME``);
the override is journaled with who gave it.
"""

from __future__ import annotations

import time
from typing import Any

import attrs

from ..steps import PRODUCTION_OUTAGE, WINDOW_FACT
from .journal import CHANGED_NOTHING, Journal, RunRecord

#: Commands that build the standby (configure and its phases).
CONFIGURE_COMMANDS = ("configure", "prepare-production", "install-dr", "grant-acls", "finish-configuration")
#: Run states that mean "stopped before its end" (resume continues them).
UNFINISHED = ("running", "failed", "interrupted", "waiting")

#: Overrides a person may give, and what each lets through.
OVERRIDES = {
    "unfinished-run": "start a new run although an earlier one stopped before its end (it can no longer be resumed)",
    "promoted-standby": "clean up the recovery server although it holds production's name",
    "source-in-service": "clean up the source server although no finished promote shows it is out of service",
    "site-lock": "take over the site's lock in Active Directory from a run on another machine that is gone",
}


@attrs.frozen
class SiteState:
    """The site's state (see the module docstring), what shows it, and the next safe command."""

    name: str
    #: When the run that made this state started (None: unknown).
    since: float | None = None
    #: The run that made this state.
    run_id: int | None = None
    #: The run that stopped before its end, if any (the newest one that changed something).
    unfinished: RunRecord | None = None
    #: Lines a person reads: what is true of the site now, as far as the journal knows.
    facts: tuple[str, ...] = ()
    #: The command to run next (a full command line).
    next_command: str = ""
    #: For ``cleaned``: "recovery", "source" or both, in the order they were done.
    cleaned: tuple[str, ...] = ()
    #: A promote finished and no configure came since: production's own server is out of service.
    failed_over: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.name, "since": self.since, "run": self.run_id,
                "unfinished": attrs.asdict(self.unfinished) if self.unfinished else None,
                "known": list(self.facts), "next": self.next_command, "cleaned": list(self.cleaned),
                "failed_over": self.failed_over}


def _when(moment: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment)) if moment else "an unknown time"


def _outage(journal: Journal, run: RunRecord) -> tuple[float | None, float | None]:
    """When production went down in ``run`` and when it came back (its outage window's start and
    end; an end from the step that brings it back, or from the undo of the one that took it down)."""
    outage = journal.facts().get(WINDOW_FACT, {}).get(str(run.id), {}).get(PRODUCTION_OUTAGE, {})
    return outage.get("start"), outage.get("end")


def changed_nothing(journal: Journal, run: RunRecord) -> bool:
    """Whether ``run`` left the site as it found it: refused, not confirmed, rolled back; stopped
    before applying anything; or failed with every step it applied undone."""
    if run.status in CHANGED_NOTHING:
        return True
    if run.status not in UNFINISHED:
        return False
    touched = [s for s in journal.steps(run.id) if s.apply_count > 0 or s.state in ("applying", "applied", "waiting")]
    return all(s.state == "undone" for s in touched)


def read_state(journal: Journal | None, site_name: str) -> SiteState:
    """The site's state from its journal (None: no journal yet)."""
    if journal is None:
        return SiteState("unknown", facts=("no run has changed this site from here yet",),
                         next_command="qrdr check")
    state = SiteState("unknown", facts=("no run has changed this site from here yet",), next_command="qrdr check")
    cleaned: tuple[str, ...] = ()
    for run in reversed(journal.runs(limit=1_000_000)):
        if changed_nothing(journal, run):
            continue
        unfinished = run.status in UNFINISHED
        if run.command in CONFIGURE_COMMANDS:
            cleaned = ()
            if unfinished:
                down, back = _outage(journal, run)
                facts = [f"run {run.id} ({run.command}) stopped before its end ({run.status})"]
                undone = [step.step_id for step in journal.steps(run.id) if step.state == "undone"]
                if undone:
                    facts.append(f"undone after its failure: {', '.join(undone)}")
                if down is not None and back is None:
                    facts.append(f"production is DOWN since {_when(down)}: renamed and its Exchange services stopped")
                    way_on = "qrdr resume (or qrdr resume --rollback to bring production back as it was)"
                else:
                    if down is not None:
                        facts.append(f"production was down from {_when(down)} and is back since {_when(back)}")
                    # Production is up (never taken down, or back): neither way on is urgent.
                    way_on = ("qrdr resume (it goes on where the run stopped; production goes down again if the "
                              "run still has to take it down), or qrdr resume --rollback to undo the rest of it")
                state = SiteState("configuring", run.started_at, run.id, run, tuple(facts), way_on)
            elif run.command in ("configure", "finish-configuration"):
                state = SiteState("configured", run.started_at, run.id,
                                  facts=(f"the standby was built by run {run.id}",),
                                  next_command="qrdr create-qr-volumes")
        elif run.command == "create-qr-volumes":
            if unfinished:
                state = attrs.evolve(state, unfinished=run, next_command="qrdr resume",
                                     facts=state.facts + (f"run {run.id} (create-qr-volumes) stopped before its end",))
            else:
                state = SiteState("qr-ready", run.started_at, run.id,
                                  facts=(f"QR volumes created by run {run.id}; `qrdr check` tells the recovery "
                                         "point's age",), next_command="qrdr check")
        elif run.command == "promote":
            if unfinished:
                state = SiteState("promoting", run.started_at, run.id, run,
                                  (f"run {run.id} (promote) stopped before its end ({run.status}): the standby may "
                                   "be half way to production's place",), "qrdr resume")
            else:
                state = SiteState("promoted", run.started_at, run.id,
                                  facts=(f"the standby holds production's name and serves mail since {_when(run.started_at)} "
                                         f"(run {run.id})",),
                                  next_command="nothing while it serves mail; to return to the source server: "
                                               "qrdr cleanup --scope recovery --override promoted-standby, then "
                                               "qrdr cleanup --scope source", failed_over=True)
        elif run.command == "cleanup":
            scope = run.scope or "recovery"
            if unfinished:
                state = SiteState("cleaning", run.started_at, run.id, run,
                                  (f"run {run.id} (cleanup of the {scope} server) stopped before its end "
                                   f"({run.status})",), "qrdr resume", cleaned, state.failed_over)
            else:
                cleaned = (*[c for c in cleaned if c != scope], scope)
                state = SiteState("cleaned", run.started_at, run.id,
                                  facts=(f"the {' and the '.join(cleaned)} server{'s' if len(cleaned) > 1 else ''} "
                                         f"cleaned up (run {run.id})",),
                                  next_command="qrdr configure" if len(cleaned) > 1 else
                                  f"qrdr cleanup --scope {'source' if scope == 'recovery' else 'recovery'}",
                                  cleaned=cleaned, failed_over=state.failed_over)
        elif unfinished:
            state = attrs.evolve(state, unfinished=run, next_command="qrdr resume",
                                 facts=state.facts + (f"run {run.id} ({run.command}) stopped before its end",))
    # (asked only when no unfinished run that changed something is already the state's)
    if state.unfinished is None and (pending := journal.last_unfinished_run()) is not None:
        # It left nothing changed (stopped before changing anything, or every change undone): the
        # site is as the runs before it left it, and a new run may start over; resuming retries it.
        state = attrs.evolve(state, next_command=f"qrdr resume (retries run {pending.id}, {pending.command}, "
                                                 f"where it stopped; it left nothing changed)")
    return state


@attrs.frozen
class Refusal:
    """Why a command must not run now, what to run instead, and the override that lets it (if any)."""

    reason: str
    instead: str
    override: str | None = None

    def message(self, command: str) -> str:
        text = f"{command} refused: {self.reason}. Instead: {self.instead}."
        if self.override:
            text += f" If you know better: --override {self.override} (journaled)."
        return text


def refusals(state: SiteState, command: str, scope: str = "recovery") -> list[Refusal]:
    """Why ``command`` (``scope`` for cleanup) is dangerous in ``state``: every reason, most pressing
    first (empty when it is not)."""
    found = []
    unfinished = state.unfinished
    if unfinished is not None:
        why = f"run {unfinished.id} ({unfinished.command}) stopped before its end ({unfinished.status})"
        if state.name == "configuring" and any("DOWN" in line for line in state.facts):
            why += " and production is down"
        instead = "qrdr resume to finish it" + (", or qrdr resume --rollback to undo it"
                                                 if unfinished.command in CONFIGURE_COMMANDS else "")
        found.append(Refusal(why + "; a new run would leave it behind", instead, "unfinished-run"))
    if state.name in ("promoted", "promoting"):
        if command in CONFIGURE_COMMANDS:
            found.append(Refusal("the site has failed over: the standby holds production's name and serves mail; "
                                 "configuring would rename it and stop its Exchange services",
                                 "clean up first (qrdr cleanup --scope source, then --scope recovery), then configure"))
        if command == "create-qr-volumes":
            found.append(Refusal("the site has failed over: Quick Recovery would copy the failed production server "
                                 "onto the server that now serves mail", "clean up and configure again first"))
        if command == "cleanup" and scope == "recovery":
            found.append(Refusal("the recovery server holds production's name and is the server that serves mail: "
                                 "its cleanup uninstalls Exchange from it and gives the name back",
                                 "nothing while it is to serve mail; when you return to the source server, "
                                 "this cleanup with the override, then qrdr cleanup --scope source",
                                 "promoted-standby"))
        if command == "cleanup" and scope == "source":
            found.append(Refusal("the standby still holds production's name: the source server's cleanup joins the "
                                 "domain under that name and would take the live server's computer account",
                                 "clean up the recovery server first (qrdr cleanup --scope recovery --override "
                                 "promoted-standby), which gives the name back"))
    if command == "cleanup" and scope == "source" and not state.failed_over:
        found.append(Refusal("no finished promote in this site's journal shows that the source server is out of "
                             "service: its cleanup uninstalls Exchange from the server production runs on",
                             "qrdr status (and qrdr promote first, when production has failed)", "source-in-service"))
    return found


def refusal(state: SiteState, command: str, scope: str = "recovery", overrides: frozenset[str] = frozenset()
            ) -> Refusal | None:
    """The first reason ``command`` must not run now that ``overrides`` do not lift (None: it may run)."""
    return next((r for r in refusals(state, command, scope) if r.override is None or r.override not in overrides),
                None)
