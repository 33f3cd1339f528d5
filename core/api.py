"""The Python API that the CLI and automation use: :class:`Runbook`.

Example (runnable against the lab, see docs/api.md)::

    from qrdr.api import Runbook

    runbook = Runbook.from_config("qrdr.toml")          # plugins chosen from the site
    plan = runbook.plan("promote")
    for planned in plan.steps:
        print(planned.step.id, planned.status, *planned.lines)
    if not plan.blockers:
        result = runbook.run("promote", yes=True)
        print(result.status, result.windows)

Each :class:`Runbook` has its own plugin manager (nothing global), so an
embedding program can drive several sites in one process.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, Callable, Iterable, Iterator

import attrs
import cattrs

from . import hookspecs
from .config import load_site, make_converter
from .engine.context import Connector
from .engine.journal import Journal, RunRecord, StepRecord
from .engine.lock import SiteLock, describe_holder
from .engine.runner import ConfirmManual, Engine, Plan, Reporter, RunResult
from .engine.sitestate import SiteState
from .errors import ConfigError, SiteNotSupported
from .fleet import DEFAULT_JOBS, FleetCheck, SiteReadiness, check_fleet, site_configs
from .model import Site
from .pluginmanager import ConfigSection, LoadedPlugin, call_each, make_plugin_manager
from .secrets import ResolvedOnce

#: Command name -> the phases it runs, in order.
COMMANDS: dict[str, tuple[str, ...]] = {
    **{phase: (phase,) for phase in hookspecs.PHASE_HOOKS},
    "configure": hookspecs.CONFIGURE_PHASES,
}
#: Commands whose failure brings back what they changed (production's name, services, stores).
ROLLBACK_COMMANDS = {"configure", "prepare-production", "finish-configuration"}



def default_exchange_plugin(site: Site) -> str:
    """The Exchange plugin loaded when none is named: ``exchange<version>`` (``exchange2003``).

    Only a name: whether that plugin serves the site is its own ``qrdr_validate_site``'s
    answer, as for a plugin named with ``--plugin``.
    """
    return f"exchange{site.exchange.version.value}"


class Runbook:
    """One site, its plugins, and the engine that runs the runbook on it.

    ``exchange``: any installed plugin of the ``qrdr.exchange`` entry-point group
    (default :func:`default_exchange_plugin`); ``snap``: one of ``qrdr.snap`` (default the
    site's ``snap_engine``). Which Exchange, Windows and snap engine combinations are
    supported is for the loaded plugins to say (``qrdr_validate_site``): a site any of
    them refuses raises :class:`SiteNotSupported` with every reason, before anything runs.
    """

    def __init__(self, site: Site, *, exchange: str | None = None, snap: str | None = None,
                 addons: Iterable[str] = (), extra_plugins: Iterable[tuple[str, Any]] = (),
                 connector: Connector | None = None, reporter: Reporter | None = None,
                 confirm: Callable[[Plan], bool] | None = None, confirm_manual: ConfirmManual | None = None):
        self.site = site
        exchange = exchange or default_exchange_plugin(site)
        snap = snap or site.snap_engine
        self.manager, self.loaded = make_plugin_manager(
            exchange=exchange, snap=snap, addons=[*site.plugins, *addons], extra_objects=extra_plugins)
        self._refuse_unsupported(snap)
        self.plugin_config = self._plugin_config()
        if connector is None:
            from .connect import SiteConnector

            connector = SiteConnector(site)
        self.connector = connector
        #: The secrets resolved by this Runbook's commands, each once, until :meth:`close`.
        self.resolved = ResolvedOnce()
        self.engine = Engine(site, self.manager, plugin_names=[f"{p.kind}:{p.name}" for p in self.loaded],
                             plugin_config=self.plugin_config, connector=connector, reporter=reporter,
                             confirm=confirm, confirm_manual=confirm_manual)

    @classmethod
    def from_config(cls, path: str | os.PathLike | None = None, **kwargs: Any) -> "Runbook":
        return cls(load_site(path), **kwargs)

    # -- validation -------------------------------------------------------

    def _refuse_unsupported(self, snap: str) -> None:
        # No version checks here: the plugins' qrdr_validate_site hold the version matrix,
        # so a third-party Exchange plugin brings its own.
        reasons = []
        if snap != self.site.snap_engine:
            reasons.append(f"--snap {snap}: the site config says snap_engine = {self.site.snap_engine!r}")
        for plugin, answer in call_each(self.manager, "qrdr_validate_site", site=self.site):
            reasons += [f"{plugin}: {reason}" for reason in (answer or [])]
        if reasons:
            raise SiteNotSupported(
                f"site {self.site.name!r} ({self.site.source or 'in memory'}) is not supported by the chosen plugins; "
                "nothing was done:\n" + "\n".join(f"  - {reason}" for reason in reasons))

    def _plugin_config(self) -> dict[str, Any]:
        converter = make_converter()
        sections: dict[str, Any] = {}
        problems = []
        declared = set()
        for plugin, section in call_each(self.manager, "qrdr_config_section"):
            if section is None:
                continue
            if not isinstance(section, ConfigSection):
                raise SiteNotSupported(f"plugin {plugin!r} returned {type(section).__name__} from qrdr_config_section")
            declared.add(section.name)
            raw = self.site.plugin_config.get(section.name, {})
            try:
                sections[section.name] = converter.structure(raw, section.model)
            except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
                from .config import _cattrs_problems

                problems += [(f"plugin.{section.name}.{path}".rstrip(".").replace(".(top level)", ""), message)
                             for path, message in _cattrs_problems(exc)]
        for name in self.site.plugin_config:
            if name not in declared:
                problems.append((f"plugin.{name}", "no loaded plugin declares this section"))
        if problems:
            raise ConfigError(self.site.source or "site config", problems)
        return sections

    # -- commands ---------------------------------------------------------

    @contextlib.contextmanager
    def _command(self) -> Iterator[None]:
        """One command: each secret is resolved once in it (and kept for the next commands until
        :meth:`close`: a password does not change between them), while every host found
        unreachable by an earlier command gets its chance again (hosts come back)."""
        forget = getattr(self.connector, "forget_unreachable", None)
        if forget is not None:
            forget()
        with self.resolved.active():
            yield

    def plan(self, command: str, *, scope: str = "recovery") -> Plan:
        with self._command():
            return self.engine.plan(command, list(_phases(command)), cleanup_scope=scope)

    def run(self, command: str, *, yes: bool = False, scope: str = "recovery", done: Iterable[str] = (),
            overrides: Iterable[str] = ()) -> RunResult:
        """Plan, confirm and apply ``command``. ``done``: ids of manual steps already done by hand
        (``yes`` confirms the plan, never a manual step). A command the site's state makes dangerous
        (:meth:`state`) is refused before planning; ``overrides`` names the refusals a person lifts
        (``qrdr.engine.sitestate.OVERRIDES``), each journaled."""
        with self._command():
            return self.engine.run(command, list(_phases(command)), yes=yes,
                                   rollback=command in ROLLBACK_COMMANDS, cleanup_scope=scope, done=done,
                                   overrides=overrides)

    def resume(self, *, yes: bool = False, done: Iterable[str] = (), overrides: Iterable[str] = (),
               retry: Iterable[str] = ()) -> RunResult:
        """Continue the last unfinished run (``done`` as for :meth:`run`; of ``overrides`` only
        ``site-lock`` applies: take the site's lock over from a run on another machine that is gone).
        ``retry``: failed steps that are not idempotent, checked by a person, to apply again
        (``qrdr resume --retry STEP``; see :meth:`qrdr.engine.runner.Engine.resume`)."""
        with self._command():
            return self.engine.resume(yes=yes, done=done, overrides=overrides, retry=retry)

    def rollback(self, *, yes: bool = False, overrides: Iterable[str] = ()) -> RunResult:
        """Undo the last unfinished run instead of continuing it (``qrdr resume --rollback``)."""
        with self._command():
            return self.engine.rollback(yes=yes, overrides=overrides)

    def state(self) -> SiteState:
        """Where the site stands, from its journal: see :mod:`qrdr.engine.sitestate`."""
        return self.engine.state()

    def check(self, *, journaled: bool = True) -> Plan:
        """The any-day readiness check: every ``qrdr_preflight(site, "check")`` probe, read-only on
        the site; journaled as a run of command ``check`` (``ready`` or ``not ready``, each probe's
        evidence) unless ``journaled=False``."""
        with self._command():
            return self.engine.probe("check", journaled=journaled)

    # -- records ----------------------------------------------------------

    @contextlib.contextmanager
    def _journal(self) -> Iterator[Journal | None]:
        """The site's journal, or None where no run has ever written one (reading creates nothing)."""
        if not self.engine.journal_path.exists():
            yield None
            return
        journal = Journal(self.engine.journal_path)
        try:
            yield journal
        finally:
            journal.close()

    def history(self, limit: int = 20) -> list[RunRecord]:
        with self._journal() as journal:
            return journal.runs(limit) if journal else []

    def run_detail(self, run_id: int) -> tuple[RunRecord, list[StepRecord], list[dict[str, Any]]]:
        with self._journal() as journal:
            if journal is None:
                raise KeyError(f"no run {run_id}: site {self.site.name!r} has no journal yet")
            return journal.run(run_id), journal.steps(run_id), journal.events(run_id)

    def status(self) -> dict[str, Any]:
        """Where the site stands (its state, what shows it, the next safe command), the lock holder,
        the last runs, an unfinished run to resume."""
        state = self.engine.state()
        with self._journal() as journal:
            holder = self.engine.lock.holder()
            unfinished = journal.last_unfinished_run() if journal else None
            shown = state.to_dict()
            if holder:
                shown["next"] = "wait until the run under way ends (qrdr status shows it)"
            return {
                "site": self.site.name,
                **shown,
                "busy": describe_holder(holder) if holder else None,
                "resumable": attrs.asdict(unfinished) if unfinished and not holder else None,
                "last_runs": [attrs.asdict(run) for run in journal.runs(5)] if journal else [],
                "last_check": _as_dict(journal.last_run_of("check")) if journal else None,
                "facts": {k: v for k, v in journal.facts().items() if not k.startswith("_")} if journal else {},
            }

    def close(self) -> None:
        """Close every connection and forget the secrets resolved (a later command opens and asks again)."""
        self.connector.close()
        self.resolved.clear()


def fleet_check(configs: Iterable[str | os.PathLike], *, jobs: int = DEFAULT_JOBS, **runbook_options: Any
                ) -> FleetCheck:
    """The state and readiness of every site config of ``configs`` (``site_configs`` finds them), at
    most ``jobs`` at a time, read-only and taking no lock: ``qrdr fleet check`` (see :mod:`qrdr.fleet`).
    ``runbook_options`` go to each site's :meth:`Runbook.from_config` (``connector``, ``reporter``...).
    Never raises for one site: what would have been raised is that site's ``error``."""
    return check_fleet(configs, lambda config: Runbook.from_config(config, **runbook_options), jobs=jobs)


def _as_dict(record: Any) -> dict[str, Any] | None:
    return None if record is None else attrs.asdict(record)


def _phases(command: str) -> tuple[str, ...]:
    try:
        return COMMANDS[command]
    except KeyError:
        raise SiteNotSupported(f"unknown command {command!r} (commands: {', '.join(COMMANDS)})") from None


__all__ = ["Runbook", "COMMANDS", "LoadedPlugin", "SiteLock", "fleet_check", "site_configs", "FleetCheck",
           "SiteReadiness"]
