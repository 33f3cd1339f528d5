"""What each phase hook returns, for every supported combination: ids, order, flags, windows, undo."""

from __future__ import annotations

import attrs
import pytest

from qrdr import hookspecs
from qrdr.engine.runner import collect_probes, collect_steps
from qrdr.model import WindowsVersion

from .conftest import COMBINATIONS, site_named
from qrdr.pluginmanager import make_plugin_manager

PHASES = [(phase, scope) for phase in hookspecs.PHASE_HOOKS
          for scope in (("recovery", "source") if phase == "cleanup" else ("recovery",))]


def steps_of(combination, phase, scope="recovery"):
    site, manager = combination
    return collect_steps(manager, site, [phase], {}, scope)


@pytest.mark.parametrize("phase,scope", PHASES)
def test_ids_unique_prefixed_and_after_resolvable(combination, phase, scope):
    # collect_steps refuses duplicate ids and unknown after/before names, and orders the steps.
    steps = steps_of(combination, phase, scope)
    ids = [step.id for step in steps]
    assert len(ids) == len(set(ids))
    for step in steps:
        assert step.id.split(".")[0] == step.plugin, step.id
        for earlier in step.after:
            assert ids.index(earlier) < ids.index(step.id)


def test_configure_runs_as_one_ordered_run(combination):
    site, manager = combination
    steps = collect_steps(manager, site, list(hookspecs.CONFIGURE_PHASES), {})
    ids = [step.id.split(".", 1)[1] for step in steps]
    assert ids.index("stop-production-services") < ids.index("rename-production-temp") < ids.index("rename-standby")
    # Production's outage starts at stop-production-services: what needs neither production down nor
    # the standby under production's name comes first (runbook 2.3: partitions, Windows components).
    assert max(ids.index("standby-volumes"), ids.index("windows-components")) < ids.index("stop-production-services")
    assert ids.index("rename-standby") < ids.index("setup-dr") < ids.index("grant-servers")
    assert ids.index("grant-server") < ids.index("wait-acl-replication") < ids.index("start-standby-services")
    assert ids.index("rename-standby-back") < ids.index("rename-production-back") < ids.index("start-production-services")
    assert ids[-1] == "configuration-finished"


DESTRUCTIVE = {
    "prepare-production": {"standby-volumes", "stop-production-services", "rename-production-temp", "rename-standby"},
    "install-dr": set(),
    "finish-configuration": {"rename-standby-back", "rename-production-back"},
    "promote": {"shut-down-production", "reset-production-account", "rename-standby-to-production",
                "standby-join-domain"},
}


@pytest.mark.parametrize("phase", sorted(DESTRUCTIVE))
def test_resets_renames_shutdowns_are_destructive(combination, phase):
    site, _ = combination
    steps = steps_of(combination, phase)
    destructive = {s.id.split(".", 1)[1] for s in steps if s.destructive}
    wanted = set(DESTRUCTIVE[phase])
    if phase == "prepare-production" and site.standby.windows is WindowsVersion.W2000:
        # No diskpart on Windows 2000: the partitions are made by hand before configure; qrdr only checks.
        wanted.discard("standby-volumes")
    assert destructive == wanted


def test_windows_2000_partitions_are_a_prerequisite_checked_before_configure(combination):
    site, manager = combination
    from qrdr.engine.runner import collect_probes

    probes = {p.id.split(".", 1)[1] for p in collect_probes(manager, site, "prepare-production")}
    assert ("ready-standby-partitions" in probes) == (site.standby.windows is WindowsVersion.W2000)


@pytest.mark.parametrize("scope", ["recovery", "source"])
def test_cleanup_uninstall_and_deletions_are_destructive(combination, scope):
    steps = steps_of(combination, "cleanup", scope)
    assert steps[0].id.endswith(f"begin-cleanup-{scope}") and not steps[0].destructive
    assert all(step.destructive for step in steps[1:])
    names = {s.id.split(".", 1)[1] for s in steps}
    assert f"{scope}-uninstall-exchange" in names and f"{scope}-exchsrvr-folder" in names
    assert f"{scope}-locked-dlls" in names and f"{scope}-outlook-profiles" in names


def test_source_cleanup_differs_by_windows_version(combination):
    site, _ = combination
    names = {s.id.split(".", 1)[1] for s in steps_of(combination, "cleanup", "source")}
    if site.production.windows is WindowsVersion.W2003:
        assert "source-safe-mode-services" in names and "source-uninstall-keys" not in names
    else:
        assert "source-safe-mode-services" not in names and "source-uninstall-keys" in names


def test_reset_account_is_never_repeated(combination):
    reset = [s for s in steps_of(combination, "promote") if s.id.endswith("reset-production-account")]
    assert len(reset) == 1 and not reset[0].idempotent and reset[0].target == "directory"


def test_configuration_undoes_what_takes_production_down(combination):
    site, manager = combination
    steps = {s.id.split(".", 1)[1]: s for s in collect_steps(manager, site, list(hookspecs.CONFIGURE_PHASES), {})}
    for name in ("stop-production-services", "rename-production-temp", "rename-standby"):
        assert steps[name].undo is not None, name
    assert steps["stop-production-services"].opens_window == "production outage"
    assert steps["mount-production-stores"].closes_window == "production outage"
    opened = [s for s in steps.values() if s.opens_window]
    assert len(opened) == 1


def test_promote_ends_with_mail_flowing(combination):
    steps = steps_of(combination, "promote")
    assert steps[-1].closes_window == "mail flowing"
    assert steps[-1].id.endswith("mail-flowing")
    site, _ = combination
    takeover = [s for s in steps if s.id.endswith("take-over-ip")]
    assert bool(takeover) == bool(site.takeover.ip_address)
    assert [s.id.split(".", 1)[1] for s in steps][:4] == ["begin-promote", "soft-recovery", "shut-down-production",
                                                        "reset-production-account"]


def test_promote_and_check_preflight_cover_the_seed_warning(combination):
    site, manager = combination
    snap = dict(zip(("exchange", "snap"), COMBINATIONS[site.name.removeprefix("lab-")]))["snap"]
    promote = {p.id for p in collect_probes(manager, site, "promote")}
    assert {f"{snap}.last-update-complete", f"{snap}.ready-qr-volumes"} <= promote
    assert any(p.endswith("ready-databases") for p in promote) and any(p.endswith("ready-volumes") for p in promote)
    check = {p.id for p in collect_probes(manager, site, "check")}
    assert promote <= check and any(p.endswith("ready-acls") for p in check)


def test_create_qr_volumes_is_the_snap_plugins_with_its_engine(combination):
    site, _ = combination
    steps = steps_of(combination, "create-qr-volumes")
    assert [s.id.split(".", 1)[1] for s in steps] == ["scratch-pool", "qr-policy", "qr-subclient", "volume-mapping",
                                                    "incremental-schedule", "qr-volumes"]
    assert {s.plugin for s in steps} == {site.snap_engine}
    assert all(s.target == site.quick_recovery.commserve_host for s in steps)


def test_service_steps_want_only_the_versions_services():
    e2000 = site_named("e2000-w2000-qsnap")
    manager, _ = make_plugin_manager(exchange="exchange2000", snap="qsnap")
    from qrdr.plugins.exchange2000 import PLUGIN

    assert "MSExchangeMGMT" not in PLUGIN.book.production_services()
    assert "MSExchangeMGMT" not in PLUGIN.book.all_services()
    assert collect_steps(manager, e2000, ["prepare-production"], {})


# What each check reads that an earlier step of its run changes (Step.rechecked_after): while
# planning, such a step never says "no change" when that earlier step will change something.
RECHECKED_AFTER = {
    "configure": {
        "logs-with-system-path": {"record-production"},  # production's store paths, as recorded
        "rename-standby": {"rename-production-temp"},  # who holds production's account name
        "standby-volumes": {"record-production"},  # production's volume sizes, as recorded
        "update-dr": {"setup-dr"},  # the build installed
        "stop-standby-services": {"setup-dr", "update-dr"},  # they install the services and start them
        "grant-organization": {"rename-standby"},  # the trustee is the account of production's name
        "grant-servers": {"rename-standby"},
        "grant-server": {"rename-standby"},
        "wait-acl-replication": {"rename-standby", "grant-organization", "grant-servers", "grant-server"},
        # finish-configuration: whether a configuration is under way (record-production), and the state
        # its earlier phases leave.
        "start-standby-services": {"record-production", "stop-standby-services"},
        "standby-store-paths": {"record-production", "setup-dr"},
        "stop-standby-services-again": {"record-production", "start-standby-services"},
        "rename-standby-back": {"record-production", "rename-standby"},
        "rename-production-back": {"record-production", "rename-production-temp", "rename-standby-back"},
        "start-production-services": {"record-production", "stop-production-services"},
        "mount-production-stores": {"record-production", "stop-production-services", "start-production-services"},
        "configuration-finished": {"record-production"},
    },
    "promote": {
        "reset-production-account": {"begin-promote"},  # a reset is recognised against what it records
        "standby-join-domain": {"rename-standby-to-production"},
        "standby-stores": {"rename-standby-to-production", "standby-services"},
        "mail-flowing": {"rename-standby-to-production", "standby-services", "standby-stores"},
    },
    "cleanup recovery": {
        "recovery-uninstall-keys": {"recovery-uninstall-exchange"},
        "recovery-locked-dlls": {"recovery-uninstall-exchange"},  # the uninstall leaves them held open
        "recovery-exchsrvr-folder": {"recovery-uninstall-exchange"},
        "recovery-reset-own-account": {"begin-cleanup-recovery"},
        "recovery-join-domain": {"recovery-rename-back"},
    },
    "cleanup source": {
        "source-reset-account": {"begin-cleanup-source"},
        "source-join-domain": {"source-leave-domain"},
        "source-uninstall-keys": {"source-uninstall-exchange"},  # deleted by qrdr on Windows 2000 only
        "source-locked-dlls": {"source-uninstall-exchange"},
        "source-exchsrvr-folder": {"source-uninstall-exchange"},
    },
}


def run_steps(combination, command):
    """The steps of ``command`` as one run would have them (configure: its four phases)."""
    site, manager = combination
    phases, _, scope = command.partition(" ")
    return collect_steps(manager, site, list(hookspecs.CONFIGURE_PHASES) if phases == "configure" else [phases],
                         {}, scope or "recovery")


def short(step_id):
    return step_id.split(".", 1)[1]


@pytest.mark.parametrize("command", sorted(RECHECKED_AFTER))
def test_each_check_is_rechecked_after_the_earlier_steps_that_change_what_it_reads(combination, command):
    steps = run_steps(combination, command)
    declared = {short(s.id): {short(other) for other in s.rechecked_after} for s in steps if s.rechecked_after}
    names = {short(s.id) for s in steps}
    assert declared == {name: after for name, after in RECHECKED_AFTER[command].items() if name in names}
    # Every id names a step of the same run, before this one (a misspelt id would be ignored).
    ids = [s.id for s in steps]
    for step in steps:
        for other in step.rechecked_after:
            assert other in ids and ids.index(other) < ids.index(step.id), (step.id, other)


def test_without_update_exe_the_standbys_services_are_rechecked_after_setup(combination):
    site, manager = combination
    site = attrs.evolve(site, exchange=attrs.evolve(site.exchange, update_path=None))
    steps = {short(s.id): s for s in collect_steps(manager, site, ["install-dr"], {})}
    assert "update-dr" not in steps
    assert {short(other) for other in steps["stop-standby-services"].rechecked_after} == {"setup-dr"}


def test_promote_restarts_the_standby_twice_and_configure_each_host_twice(combination):
    """Runbook B3: out of the domain and renamed, restart; back into the domain, restart. Configure:
    production to -TEMP and back, the standby to production's name and back: two each."""
    from qrdr.steps import RESTART

    site, manager = combination
    for phases, wanted in ((["promote"], {"standby": 2}),
                           (list(hookspecs.CONFIGURE_PHASES), {"production": 2, "standby": 2})):
        restarts: dict[str, int] = {}
        for step in collect_steps(manager, site, phases, {}):
            restarts[step.target] = restarts.get(step.target, 0) + step.waits.count(RESTART)
        assert {target: n for target, n in restarts.items() if n} == wanted, phases
