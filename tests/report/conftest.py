"""A journal with a whole little story in it, built with the engine on in-process steps (no
servers): a promote that fails at a step, is resumed, waits for a manual step, and is resumed
again with the person's confirmation, across three hosts, with both measured windows."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import attrs
import pytest

from qrdr.api import COMMANDS
from qrdr.config import load_site
from qrdr.engine.journal import Journal
from qrdr.hookspecs import hookimpl
from qrdr.model import SecretRef
from qrdr.secrets import resolve
from qrdr.steps import PRODUCTION_OUTAGE, RESTART, SETUP, Check, Step, manual_step

from ..addon_engine import AddonEngine
from ..cli.conftest import bare_site  # noqa: F401 - the example site in a directory of its own

SECRET_ENV = "QRDR_REPORTTEST_TOKEN"
SECRET = "tok-REPORT-5e3cr3t"
#: The waits the story's steps note: an installer inside production's outage, a restart after it.
STORY_SETUP_SECONDS, STORY_RESTART_SECONDS = 0.05, 0.03
#: How old the recovery point is that the story's readiness check finds.
STORY_RECOVERY_POINT_AGE_SECONDS = 600


class Story:
    """Promote steps on three hosts. ``attach`` fails until ``standby_answers``; ``safe-mode`` is a
    manual step, needed until ``safe_mode_done``; ``ticket`` never needs to change anything."""

    def __init__(self):
        self.applied: set[str] = set()
        self.standby_answers = False
        self.safe_mode_done = False

    def _check(self, step_id: str):
        return lambda ctx: Check.no_change() if step_id in self.applied else Check.will_change(f"do {step_id}")

    def _apply(self, step_id: str, evidence=None, wait: tuple[str, float] | None = None):
        """Applies ``step_id``; with ``wait`` (kind, seconds) it first waits that long and notes it,
        as a restart or an installer run would."""
        def apply(ctx):
            if wait is not None:
                time.sleep(wait[1])
                ctx.waited(*wait)
            self.applied.add(step_id)
            return evidence
        return apply

    def _attach(self, ctx):
        token = resolve(SecretRef(env=SECRET_ENV), "report test token")
        if not self.standby_answers:
            raise RuntimeError(f"the standby refused the login with token {token} <b>bold</b>")
        self.applied.add("t.attach")
        return {"token": token, "note": "<script>alert(1)</script>"}

    @hookimpl
    def qrdr_preflight(self, phase):
        """The readiness check a snap plugin makes: the recovery point, 10 minutes before the run."""
        if phase != "promote":
            return []
        point = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=STORY_RECOVERY_POINT_AGE_SECONDS)
        return [Step(id="t.last-update-complete", title="last QR update complete", target="commserve",
                     check=lambda ctx: Check.no_change(f"recovery point {point:%H:%M} UTC",
                                                       recovery_point=point.isoformat(), age_hours=0.17),
                     apply=lambda ctx: None)]

    @hookimpl
    def qrdr_promote_standby(self):
        return [
            Step(id="t.stop-production", title="production stopped", target="production", destructive=True,
                 check=self._check("t.stop-production"), apply=self._apply("t.stop-production", {"stopped": 4}),
                 opens_window=PRODUCTION_OUTAGE),
            Step(id="t.attach", title="volumes attached", target="standby", after=("t.stop-production",),
                 check=self._check("t.attach"), apply=self._attach),
            manual_step(id="t.safe-mode", title="services disabled in safe mode", target="standby",
                        after=("t.attach",), instructions="boot into safe mode and disable the services",
                        # The services read as running until the person says they are done (safe mode
                        # has no network); then the verify finds them disabled.
                        check=lambda ctx: Check.will_change("services still enabled"),
                        verify=lambda ctx: Check.no_change() if self.safe_mode_done else Check.will_change("on")),
            Step(id="t.ticket", title="change ticket noted", target="local", after=("t.safe-mode",),
                 check=lambda ctx: Check.no_change("noted already"), apply=lambda ctx: None),
            Step(id="t.start-production", title="production's services started", target="production",
                 after=("t.ticket",), check=self._check("t.start-production"),
                 apply=self._apply("t.start-production", wait=(SETUP, STORY_SETUP_SECONDS)),
                 closes_window=PRODUCTION_OUTAGE),
            Step(id="t.mail", title="mail flows", target="standby", after=("t.start-production",),
                 check=self._check("t.mail"), apply=self._apply("t.mail", wait=(RESTART, STORY_RESTART_SECONDS)),
                 closes_window="mail flowing"),
        ]


@attrs.frozen
class Journaled:
    site: object
    journal: Path
    run_id: int
    #: The digest of the plan the first run was approved with (planned just before it).
    plan_digest: str = ""


@pytest.fixture
def story_site(bare_site, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return load_site(bare_site)


@pytest.fixture
def journaled_story(story_site) -> Journaled:
    """Run 1 (promote): failed at t.attach, resumed, waiting at t.safe-mode, resumed with --done: succeeded."""
    story = Story()
    engine = AddonEngine(story_site, ("story", story)).engine
    phases = list(COMMANDS["promote"])
    shown = engine.plan("promote", phases)
    first = engine.run("promote", phases, yes=True)
    assert first.status == "failed", first.message
    story.standby_answers = True
    second = engine.resume(yes=True)
    assert second.status == "waiting", second.message
    story.safe_mode_done = True  # the person did it
    third = engine.resume(yes=True, done=["t.safe-mode"])
    assert third.status == "succeeded", third.message
    return Journaled(story_site, engine.journal_path, first.run_id, shown.digest)


def journal_rows(path: Path, run_id: int) -> tuple:
    """The journal as `qrdr history --run` reads it: the run, its steps, its events."""
    journal = Journal(path)
    try:
        return journal.run(run_id), journal.steps(run_id), journal.events(run_id)
    finally:
        journal.close()
