"""An engine with only in-process test plugins, for tests that run steps.

``qrdr.api.Runbook`` always loads the built-in Exchange and snap plugins, whose
checks need real hosts (or the lab); a run of test steps through it is blocked
by their preflight probes. Tests that must *run* their own steps structure the
config with a Runbook (``runbook.plugin_config``) and run them here.
"""

from __future__ import annotations

from typing import Any

from qrdr.api import COMMANDS
from qrdr.engine.context import NoConnector
from qrdr.engine.runner import Engine, Plan, RunResult
from qrdr.model import Site
from qrdr.pluginmanager import make_plugin_manager


class AddonEngine:
    def __init__(self, site: Site, *plugins: tuple[str, Any], plugin_config: dict[str, Any] | None = None):
        manager, loaded = make_plugin_manager(exchange=None, snap=None, extra_objects=list(plugins))
        self.engine = Engine(site, manager, plugin_names=[f"addon:{p.name}" for p in loaded],
                             plugin_config=plugin_config or {}, connector=NoConnector())

    def plan(self, command: str, scope: str = "recovery") -> Plan:
        return self.engine.plan(command, list(COMMANDS[command]), cleanup_scope=scope)

    def run(self, command: str) -> RunResult:
        return self.engine.run(command, list(COMMANDS[command]), yes=True)
