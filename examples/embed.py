"""Embedding qrdr: drive a site from Python, with an in-process plugin and your own connector.

Run it:  python examples/embed.py [SITE_CONFIG [STATE_DIR]]

It loads a site config (default: examples/site.toml), adds a plugin object defined
here (no package, no entry point) that records the promote in an operations log,
plans the promote, prints each step and what blocks the run, and runs the promote
(confirmed by the program itself) only when nothing blocks it.

The connector is the object qrdr asks for a host when a step's check or apply
needs one (``ctx.host("standby")``) and closes at the end. This one wraps qrdr's
own ``qrdr.connect.SiteConnector`` (PowerShell remoting and LDAP from the site
config) to audit which connections the run opens: that is where an embedding
program plugs in its own connection handling.

On examples/site.toml, whose hosts do not exist, the built-in plugins' checks cannot
reach the hosts, so the plan is blocked and nothing changes (exit 3). Against a
site that answers (a real one, or the lab: ``qrdr lab up``, then
``eval "$(qrdr lab env)"`` and ``python examples/embed.py .qrdr-lab/qrdr.toml``),
the same program runs the promote once its plan is clear.

Exit status: 0 when the promote ran, 1 when it failed, 3 when the plan is blocked.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import attrs

from qrdr.api import Runbook
from qrdr.config import load_site
from qrdr.connect import SiteConnector
from qrdr.hookspecs import hookimpl
from qrdr.steps import Check, Step

EXAMPLE_SITE = Path(__file__).resolve().parent / "site.toml"


class AuditingConnector:
    """Implements qrdr.engine.context.Connector by delegating to another, recording each use."""

    def __init__(self, inner):
        self.inner = inner
        self.opened: list[str] = []

    def host(self, key: str):
        self.opened.append(f"host {key}")
        return self.inner.host(key)

    def directory(self):
        self.opened.append("directory")
        return self.inner.directory()

    def close(self) -> None:
        self.inner.close()


class OperationsLog:
    """An in-process plugin: one local step in the promote phase, and the step events."""

    def __init__(self, path: Path):
        self.path = path
        self.events: list[str] = []

    @hookimpl
    def qrdr_promote_standby(self, site):
        line = f"{site.name}: promoting {site.standby.name} in place of {site.production.name}"

        def check(ctx):
            if self.path.exists() and line in self.path.read_text().splitlines():
                return Check.no_change("the operations log has the entry")
            return Check.will_change(f"append to {self.path}: {line}")

        def apply(ctx):
            with self.path.open("a") as log:
                log.write(line + "\n")
            return {"path": str(self.path)}

        return [Step(id="embed.operations-log", title="record the promote in the operations log",
                     target="local", check=check, apply=apply)]

    @hookimpl
    def qrdr_step_finished(self, run_id, step, result):
        self.events.append(f"run {run_id}: {step.id} {result.status}")


def main(config: Path, state_dir: Path) -> int:
    # The journal and the run lock go to state_dir (by default: .qrdr next to the config file).
    site = attrs.evolve(load_site(config), state_dir=str(state_dir))
    connector = AuditingConnector(SiteConnector(site))
    operations_log = OperationsLog(state_dir / "operations.log")
    runbook = Runbook(site, extra_plugins=[("operations-log", operations_log)], connector=connector)
    try:
        plan = runbook.plan("promote")
        for planned in plan.steps:
            print(f"plan: {planned.step.id} [{planned.status}] {'; '.join(planned.lines)}")
        print(f"connections asked for while planning: {', '.join(sorted(set(connector.opened))) or 'none'}")
        if plan.blockers:
            print("blocked, nothing was changed:", *plan.blockers, sep="\n  ")
            return 3
        result = runbook.run("promote", yes=True)   # yes=True: this program has decided already
        print(f"run {result.run_id}: {result.status}", *operations_log.events, sep="\n  ")
        return 0 if result.status == "succeeded" else 1
    finally:
        runbook.close()


if __name__ == "__main__":
    config = Path(sys.argv[1]) if len(sys.argv) > 1 else EXAMPLE_SITE
    if len(sys.argv) > 2:
        sys.exit(main(config, Path(sys.argv[2])))
    with tempfile.TemporaryDirectory() as state:
        sys.exit(main(config, Path(state)))
