"""The CommServe as a Commvault admin drives it over WinRM: qlogin, ``qoperation execute -af`` with
request files written by Set-Content (the shapes of docs/design/commvault-requests.md), qlist, and
QR incremental updates started by the lab (``qr-update`` / ``qr-update-stuck`` faults).
Site e2003-w2003-qsnap with the standby's volumes formatted (the QR destinations exist)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from conftest import (configure_quick_recovery, documented_requests, jobs, native, pool, qlogin, qoperation, run,
                      started_lab, table)

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
    # Commvault: exit 1 is a usage failure, 2 any other; errors read "<entity>: Error <code>: <description>".
    lines, code = native(commserve, "qlist", "job", "-c", "EXCH01")
    errors = [str(e) for e in run.last.streams.error]
    assert code == 2 and errors == ["job: Error 0x268: User not logged in"], (lines, errors)
    lines, code = native(commserve, "qlogin", "-cs", "CS01", "-u", "admin", "-clp", "Wrong-Passw0rd!")
    errors = [str(e) for e in run.last.streams.error]
    assert code == 2 and errors[0].startswith("qlogin: Error 0x"), (lines, errors)
    assert not any("Wrong-Passw0rd!" in e for e in errors)
    lines, code = native(commserve, "qlogin", "-cs", "CS01", "-u", "admin")
    assert code == 2, "without -clp qlogin prompts, which a remote session cannot answer"


def test_qlist_job_is_text_and_knows_no_format_option(lab, commserve):
    qlogin(commserve, lab)
    lines, code = native(commserve, "qlist", "job", "-c", "EXCH01", "-format", "xml")
    assert code == 1, "-format is not an option of qlist job (Commvault documents text output only)"
    lines, code = native(commserve, "qlist", "job", "-c", "EXCH01")
    assert (lines, code) == (["No jobs to display"], 0)


def test_quick_recovery_configured_with_the_documented_requests(lab, commserve):
    replies = configure_quick_recovery(commserve, lab)
    assert replies[-1]["jobIds"], "the QR volume creation reply carries its job id"
    # Requests are not idempotent: the pool exists now.
    reply, text, code = qoperation(commserve, documented_requests()[0])
    assert (reply["errorCode"], code) == ("3", 2) and "already exists" in reply["errorMessage"], text

    pools = ET.fromstring("".join(native(commserve, "qlist", "scratchpool", "-format", "xml")[0]))
    assert [p.get("scratchPoolName") for p in pools.iter("scratchPool")] == ["qrdr-exchange-pool"]
    policies = ET.fromstring("".join(native(commserve, "qlist", "qrpolicy", "-format", "xml")[0]))
    assert [(p.get("snapEngine"), p.get("copyManager")) for p in policies.iter("qrPolicy")] == [("QSnap", "EXCH02")]
    subclients = ET.fromstring("".join(native(commserve, "qlist", "subclient", "-c", "EXCH01", "-a", "Q_QR",
                                              "-format", "xml")[0]))
    (subclient,) = subclients.iter("subclient")
    assert [v.text for v in subclient.find("content")] == ["E:", "F:"]
    assert subclient.findtext("qrVolumesCreated") == "true"
    assert jobs(commserve) == [], "qlist job lists active jobs only"
    (creation,) = jobs(commserve, job_id=int(replies[-1]["jobIds"][0]))
    assert (creation["OPERATION"], creation["PHASE"], creation["STATUS"]) == ("QR Volume Creation", "Complete",
                                                                              "Completed")


def test_a_scheduled_update_copies_productions_volumes_to_the_standby(lab, commserve):
    done = lab.fault("qr-update")
    job_id = int(done.split("job ")[1].split(":")[0])
    (job,) = jobs(commserve, job_id=job_id)
    assert (job["OPERATION"], job["PHASE"], job["STATUS"]) == ("QR Incremental Update", "Complete", "Completed")
    lines, code = native(commserve, "qlist", "jobhistory", "-c", "EXCH01", "-a", "Q_QR", "-s", "qrdr-exchange",
                         "-dispJobTimeUnix")
    finished = {row["JOBID"]: row for row in table(lines)}
    assert code == 0 and finished[str(job_id)]["STATUS"] == "Completed" and int(finished[str(job_id)]["START TIME"]) > 0
    with pool(lab, "standby") as standby:
        assert run(standby, "Test-Path", Path=r"E:\Exchsrvr\mdbdata\priv1.edb") == [True]
        assert run(standby, "Test-Path", Path=r"F:\Exchsrvr\mdbdata\E00.log") == [True]


def test_an_update_stuck_in_its_copy_phase_blocks_the_next_until_killed(lab, commserve):
    done = lab.fault("qr-update-stuck")
    job_id = int(done.split("job ")[1].split(":")[0])
    (job,) = jobs(commserve)  # active: listed without -j
    assert (job["JOBID"], job["PHASE"], job["STATUS"]) == (str(job_id), "Copy", "Running")
    run_update = next(r for r in documented_requests() if "App_RunQRIncrementalUpdateRequest" in r)
    reply, text, code = qoperation(commserve, run_update)
    assert (reply["errorCode"], code) == ("5", 2) and str(job_id) in reply["errorMessage"], text

    lines, code = native(commserve, "qoperation", "jobcontrol", "-j", str(job_id), "-o", "kill")
    assert (lines, code) == ([], 0), "jobcontrol prints nothing when it succeeds"
    assert jobs(commserve) == []
    (job,) = jobs(commserve, job_id=job_id)
    assert (job["STATUS"], job["PHASE"]) == ("Killed", "Copy")

    reply, text, code = qoperation(commserve, run_update)
    assert code == 0 and reply["jobIds"], text
    (job,) = jobs(commserve, job_id=int(reply["jobIds"][0]))
    assert (job["PHASE"], job["STATUS"]) == ("Complete", "Completed")


def test_qlogout_ends_the_session(lab, commserve):
    lines, code = native(commserve, "qlogout")
    assert code == 0, lines
    lines, code = native(commserve, "qlist", "job", "-c", "EXCH01")
    assert code == 2
    lines, code = native(commserve, "qlogout")
    assert code == 2 and [str(e) for e in run.last.streams.error] == ["qlogout: Error 0x268: User not logged in"]
    qlogin(commserve, lab)
