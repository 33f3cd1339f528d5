"""The CommServe as a Commvault admin drives it over WinRM: qlogin, ``qoperation execute -af`` with
request files written by Set-Content (the shapes of docs/design/commvault-requests.md), qlist, and
QR incremental updates started by the lab (``qr-update`` / ``qr-update-stuck`` faults).
Site e2003-w2003-qsnap with the standby's volumes formatted (the QR destinations exist)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import (configure_quick_recovery, documented_requests, jobs, native, pool, qlogin, qoperation, run,
                      started_lab)

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with started_lab(tmp_path_factory, "e2003-w2003-qsnap", standby_volumes="formatted") as started:
        yield started


@pytest.fixture(scope="module")
def commserve(lab):
    with pool(lab, "commserve") as opened:
        yield opened


def test_qlogin_refuses_a_wrong_password_and_commands_need_a_session(commserve):
    lines, code = native(commserve, "qlist", "scratchpool", "-format", "xml")
    assert code == 1, lines
    errors = [str(e) for e in run.last.streams.error]
    assert any("No valid session" in e for e in errors), errors
    lines, code = native(commserve, "qlogin", "-cs", "CS01", "-u", "admin", "-clp", "Wrong-Passw0rd!")
    errors = [str(e) for e in run.last.streams.error]
    assert code == 1 and any("Login failed: invalid user name or password." in e for e in errors), (lines, errors)
    assert not any("Wrong-Passw0rd!" in e for e in errors)


def test_quick_recovery_configured_with_the_documented_requests(lab, commserve):
    replies = configure_quick_recovery(commserve, lab)
    assert replies[-1]["jobIds"], "the QR volume creation reply carries its job id"
    # Requests are not idempotent: the pool exists now.
    reply, text, code = qoperation(commserve, documented_requests()[0])
    assert (reply["errorCode"], code) == ("3", 1) and "already exists" in reply["errorMessage"], text

    pools = ET.fromstring("".join(native(commserve, "qlist", "scratchpool", "-format", "xml")[0]))
    assert [p.get("scratchPoolName") for p in pools.iter("scratchPool")] == ["qrdr-exchange-pool"]
    policies = ET.fromstring("".join(native(commserve, "qlist", "qrpolicy", "-format", "xml")[0]))
    assert [(p.get("snapEngine"), p.get("copyManager")) for p in policies.iter("qrPolicy")] == [("QSnap", "EXCH02")]
    subclients = ET.fromstring("".join(native(commserve, "qlist", "subclient", "-c", "EXCH01", "-a", "Q_QR",
                                              "-format", "xml")[0]))
    (subclient,) = subclients.iter("subclient")
    assert [v.text for v in subclient.find("content")] == ["E:", "F:"]
    assert subclient.findtext("qrVolumesCreated") == "true"
    (creation,) = jobs(commserve)
    assert (creation["Type"], creation["Phase"], creation["Status"]) == ("QR Volume Creation", "Complete", "Completed")
    assert creation["JobID"] == replies[-1]["jobIds"][0]


def test_a_scheduled_update_copies_productions_volumes_to_the_standby(lab, commserve):
    done = lab.fault("qr-update")
    job_id = int(done.split("job ")[1].split(":")[0])
    (job,) = jobs(commserve, job_id=job_id)
    assert (job["Type"], job["Phase"], job["Status"]) == ("QR Incremental Update", "Complete", "Completed")
    assert int(job["SnapshotTime"]) > 0 and job["EndTime"]
    with pool(lab, "standby") as standby:
        assert run(standby, "Test-Path", Path=r"E:\Exchsrvr\mdbdata\priv1.edb") == [True]
        assert run(standby, "Test-Path", Path=r"F:\Exchsrvr\mdbdata\E00.log") == [True]


def test_an_update_stuck_in_its_copy_phase_blocks_the_next_until_killed(lab, commserve):
    done = lab.fault("qr-update-stuck")
    job_id = int(done.split("job ")[1].split(":")[0])
    (job,) = jobs(commserve, job_id=job_id)
    assert (job["Phase"], job["Status"], job["EndTime"]) == ("Copy", "Running", "")
    run_update = next(r for r in documented_requests() if "App_RunQRIncrementalUpdateRequest" in r)
    reply, text, code = qoperation(commserve, run_update)
    assert (reply["errorCode"], code) == ("5", 1) and str(job_id) in reply["errorMessage"], text

    lines, code = native(commserve, "qoperation", "jobcontrol", "-j", str(job_id), "-o", "kill")
    assert (lines, code) == ([f"Job [{job_id}] killed."], 0)
    (job,) = jobs(commserve, job_id=job_id)
    assert job["Status"] == "Killed" and job["EndTime"]

    reply, text, code = qoperation(commserve, run_update)
    assert (reply["errorCode"], code) == ("0", 0), text
    (job,) = jobs(commserve, job_id=int(reply["jobIds"][0]))
    assert (job["Phase"], job["Status"]) == ("Complete", "Completed")


def test_qlogout_ends_the_session(lab, commserve):
    lines, code = native(commserve, "qlogout")
    assert code == 0, lines
    lines, code = native(commserve, "qlist", "job", "-c", "EXCH01", "-format", "xml")
    assert code == 1
    qlogin(commserve, lab)
