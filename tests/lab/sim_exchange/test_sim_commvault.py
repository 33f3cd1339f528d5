"""The CommServe as qrdr drives it: qlogin, the documented XML requests, qlist read-backs,
QR jobs that copy production's volumes to the standby, and the stuck copy phase."""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET

import pytest
from conftest import (COMMCELL_PASSWORD, SiteLab, documented_requests, make_site, native, prepare_standby_for_setup,
                      run, run_script, write_unattend)

from qrdr import model
from qrdr.lab.sim import commvault, exchange

PRIV1 = r"E:\Exchsrvr\mdbdata\priv1.edb"
LOGS = r"F:\Exchsrvr\mdbdata"


def login(lab: SiteLab) -> None:
    lines, code = native(lab.cs, "qlogin", "-cs", "CS01", "-u", "admin", "-clp", COMMCELL_PASSWORD)
    assert code == 0 and lines == ["User logged in successfully."]


def qoperation(lab: SiteLab, request: str) -> ET.Element:
    lab.cs.files.write_text(r"C:\qrdr\request.xml", request)
    lines, code = native(lab.cs, "qoperation", "execute", "-af", r"C:\qrdr\request.xml")
    reply = ET.fromstring("\n".join(lines))
    assert code == (0 if reply.get("errorCode", "0") == "0" else 2)  # Commvault: 2 is any failure but usage
    return reply


def qlist_xml(lab: SiteLab, *arguments: str) -> ET.Element:
    lines, code = native(lab.cs, "qlist", *arguments, "-format", "xml")
    assert code == 0, lines
    return ET.fromstring("\n".join(lines))


def configure_quick_recovery(lab: SiteLab) -> None:
    """Runbook "Configure the Quick Recovery Agent" 1-6 with the documented requests."""
    login(lab)
    for request in documented_requests()[:6]:
        reply = qoperation(lab, request)
        assert reply.get("errorCode", "0") == "0", reply.get("errorMessage")


def jobs(lab: SiteLab) -> list[dict[str, str]]:
    """Every job of the CommServe, finished ones included, read from the simulation itself (qlist job
    lists active jobs only: tests/lab/outside reads them as Commvault prints them)."""
    def epoch(moment):
        return str(int(moment.timestamp())) if moment else ""
    return [{"JobID": str(j.job_id), "Type": j.job_type, "Phase": j.phase, "Status": j.status,
             "StartTime": epoch(j.start_time), "EndTime": epoch(j.end_time), "SnapshotTime": epoch(j.snapshot_time)}
            for j in lab.commserve.jobs]


def state_line(host, path=PRIV1) -> str:
    lines, code = native(host, "eseutil", "/mh", path)
    if code:
        return f"error {code}"
    return next(line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("State:"))


def bring_standby_up_as_production(lab: SiteLab) -> None:
    """DR setup on the standby under production's name (seed steps 2.1-2.4), IS running."""
    prepare_standby_for_setup(lab)
    unattend = write_unattend(lab.standby, lab.site.exchange.components)
    process = lab.standby.start_process(r"Z:\setup\i386\setup.exe", ["/DisasterRecovery", "/UnattendFile", unattend])
    assert process.exit_code == 0


def test_wrong_password_fails_without_echoing_it(site_lab):
    result = run(site_lab.cs, "qlogin", "-cs", "CS01", "-u", "admin", "-clp", "wrong-Password9")
    assert site_lab.cs.last_exit_code == 2
    messages = [error.message for error in result.errors]
    assert len(messages) == 1 and re.match(r"qlogin: Error 0x[0-9a-f]+: Invalid user name or password", messages[0])
    assert "wrong-Password9" not in repr(result) and COMMCELL_PASSWORD not in repr(site_lab.commserve)


def test_a_password_starting_with_a_dash_logs_in():
    """-clp takes the next argument whatever it starts with (the lab's random passwords may start with '-')."""
    site_lab = SiteLab(make_site())
    site_lab.commserve = commvault.seed_site(site_lab.site, site_lab.hosts, password="-dash-Passw0rd")
    lines, code = native(site_lab.cs, "qlogin", "-cs", "CS01", "-u", "admin", "-clp", "-dash-Passw0rd")
    assert (lines, code) == (["User logged in successfully."], 0)


def test_commands_need_a_session(site_lab):
    result = run(site_lab.cs, "qlist", "job", "-c", "EXCH01")
    assert site_lab.cs.last_exit_code == 2
    assert result.errors[0].message == "job: Error 0x268: User not logged in"


def test_q_commands_exist_only_on_the_commserve(site_lab):
    result = run(site_lab.production, "qlist", "job")
    assert site_lab.production.last_exit_code == 1 and "CommServe" in result.errors[0].message


def test_documented_requests_configure_quick_recovery_and_read_back(site_lab):
    configure_quick_recovery(site_lab)
    pool = qlist_xml(site_lab, "scratchpool").find("scratchPool")
    assert pool.get("scratchPoolName") == "qrdr-exchange-pool"
    assert [v.get("volumeName") for v in pool.findall("volume")] == ["E:", "F:"]
    policy = qlist_xml(site_lab, "qrpolicy").find("qrPolicy")
    assert (policy.get("snapEngine"), policy.get("copyManager")) == ("QSnap", "EXCH02")
    subclient = qlist_xml(site_lab, "subclient", "-c", "EXCH01", "-a", "Q_QR").find("subclient")
    assert [v.text for v in subclient.find("content")] == ["E:", "F:"]  # Add App found both Exchange volumes
    assert [(m.get("sourceVolume"), m.get("destinationVolume")) for m in subclient.findall("volumeMap")] == [
        ("E:", "E:"), ("F:", "F:")]
    assert subclient.find("schedule").get("updateType") == "Incremental"
    assert subclient.findtext("qrVolumesCreated") == "true"
    [creation] = jobs(site_lab)
    assert (creation["Type"], creation["Phase"], creation["Status"]) == ("QR Volume Creation", "Complete", "Completed")
    assert int(creation["EndTime"]) >= int(creation["StartTime"])


def test_creating_an_object_twice_is_an_error_and_qlist_shows_one(site_lab):
    configure_quick_recovery(site_lab)
    reply = qoperation(site_lab, documented_requests()[0])
    assert reply.get("errorCode") == "3" and "already exists" in reply.get("errorMessage")
    assert len(qlist_xml(site_lab, "scratchpool").findall("scratchPool")) == 1


def test_qr_copy_brings_production_files_to_the_standby_and_soft_recovery_makes_them_mountable(site_lab):
    configure_quick_recovery(site_lab)
    standby = site_lab.standby
    assert standby.files.read_text(r"F:\Exchsrvr\mdbdata\E000000D.log") is not None  # logs travelled with F:
    bring_standby_up_as_production(site_lab)
    assert state_line(standby) == "Dirty Shutdown"
    mailbox = "Mailbox Store (EXCH01)"
    refused = run_script(standby, "mount_exchange_store.ps1", Name=mailbox)
    assert refused.failed is not None and "JET_errDatabaseDirtyShutdown" in refused.failed.message
    lines, code = native(standby, "eseutil", "/r", "E00", f"/l{LOGS}", f"/s{LOGS}")
    assert code == 0, lines
    assert state_line(standby) == "Clean Shutdown"
    assert run_script(standby, "mount_exchange_store.ps1", Name=mailbox).failed is None


def test_update_stuck_in_copy_shows_in_qlist_and_leaves_the_standby_unusable(site_lab):
    bring_standby_up_as_production(site_lab)
    site_lab.standby.name, site_lab.production.name = "EXCH02", "EXCH01"  # seed steps 2.7-2.8
    configure_quick_recovery(site_lab)
    assert state_line(site_lab.standby) == "Dirty Shutdown"
    job = site_lab.commserve.run_incremental_update(stuck_in_copy=True)
    newest = jobs(site_lab)[-1]
    assert (newest["JobID"], newest["Type"], newest["Phase"], newest["Status"], newest["EndTime"]) == (
        str(job.job_id), "QR Incremental Update", "Copy", "Running", "")
    assert state_line(site_lab.standby) == "error -1206"  # torn database: Exchange will not start
    login(site_lab)
    blocked = qoperation(site_lab, documented_requests()[6])
    assert blocked.get("errorCode") == "5"
    site_lab.commserve.finish_stuck_copy(job)
    assert jobs(site_lab)[-1]["Status"] == "Completed"
    assert state_line(site_lab.standby) == "Dirty Shutdown"


def test_lab_fault_makes_every_update_stick_in_copy(site_lab):
    configure_quick_recovery(site_lab)
    site_lab.commserve.qr_update_stuck_in_copy = True
    assert site_lab.commserve.run_incremental_update().phase == "Copy"


def test_incremental_updates_advance_the_recovery_point():
    lab = SiteLab(make_site())
    now = [dt.datetime(2026, 11, 23, 20, 0, tzinfo=dt.timezone.utc)]
    lab.lab.clock = lambda: now[0]
    configure_quick_recovery(lab)
    first = lab.commserve.recovery_point
    exchange.for_host(lab.production).write_transactions(5)
    now[0] += dt.timedelta(hours=1)
    login(lab)
    reply = qoperation(lab, documented_requests()[6])
    assert reply.find("jobIds") is not None
    assert lab.commserve.recovery_point == first + dt.timedelta(hours=1)
    assert [j["SnapshotTime"] for j in jobs(lab)] == [str(int(first.timestamp())), str(int(now[0].timestamp()))]
    bring_standby_up_as_production(lab)
    mh, _ = native(lab.standby, "eseutil", "/mh", PRIV1)
    assert "     Log Required: 17-19 (0x11-0x13)" in mh  # the newer copy


def test_update_fails_when_production_is_down(site_lab):
    configure_quick_recovery(site_lab)
    site_lab.production.power_off()
    job = site_lab.commserve.run_incremental_update()
    assert job.status == "Failed" and "not reachable" in job.failure


def test_vss_is_refused_for_a_windows_2000_production():
    lab = SiteLab(make_site(exchange_version="2003", windows="2000", snap_engine="vss"))
    login(lab)
    requests = documented_requests()
    assert qoperation(lab, requests[0]).get("errorCode") == "0"
    assert qoperation(lab, requests[1].replace("QSnap", "VSS")).get("errorCode") == "0"
    reply = qoperation(lab, requests[2])
    assert reply.get("errorCode") == "4" and "Windows Server 2003" in reply.get("errorMessage")


def test_logs_off_the_copied_volumes_leave_the_copy_unrecoverable():
    # Seed step 1 ignored: logs and system path in C:\Program Files\Exchsrvr\mdbdata, never copied.
    lab = SiteLab(make_site(volumes=(model.Volume("E", 100, (model.VolumeContent.DATABASES,)),)))
    login(lab)
    requests = documented_requests()
    pool = requests[0].replace("<volume><clientName>EXCH02</clientName><volumeName>F:</volumeName></volume>", "")
    mapping = re.sub(r"<volumeMap><sourceVolume>F:.*?</volumeMap>", "", requests[3])
    for request in (pool, requests[1], requests[2], mapping, requests[4], requests[5]):
        reply = qoperation(lab, request)
        assert reply.get("errorCode", "0") == "0", reply.get("errorMessage")
    bring_standby_up_as_production(lab)
    logs = r"C:\Program Files\Exchsrvr\mdbdata"
    lines, code = native(lab.standby, "eseutil", "/r", "E00", f"/l{logs}", f"/s{logs}")
    assert code == -528, lines


@pytest.mark.parametrize("request_text, code, words", [
    ("<not xml", "1", "not well-formed"),
    ("<App_DoSomethingRequest/>", "1", "Unknown request"),
    ("<App_CreateQRPolicyRequest><qrPolicy><qrPolicyName>p</qrPolicyName></qrPolicy></App_CreateQRPolicyRequest>",
     "1", "snapEngine"),
])
def test_bad_requests_name_what_is_wrong(site_lab, request_text, code, words):
    login(site_lab)
    reply = qoperation(site_lab, request_text)
    assert reply.get("errorCode") == code and words in reply.get("errorMessage")


def test_qlist_job_text_table(site_lab):
    """Commvault's "qlist job": active jobs only (a finished one with -j), one per line under a header
    and a row of dashes, columns in -co order (all but the failure reason by default)."""
    configure_quick_recovery(site_lab)
    lines, code = native(site_lab.cs, "qlist", "job", "-c", "EXCH01")
    assert (lines, code) == (["No jobs to display"], 0)
    creation = site_lab.commserve.jobs[0]
    lines, code = native(site_lab.cs, "qlist", "job", "-j", str(creation.job_id))
    assert code == 0 and lines[0].split() == ["JOBID", "OPERATION", "STATUS", "PHASE", "DESCRIPTION", "COMPLETE",
                                              "PERCENTAGE"]
    assert set(lines[1]) == {"-", " "} and "QR Volume Creation" in lines[2] and "Completed" in lines[2]
    lines, code = native(site_lab.cs, "qlist", "job", "-j", str(creation.job_id), "-co", "sp")
    assert lines[0].split() == ["STATUS", "PHASE"] and lines[2].split() == ["Completed", "Complete"]
    site_lab.commserve.run_incremental_update(stuck_in_copy=True)
    lines, code = native(site_lab.cs, "qlist", "job", "-c", "EXCH01", "-co", "ops")
    assert lines[2].split() == ["QR", "Incremental", "Update", "Copy", "Running"]


def test_update_fails_when_the_standby_copy_manager_is_down(site_lab):
    configure_quick_recovery(site_lab)
    site_lab.standby.power_off()
    job = site_lab.commserve.run_incremental_update()
    assert (job.phase, job.status) == ("Copy", "Failed") and "Copy manager [EXCH02]" in job.failure
    assert site_lab.commserve.recovery_point == jobs_snapshot(site_lab)[0]


def jobs_snapshot(lab: SiteLab) -> list[dt.datetime]:
    return [job.snapshot_time for job in lab.commserve.jobs if job.status == "Completed"]


def test_a_mount_point_off_the_standby_volumes_is_refused(site_lab):
    login(site_lab)
    requests = documented_requests()
    for request in requests[:3]:
        assert qoperation(site_lab, request).get("errorCode") == "0"
    reply = qoperation(site_lab, requests[3].replace("<mountPoint>E:</mountPoint>", "<mountPoint>Q:</mountPoint>"))
    assert reply.get("errorCode") == "2" and "Mount point [Q:]" in reply.get("errorMessage")


def test_configure_from_site_matches_the_documented_requests(site_lab):
    job = commvault.configure_from_site(site_lab.commserve, site_lab.site)
    assert (job.job_type, job.status) == ("QR Volume Creation", "Completed")
    login(site_lab)
    subclient = qlist_xml(site_lab, "subclient", "-c", "EXCH01", "-a", "Q_QR").find("subclient")
    assert subclient.findtext("subclientName") == site_lab.site.quick_recovery.subclient
    assert [(m.get("sourceVolume"), m.get("destinationVolume"), m.get("mountPoint"))
            for m in subclient.findall("volumeMap")] == [("E:", "E:", "E:"), ("F:", "F:", "F:")]
    assert site_lab.standby.files.read_text(PRIV1) == site_lab.production.files.read_text(PRIV1)


def test_killing_a_stuck_update_frees_the_subclient_and_a_fresh_update_repairs_the_standby(site_lab):
    bring_standby_up_as_production(site_lab)
    site_lab.standby.name, site_lab.production.name = "EXCH02", "EXCH01"
    configure_quick_recovery(site_lab)
    job = site_lab.commserve.run_incremental_update(stuck_in_copy=True)
    lines, code = native(site_lab.cs, "qoperation", "jobcontrol", "-j", str(job.job_id), "-o", "kill")
    assert (lines, code) == ([], 0)  # jobcontrol prints nothing when it succeeds
    killed = jobs(site_lab)[-1]
    assert (killed["Status"], killed["Phase"]) == ("Killed", "Copy") and killed["EndTime"]
    assert state_line(site_lab.standby) == "error -1206"  # still torn
    again = run(site_lab.cs, "qoperation", "jobcontrol", "-j", str(job.job_id), "-o", "kill")
    assert site_lab.cs.last_exit_code == 2 and "is not running" in again.errors[0].message
    fresh = qoperation(site_lab, documented_requests()[6])
    assert fresh.tag == "TMMsg_CreateTaskResp" and fresh.find("jobIds").get("val")
    assert state_line(site_lab.standby) == "Dirty Shutdown"
