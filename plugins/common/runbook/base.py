"""What every runbook section shares: the book a plugin builds from, the guard.

A section module (:mod:`.prepare`, :mod:`.install_dr`, ...) is a list of step builders
in the runbook's order. A builder is a top-level function ``builder(book, site) -> Step``
(or ``None`` when the site does not need the step); :func:`in_order` makes the list a
phase, each step running after the one before it unless the builder said otherwise.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

import attrs

from qrdr.model import ExchangeVersion, Site
from qrdr.steps import Check, Step, StepContext

from .. import catalog
from ..facts import run_facts



@attrs.frozen
class Book:
    """What one Exchange plugin builds the runbook for: its entry-point name (the prefix of
    its step ids, e.g. ``exchange2003.rename-production-temp``) and its Exchange version."""

    plugin: str
    version: ExchangeVersion

    def id(self, what: str) -> str:
        return f"{self.plugin}.{what}"

    def production_services(self) -> list[str]:
        """Runbook "Configure" 1.2 / 9, as this version has them."""
        return catalog.services_of(self.version, catalog.PRODUCTION_SERVICES)

    def all_services(self) -> list[str]:
        return catalog.services_of(self.version)

    def restore_wanted(self, ctx: StepContext) -> dict[str, tuple[str, str]]:
        """What production's services were before configure stopped them (Running/Auto if not recorded)."""
        recorded = (run_facts(ctx).production or {}).get("services", {})
        return {name: tuple(recorded.get(name, ("Running", "Auto"))) for name in self.production_services()}


#: A builder: ``builder(book, site) -> Step | None``; ``book`` is a :class:`Book`, or the snap
#: engine plugin (:class:`~qrdr.plugins.common.snap.SnapEngine`) for the CommServe's steps.
Builder = Callable[[Any, Site], "Step | None"]


def keys(site: Site) -> tuple[str, str]:
    """The host keys of production and the standby in ``site.hosts``."""
    return site.host_key(site.production), site.host_key(site.standby)


def in_order(book: Any, site: Site, builders: Iterable[Builder]) -> list[Step]:
    """The steps of ``builders`` (skipping a builder's ``None``), each after the one before it
    unless its builder gave its own ``after``: the list's order is the runbook's."""
    steps: list[Step] = []
    for build in builders:
        step = build(book, site)
        if step is None:
            continue
        if not step.after and steps:
            step = attrs.evolve(step, after=(steps[-1].id,))
        steps.append(step)
    return steps


def never(ctx: StepContext) -> dict[str, Any]:
    """The apply of a read-only step: its check never says "will change"."""
    raise RuntimeError("this step only checks; it changes nothing")


def configuration_guard(ctx: StepContext) -> Check | None:
    """For the steps that bring production back: judge the state only while a configuration is under way.

    Before ``configure`` has started, production runs under its name with its
    services: a state check would say "no change" although the run's earlier
    steps are about to rename it and stop them.
    """
    state = run_facts(ctx).configuration
    if state == "started":
        return None
    if state == "finished":
        return Check.no_change("the last configuration finished: production runs under its own name")
    return Check.depends("judged once prepare-production has started the configuration in this run")
