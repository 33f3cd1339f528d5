"""The pure judgements behind the checks: wording an admin reads, and what blocks a promote."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from qrdr.engine.context import NoConnector, RunContext
from qrdr.model import ExchangeVersion, Volume, VolumeContent, WindowsVersion
from qrdr.plugins.common import commvault, snap, stores
from qrdr.plugins.common.facts import OWNER, run_facts
from qrdr.plugins.common.runbook import qr_volumes
from qrdr.plugins.common.runbook import base as runbook_base
from qrdr.plugins.common.hosts import ServiceState, service_filter
from qrdr.plugins.common.services import describe_differences
from qrdr.steps import Outcome

from .conftest import site_named

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.timezone.utc)


def job(job_id, kind=commvault.INCREMENTAL, phase="Complete", status="Completed", hours_ago=1.0, reason=""):
    """A QR job as the CommServe knows it, in the words of qlist's columns."""
    moment = str(int((NOW - dt.timedelta(hours=hours_ago)).timestamp()))
    return {"JOBID": str(job_id), "OPERATION": kind, "PHASE": phase, "STATUS": status, "START TIME": moment,
            "FAILURE REASON": reason}


def judge(jobs, now, max_age_hours):
    """What qrdr reads of these jobs: ``qlist job`` (the active ones), ``qlist jobhistory`` (the
    finished ones) and ``qlist job -j`` of a finished one that did not complete."""
    active = [j for j in jobs if j["STATUS"] == "Running"]
    finished = [{k: j[k] for k in ("JOBID", "STATUS", "START TIME")} for j in jobs if j["STATUS"] != "Running"]
    ended = {j["JOBID"]: j for j in jobs if j["STATUS"] not in ("Running", "Completed")}
    return snap.judge_last_update(active, finished, ended, now, max_age_hours)


# ----------------------------------------------------------------------------------- services


def test_service_differences_in_admin_words_in_dependency_order():
    current = {"MSExchangeSA": ServiceState("MSExchangeSA", "Running", "Auto"),
               "MSExchangeIS": ServiceState("MSExchangeIS", "Running", "Auto"),
               "POP3Svc": ServiceState("POP3Svc", "Stopped", "Manual")}
    wanted = {name: ("Stopped", "Manual") for name in ("MSExchangeIS", "POP3Svc", "MSExchangeSA")}
    assert describe_differences("EXCH01", current, wanted) == [
        "EXCH01: MSExchangeSA Running/Auto -> Stopped/Manual",
        "EXCH01: MSExchangeIS Running/Auto -> Stopped/Manual",
    ]


def test_service_filter_refuses_anything_but_plain_names():
    assert service_filter(["MSExchangeSA", "RESvc"]) == "Name='MSExchangeSA' OR Name='RESvc'"
    with pytest.raises(ValueError, match="not a service name"):
        service_filter(["x' OR Name LIKE '%"])


# ----------------------------------------------------------------------------------- QR jobs


def test_update_in_copy_phase_blocks_and_says_what_to_do():
    check = judge([job(1, commvault.CREATION, hours_ago=30), job(2, phase="Copy", status="Running")],
                                   NOW, None)
    assert check.outcome is Outcome.BLOCKED
    text = " ".join(check.changes)
    assert "copy phase" in text and "Exchange will not start" in text
    assert "Wait for it to finish, or fail (kill) it on the CommServe" in text and "fresh incremental update" in text


def test_update_failed_in_copy_phase_blocks():
    check = judge([job(1), job(2, phase="Copy", status="Failed", reason="network")], NOW, None)
    assert check.outcome is Outcome.BLOCKED and "network" in check.changes[0]


def test_update_in_snapshot_phase_leaves_the_copy_usable():
    check = judge([job(1, hours_ago=2), job(2, phase="Snapshot", status="Running")], NOW, None)
    assert check.outcome is Outcome.NO_CHANGE
    assert "2.0 h old" in check.changes[0] and "Snapshot phase" in check.changes[0]


def test_recovery_point_age_is_judged_by_check_only():
    jobs = [job(1, commvault.CREATION, hours_ago=50), job(2, hours_ago=30)]
    assert judge(jobs, NOW, None).outcome is Outcome.NO_CHANGE
    too_old = judge(jobs, NOW, 24)
    assert too_old.outcome is Outcome.BLOCKED and "30.0 h old" in too_old.changes[0]
    assert "max_recovery_point_age_hours = 24" in too_old.changes[0]


def test_no_completed_update_blocks():
    assert judge([], NOW, None).outcome is Outcome.BLOCKED
    only_running = [job(1, commvault.CREATION, phase="Snapshot", status="Running")]
    assert judge(only_running, NOW, None).outcome is Outcome.BLOCKED


def test_mappings_follow_the_site_volumes_and_name_unknown_ones():
    site = site_named("e2003-w2003-vss")
    site = attrs.evolve(site, volumes=(Volume("E", 20, (VolumeContent.DATABASES,), standby_letter="G"),
                                       Volume("F", 10, (VolumeContent.LOGS,))))
    assert qr_volumes.mappings(site, ["E:", "f:"]) == [("E:", "G:", "G:"), ("F:", "F:", "F:")]
    with pytest.raises(commvault.CommServeError, match="H:"):
        qr_volumes.mappings(site, ["H:"])


# ----------------------------------------------------------------------------------- databases


def test_eseutil_header_parsing():
    dirty = ["Extensible Storage Engine Utilities", "        State: Dirty Shutdown",
             "        Log Required: 12-14 (0xc-0xe)"]
    assert stores.parse_header(dirty) == {"state": "Dirty Shutdown", "logs_required": (12, 14)}
    assert stores.parse_header(["State: Clean Shutdown", "Log Required: 0-0 (0x0-0x0)"])["state"] == "Clean Shutdown"
    assert stores.parse_header(["Operation terminated with error -1206 (JET_errDatabaseCorrupted)"])["state"] is None


def test_store_path_differences_name_the_store_and_both_paths():
    recorded = [{"Name": "Mailbox Store (EXCH01)", "EdbPath": r"E:\mdbdata\priv1.edb", "StmPath": r"E:\mdbdata\priv1.stm"}]
    found = [{"Name": "Mailbox Store (EXCH01)", "EdbPath": r"C:\Program Files\Exchsrvr\mdbdata\priv1.edb",
              "StmPath": r"e:\MDBDATA\priv1.stm"}]
    [(line, name, change)] = stores.path_differences("EXCH01", recorded, found)
    assert name == "Mailbox Store (EXCH01)" and change == {"EdbPath": r"E:\mdbdata\priv1.edb"}
    assert line == (r"EXCH01: store 'Mailbox Store (EXCH01)': EdbPath C:\Program Files\Exchsrvr\mdbdata\priv1.edb "
                    r"-> E:\mdbdata\priv1.edb")
    assert stores.path_differences("EXCH01", recorded, recorded) == []


# ----------------------------------------------------------------------------------- configuration


def with_facts(facts: dict) -> RunContext:
    """A step context with these journaled facts and no connections."""
    return RunContext(site_named("e2003-w2003-vss"), NoConnector(), facts)


def test_bring_back_steps_depend_until_configuration_started():
    assert runbook_base.configuration_guard(with_facts({})).outcome is Outcome.DEPENDS
    assert runbook_base.configuration_guard(with_facts({OWNER: {"configuration": "started"}})) is None
    assert runbook_base.configuration_guard(with_facts({OWNER: {"configuration": "finished"}})).outcome \
        is Outcome.NO_CHANGE


def test_facts_journaled_before_facts_had_owners_are_taken_over():
    """A configure interrupted under an earlier qrdr kept production's record at the top level:
    resumed now, the steps that bring production back still find it."""
    facts = {"configuration": "started", "production": {"name": "EXCH01"}, "names": {"production": "EXCH01-TEMP"}}
    ctx = with_facts(facts)
    assert runbook_base.configuration_guard(ctx) is None
    assert run_facts(ctx).production == {"name": "EXCH01"} and run_facts(ctx).names == {"production": "EXCH01-TEMP"}
    assert facts[OWNER]["configuration"] == "started"  # kept under the owner from now on


def test_a_plugins_facts_hold_no_other_owners_and_the_engines_names_are_refused():
    ctx = with_facts({"_window": {"1": {}}, OWNER: {"names": {"standby": "EXCH02"}}})
    ctx.facts_of("acme.exchange")["names"] = {"standby": "X"}
    assert run_facts(ctx).names == {"standby": "EXCH02"}
    assert ctx.facts_of("acme.exchange") == {"names": {"standby": "X"}}
    with pytest.raises(ValueError, match="_window"):
        ctx.facts_of("_window")


# ----------------------------------------------------------------------------------- version matrix


def reasons(site, exchange, snap_name):
    from qrdr.pluginmanager import call_each, make_plugin_manager

    manager, _ = make_plugin_manager(exchange=exchange, snap=snap_name)
    return {plugin: answer for plugin, answer in call_each(manager, "qrdr_validate_site", site=site)}


@pytest.mark.parametrize("name,exchange,snap_name", [
    ("e2000-w2000-qsnap", "exchange2000", "qsnap"), ("e2003-w2000-qsnap", "exchange2003", "qsnap"),
    ("e2003-w2003-qsnap", "exchange2003", "qsnap"), ("e2003-w2003-vss", "exchange2003", "vss")])
def test_supported_combinations_are_accepted(name, exchange, snap_name):
    assert all(not answer for answer in reasons(site_named(name), exchange, snap_name).values())


def with_windows(site, windows):
    hosts = {key: attrs.evolve(host, windows=windows) if host.role.value in ("production", "standby") else host
             for key, host in site.hosts.items()}
    return attrs.evolve(site, hosts=hosts)


def test_exchange_2000_on_windows_2003_is_refused_with_the_reason():
    site = with_windows(attrs.evolve(site_named("e2003-w2003-qsnap"),
                                     exchange=attrs.evolve(site_named("e2003-w2003-qsnap").exchange,
                                                           version=ExchangeVersion.E2000, service_pack="SP3")),
                        WindowsVersion.W2003)
    answer = reasons(site, "exchange2000", "qsnap")["exchange2000"]
    assert any("Exchange 2000 is supported on Windows 2000 only" in line and "EXCH01" in line for line in answer)


def test_vss_on_windows_2000_is_refused_with_the_reason():
    site = attrs.evolve(site_named("e2003-w2000-qsnap"), snap_engine="vss")
    answer = reasons(site, "exchange2003", "vss")["vss"]
    assert "VSS does not exist on Windows 2000: production EXCH01 runs Windows 2000 (use --snap qsnap)" in answer


def test_wrong_exchange_plugin_is_refused():
    answer = reasons(site_named("e2003-w2003-vss"), "exchange2000", "vss")["exchange2000"]
    assert any("use --plugin exchange2003" in line for line in answer)


def test_logs_and_system_path_apart_are_refused():
    site = attrs.evolve(site_named("e2003-w2003-vss"), volumes=(
        Volume("E", 20, (VolumeContent.DATABASES, VolumeContent.SYSTEM_PATH)), Volume("F", 10, (VolumeContent.LOGS,))))
    answer = reasons(site, "exchange2003", "vss")["exchange2003"]
    assert any("runbook step 1" in line for line in answer)


def test_partitions_go_to_the_smallest_disk_that_holds_them():
    from qrdr.plugins.common.runbook.install_dr import pick_disk

    gb = 1024 ** 3
    assert pick_disk({0: 1 * gb, 1: 30 * gb, 2: 21 * gb}, 20 * gb) == 2
    assert pick_disk({0: 1 * gb, 1: 19 * gb}, 20 * gb) is None


def test_runbook_refuses_an_unsupported_pair_before_connecting_to_anything():
    from qrdr.api import Runbook
    from qrdr.engine.context import NoConnector
    from qrdr.errors import SiteNotSupported

    site = attrs.evolve(site_named("e2003-w2000-qsnap"), snap_engine="vss")
    with pytest.raises(SiteNotSupported) as refused:
        Runbook(site, exchange="exchange2003", snap="vss", connector=NoConnector())
    assert "VSS does not exist on Windows 2000" in str(refused.value)
    assert "nothing was done" in str(refused.value)


def test_a_reset_is_recognised_by_a_newer_pwdlastset_than_recorded_not_by_the_clock():
    from qrdr.plugins.common.names import reset_since

    recorded = with_facts({OWNER: {"started": {"promote": {"exch01": "2026-11-23T21:05:56.920321+00:00"}}}})
    since = reset_since(recorded, "promote", "EXCH01")
    assert since > dt.datetime(2026, 11, 23, 21, 5, 56, 920321, tzinfo=dt.timezone.utc)
    assert since < dt.datetime(2026, 11, 23, 21, 5, 56, 920323, tzinfo=dt.timezone.utc)
    assert reset_since(with_facts({}), "promote", "EXCH01") is None


def test_an_update_killed_in_its_copy_phase_blocks_like_a_failed_one():
    check = judge([job(1), job(2, phase="Copy", status="Killed", reason="Killed by user.")], NOW, None)
    assert check.outcome is Outcome.BLOCKED
    assert "killed in its copy phase" in check.changes[0] and "run a fresh incremental update" in check.changes[0]
