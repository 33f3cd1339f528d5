"""Embedding qrdr: drive a site from Python, with an in-process plugin and your own connector.

Run it:  python examples/embed.py [STATE_DIR]

It loads examples/site.toml, adds a plugin object defined here (no package, no entry
point) that puts up a maintenance banner on the standby during a promote, plans the
promote, and runs it when nothing blocks it. The connector stands in for your own
connection layer: qrdr asks it for a host when a step's check or apply needs one
(``ctx.host("standby")``), and closes it at the end. The real one is
``qrdr.connect.SiteConnector`` (PowerShell remoting and LDAP, from the site config).

Exit status: 0 when the promote ran (or had nothing to do), 3 when the plan is blocked
(e.g. the built-in plugins' steps need real hosts that this connector does not have).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import attrs

from qrdr.api import Runbook
from qrdr.config import load_site
from qrdr.hookspecs import hookimpl
from qrdr.steps import Check, Step

SITE = Path(__file__).resolve().parent / "site.toml"


class BannerHost:
    """What this example's connector gives for a host: a maintenance banner it can set."""

    def __init__(self, name: str):
        self.name = name
        self.banner: str | None = None


class BannerConnector:
    """Implements qrdr.engine.context.Connector for the hosts this example knows."""

    def __init__(self, site):
        self.hosts = {key: BannerHost(host.name) for key, host in site.hosts.items()}
        self.closed = False

    def host(self, key: str) -> BannerHost:
        return self.hosts[key]

    def directory(self):
        raise RuntimeError("this example has no directory connection")

    def close(self) -> None:
        self.closed = True


class MaintenanceBanner:
    """An in-process plugin: one step in the promote phase."""

    TEXT = "Exchange is moving to the standby server; mail may pause for a few minutes."

    @hookimpl
    def qrdr_promote_standby(self, site):
        def check(ctx):
            banner = ctx.host("standby").banner
            if banner == self.TEXT:
                return Check.no_change("the banner is up")
            return Check.will_change(f"banner on {site.standby.name}: {banner!r} -> {self.TEXT!r}")

        def apply(ctx):
            ctx.host("standby").banner = self.TEXT
            return {"banner": self.TEXT}

        return [Step(id="embed.maintenance-banner", title="put up the maintenance banner", target="standby",
                     check=check, apply=apply)]


def main(state_dir: str) -> int:
    # The journal and run lock go to state_dir (the site config's state_dir, or next to it, by default).
    site = attrs.evolve(load_site(SITE), state_dir=state_dir)
    connector = BannerConnector(site)
    runbook = Runbook(site, extra_plugins=[("banner", MaintenanceBanner())], connector=connector)
    try:
        plan = runbook.plan("promote")
        for planned in plan.steps:
            print(f"plan: {planned.step.id} [{planned.status}] {'; '.join(planned.lines)}")
        if plan.blockers:
            print("blocked:", *plan.blockers, sep="\n  ")
            return 3
        result = runbook.run("promote", yes=True)   # yes=True: automation has confirmed already
        print(f"run {result.run_id}: {result.status}")
        for step in result.steps:
            print(f"  {step.step_id}: {step.status}")
        print(f"banner on the standby: {connector.host('standby').banner}")
        print(f"runs in the journal: {len(runbook.history())}")
        return 0 if result.status == "succeeded" else 1
    finally:
        runbook.close()


if __name__ == "__main__":
    if len(sys.argv) > 1:
        sys.exit(main(sys.argv[1]))
    with tempfile.TemporaryDirectory() as state:
        sys.exit(main(state))
