"""Ctrl-C while a run is being planned (a check waiting on a host that does not answer: the
KeyboardInterrupt lands inside urllib3) ends the run as "interrupted while planning": exit 6
through the CLI, nothing changed, and that run neither asks to be resumed nor hides one that does."""

from __future__ import annotations

import pytest

from qrdr.engine.journal import Journal
from qrdr.errors import Interrupted, NothingToResume
from qrdr.steps import Check, Step

from .conftest import make_engine
from .world import WorldPlugin, world_step


def ctrl_c_in_check(step_id: str) -> Step:
    def check(ctx):
        raise KeyboardInterrupt  # as signal.default_int_handler raises it in a blocked socket call

    return Step(id=step_id, title="waits for a host", target="standby", check=check, apply=lambda ctx: None)


def test_ctrl_c_while_planning_journals_the_run_and_changes_nothing(tmp_path, world):
    engine = make_engine(tmp_path, WorldPlugin({"promote": [world_step(world, "w.one", "a", 1),
                                                            ctrl_c_in_check("w.waits")]}))
    with pytest.raises(Interrupted, match=r"promote interrupted \(Ctrl-C\) while planning \(run 1\): nothing was "
                                          r"changed"):
        engine.run("promote", ["promote"], yes=True)
    assert world.applies() == []
    journal = Journal(engine.journal_path)
    try:
        run = journal.run(1)
        assert (run.status, run.message) == ("interrupted while planning", "Ctrl-C while planning: nothing was changed")
        assert journal.last_unfinished_run() is None
    finally:
        journal.close()
    with pytest.raises(NothingToResume):
        engine.resume(yes=True)
    assert engine.state().name == "unknown"
    assert not engine.lock.holder(), "the run's lock was released"


def test_it_does_not_hide_a_run_that_is_unfinished(tmp_path, world):
    failing = WorldPlugin({"promote": [world_step(world, "w.one", "a", 1),
                                       world_step(world, "w.two", "b", 2, fail_apply=True)]})
    engine = make_engine(tmp_path, failing)
    assert engine.run("promote", ["promote"], yes=True).status == "failed"
    interrupted = make_engine(tmp_path, WorldPlugin({"promote": [ctrl_c_in_check("w.waits")]}))
    with pytest.raises(Interrupted):
        interrupted.run("promote", ["promote"], yes=True, overrides=["unfinished-run"])
    journal = Journal(engine.journal_path)
    try:
        assert journal.last_unfinished_run().id == 1
    finally:
        journal.close()


def test_ctrl_c_while_planning_a_resume_leaves_the_run_as_it_was(tmp_path, world):
    steps = [world_step(world, "w.one", "a", 1), world_step(world, "w.two", "b", 2, fail_apply=True)]
    assert make_engine(tmp_path, WorldPlugin({"promote": steps})).run("promote", ["promote"], yes=True).status \
        == "failed"
    resumed = make_engine(tmp_path, WorldPlugin({"promote": [steps[0], ctrl_c_in_check("w.two")]}))
    with pytest.raises(Interrupted, match="resume of run 1 interrupted .* the run is still failed"):
        resumed.resume(yes=True)
    journal = Journal(resumed.journal_path)
    try:
        assert journal.run(1).status == "failed"
        assert journal.events(1)[-1]["kind"] == "not resumed"
    finally:
        journal.close()


class DirectoryThatHangs:
    """A connector whose site lock is interrupted by Ctrl-C while it connects."""

    def site_lock(self):
        raise KeyboardInterrupt

    def host(self, key):
        raise AssertionError("nothing is planned before the locks are taken")

    def directory(self):
        raise AssertionError("nothing is planned before the locks are taken")

    def close(self):
        pass


def test_ctrl_c_while_taking_the_site_lock_gives_the_local_lock_back(tmp_path, world):
    engine = make_engine(tmp_path, WorldPlugin({"promote": [world_step(world, "w.one", "a", 1)]}))
    engine.connector = DirectoryThatHangs()
    engine.locks = type(engine.locks)(engine.lock, engine.connector, engine.reporter)
    with pytest.raises(KeyboardInterrupt):
        engine.run("promote", ["promote"], yes=True)
    engine.lock.acquire("promote")  # would raise RunLocked if the interrupted run still held it
    engine.lock.release()


def test_a_bug_in_a_step_names_its_plugin_and_keeps_the_traceback_in_the_journal(tmp_path, world):
    def apply(ctx):
        return {}["missing"]

    buggy = Step(id="w.buggy", title="a buggy step", target="standby", apply=apply,
                 check=lambda ctx: Check.will_change("do it"))
    engine = make_engine(tmp_path, WorldPlugin({"promote": [buggy]}))
    result = engine.run("promote", ["promote"], yes=True)
    assert result.status == "failed"
    assert result.steps[0].error == ("apply failed: 'missing' (KeyError in plugin 'world'; its traceback is in the "
                                     "journal: qrdr history --run 1)")
    journal = Journal(engine.journal_path)
    try:
        traces = [e for e in journal.events(1) if e["kind"] == "traceback"]
    finally:
        journal.close()
    assert len(traces) == 1 and traces[0]["step_id"] == "w.buggy"
    assert "Traceback" in traces[0]["message"] and 'return {}["missing"]' in traces[0]["message"]
