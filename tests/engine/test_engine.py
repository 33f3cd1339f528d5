"""The engine on local steps: plan, confirm, stop at the first failure, resume, lock, rollback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest

from qrdr.engine.journal import Journal
from qrdr.engine.runner import Engine
from qrdr.pluginmanager import make_plugin_manager
from qrdr.engine.lock import SiteLock
from qrdr.errors import NotConfirmed, PluginError, Refused, RunLocked
from qrdr.steps import Check, Step

from .conftest import example_site, make_engine
from .world import WorldPlugin, world_step

REPO = Path(__file__).resolve().parents[2]


def journal_of(engine) -> Journal:
    return Journal(engine.journal_path)


class _closing:
    def __init__(self, journal):
        self.journal = journal

    def __enter__(self):
        return self.journal

    def __exit__(self, *exc):
        self.journal.close()


def test_plan_shows_each_step_outcome_and_changes_nothing(tmp_path, world):
    world.write("a", 1)
    later = Step(id="s3", title="after rename", target="standby", after=("s2",),
                 check=lambda ctx: Check.depends("the standby is renamed by s2"), apply=lambda ctx: None)
    engine = make_engine(tmp_path, WorldPlugin({"promote": [
        world_step(world, "s1", "a", 1), world_step(world, "s2", "b", 2, destructive=True, after=["s1"]), later]}))
    plan = engine.plan("promote", ["promote"])
    assert [(p.step.id, p.status) for p in plan.steps] == [
        ("s1", "no change"), ("s2", "will change"), ("s3", "depends on an earlier step")]
    assert plan.steps[1].lines == ("b: None -> 2",)
    assert [s.id for s in plan.destructive] == ["s2"]
    assert world.read() == {"a": 1}
    assert world.applies() == []


def leave_and_join(world, **join_options):
    """Take the host out of the domain, then put it back: the join's check reads what the leave changes."""
    leave = world_step(world, "leave", "member", False, destructive=True)
    join = world_step(world, "join", "member", True, destructive=True, after=["leave"], rechecked_after=("leave",),
                      **join_options)
    return [leave, join]


def test_no_change_before_an_earlier_step_that_will_change_depends_on_it(tmp_path, world):
    # On a member of the domain the join finds nothing to do, but the leave before it will take the
    # host out: the plan says so, counts the join and names it among the destructive steps.
    world.write("member", True)
    engine = make_engine(tmp_path, WorldPlugin({"promote": leave_and_join(world)}))
    plan = engine.plan("promote", ["promote"])
    assert [(p.step.id, p.status) for p in plan.steps] == [("leave", "will change"), ("join", "depends on an earlier step")]
    assert plan.steps[1].lines == ("checked after leave (set member to False)", "now: member is already True")
    assert [s.id for s in plan.destructive] == ["leave", "join"]
    # At run time the join is checked again once the leave has run, and is applied.
    result = engine.run("promote", ["promote"], yes=True)
    assert [(r.step_id, r.status) for r in result.steps] == [("leave", "done"), ("join", "done")]
    assert world.read() == {"member": True}
    assert world.applies() == ["leave", "join"]


def test_no_change_stands_when_the_earlier_step_changes_nothing(tmp_path, world):
    world.write("name", "EXCH02")
    world.write("member", True)
    rename = world_step(world, "rename", "name", "EXCH02", destructive=True)
    join = world_step(world, "join", "member", True, destructive=True, after=["rename"], rechecked_after=("rename",))
    engine = make_engine(tmp_path, WorldPlugin({"promote": [rename, join]}))
    plan = engine.plan("promote", ["promote"])
    assert [(p.step.id, p.status) for p in plan.steps] == [("rename", "no change"), ("join", "no change")]
    assert plan.steps[1].lines == ("member is already True",)
    assert plan.destructive == [] and not plan.will_change


def test_a_step_that_depends_makes_the_steps_checked_after_it_depend(tmp_path, world):
    # The leave's own check cannot judge yet: what it may change, the join's "no change" may not see.
    world.write("member", True)
    leave = Step(id="leave", title="leave the domain", target="standby", destructive=True,
                 check=lambda ctx: Check.depends("judged once the stores are gone"), apply=lambda ctx: None)
    join = world_step(world, "join", "member", True, after=["leave"], rechecked_after=("leave",))
    plan = make_engine(tmp_path, WorldPlugin({"promote": [leave, join]})).plan("promote", ["promote"])
    assert plan.steps[1].status == "depends on an earlier step"
    assert plan.steps[1].lines[0] == "checked after leave (leave the domain)"


def test_rechecked_after_a_later_step_is_refused_and_a_step_outside_the_run_ignored(tmp_path, world):
    world.write("member", True)
    outside = world_step(world, "join", "member", True, rechecked_after=("configure.leave",))
    plan = make_engine(tmp_path, WorldPlugin({"promote": [outside]})).plan("promote", ["promote"])
    assert plan.steps[0].status == "no change"
    backwards = [world_step(world, "join", "member", True, rechecked_after=("leave",)),
                 world_step(world, "leave", "member", False, after=["join"])]
    with pytest.raises(PluginError, match="'join' .* is re-checked after 'leave', which does not run before it"):
        make_engine(tmp_path, WorldPlugin({"promote": backwards})).plan("promote", ["promote"])


def test_resume_plans_a_no_change_after_a_pending_step_as_depending_on_it(tmp_path, world):
    world.write("member", True)
    broken = world_step(world, "broken", "x", 1, fail_apply=True)
    steps = {"promote": [broken, *leave_and_join(world)]}
    steps["promote"][1] = attrs.evolve(steps["promote"][1], after=("broken",))
    assert make_engine(tmp_path, WorldPlugin(steps)).run("promote", ["promote"], yes=True).status == "failed"
    steps["promote"][0] = world_step(world, "broken", "x", 1)
    plans = []
    resumed = make_engine(tmp_path, WorldPlugin(steps), confirm=lambda plan: plans.append(plan) or True).resume()
    assert [(p.step.id, p.status) for p in plans[0].steps] == [
        ("broken", "will change"), ("leave", "will change"), ("join", "depends on an earlier step")]
    assert resumed.status == "succeeded" and world.read() == {"member": True, "x": 1}


def test_run_asks_and_changes_nothing_when_not_confirmed(tmp_path, world):
    seen = []
    engine = make_engine(tmp_path, WorldPlugin({"promote": [world_step(world, "s1", "a", 1)]}),
                         confirm=lambda plan: seen.append(plan) or False)
    with pytest.raises(NotConfirmed):
        engine.run("promote", ["promote"])
    assert len(seen) == 1 and seen[0].steps[0].status == "will change"
    assert world.read() == {}
    with _closing(journal_of(engine)) as journal:
        assert journal.runs()[0].status == "not confirmed"


def test_without_a_way_to_ask_the_run_is_refused_unless_yes(tmp_path, world):
    engine = make_engine(tmp_path, WorldPlugin({"promote": [world_step(world, "s1", "a", 1)]}))
    with pytest.raises(NotConfirmed):
        engine.run("promote", ["promote"])
    result = engine.run("promote", ["promote"], yes=True)
    assert result.status == "succeeded"
    assert world.read() == {"a": 1}


def test_confirmed_run_applies_verifies_and_journals(tmp_path, world):
    engine = make_engine(tmp_path, WorldPlugin({"promote": [
        world_step(world, "s1", "a", 1), world_step(world, "s2", "b", 2, after=["s1"])]}), confirm=lambda plan: True)
    result = engine.run("promote", ["promote"])
    assert [(r.step_id, r.status) for r in result.steps] == [("s1", "done"), ("s2", "done")]
    with _closing(journal_of(engine)) as journal:
        steps = journal.steps(result.run_id)
        assert [(s.step_id, s.state, s.apply_count) for s in steps] == [("s1", "done", 1), ("s2", "done", 1)]
        assert steps[0].evidence == {"key": "a", "value": 1}
        assert steps[0].changes == ["a: None -> 1"]
    # A second run finds nothing to do and applies nothing.
    again = engine.run("promote", ["promote"])
    assert [r.status for r in again.steps] == ["no change", "no change"]
    assert world.applies() == ["s1", "s2"]


def test_stops_at_the_first_failure_with_step_host_and_reason(tmp_path, world):
    engine = make_engine(tmp_path, WorldPlugin({"promote": [
        world_step(world, "s1", "a", 1),
        world_step(world, "s2", "b", 2, after=["s1"], fail_apply=True),
        world_step(world, "s3", "c", 3, after=["s2"])]}))
    result = engine.run("promote", ["promote"], yes=True)
    assert result.status == "failed"
    assert "step s2 on production failed: apply failed: cannot set b" in result.message
    assert [r.step_id for r in result.steps] == ["s1", "s2"]
    assert "c" not in world.read()
    with _closing(journal_of(engine)) as journal:
        assert [s.state for s in journal.steps(result.run_id)] == ["done", "failed", "pending"]


def test_a_step_not_as_expected_after_apply_fails_the_run(tmp_path, world):
    engine = make_engine(tmp_path, WorldPlugin({"promote": [world_step(world, "s1", "a", 1, verify_wrong=True)]}))
    result = engine.run("promote", ["promote"], yes=True)
    assert result.status == "failed"
    assert "not as expected after applying" in result.message


def test_blocked_probe_refuses_before_anything_changes(tmp_path, world):
    probe = world_step(world, "qr.update-finished", "qr", "done", block=True)
    engine = make_engine(tmp_path, WorldPlugin({"promote": [world_step(world, "s1", "a", 1)]}, probes=[probe]))
    with pytest.raises(Refused) as refused:
        engine.run("promote", ["promote"], yes=True)
    assert "qr.update-finished (production): qr is not as expected" in str(refused.value)
    assert world.read() == {} and world.applies() == []


def test_a_check_that_cannot_run_refuses_the_run(tmp_path, world):
    def unreachable(ctx):
        raise ConnectionError("EXCH02 did not answer on https://10.0.0.22:5986/wsman")

    step = Step(id="s1", title="t", target="standby", check=unreachable, apply=lambda ctx: None)
    engine = make_engine(tmp_path, WorldPlugin({"promote": [step, world_step(world, "s2", "b", 2)]}))
    plan = engine.plan("promote", ["promote"])
    assert plan.steps[0].status == "cannot check"
    with pytest.raises(Refused, match="EXCH02 did not answer"):
        engine.run("promote", ["promote"], yes=True)
    assert world.applies() == []


def test_duplicate_step_ids_name_both_plugins(tmp_path, world):
    from qrdr.engine.runner import Engine
    from qrdr.pluginmanager import make_plugin_manager
    from .conftest import example_site

    one = WorldPlugin({"promote": [world_step(world, "same", "a", 1)]})
    two = WorldPlugin({"promote": [world_step(world, "same", "b", 1)]})
    manager, _ = make_plugin_manager(exchange=None, snap=None, extra_objects=[("first", one), ("second", two)])
    engine = Engine(example_site(tmp_path), manager, plugin_names=[], plugin_config={})
    with pytest.raises(PluginError) as error:
        engine.plan("promote", ["promote"])
    assert "'same'" in str(error.value) and "'first'" in str(error.value) and "'second'" in str(error.value)


def test_order_is_explicit_not_registration_order(tmp_path, world):
    steps = [world_step(world, "z-first", "a", 1), world_step(world, "a-last", "b", 1, after=["m-middle"]),
             world_step(world, "m-middle", "c", 1, after=["z-first"])]
    engine = make_engine(tmp_path, WorldPlugin({"promote": steps}))
    assert [p.step.id for p in engine.plan("promote", ["promote"]).steps] == ["z-first", "m-middle", "a-last"]
    bad = make_engine(tmp_path, WorldPlugin({"promote": [world_step(world, "x", "a", 1, after=["nope"])]}))
    with pytest.raises(PluginError, match="runs after 'nope', which is not a step of promote"):
        bad.plan("promote", ["promote"])


def test_second_run_is_refused_naming_the_first(tmp_path, world):
    engine = make_engine(tmp_path, WorldPlugin({"promote": [world_step(world, "s1", "a", 1)]}))
    holder = SiteLock(tmp_path, "contoso")
    holder.acquire("configure")
    holder.set_holder(command="configure", run_id=7)
    try:
        with pytest.raises(RunLocked) as locked:
            engine.run("promote", ["promote"], yes=True)
        assert f"run 7 (configure) by pid {os.getpid()}" in str(locked.value)
    finally:
        holder.release()
    assert engine.run("promote", ["promote"], yes=True).status == "succeeded"


def test_lock_held_by_another_process_is_released_when_it_is_killed(tmp_path):
    code = ("import sys, time; from qrdr.engine.lock import SiteLock; "
            "l = SiteLock(sys.argv[1], 'contoso'); l.acquire('promote'); print('locked', flush=True); time.sleep(60)")
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "locked"
        mine = SiteLock(tmp_path, "contoso")
        with pytest.raises(RunLocked, match=f"pid {child.pid}"):
            mine.acquire("promote")
        child.kill()
        child.wait()
        mine.acquire("promote")
        mine.release()
    finally:
        child.kill()


def _run_world(tmp_path, world, kill_mode, action, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "tests.engine.run_world", str(tmp_path / "state"), str(world.path),
                           kill_mode, action], cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("kill_mode", ["before-write", "after-write"])
def test_resume_after_the_process_is_killed_mid_apply(tmp_path, world, kill_mode):
    killed = _run_world(tmp_path, world, kill_mode, "run")
    assert killed.returncode == -signal.SIGKILL
    assert world.applies() == ["s1", "s2", "s3"]
    journal = Journal(tmp_path / "state" / "contoso.journal.sqlite")
    run = journal.runs()[0]
    assert run.status == "running"  # the process died: the journal still says so
    assert [s.state for s in journal.steps(run.id)] == ["done", "done", "applying", "pending"]
    journal.close()

    resumed = _run_world(tmp_path, world, kill_mode, "resume", {"WORLD_NO_KILL": "1"})
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.strip() == "succeeded"
    assert world.read() == {"a": 1, "b": 2, "c": 3, "d": 4}
    applies = world.applies()
    # s2 is not idempotent and completed before the kill: never applied again.
    assert applies.count("s1") == 1 and applies.count("s2") == 1
    # s3 was interrupted while applying: re-checked, applied again only if its change had not happened.
    assert applies.count("s3") == (2 if kill_mode == "before-write" else 1)
    journal = Journal(tmp_path / "state" / "contoso.journal.sqlite")
    assert [s.state for s in journal.steps(run.id)] == ["done", "done", "done" if kill_mode == "before-write" else "no change", "done"]
    assert journal.run(run.id).status == "succeeded"
    journal.close()


def test_ctrl_c_stops_between_steps_and_resume_finishes(tmp_path, world):
    code = (
        "import sys; from pathlib import Path; from tests.engine.conftest import make_engine;"
        "from tests.engine.world import World, WorldPlugin, world_step;"
        "w = World(Path(sys.argv[2]));"
        "p = WorldPlugin({'promote': [world_step(w, 's1', 'a', 1, sleep=float(sys.argv[3])),"
        " world_step(w, 's2', 'b', 2, after=['s1'])]});"
        "r = make_engine(Path(sys.argv[1]), p).run('promote', ['promote'], yes=True) if sys.argv[4] == 'run' "
        "else make_engine(Path(sys.argv[1]), p).resume(yes=True);"
        "print(r.status, flush=True)"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "state"), str(world.path), "3", "run"],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while "s1" not in world.applies() and time.monotonic() < deadline:
        time.sleep(0.05)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=30)
    assert out.strip() == "interrupted", err
    assert world.read() == {"a": 1}  # s1 finished, s2 never started
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "state"), str(world.path), "0", "resume"],
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "succeeded", done.stderr
    assert world.read() == {"a": 1, "b": 2}
    assert world.applies() == ["s1", "s2"]


def test_resume_of_a_source_cleanup_continues_the_source_cleanup(tmp_path, world):
    """The journal keeps cleanup's scope: resuming a stopped source cleanup rebuilds the source steps,
    never the recovery server's."""
    steps = {"cleanup-source": [world_step(world, "src-1", "a", 1), world_step(world, "src-2", "b", 2, after=["src-1"],
                                                                               fail_apply=True)],
             "cleanup-recovery": [world_step(world, "rec-1", "r", 1)]}
    first = make_engine(tmp_path, WorldPlugin(steps)).run("cleanup", ["cleanup"], yes=True, cleanup_scope="source",
                                                         overrides=["source-in-service"])
    assert first.status == "failed"
    steps["cleanup-source"][1] = world_step(world, "src-2", "b", 2, after=["src-1"])
    resumed = make_engine(tmp_path, WorldPlugin(steps)).resume(yes=True)
    assert resumed.status == "succeeded"
    assert world.read() == {"a": 1, "b": 2}
    assert "rec-1" not in world.applies()


def test_failure_undoes_completed_steps_when_the_command_asks(tmp_path, world):
    engine = make_engine(tmp_path, WorldPlugin({"prepare-production": [
        world_step(world, "rename", "name", "EXCH01-temp", undo_key="name"),
        world_step(world, "services", "services", "stopped", after=["rename"], undo_key="services"),
        world_step(world, "broken", "x", 1, after=["services"], fail_apply=True)]}))
    result = engine.run("configure", ["prepare-production"], yes=True, rollback=True)
    assert result.status == "failed"
    assert result.undone == ("services", "rename")
    assert world.read() == {"name": "undone", "services": "undone"}


def test_the_undo_of_the_step_that_took_production_down_ends_its_outage(tmp_path, world):
    """A configure that fails with production down and undoes the step that took it down: the
    outage window ends with that undo, so the status says production is back (not DOWN) and the
    window measures the outage that really was."""
    from qrdr.engine.sitestate import read_state
    from qrdr.steps import PRODUCTION_OUTAGE

    engine = make_engine(tmp_path, WorldPlugin({"prepare-production": [
        world_step(world, "services", "services", "stopped", undo_key="services", opens_window=PRODUCTION_OUTAGE),
        world_step(world, "grant", "grant", "done", after=["services"]),  # done, and has no undo
        world_step(world, "broken", "x", 1, after=["grant"], sleep=0.1, fail_apply=True)]}))
    failed = engine.run("configure", ["prepare-production"], yes=True, rollback=True)
    assert failed.status == "failed" and failed.undone == ("services",)
    assert 0.1 <= failed.windows[PRODUCTION_OUTAGE] < 10
    journal = Journal(next(tmp_path.rglob("*.journal.sqlite")))
    try:
        state = read_state(journal, "contoso")
    finally:
        journal.close()
    assert state.name == "configuring"  # the grant stands: the run is not as if it never was
    assert not any("DOWN" in line for line in state.facts), state.facts
    assert any(line.startswith("production was down from ") and " is back since " in line for line in state.facts)
    assert "undone after its failure: services" in state.facts
    assert "qrdr resume" in state.next_command and "qrdr resume --rollback" in state.next_command


def test_an_undo_that_fails_stops_the_rollback_there_and_a_rollback_resumes_at_it(tmp_path, world):
    """Each undo presumes the newer ones are undone (production takes its name back only once the
    standby has given it up): the first that fails stops the rollback, the older steps are left as
    they are, and ``qrdr resume --rollback`` starts again at the one that failed."""
    host_answers = {"services": False}

    def undo_services(ctx):
        if not host_answers["services"]:
            raise ConnectionError("production did not answer")
        world.write("services", "undone")

    steps = [world_step(world, "rename", "name", "EXCH01-temp", undo_key="name"),
             attrs.evolve(world_step(world, "services", "services", "stopped", after=["rename"]), undo=undo_services),
             world_step(world, "standby", "standby", "EXCH01", after=["services"], undo_key="standby"),
             world_step(world, "broken", "x", 1, after=["standby"], fail_apply=True)]
    engine = make_engine(tmp_path, WorldPlugin({"prepare-production": steps}))
    failed = engine.run("configure", ["prepare-production"], yes=True, rollback=True)
    assert failed.status == "failed" and failed.undone == ("standby",)
    assert world.read() == {"name": "EXCH01-temp", "services": "stopped", "standby": "undone"}
    assert ("undo of services failed (see the events), so the rollback stopped there after undoing standby; "
            "not undone yet: rename; `qrdr resume --rollback` starts again at services") in failed.message, failed.message

    still = make_engine(tmp_path, WorldPlugin({"prepare-production": steps})).rollback(yes=True)
    assert still.status == "failed" and still.undone == () and world.read()["name"] == "EXCH01-temp"
    assert "`qrdr resume --rollback` starts again at services" in still.message, still.message

    host_answers["services"] = True
    rolled_back = make_engine(tmp_path, WorldPlugin({"prepare-production": steps})).rollback(yes=True)
    assert rolled_back.status == "rolled back" and rolled_back.undone == ("services", "rename"), rolled_back.message
    assert world.read() == {"name": "undone", "services": "undone", "standby": "undone"}


def test_windows_are_measured_from_opening_to_closing_step(tmp_path, world):
    engine = make_engine(tmp_path, WorldPlugin({"promote": [
        world_step(world, "s1", "a", 1, opens_window="outage"),
        world_step(world, "s2", "b", 2, after=["s1"], sleep=0.2),
        world_step(world, "s3", "c", 3, after=["s2"], closes_window="outage")]}))
    result = engine.run("promote", ["promote"], yes=True)
    assert 0.2 <= result.windows["outage"] < 10


@pytest.mark.parametrize("name", ["../../../tmp/escaped", "a\x00b", "", "site/other", ".."])
def test_a_site_name_that_is_not_a_plain_name_is_refused_before_any_file_is_made(tmp_path, world, name):
    """Automation may build a Site without the config loader: the engine checks the name it makes files of."""
    from qrdr.errors import ConfigError

    site = attrs.evolve(example_site(tmp_path / "state"), name=name)
    manager, _ = make_plugin_manager(exchange=None, snap=None, extra_objects=[("world", WorldPlugin({}))])
    with pytest.raises(ConfigError) as refused:
        Engine(site, manager, plugin_names=["addon:world"], plugin_config={})
    assert refused.value.problems[0][0] == "name"
    assert not (tmp_path / "state").exists() and not list(tmp_path.rglob("*.journal.sqlite"))


def test_a_failed_step_that_is_not_idempotent_is_applied_again_only_when_a_person_asks(tmp_path, world):
    """A non-idempotent step that failed after its apply began may have taken effect unseen: its
    failure names ``qrdr resume --retry STEP``, and a resume without it fails the step again; with it, and only for such a step,
    the step is applied once more and the journal says who asked."""
    def plugin(failing: bool) -> WorldPlugin:
        return WorldPlugin({"promote": [world_step(world, "s1", "a", 1),
                                        world_step(world, "s2", "b", 2, idempotent=False, fail_apply=failing,
                                                   after=["s1"])]})

    state = tmp_path / "state"
    failed = make_engine(state, plugin(failing=True)).run("promote", ["promote"], yes=True)
    # the failure itself names the way on, so that nobody has to run a resume only to be told
    assert failed.status == "failed" and "`qrdr resume --retry s2`" in failed.message, failed.message
    fixed = make_engine(state, plugin(failing=False))
    again = fixed.resume(yes=True)
    assert again.status == "failed" and "`qrdr resume --retry s2`" in again.message, again.message
    assert world.applies().count("s2") == 1  # not applied again by itself
    for wrong, why in (("s1", "not a failed step that is not idempotent"), ("s9", "no such step in this run")):
        with pytest.raises(Refused) as refused:
            fixed.resume(yes=True, retry=[wrong])
        assert any(f"--retry {wrong}: {why}" in reason for reason in refused.value.reasons), refused.value
    assert world.applies().count("s2") == 1  # the refusals changed nothing

    retried = fixed.resume(yes=True, retry=["s2"])
    assert retried.status == "succeeded", retried.message
    assert world.read() == {"a": 1, "b": 2} and world.applies().count("s2") == 2
    journal = Journal(state / "contoso.journal.sqlite")
    try:
        (event,) = [e for e in journal.events(retried.run_id) if e["kind"] == "retry"]
        assert event["step_id"] == "s2" and "checked the host and asked for it (--retry s2)" in event["message"]
    finally:
        journal.close()
