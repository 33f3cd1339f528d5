"""Plugin loading as a person meets it: names that do not exist, plugins that do
not import, misspelt hooks, and one fresh plugin manager per Runbook."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pluggy
import pytest

from qrdr import cli
from qrdr.api import Runbook
from qrdr.config import load_site
from qrdr.engine.context import NoConnector
from qrdr.errors import PluginError
from qrdr.hookspecs import hookimpl
from qrdr.pluginmanager import installed, make_plugin_manager
from qrdr.steps import Check, Step

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"


def noop_step(step_id: str) -> Step:
    return Step(id=step_id, title=f"{step_id} title", target="production",
                check=lambda ctx: Check.will_change("something"), apply=lambda ctx: None)


class OneStep:
    """An in-process plugin returning one promote step."""

    def __init__(self, step_id: str):
        self.step_id = step_id

    @hookimpl
    def qrdr_promote_standby(self):
        return [noop_step(self.step_id)]


# -- names that are not installed ---------------------------------------------

def test_built_in_plugins_are_entry_points_in_the_public_groups():
    assert {"exchange2000", "exchange2003"} <= set(installed("exchange"))
    assert {"qsnap", "vss"} <= set(installed("snap"))


def test_unknown_exchange_plugin_lists_the_installed_ones():
    with pytest.raises(PluginError) as caught:
        make_plugin_manager(exchange="exchange2010", snap=None)
    message = str(caught.value)
    assert "no exchange plugin named 'exchange2010'" in message
    assert f"installed: {', '.join(installed('exchange'))}" in message


def test_unknown_snap_plugin_lists_the_installed_ones():
    with pytest.raises(PluginError) as caught:
        make_plugin_manager(exchange=None, snap="netapp")
    assert "no snap plugin named 'netapp'" in str(caught.value)
    assert "qsnap" in str(caught.value) and "vss" in str(caught.value)


def test_unknown_addon_named_by_the_site_lists_the_installed_ones(fake_distributions):
    fake_distributions.install("qrdr-notes", "qrdr.addons", "notes", "qrdr_notes_addon", "")
    with pytest.raises(PluginError) as caught:
        make_plugin_manager(exchange=None, snap=None, addons=["tickets"])
    assert "no addon plugin named 'tickets' is installed (installed: " in str(caught.value)
    assert "notes" in str(caught.value)


def test_cli_unknown_plugin_exits_7_with_the_list(run_cli):
    code, _, err = run_cli("--plugin", "exchange2010", "plan", "promote", "--config", str(EXAMPLE))
    assert code == cli.EXIT_CODES["plugin error"] == 7
    assert "exchange2010" in err and "exchange2000, exchange2003" in err
    assert "Traceback" not in err


# -- plugins that fail to import ----------------------------------------------

def test_import_failure_names_the_distribution_and_the_reason(fake_distributions):
    fake_distributions.install("qrdr-broken-addon", "qrdr.addons", "broken", "qrdr_broken_addon", """
        raise ImportError("this add-on needs the 'pywin32' module, which is not installed")
    """)
    with pytest.raises(PluginError) as caught:
        make_plugin_manager(exchange=None, snap=None, addons=["broken"])
    message = str(caught.value)
    assert "addon plugin 'broken' from distribution qrdr-broken-addon failed to import" in message
    assert "ImportError: this add-on needs the 'pywin32' module, which is not installed" in message


def test_any_exception_at_import_is_reported_the_same_way(fake_distributions):
    fake_distributions.install("qrdr-typo-addon", "qrdr.addons", "typo", "qrdr_typo_addon", """
        import os
        SETTING = os.environ["QRDR_TYPO_ADDON_SURELY_UNSET"]
    """)
    with pytest.raises(PluginError) as caught:
        make_plugin_manager(exchange=None, snap=None, addons=["typo"])
    assert "from distribution qrdr-typo-addon failed to import: KeyError" in str(caught.value)


def test_an_entry_point_naming_a_missing_module(fake_distributions):
    fake_distributions.install("qrdr-empty-addon", "qrdr.addons", "empty", "qrdr_empty_addon", "")
    (fake_distributions.root / "qrdr_empty_addon.py").unlink()
    with pytest.raises(PluginError) as caught:
        make_plugin_manager(exchange=None, snap=None, addons=["empty"])
    assert "qrdr-empty-addon failed to import: ModuleNotFoundError" in str(caught.value)


def test_cli_import_failure_exits_7_naming_distribution_and_reason(fake_distributions, tmp_path, run_cli):
    fake_distributions.install("qrdr-broken-addon", "qrdr.addons", "broken", "qrdr_broken_addon", """
        raise ImportError("needs pywin32")
    """)
    config = tmp_path / "site.toml"
    config.write_text(EXAMPLE.read_text().replace("plugins = []", 'plugins = ["broken"]'))
    shutil.copy(EXAMPLE.with_name("contoso-ca.pem"), tmp_path)  # the CA file its relative ca_file names
    code, _, err = run_cli("plan", "promote", "--config", str(config))
    assert code == 7
    assert "qrdr-broken-addon" in err and "ImportError: needs pywin32" in err
    assert "Traceback" not in err


def test_an_installed_addon_module_is_loaded_and_its_hooks_called(fake_distributions):
    fake_distributions.install("qrdr-hello", "qrdr.addons", "hello", "qrdr_hello_addon", """
        from qrdr.hookspecs import hookimpl
        from qrdr.steps import Check, Step

        @hookimpl
        def qrdr_promote_standby(site):
            return [Step(id="hello.wave", title="wave at " + site.name, target="production",
                         check=lambda ctx: Check.no_change("waved"), apply=lambda ctx: None)]
    """)
    runbook = Runbook(load_site(EXAMPLE), addons=["hello"], connector=NoConnector())
    plan = runbook.plan("promote")
    assert [(p.step.id, p.step.title) for p in plan.steps if p.step.plugin == "hello"] == [("hello.wave", "wave at contoso")]
    hello = next(p for p in runbook.loaded if p.name == "hello")
    assert (hello.kind, hello.distribution) == ("addon", "qrdr-hello")


# -- misspelt hooks -----------------------------------------------------------

class Misspelt:
    @hookimpl
    def qrdr_promote_stanby(self, site):
        return []


def test_a_misspelt_hook_is_refused_naming_plugin_and_hook():
    with pytest.raises(PluginError) as caught:
        make_plugin_manager(exchange=None, snap=None, extra_objects=[("speller", Misspelt())])
    message = str(caught.value)
    assert "plugin 'speller'" in message and "unknown hook" in message
    assert "qrdr_promote_stanby" in message


class Undecorated:
    # Without @hookimpl pluggy would ignore this silently: the add-on would do nothing.
    def qrdr_promote_standby(self, site):
        return [noop_step("undecorated.step")]


def test_a_hook_named_function_without_hookimpl_is_refused():
    with pytest.raises(PluginError) as caught:
        make_plugin_manager(exchange=None, snap=None, extra_objects=[("forgetful", Undecorated())])
    assert "plugin 'forgetful'" in str(caught.value)
    assert "qrdr_promote_standby" in str(caught.value) and "@hookimpl" in str(caught.value)


def test_a_hook_with_an_argument_the_spec_does_not_have_is_refused():
    class ExtraArgument:
        @hookimpl
        def qrdr_promote_standby(self, site, dry_run):
            return []

    with pytest.raises(PluginError) as caught:
        make_plugin_manager(exchange=None, snap=None, extra_objects=[("extra", ExtraArgument())])
    assert "plugin 'extra'" in str(caught.value) and "dry_run" in str(caught.value)


def test_two_plugins_with_one_name_are_refused():
    with pytest.raises(PluginError) as caught:
        make_plugin_manager(exchange=None, snap=None, extra_objects=[("twin", OneStep("a.x")), ("twin", OneStep("b.x"))])
    assert "two plugins are named 'twin'" in str(caught.value)


# -- a fresh manager per Runbook ----------------------------------------------

def test_two_runbooks_in_one_process_do_not_share_plugins(tmp_path):
    site = load_site(EXAMPLE)
    first = Runbook(site, extra_plugins=[("first", OneStep("first.step"))], connector=NoConnector())
    second = Runbook(site, extra_plugins=[("second", OneStep("second.step"))], connector=NoConnector())

    assert first.manager is not second.manager
    def own_steps(runbook):
        return [p.step.id for p in runbook.plan("promote").steps if p.step.plugin in ("first", "second")]

    assert own_steps(first) == ["first.step"]
    assert own_steps(second) == ["second.step"]
    assert second.manager.get_plugin("first") is None and first.manager.get_plugin("second") is None
    # The built-in modules are shared Python modules, but registered in each manager separately.
    assert {p.name for p in first.loaded} - {"first"} == {p.name for p in second.loaded} - {"second"}


def test_importing_qrdr_creates_no_plugin_manager():
    """Nothing global at import time: no module of qrdr holds a PluginManager."""
    import qrdr.api, qrdr.cli, qrdr.config, qrdr.pluginmanager  # noqa: F401  (all of the package's top)

    holders = [f"{name}.{attr}" for name, module in list(sys.modules.items())
               if name == "qrdr" or name.startswith("qrdr.")
               for attr, value in vars(module).items() if isinstance(value, pluggy.PluginManager)]
    assert holders == []
