"""The contract between qrdr and its plugins.

Every hook is prefixed ``qrdr_``. Implement one in a plugin module with::

    from qrdr import hookimpl

    @hookimpl
    def qrdr_promote_standby(site):
        return [Step(...), ...]

An implementation may take any subset of a spec's arguments (pluggy passes
only the ones it names), so specs can grow new arguments without breaking
plugins.

**Phase hooks** (``qrdr_prepare_production`` ... ``qrdr_cleanup``) return a
list of :class:`qrdr.steps.Step` and do no remote I/O: they only describe
work. The engine calls every implementation, validates what each returns
(a list of ``Step``; step ids unique across plugins, or the run is refused
naming both plugins; ``after``/``before`` naming known steps), orders the
steps (explicitly through ``after``/``before``; steps not ordered relative to
each other run in id order) and then plans, confirms, applies, verifies and
journals them. Plugins never see a dry-run flag: planning is the engine's.

Each hook's section in docs/plugins.md shows its exact signature and an
example; tests/test_hookspecs_documented.py fails when one is missing.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "qrdr"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------
# Site validation and plugin configuration
# --------------------------------------------------------------------------

@hookspec
def qrdr_config_section() -> Any:
    """Declare this plugin's section of the site config.

    Return a :class:`qrdr.pluginmanager.ConfigSection` (``name`` and an attrs
    class) or None. The engine structures ``[plugin.<name>]`` of the site
    config into that class with cattrs; errors name the file and the field
    (``[plugin.example].greeting: expected str``). The structured value is
    passed to phase hooks as ``plugin_config[name]``.

    Called once per run after plugins are loaded, before any phase hook.
    All results are used.

    Example::

        @attrs.frozen
        class ExampleConfig:
            greeting: str = "hello"

        @hookimpl
        def qrdr_config_section():
            return ConfigSection("example", ExampleConfig)
    """


@hookspec
def qrdr_validate_site(site) -> list[str]:
    """Return reasons why this plugin cannot serve ``site`` (empty when it can).

    Called once per run, right after loading, before any planning: a
    non-empty answer from any plugin refuses the run with every reason, each
    prefixed with the plugin's name. The version matrix lives here and only
    here (Exchange 2000 is not supported on Windows 2003; VSS does not exist on
    Windows 2000): the config loader and the Runbook check no versions, so an
    Exchange plugin refuses every site whose version or Windows it does not serve.
    All results are used.

    Example::

        @hookimpl
        def qrdr_validate_site(site):
            if site.standby.windows is WindowsVersion.W2000:
                return ["VSS does not exist on Windows 2000 (standby)"]
            return []
    """


@hookspec
def qrdr_preflight(site, phase: str) -> list:
    """Return read-only probes (:class:`qrdr.steps.Step` whose ``apply`` is never called)
    that must all pass before ``phase`` plans anything.

    ``phase`` is one of the phase names (``"promote"``, ...) or ``"check"``
    for ``qrdr check``, the any-day readiness check. A probe whose check says
    ``Check.blocked(...)`` refuses the phase with its reasons before anything
    changes; ``no_change`` means "as expected". Probes are journaled with the
    run. Called once per phase of a planned or run command (and by ``qrdr
    check``), before any of the phase's steps is checked. All results are used.

    Example::

        @hookimpl
        def qrdr_preflight(site, phase):
            if phase in ("promote", "check"):
                return [Step(id="qsnap.last-update-complete", title="...",
                             target=site.quick_recovery.commserve_host,
                             check=last_update_complete, apply=never)]
            return []
    """


# --------------------------------------------------------------------------
# Phase hooks: return steps, do no I/O
# --------------------------------------------------------------------------

@hookspec
def qrdr_prepare_production(site, plugin_config) -> list:
    """Steps that prepare production and the standby (runbook "Prepare the
    Production Server" 1-2 and "Configure" 1.1-2.3): logs and system path on
    one volume, QR agents present, the standby's partitions and Windows
    components (they need no outage: before production's services stop),
    production's Exchange services stopped and
    set to Manual (Event: Manual, SRS: Disabled), production renamed to
    ``<name>-temp`` and rebooted, the standby renamed to production's name and
    rebooted.

    Called when the ``prepare-production`` phase (or ``configure``) is
    planned or resumed. All results are used; return ``[]`` when this plugin
    has nothing to add.

    Example::

        @hookimpl
        def qrdr_prepare_production(site):
            return [Step(id="exchange2003.stop-production-services", ...)]
    """


@hookspec
def qrdr_install_dr_mode(site, plugin_config) -> list:
    """Steps that install Exchange in DisasterRecovery mode on the standby
    (runbook 2.4-2.7), running under production's name: ``setup.exe
    /DisasterRecovery`` with production's components, ``update.exe /DisasterRecovery``, services
    stopped and Manual.

    Called when the ``install-dr`` phase (or ``configure``) is planned or
    resumed. All results are used.

    Example::

        @hookimpl
        def qrdr_install_dr_mode(site):
            return [Step(id="exchange2003.setup-dr", destructive=False, idempotent=False, ...)]
    """


@hookspec
def qrdr_grant_ad_acls(site, plugin_config) -> list:
    """Steps that grant the standby's computer account its rights in Active
    Directory (runbook 3): Create and Delete all child objects on the
    organization, Full Control on ``CN=Servers`` and on the server object,
    then wait until every domain controller has the change.

    Called when the ``grant-acls`` phase (or ``configure``) is planned or
    resumed. All results are used.

    Example::

        @hookimpl
        def qrdr_grant_ad_acls(site):
            return [Step(id="exchange2003.grant-servers-full-control", target="directory", ...)]
    """


@hookspec
def qrdr_finish_configuration(site, plugin_config) -> list:
    """Steps that end the configuration (runbook 4-11): start the standby's
    services and check its store paths, stop them, rename the standby back,
    rename production back, production's services Automatic and started,
    stores mounted and set to mount at startup.

    Called when the ``finish-configuration`` phase (or ``configure``) is
    planned or resumed. All results are used.

    Example::

        @hookimpl
        def qrdr_finish_configuration(site):
            return [Step(id="exchange2003.rename-production-back", destructive=True, ...)]
    """


@hookspec
def qrdr_create_qr_volumes(site, plugin_config) -> list:
    """Steps that configure Quick Recovery (runbook "Configure the Quick
    Recovery Agent" 1-6): scratch volume pool, QR policy with the snap engine,
    QR subclient with the discovered Exchange volumes, volume mapping,
    scheduled incremental updates, QR volumes created.

    Called when the ``create-qr-volumes`` phase is planned or resumed. All
    results are used; the snap engine plugin adds what is specific to it.

    Example::

        @hookimpl
        def qrdr_create_qr_volumes(site):
            return [Step(id="vss.policy", target="commserve", ...)]
    """


@hookspec
def qrdr_promote_standby(site, plugin_config) -> list:
    """Steps that bring the standby online in production's place (runbook
    "Bring the Standby Server online" 1-6): production shut down, its
    computer account reset, the standby out of the domain, renamed, rejoined,
    services Automatic and started, stores mounted, the IP address taken over
    if asked.

    Called when the ``promote`` phase is planned or resumed. All results are
    used. Put what must be true before anything is renamed in
    ``qrdr_preflight(site, "promote")``.

    Example::

        @hookimpl
        def qrdr_promote_standby(site):
            return [Step(id="exchange2003.reset-production-account", destructive=True, ...)]
    """


@hookspec
def qrdr_cleanup(site, plugin_config, scope: str) -> list:
    """Steps that clean up after a Quick Recovery (runbook appendix).

    ``scope`` is ``"recovery"`` (the recovery server) or ``"source"`` (the
    source server; on Windows 2003 it starts in safe mode, on Windows 2000 it
    does not). Called when the ``cleanup`` phase is planned or resumed. All
    results are used.

    Example::

        @hookimpl
        def qrdr_cleanup(site, scope):
            if scope == "recovery":
                return [Step(id="exchange2003.delete-exchsrvr", destructive=True, ...)]
            return []
    """


# --------------------------------------------------------------------------
# Events: the engine tells plugins what it does
# --------------------------------------------------------------------------

@hookspec
def qrdr_step_started(run_id: int, step) -> None:
    """Called right before the engine re-checks and applies ``step`` in run ``run_id``.

    For notification only (a ticket system, a chat message); the return value
    is ignored and an exception is logged, never allowed to stop the run.
    All implementations are called.

    Example::

        @hookimpl
        def qrdr_step_started(run_id, step):
            notify(f"run {run_id}: {step.title}")
    """


@hookspec
def qrdr_step_finished(run_id: int, step, result) -> None:
    """Called after ``step`` ended in run ``run_id``; ``result`` is a
    :class:`qrdr.engine.runner.StepResult` (status, changes, evidence, error,
    seconds).

    For notification only; the return value is ignored and an exception is
    logged, never allowed to stop the run. All implementations are called.

    Example::

        @hookimpl
        def qrdr_step_finished(run_id, step, result):
            notify(f"run {run_id}: {step.title}: {result.status}")
    """


@hookspec
def qrdr_run_started(run_id: int, command: str, steps: list) -> None:
    """Called when run ``run_id`` of ``command`` starts applying ``steps`` (the
    confirmed plan's steps in order; for a resume, the run's steps, those done
    before included).

    For notification only (a change ticket opened, a page to the on-call); the
    return value is ignored and an exception is logged, never allowed to stop
    the run. All implementations are called.

    Example::

        @hookimpl
        def qrdr_run_started(run_id, command, steps):
            notify(f"qrdr run {run_id}: {command} starts, {len(steps)} steps")
    """


@hookspec
def qrdr_run_finished(run_id: int, result) -> None:
    """Called when run ``run_id`` ended; ``result`` is a
    :class:`qrdr.engine.runner.RunResult` (status: succeeded, failed,
    interrupted or waiting; steps; windows, e.g. "production outage" and
    "mail flowing" in seconds; message).

    For notification only; the return value is ignored and an exception is
    logged, never allowed to stop the run. All implementations are called.

    Example::

        @hookimpl
        def qrdr_run_finished(run_id, result):
            notify(f"qrdr run {run_id}: {result.command} {result.status}")
    """


#: The phase hooks in runbook order, by phase name.
PHASE_HOOKS: dict[str, str] = {
    "prepare-production": "qrdr_prepare_production",
    "install-dr": "qrdr_install_dr_mode",
    "grant-acls": "qrdr_grant_ad_acls",
    "finish-configuration": "qrdr_finish_configuration",
    "create-qr-volumes": "qrdr_create_qr_volumes",
    "promote": "qrdr_promote_standby",
    "cleanup": "qrdr_cleanup",
}

#: ``qrdr configure`` runs these phases, in this order, as one run.
CONFIGURE_PHASES: tuple[str, ...] = ("prepare-production", "install-dr", "grant-acls", "finish-configuration")
