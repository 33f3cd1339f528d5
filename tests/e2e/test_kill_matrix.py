"""Kill matrix (issue 10, partial), Exchange 2003 / Windows 2003 / VSS (test_promote_resume.SITE),
each end state checked from outside qrdr:

* promote: killed with SIGKILL at every step boundary (just after the step is journaled done) and
  resumed ends as an uninterrupted promote, with the account reset (the non-idempotent step)
  applied once (tests/e2e/test_promote_resume.py kills three promote steps while applying);
* configure: killed with SIGKILL at the boundaries of production's outage (the steps that take
  it down, the standby's rename and setup, the steps that bring it back), or with SIGINT (Ctrl-C)
  while production is being renamed; then resumed, ending as an uninterrupted configure, or
  rolled back, ending with production as before configure and the standby under its own name.

* create-qr-volumes, the recovery cleanup after a promote and the source cleanup after it: killed while applying each step
  and again just after it, every kill followed by a ``qrdr resume`` that is itself killed at the
  next point (SIGINT, Ctrl-C, at some of them), the last resume left to finish; the end state as
  after an uninterrupted run, no non-idempotent step's effect twice.

* configure and promote, the same way: killed while applying every step and after it, resumed;
  configure also killed that way through production's outage up to the standby's setup, then
  rolled back, ending as before configure.
"""

from __future__ import annotations

import json
import signal
import sqlite3
from pathlib import Path

import pytest

from qrdr.api import Runbook
from qrdr.config import load_site
from qrdr.lab.sim.commvault import VOLUME_CREATION

from .outside import Outside
from .test_interruptions import production_as_before
from .story import (assert_exchange_removed, assert_qr_volumes_created, insert_setup_media, member_of_domain,
                    wait_until_answers)
from .test_promote_resume import (SITE, applied_counts, assert_promoted, kill_promote_at, kill_run_at, ready_to_promote,
                                  step_state)

pytestmark = [pytest.mark.lab, pytest.mark.kill_matrix]
# The promote plan's steps, in order; each case checks the journaled plan still has exactly these,
# so a step added to promote makes the matrix fail instead of going untested.
PROMOTE_STEPS = ["begin-promote", "soft-recovery", "shut-down-production", "reset-production-account",
                 "rename-standby-to-production", "standby-join-domain", "standby-services", "standby-stores",
                 "take-over-ip", "mail-flowing"]


@pytest.mark.parametrize("killed_after", PROMOTE_STEPS[:-1])
def test_promote_killed_at_step_boundary_and_resumed(lab_site_factory, killed_after):
    lab, config, site, journal = ready_to_promote(lab_site_factory)
    # A step with nothing to do (production already down) ends "no change": its boundary as well.
    # The standby slowed so that the next step has not finished when the kill lands.
    kill_promote_at(lab, config, journal, f"exchange2003.{killed_after}", ("done", "no change"), latency_ms=300)
    assert sorted(applied_counts(journal)) == sorted(f"exchange2003.{s}" for s in PROMOTE_STEPS)

    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    assert_promoted(lab, site, journal)


#: (the configure step killed after, then "resume" or "rollback"): the outage's boundaries
CONFIGURE_KILLS = [
    ("stop-production-services", "rollback"),
    ("rename-production-temp", "resume"),
    ("rename-production-temp", "rollback"),
    ("rename-standby", "rollback"),
    ("setup-dr", "resume"),
    ("rename-production-back", "resume"),
]


def configure_killed(lab_site_factory, step: str, sig: int, states: tuple[str, ...]):
    """A lab site whose ``qrdr configure`` got ``sig`` at ``step`` (both hosts slowed by 100 ms a request,
    so that the signal lands before the next step ends): ``(lab, config path, journal path, ended process)``."""
    lab = lab_site_factory(SITE)
    config = lab.workdir / "qrdr.toml"
    site = load_site(config)
    journal = Path(site.state_dir) / f"{site.name}.journal.sqlite"
    process = kill_run_at(lab, config, journal, "configure", f"exchange2003.{step}", states, latency_ms=100,
                          hosts=("production", "standby"), sig=sig)
    return lab, config, journal, process


def assert_configured(lab, journal: Path) -> None:
    """What an admin checks after configure, from outside: production runs as before under its
    own name, the standby is back under its own, and no step was applied twice."""
    outside = Outside(lab)
    production_as_before(outside)
    assert outside.computer("standby")["Name"] == "EXCH02"
    twice = {step: count for step, count in applied_counts(journal).items() if count > 1}
    assert not twice, f"applied more than once: {twice}"


def assert_as_before_configure(lab) -> None:
    outside = Outside(lab)
    production_as_before(outside)
    assert outside.computer("standby")["Name"] == "EXCH02"


@pytest.mark.parametrize(("killed_after", "then"), CONFIGURE_KILLS)
def test_configure_killed_at_step_boundary_then_resumed_or_rolled_back(lab_site_factory, killed_after, then):
    lab, config, journal, _ = configure_killed(lab_site_factory, killed_after, signal.SIGKILL, ("done", "no change"))
    runbook = Runbook(load_site(config))
    status = runbook.status()
    assert status["state"] == "configuring" and "qrdr resume" in status["next"], status
    if then == "resume":
        result = runbook.resume(yes=True)
        assert result.status == "succeeded", result.message
        assert runbook.state().name == "configured"
        assert_configured(lab, journal)
    else:
        result = runbook.rollback(yes=True)
        assert result.status == "rolled back", result.message
        assert_as_before_configure(lab)
        assert runbook.status()["resumable"] is None


def test_configure_interrupted_with_ctrl_c_while_renaming_production_then_rolled_back(lab_site_factory):
    lab, config, journal, process = configure_killed(lab_site_factory, "rename-production-temp", signal.SIGINT,
                                                     ("applying",))
    output = process.stdout.read()
    assert process.returncode == 6, output  # docs/cli.md: 6 interrupted
    assert "Traceback" not in output and "qrdr resume" in output, output
    runbook = Runbook(load_site(config))
    assert runbook.status()["resumable"] is not None
    result = runbook.rollback(yes=True)
    assert result.status == "rolled back", result.message
    assert_as_before_configure(lab)


@pytest.mark.parametrize("installer", ["setup-dr", "update-dr"])
def test_configure_killed_while_an_installer_runs_waits_for_it_on_resume(lab_site_factory, installer):
    """An installer runs as a scheduled task, which outlives a killed qrdr: the resume follows the
    task still running instead of starting the installer a second time beside it."""
    lab = lab_site_factory(SITE)
    lab.organization.options.setup_seconds = 20.0  # still running when the resume looks
    config = lab.workdir / "qrdr.toml"
    site = load_site(config)
    journal = Path(site.state_dir) / f"{site.name}.journal.sqlite"
    runs = lab.hosts["standby"].exchange.setup_runs
    program = "setup.exe" if installer == "setup-dr" else "update.exe"

    def started() -> list:
        return [run for run in list(runs.values()) if run.program.lower().endswith(program)]

    kill_run_at(lab, config, journal, "configure", f"exchange2003.{installer}", ("applying",), latency_ms=0,
                when=lambda: bool(started()))
    started = started()
    assert len(started) == 1 and not started[0].finished, [(r.program, r.finished) for r in runs.values()]

    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    # the installer's effects showed at once, but the step was not called done while it still ran:
    # the resume waited for the task the killed run had started
    with sqlite3.connect(journal) as db:
        state, evidence = db.execute("SELECT state, evidence FROM steps WHERE step_id = ? AND run_id = "
                                     "(SELECT max(id) FROM runs)", (f"exchange2003.{installer}",)).fetchone()
    assert state == "done" and json.loads(evidence)["exit_code"] == 0, (state, evidence)
    assert started[0].finished
    assert_configured_once_each_installer(lab, journal)


def assert_configured_once_each_installer(lab, journal: Path) -> None:
    outside = Outside(lab)
    production_as_before(outside)
    assert outside.computer("standby")["Name"] == "EXCH02"
    programs = [run.program.lower().rsplit("\\", 1)[-1] for run in lab.hosts["standby"].exchange.setup_runs.values()]
    assert sorted(programs) == ["setup.exe", "update.exe"], programs
    # runbook 2.6-2.7: the standby's Exchange services stopped and manual, none started again by an
    # installer that ended after qrdr had stopped them
    standby = outside.services("standby", ["MSExchangeSA", "MSExchangeIS", "MSExchangeMTA"])
    assert standby and all(state == ("Stopped", "Manual") for state in standby.values()), standby


#: The steps of create-qr-volumes (VSS) and of the recovery cleanup, in order (as PROMOTE_STEPS).
QR_VOLUMES_STEPS = ["scratch-pool", "qr-policy", "qr-subclient", "volume-mapping", "incremental-schedule", "qr-volumes"]
RECOVERY_CLEANUP_STEPS = ["begin-cleanup-recovery", "recovery-stores", "recovery-storage-groups",
                          "recovery-outlook-profiles", "recovery-uninstall-exchange", "recovery-uninstall-keys",
                          "recovery-locked-dlls", "recovery-exchsrvr-folder", "recovery-reset-own-account",
                          "recovery-rename-back", "recovery-join-domain"]
#: The source cleanup's steps on Windows 2003 (no Uninstall keys to delete there), in order.
SOURCE_CLEANUP_STEPS = ["begin-cleanup-source", "source-safe-mode-services", "source-reset-account",
                        "source-leave-domain", "source-join-domain", "source-outlook-profiles",
                        "source-uninstall-exchange", "source-locked-dlls", "source-exchsrvr-folder"]
SAFE_MODE = "exchange2003.source-safe-mode-services"


def apply_count(journal: Path, step_id: str) -> int:
    with sqlite3.connect(journal) as db:
        row = db.execute("SELECT apply_count FROM steps WHERE step_id = ? AND run_id = (SELECT max(id) FROM runs)",
                         (step_id,)).fetchone()
    return row[0] if row else 0


def killed_at_every_point(lab, config: Path, journal: Path, first: list[str], step_ids: list[str],
                          hosts: tuple[str, ...], latency_ms: int, ctrl_c_every: int = 3,
                          no_apply_window: tuple[str, ...] = (), journal_only_last: bool = False
                          ) -> list[tuple[str, str]]:
    """``qrdr <first...>`` (a command and its arguments) killed while applying each of ``step_ids``
    and just after it is done, each kill followed by ``qrdr resume`` killed at the next point. Every
    ``ctrl_c_every``-th signal is SIGINT, asserted to end the run "interrupted" with exit 6, the
    next command named and no traceback; as documented (docs/cli.md), Ctrl-C lets the step in
    progress finish, so the points it passes are not killed at. The last step's end is left to a
    final resume (the caller's); the steps in ``no_apply_window`` apply nothing but a journal entry
    (or never apply: the last step of promote only checks), so there is no "while applying" to kill in.

    ``journal_only_last``: the last step touches no host (it only writes the journal), so once the
    step before it is done the run ends in milliseconds, too soon for a signal to land reliably.
    That step before it is then the last point, killed while it is checked or applied on its host
    (each answer slowed by ``latency_ms``); its end is left to the final resume too. Returns the
    points killed at, (step id, "applying" or "done")."""
    points = [(step, point) for step in step_ids for point in ("applying", "done")
              if not (point == "applying" and step in no_apply_window)]
    points = points[:-2] if journal_only_last else points[:-1]
    command, extra = first[0], first[1:]
    killed: list[tuple[str, str]] = []
    for index, (step, point) in enumerate(points):
        left = step_state(journal, step)
        if left in ("done", "no change") or (point == "applying" and left == "applied"):
            continue  # a Ctrl-C before let this step finish
        # (never at the last two points: Ctrl-C would let the last step, and so the run, finish)
        ctrl_c = (len(killed) + 1) % ctrl_c_every == 0 and index < len(points) - 2
        sig = signal.SIGINT if ctrl_c else signal.SIGKILL
        if point == "applying":
            # this process's own apply (or the verify after it), not a state an earlier process
            # left; a step that finds nothing to do when it comes (no Outlook profile on this lab,
            # say) is killed at its end
            before = apply_count(journal, step) if journal.exists() else 0

            def applying_or_nothing_to_do(step=step, before=before) -> bool:
                return step_state(journal, step) == "no change" or apply_count(journal, step) > before

            if journal_only_last and index == len(points) - 1:
                # whether it applies or finds nothing to do, it is still on its host: kill there
                # (unless the kill before landed there already)
                if left in ("checking", "applying"):
                    continue
                process = kill_run_at(lab, config, journal, command, step, ("checking", "applying", "applied"),
                                      latency_ms, hosts, sig, arguments=tuple(extra))
            else:
                process = kill_run_at(lab, config, journal, command, step, ("applying", "applied", "no change"),
                                      latency_ms, hosts, sig, when=applying_or_nothing_to_do,
                                      arguments=tuple(extra))
        else:
            process = kill_run_at(lab, config, journal, command, step, ("done", "no change"), latency_ms, hosts,
                                  sig, arguments=tuple(extra))
        if sig == signal.SIGINT:
            output = process.stdout.read()
            assert process.returncode == 6, (step, point, output)  # docs/cli.md: 6 interrupted
            assert "Traceback" not in output and "qrdr resume" in output, (step, point, output)
            assert run_status(journal) == "interrupted", (step, point, output)
        killed.append((step, point))
        command, extra = "resume", []
    return killed


def run_status(journal: Path) -> str:
    with sqlite3.connect(journal) as db:
        return db.execute("SELECT status FROM runs WHERE id = (SELECT max(id) FROM runs)").fetchone()[0]


def test_create_qr_volumes_killed_at_every_point_and_resumed(lab_site_factory):
    lab = lab_site_factory(SITE)
    config = lab.workdir / "qrdr.toml"
    site = load_site(config)
    journal = Path(site.state_dir) / f"{site.name}.journal.sqlite"
    runbook = Runbook(site)
    assert runbook.run("configure", yes=True).status == "succeeded"
    steps = [f"vss.{step}" for step in QR_VOLUMES_STEPS]

    killed = killed_at_every_point(lab, config, journal, ["create-qr-volumes"], steps, ("commserve",), latency_ms=150)
    print(f"create-qr-volumes: {len(killed)} kills at", killed)
    # every point but those a Ctrl-C let finish (the step it came in, or the next one)
    assert len(killed) >= len(steps) and killed[0] == (steps[0], "applying"), killed
    assert sorted(applied_counts(journal)) == sorted(steps)
    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    assert runbook.state().name == "qr-ready"
    outside = Outside(lab)
    assert_qr_volumes_created(outside)
    creations = [job for job in lab.commserve.jobs if job.job_type == VOLUME_CREATION]
    assert len(creations) == 1 and creations[0].status == "Completed", creations


def test_recovery_cleanup_killed_at_every_point_and_resumed(lab_site_factory):
    lab, config, site, journal = ready_to_promote(lab_site_factory)
    runbook = Runbook(site)
    assert runbook.run("promote", yes=True).status == "succeeded"
    steps = [f"exchange2003.{step}" for step in RECOVERY_CLEANUP_STEPS]
    uninstalls_before = len(lab.hosts["standby"].exchange.setup_runs)

    # right after a promote the recovery server serves mail: its cleanup needs the override
    first = ["cleanup", "--scope", "recovery", "--override", "promoted-standby"]
    killed = killed_at_every_point(lab, config, journal, first, steps, ("standby",), latency_ms=100,
                                   no_apply_window=(steps[0],))  # it notes the account the cleanup resets
    print(f"cleanup --scope recovery: {len(killed)} kills at", killed)
    assert len(killed) >= len(steps) and killed[0] == (steps[0], "done"), killed
    assert sorted(applied_counts(journal)) == sorted(steps)
    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    outside = Outside(lab)
    system = outside.computer("standby")
    assert system["Name"] == site.standby.name and member_of_domain(system)
    assert not outside.services("standby", ["MSExchangeSA", "MSExchangeIS"])
    assert_exchange_removed(outside, "standby", registry_keys=True)
    twice = {step: count for step, count in applied_counts(journal).items() if count > 1}
    assert "exchange2003.recovery-reset-own-account" not in twice, twice
    uninstalls = list(lab.hosts["standby"].exchange.setup_runs.values())[uninstalls_before:]
    assert len(uninstalls) == 1, [(run.program, run.finished) for run in uninstalls]


def source_cleanup_waiting_for_safe_mode(lab_site_factory):
    """Promoted, the recovery server cleaned up, the source server powered on again with the
    Exchange CD in it; ``cleanup --scope source`` run up to its manual step (safe mode, appendix
    2.1-2.2), which the admin has then done at the console. Returns ``(lab, config, site, journal,
    the source server's uninstalls before)``: the next command is ``resume --done`` (SAFE_MODE)."""
    lab, config, site, journal = ready_to_promote(lab_site_factory)
    runbook = Runbook(site)
    assert runbook.run("promote", yes=True).status == "succeeded"
    result = runbook.run("cleanup", yes=True, scope="recovery", overrides=["promoted-standby"])
    assert result.status == "succeeded", result.message
    lab.fault("power-on", "production")
    insert_setup_media(lab, "production")
    result = runbook.run("cleanup", yes=True, scope="source")
    assert result.status == "waiting" and SAFE_MODE in result.message, result.message
    lab.fault("safe-mode-services", "production")
    wait_until_answers(Outside(lab), "production")
    return lab, config, site, journal, len(lab.hosts["production"].exchange.setup_runs)


def assert_source_cleaned_up(lab, site, journal: Path, uninstalls_before: int) -> None:
    """Appendix 2's end, read from outside: the source server in the domain under production's
    name, its account's password last set by its join (so not reset again after it), no
    Exchange services, Exchange removed (once).

    The account reset may be applied twice: a run killed (or cut off) after the reset began but
    before its LDAP write leaves nothing reset, and the resume rightly resets it (a password set
    since the cleanup began counts as done, so a reset that took effect is not repeated)."""
    outside = Outside(lab)
    system = outside.computer("production")
    assert system["Name"] == site.production.name and member_of_domain(system)
    assert password_last_set_by_the_join(outside, journal, site.production.name)
    assert not outside.services("production", ["MSExchangeSA", "MSExchangeIS"])
    assert_exchange_removed(outside, "production", registry_keys=False)
    assert applied_counts(journal)["exchange2003.source-reset-account"] <= 2
    uninstalls = list(lab.hosts["production"].exchange.setup_runs.values())[uninstalls_before:]
    assert len(uninstalls) == 1, [(run.program, run.finished) for run in uninstalls]


def password_last_set_by_the_join(outside, journal: Path, name: str) -> bool:
    """Whether ``name$``'s pwdLastSet, read from the directory, falls while source-join-domain
    was being applied in some run (from the step's start to its end, or, for a run killed in it,
    to the start of the next run): the join sets the machine's own password, and a reset after it
    (which breaks the member's trust) would be later. Not a bind with the machine's password: a
    DC also accepts the previous one for a while (Samba's "old password allowed period",
    Windows' OldPasswordAllowedPeriod), so a bind does not show a single reset after the join."""
    with sqlite3.connect(journal) as db:
        windows = db.execute(
            "SELECT s.started_at, coalesce(s.ended_at, (SELECT min(r.started_at) FROM runs r WHERE r.id > s.run_id))"
            " FROM steps s WHERE s.step_id = ? AND s.apply_count > 0 AND s.started_at IS NOT NULL",
            ("exchange2003.source-join-domain",)).fetchall()
    filetime = outside.account(name)["pwdLastSet"]  # 100 ns since 1601-01-01 UTC
    set_at = filetime / 1e7 - 11644473600
    return any(started <= set_at <= (ended if ended is not None else float("inf")) for started, ended in windows)


def test_source_cleanup_killed_at_every_point_and_resumed(lab_site_factory):
    lab, config, site, journal, uninstalls_before = source_cleanup_waiting_for_safe_mode(lab_site_factory)
    steps = [f"exchange2003.{step}" for step in SOURCE_CLEANUP_STEPS[2:]]  # after the manual step

    first = ["resume", "--done", SAFE_MODE]
    killed = killed_at_every_point(lab, config, journal, first, steps, ("production", "standby"), latency_ms=100)
    print(f"cleanup --scope source: {len(killed)} kills at", killed)
    assert len(killed) >= len(steps) and killed[0] == (steps[0], "applying"), killed
    assert set(steps) <= set(applied_counts(journal)), applied_counts(journal)
    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    assert_source_cleaned_up(lab, site, journal, uninstalls_before)
    # that check can fail: a password set on the account after the join, as a second reset would
    lab.dc.samba_tool("user", "setpassword", f"{site.production.name}$", "--newpassword=Reset-after-join-1")
    assert not password_last_set_by_the_join(Outside(lab), journal, site.production.name)


CONFIGURE_STEPS = ["record-production", "logs-with-system-path", "standby-volumes", "windows-components",
                   "production-event-srs", "stop-production-services", "rename-production-temp", "rename-standby",
                   "setup-dr", "update-dr", "stop-standby-services",
                   "grant-organization", "grant-servers", "grant-server", "wait-acl-replication",
                   "start-standby-services", "standby-store-paths", "stop-standby-services-again",
                   "rename-standby-back", "rename-production-back", "start-production-services",
                   "mount-production-stores", "configuration-finished"]


def test_configure_killed_while_applying_every_step_and_resumed(lab_site_factory):
    lab = lab_site_factory(SITE)
    config = lab.workdir / "qrdr.toml"
    site = load_site(config)
    journal = Path(site.state_dir) / f"{site.name}.journal.sqlite"
    steps = [f"exchange2003.{step}" for step in CONFIGURE_STEPS]

    # configuration-finished only notes, in the journal, that configure is complete
    killed = killed_at_every_point(lab, config, journal, ["configure"], steps, ("production", "standby"),
                                   latency_ms=40, no_apply_window=(steps[-1],), journal_only_last=True)
    print(f"configure: {len(killed)} kills at", killed)
    assert len(killed) >= len(steps) and killed[0] == (steps[0], "applying"), killed
    assert sorted(applied_counts(journal)) == sorted(steps)
    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    assert Runbook(load_site(config)).state().name == "configured"
    assert_configured_once_each_installer(lab, journal)


def test_promote_killed_while_applying_every_step_and_resumed(lab_site_factory):
    lab, config, site, journal = ready_to_promote(lab_site_factory)
    steps = [f"exchange2003.{step}" for step in PROMOTE_STEPS]

    killed = killed_at_every_point(lab, config, journal, ["promote"], steps, ("standby",), latency_ms=80,
                                   no_apply_window=(steps[0], steps[-1]))  # notes; checks
    print(f"promote: {len(killed)} kills at", killed)
    assert len(killed) >= len(steps), killed
    assert sorted(applied_counts(journal)) == sorted(steps)
    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    assert_promoted(lab, site, journal)


def test_configure_killed_while_applying_through_the_outage_then_rolled_back(lab_site_factory):
    """Killed at every point from production's first change to the standby's rename (the steps
    that take production down and rename both hosts), then once more while setup.exe runs, then
    ``qrdr resume --rollback``: production is back under its own name with its services and
    stores, the standby under its own, and the installer was not cut off by the standby's restart
    (the rollback waited for it)."""
    lab = lab_site_factory(SITE)
    lab.organization.options.setup_seconds = 10.0  # still running when the rollback comes
    config = lab.workdir / "qrdr.toml"
    site = load_site(config)
    journal = Path(site.state_dir) / f"{site.name}.journal.sqlite"
    through = CONFIGURE_STEPS[:CONFIGURE_STEPS.index("rename-standby") + 1]
    steps = [f"exchange2003.{step}" for step in through]
    runs = lab.hosts["standby"].exchange.setup_runs

    killed = killed_at_every_point(lab, config, journal, ["configure"], steps, ("production", "standby"),
                                   latency_ms=40)
    print(f"configure then rollback: {len(killed)} kills at", killed)
    assert len(killed) >= len(steps), killed
    kill_run_at(lab, config, journal, "resume", "exchange2003.setup-dr", ("applying",), latency_ms=0,
                when=lambda: any(run.program.lower() == "setup.exe" for run in list(runs.values())))
    runbook = Runbook(load_site(config))
    assert runbook.status()["state"] == "configuring"
    result = runbook.rollback(yes=True)
    assert result.status == "rolled back", result.message
    assert_as_before_configure(lab)
    assert runbook.status()["resumable"] is None
    (setup,) = [run for run in runs.values() if run.program.lower() == "setup.exe"]
    assert setup.finished and setup.exit_code == 0, setup
