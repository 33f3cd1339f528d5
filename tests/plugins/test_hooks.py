"""Each hook of qrdr.hookspecs, implemented by a test plugin and held to its docstring contract."""

from __future__ import annotations

import shutil
from pathlib import Path

import attrs
import pytest

from qrdr.api import Runbook
from qrdr.config import load_site
from qrdr.engine.context import NoConnector
from qrdr.engine.runner import StepResult
from qrdr.errors import ConfigError, QrdrError, SiteNotSupported
from qrdr.hookspecs import CONFIGURE_PHASES, PHASE_HOOKS, hookimpl
from qrdr.pluginmanager import ConfigSection
from qrdr.steps import Check, Step

from ..addon_engine import AddonEngine

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"


def site_file(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "site.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8") + "\n" + extra, encoding="utf-8")
    shutil.copy(EXAMPLE.with_name("contoso-ca.pem"), tmp_path)  # the CA file its relative ca_file names
    return config


def runbook(config: Path, *plugins) -> Runbook:
    """With the built-in plugins too: their steps are in every plan (filter by ``step.plugin``)."""
    return Runbook(load_site(config), extra_plugins=list(plugins), connector=NoConnector())


def only(plan, plugin: str) -> list:
    return [p for p in plan.steps if p.step.plugin == plugin]


class Recorder:
    """Implements every phase hook: one step per phase, and a record of each call's arguments."""

    def __init__(self):
        self.calls: list[tuple[str, dict]] = []
        self.applied: list[str] = []

    def _step(self, phase: str) -> Step:
        state = {"done": False}

        def check(ctx):
            return Check.no_change("done") if state["done"] else Check.will_change(f"do {phase}")

        def apply(ctx):
            state["done"] = True
            self.applied.append(phase)
            return {"phase": phase}

        return Step(id=f"rec.{phase}", title=f"{phase} step", target="standby", check=check, apply=apply)

    @hookimpl
    def qrdr_prepare_production(self, site, plugin_config):
        self.calls.append(("prepare-production", {"site": site.name}))
        return [self._step("prepare-production")]

    @hookimpl
    def qrdr_install_dr_mode(self, site, plugin_config):
        self.calls.append(("install-dr", {"site": site.name}))
        return [self._step("install-dr")]

    @hookimpl
    def qrdr_grant_ad_acls(self, site, plugin_config):
        self.calls.append(("grant-acls", {"site": site.name}))
        return [self._step("grant-acls")]

    @hookimpl
    def qrdr_finish_configuration(self, site):
        self.calls.append(("finish-configuration", {"site": site.name}))
        return [self._step("finish-configuration")]

    @hookimpl
    def qrdr_create_qr_volumes(self, site, plugin_config):
        self.calls.append(("create-qr-volumes", {"site": site.name}))
        return [self._step("create-qr-volumes")]

    @hookimpl
    def qrdr_promote_standby(self, site, plugin_config):
        self.calls.append(("promote", {"site": site.name}))
        return [self._step("promote")]

    @hookimpl
    def qrdr_cleanup(self, site, plugin_config, scope):
        self.calls.append(("cleanup", {"site": site.name, "scope": scope}))
        return [self._step(f"cleanup-{scope}")]


# -- phase hooks ----------------------------------------------------------------

@pytest.mark.parametrize("phase", [p for p in PHASE_HOOKS if p != "cleanup"])
def test_each_phase_hook_is_called_for_its_phase_only(tmp_path, phase):
    recorder = Recorder()
    plan = runbook(site_file(tmp_path), ("rec", recorder)).plan(phase)
    assert recorder.calls == [(phase, {"site": "contoso"})]
    assert [(p.step.id, p.step.phase) for p in only(plan, "rec")] == [(f"rec.{phase}", phase)]
    alone = AddonEngine(load_site(site_file(tmp_path)), ("rec", Recorder())).plan(phase)
    assert [(p.step.id, p.status) for p in alone.steps] == [(f"rec.{phase}", "will change")]


def test_configure_calls_the_configuration_phases_in_runbook_order(tmp_path):
    recorder = Recorder()
    result = AddonEngine(load_site(site_file(tmp_path)), ("rec", recorder)).run("configure")
    assert [phase for phase, _ in recorder.calls] == list(CONFIGURE_PHASES)
    assert recorder.applied == list(CONFIGURE_PHASES)
    assert result.status == "succeeded"


@pytest.mark.parametrize("scope", ["recovery", "source"])
def test_cleanup_receives_the_scope(tmp_path, scope):
    recorder = Recorder()
    plan = runbook(site_file(tmp_path), ("rec", recorder)).plan("cleanup", scope=scope)
    assert recorder.calls == [("cleanup", {"site": "contoso", "scope": scope})]
    assert [p.step.id for p in only(plan, "rec")] == [f"rec.cleanup-{scope}"]


# -- qrdr_config_section ----------------------------------------------------------

@attrs.frozen
class GreeterConfig:
    times: int
    greeting: str = "hello"


class Greeter:
    def __init__(self):
        self.seen_by_hook = None
        self.seen_by_check = None

    @hookimpl
    def qrdr_config_section(self):
        return ConfigSection("greeter", GreeterConfig)

    @hookimpl
    def qrdr_promote_standby(self, plugin_config):
        self.seen_by_hook = plugin_config["greeter"]

        def check(ctx):
            self.seen_by_check = ctx.plugin_config["greeter"]
            return Check.no_change("greeted")

        return [Step(id="greeter.greet", title="greet", target="local", check=check, apply=lambda ctx: None)]


def test_config_section_is_structured_and_reaches_hooks_and_steps(tmp_path):
    greeter = Greeter()
    book = runbook(site_file(tmp_path, "[plugin.greeter]\ntimes = 3\n"), ("greeter", greeter))
    assert book.plugin_config == {"greeter": GreeterConfig(times=3)}
    book.plan("promote")
    assert greeter.seen_by_hook == GreeterConfig(times=3)
    # The built-ins' probes block the plan above, so run the check without them.
    AddonEngine(book.site, ("greeter", greeter), plugin_config=book.plugin_config).plan("promote")
    assert greeter.seen_by_check is greeter.seen_by_hook


@pytest.mark.parametrize("section, field, phrase", [
    ("[plugin.greeter]\ntimes = 'three'\n", "plugin.greeter.times", "expected an integer, got a string"),
    ("[plugin.greeter]\ngreeting = 'hi'\n", "plugin.greeter.times", "required field missing"),
    ("[plugin.greeter]\ntimes = 1\ncolour = 'red'\n", "plugin.greeter", "unknown key colour"),
    ("", "plugin.greeter.times", "required field missing"),
])
def test_config_section_errors_name_the_file_and_the_field(tmp_path, section, field, phrase):
    config = site_file(tmp_path, section)
    with pytest.raises(ConfigError) as caught:
        runbook(config, ("greeter", Greeter()))
    assert caught.value.source == str(config)
    assert any(where == field and phrase in text for where, text in caught.value.problems), caught.value.problems


def test_config_section_of_the_wrong_type_is_refused_naming_the_plugin(tmp_path):
    class Sloppy:
        @hookimpl
        def qrdr_config_section(self):
            return {"name": "sloppy"}

    with pytest.raises(QrdrError) as caught:
        runbook(site_file(tmp_path), ("sloppy", Sloppy()))
    assert "plugin 'sloppy'" in str(caught.value) and "qrdr_config_section" in str(caught.value)


# -- qrdr_validate_site -------------------------------------------------------------

class Vetoer:
    def __init__(self, reasons):
        self.reasons = reasons

    @hookimpl
    def qrdr_validate_site(self, site):
        return self.reasons


def test_validate_site_reasons_refuse_the_run_before_any_planning(tmp_path):
    recorder = Recorder()
    with pytest.raises(SiteNotSupported) as caught:
        runbook(site_file(tmp_path), ("rec", recorder), ("vetoer", Vetoer(["needs Windows 2000", "needs QSnap"])))
    message = str(caught.value)
    assert "vetoer: needs Windows 2000" in message and "vetoer: needs QSnap" in message
    assert "nothing was done" in message
    assert recorder.calls == []
    assert not (tmp_path / ".qrdr").exists()


def test_validate_site_with_no_reasons_lets_the_run_go(tmp_path):
    plan = runbook(site_file(tmp_path), ("rec", Recorder()), ("vetoer", Vetoer([]))).plan("promote")
    assert [p.step.id for p in only(plan, "rec")] == ["rec.promote"]


# -- qrdr_preflight ---------------------------------------------------------------------

class Prober:
    def __init__(self, outcome: Check):
        self.outcome = outcome
        self.phases: list[str] = []

    @hookimpl
    def qrdr_preflight(self, site, phase):
        self.phases.append(phase)

        def never(ctx):
            raise AssertionError("a probe is never applied")

        return [Step(id="prober.ready", title="ready?", target="commserve", check=lambda ctx: self.outcome, apply=never)]


def test_a_blocked_probe_refuses_the_phase_before_anything_changes(tmp_path):
    recorder = Recorder()
    engine = AddonEngine(load_site(site_file(tmp_path)), ("rec", recorder),
                         ("prober", Prober(Check.blocked("QR update is copying"))))
    plan = engine.plan("promote")
    assert plan.blockers == ["prober.ready (commserve): QR update is copying"]
    assert [p.status for p in plan.steps] == ["depends on an earlier step"]
    with pytest.raises(QrdrError, match="QR update is copying"):
        engine.run("promote")
    assert recorder.applied == []


def test_probes_are_asked_per_phase_and_for_check(tmp_path):
    prober = Prober(Check.no_change("ready"))
    rb = runbook(site_file(tmp_path), ("prober", prober))
    rb.plan("configure")
    assert [p.status for p in rb.check().probes if p.step.plugin == "prober"] == ["no change"]
    assert prober.phases == [*CONFIGURE_PHASES, "check"]


# -- qrdr_step_started / qrdr_step_finished -----------------------------------------------

class Listener:
    def __init__(self, fail: bool = False):
        self.events: list[tuple] = []
        self.fail = fail

    @hookimpl
    def qrdr_step_started(self, run_id, step):
        self.events.append(("started", run_id, step.id))
        if self.fail:
            raise RuntimeError("the chat server is down")

    @hookimpl
    def qrdr_step_finished(self, run_id, step, result):
        self.events.append(("finished", run_id, step.id, result))
        if self.fail:
            raise RuntimeError("the chat server is down")


def test_step_events_come_around_each_applied_step_with_its_result(tmp_path):
    listener = Listener()
    result = AddonEngine(load_site(site_file(tmp_path)), ("rec", Recorder()), ("listener", listener)).run("promote")
    started, finished = listener.events
    assert started == ("started", result.run_id, "rec.promote")
    assert finished[:3] == ("finished", result.run_id, "rec.promote")
    assert isinstance(finished[3], StepResult) and finished[3].status == "done"
    assert finished[3].evidence == {"phase": "promote"}


class RunListener:
    def __init__(self, fail: bool = False):
        self.events: list[tuple] = []
        self.fail = fail

    @hookimpl
    def qrdr_run_started(self, run_id, command, steps):
        self.events.append(("run started", run_id, command, [step.id for step in steps]))
        if self.fail:
            raise RuntimeError("the ticket system is down")

    @hookimpl
    def qrdr_run_finished(self, run_id, result):
        self.events.append(("run finished", run_id, result.status, result.windows))
        if self.fail:
            raise RuntimeError("the ticket system is down")


def test_run_events_come_around_a_run_with_its_steps_and_its_result(tmp_path):
    runs, steps = RunListener(), Listener()
    result = AddonEngine(load_site(site_file(tmp_path)), ("rec", Recorder()), ("runs", runs),
                         ("steps", steps)).run("promote")
    assert runs.events == [("run started", result.run_id, "promote", ["rec.promote"]),
                           ("run finished", result.run_id, "succeeded", result.windows)]
    assert [event[0] for event in steps.events] == ["started", "finished"]


def test_a_failing_run_listener_never_stops_the_run(tmp_path):
    recorder = Recorder()
    result = AddonEngine(load_site(site_file(tmp_path)), ("rec", recorder), ("runs", RunListener(fail=True))).run(
        "configure")
    assert result.status == "succeeded"
    assert recorder.applied == list(CONFIGURE_PHASES)


def test_a_failing_event_listener_never_stops_the_run(tmp_path):
    recorder = Recorder()
    listener = Listener(fail=True)
    result = AddonEngine(load_site(site_file(tmp_path)), ("rec", recorder), ("listener", listener)).run("configure")
    assert result.status == "succeeded"
    assert recorder.applied == list(CONFIGURE_PHASES)
    assert len(listener.events) == 2 * len(CONFIGURE_PHASES)
