"""RemoteHost against the lab's WinRM endpoint: real WS-Man/PSRP over HTTP(S) with NTLM, through pypsrp."""

import threading
import time

import pytest

from qrdr.remote.commands import Command, Script, Secret
from qrdr.remote.errors import (CommandTimedOut, ConnectionLostDuringChange, HostUnreachable, RebootFailed,
                                RemoteCommandError)
from qrdr.remote.results import PSResult, parse_dmtf
from qrdr.remote.session import RemoteHost

from .conftest import LOCAL_USER, PASSWORD, model_host

pytestmark = pytest.mark.lab

TRICKY = "it's \"$(Remove-Item C:\\ -Recurse)\"\nsecond line; `n & calc ${env:x} @(1)"
ECHO = Script("qrdr:Echo-Parameters", "# qrdr-script: qrdr:Echo-Parameters\nparam($Text, $Count)\n")


def remote_for(endpoint, **options):
    options.setdefault("retry_backoff", 0.05)
    return RemoteHost(model_host(endpoint), password=PASSWORD, **options)


def test_values_arrive_as_data_not_as_script_text(lab):
    host, endpoint = lab()
    with remote_for(endpoint) as remote:
        output = remote.run(Command("Echo-Value", {"Text": TRICKY, "Count": 3, "Flag": True}, (TRICKY, None)))
        script_output = remote.run(Script(ECHO.name, ECHO.text, {"Text": TRICKY, "Count": 2}))
    assert output == [TRICKY, 3, True, TRICKY]
    received = host.invocations[0][0]
    assert received.name == "Echo-Value" and not received.is_script
    assert received.parameters == (("Text", TRICKY), ("Count", 3), ("Flag", True), (None, TRICKY), (None, None))
    assert script_output == [{"Text": TRICKY, "Count": 2}]
    assert host.invocations[1][0].is_script and host.invocations[1][0].name == ECHO.text


def test_one_pipeline_of_several_commands_and_objects_as_plain_data(lab):
    host, endpoint = lab()
    with remote_for(endpoint) as remote:
        remote.run(Command("Get-Service", {"Name": ["MSExchangeSA", "MSExchangeIS"]}),
                   Command("Set-Service", {"StartupType": "Manual"}))
        services = remote.run(Command("Get-Service", {"Name": ["MSExchangeSA"]}), read_only=True)
        system = remote.run(Command("Get-WmiObject", {"Class": "Win32_OperatingSystem"}), read_only=True)
    assert [len(pipeline) for pipeline in host.invocations] == [2, 1, 1]  # one pipeline per run
    assert host.services["msexchangesa"]["StartMode"] == "Manual"
    assert host.services["msexchangeis"]["StartMode"] == "Manual"
    assert isinstance(services[0], PSResult)
    assert services[0]["Name"] == "MSExchangeSA" and services[0]["Status"] == "Running"
    assert services[0].type_names[0] == "System.ServiceProcess.ServiceController"
    assert parse_dmtf(system[0]["LastBootUpTime"]).year == 2026


def test_an_unknown_command_fails_naming_host_command_message_and_error_id(lab):
    host, endpoint = lab()
    with remote_for(endpoint) as remote, pytest.raises(RemoteCommandError) as caught:
        remote.run(Command("Get-Mailbox", {"Identity": "x"}))
    error = caught.value
    assert error.host == "EXCH01"
    assert error.errors[0].terminating
    assert error.fully_qualified_error_ids == ["CommandNotFoundException"]
    text = str(error)
    assert "EXCH01" in text and "Get-Mailbox -Identity 'x'" in text and "is not recognized" in text


def test_non_terminating_errors_raise_unless_allowed(lab):
    host, endpoint = lab()
    with remote_for(endpoint) as remote:
        with pytest.raises(RemoteCommandError, match="NoServiceFoundForGivenName") as caught:
            remote.run(Command("Get-Service", {"Name": ["MSExchangeSA", "NoSuchSvc"]}), read_only=True)
        assert [s["Name"] for s in caught.value.output] == ["MSExchangeSA"]
        assert not caught.value.errors[0].terminating
        output = remote.run(Command("Get-Service", {"Name": ["MSExchangeSA", "NoSuchSvc"]}), read_only=True,
                            allow_errors=True)
    assert [s["Name"] for s in output] == ["MSExchangeSA"]
    assert [e.category for e in output.errors] == ["ObjectNotFound"]
    assert "NoSuchSvc" in output.errors[0].message


def test_no_secret_in_errors_reprs_or_log_lines(lab, qrdr_log):
    host, endpoint = lab()
    secret = "Qr-S3cret'pw"
    remote = remote_for(endpoint)
    with remote, pytest.raises(RemoteCommandError) as caught:
        # The host echoes the secret in its error message (as "Cannot find any service with name ..." would).
        remote.run(Command("Get-Service", {"Name": [Secret(secret)]}))
    assert host.invocations[0][0].parameters == (("Name", [secret]),)  # it did reach the host
    texts = [str(caught.value), repr(caught.value), repr(remote), *qrdr_log,
             *(e.message for e in caught.value.errors)]
    assert any("********" in text for text in texts)
    for text in texts:
        assert secret not in text and PASSWORD not in text


def test_one_pool_serves_every_run_two_requests_a_pipeline(lab):
    host, endpoint = lab()
    with remote_for(endpoint) as remote:
        remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)  # opens the pool
        before = endpoint.request_count
        for _ in range(5):
            remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)
        assert endpoint.request_count - before == 5 * 2  # Command + Receive, nothing else
        assert endpoint.shell_count == 1
    assert endpoint.shell_count == 0  # close() deleted it


def test_finished_pipelines_are_released_by_recycling_the_pool(lab):
    host, endpoint = lab()
    with remote_for(endpoint, pipelines_per_pool=3) as remote:
        for _ in range(7):
            remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)
            assert endpoint.pipeline_count <= 3
            assert endpoint.shell_count == 1


def test_a_read_is_retried_on_a_fresh_pool_when_the_connection_drops(lab):
    host, endpoint = lab()
    with remote_for(endpoint) as remote:
        remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)
        endpoint.faults.drop_at_request = 2  # the Receive of the next pipeline
        services = remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)
    assert services[0]["Name"] == "W3SVC"
    assert len(host.invocations) == 3  # the dropped read ran, then once more on the new pool


def test_a_change_cut_off_is_reported_and_never_repeated(lab):
    host, endpoint = lab()
    with remote_for(endpoint) as remote:
        remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)
        endpoint.faults.drop_at_request = 2  # the Receive: the host has run it, we never hear back
        with pytest.raises(ConnectionLostDuringChange) as caught:
            remote.run(Command("Set-Service", {"Name": "W3SVC", "StartupType": "Disabled"}))
        assert "Set-Service -Name 'W3SVC' -StartupType 'Disabled'" in str(caught.value)
        assert "EXCH01" in str(caught.value)
        assert [p[0].name for p in host.invocations].count("Set-Service") == 1
        # The session goes on, on a new pool.
        assert remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)[0]["Name"] == "W3SVC"


def test_reboot_with_a_rename_is_waited_out_and_the_session_continues_under_the_new_name(lab):
    host, endpoint = lab(reboot_delay=0.8)
    progress = []
    with remote_for(endpoint) as remote:
        host.pending_name = "EXCH01-TEMP"  # as Win32_ComputerSystem.Rename leaves it until the reboot
        evidence = remote.reboot(expected_name="EXCH01-TEMP", down_timeout=10, up_timeout=20, poll_interval=0.1,
                                 progress=progress.append)
        assert remote.name == "EXCH01-TEMP"
        assert remote.settings.spn_hostname == "EXCH01-TEMP"
        assert remote.computer_name() == "EXCH01-TEMP"
    assert host.reboots == 1
    assert evidence["name_before"] == "EXCH01" and evidence["name_after"] == "EXCH01-TEMP"
    assert parse_dmtf(evidence["boot_after"]) > parse_dmtf(evidence["boot_before"])
    assert any("go down" in line for line in progress) and any("come back" in line for line in progress)


def test_a_probe_that_fails_while_the_host_still_runs_is_not_taken_for_its_restart(lab, monkeypatch):
    """The first probe after Restart-Computer fails (a reset connection) while the host still
    runs: the session that opens then has the old boot time, and the reboot waits on until the
    host really went down and came back."""
    host, endpoint = lab(reboot_delay=0.8)
    host.ignore_restart = True  # still running when the failed probe says "down"
    real = RemoteHost.is_reachable
    probes = []

    def flaky(self, timeout=5.0):
        probes.append(time.monotonic())
        if len(probes) == 1:
            return False
        if len(probes) == 2:  # the restart begins only now, a little late
            late = threading.Thread(target=host._reboot, daemon=True)
            host._threads.append(late)
            late.start()
        return real(self, timeout)

    monkeypatch.setattr(RemoteHost, "is_reachable", flaky)
    with remote_for(endpoint) as remote:
        evidence = remote.reboot(down_timeout=10, up_timeout=20, poll_interval=0.1)
    assert host.reboots == 1
    assert parse_dmtf(evidence["boot_after"]) > parse_dmtf(evidence["boot_before"])


def test_a_host_that_does_not_come_back_fails_the_reboot_at_its_deadline(lab):
    host, endpoint = lab(reboot_delay=0.2)
    host.stay_down = True
    with remote_for(endpoint) as remote, pytest.raises(RebootFailed) as caught:
        remote.reboot(down_timeout=10, up_timeout=1.5, poll_interval=0.2)
    assert str(caught.value) == "EXCH01 did not come back within 1.5 s after Restart-Computer"


def test_a_reboot_coming_back_under_another_name_is_refused(lab):
    host, endpoint = lab(reboot_delay=0.2)
    host.pending_name = "SURPRISE"
    with remote_for(endpoint) as remote, pytest.raises(RebootFailed, match="came back as SURPRISE, expected EXCH01"):
        remote.reboot(down_timeout=10, up_timeout=10, poll_interval=0.1)


def test_reachability_follows_the_endpoint(lab):
    host, endpoint = lab()
    remote = remote_for(endpoint)
    assert remote.is_reachable(timeout=2)
    endpoint.go_down()
    assert not remote.is_reachable(timeout=2)
    assert remote.wait_until_down(timeout=2, poll_interval=0.1) < 2
    with pytest.raises(HostUnreachable, match="EXCH01 is unreachable.*cannot connect"):
        remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)
    endpoint.come_up()
    assert remote.wait_until_up(timeout=5, poll_interval=0.1) < 5
    assert remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)[0]["Name"] == "W3SVC"
    remote.close()


def test_a_wrong_password_is_reported_without_retrying_or_showing_it(lab):
    host, endpoint = lab()
    wrong = "Wrong-pw-123"
    remote = RemoteHost(model_host(endpoint), password=lambda: wrong, retry_backoff=0.05)
    before = endpoint.request_count
    with pytest.raises(HostUnreachable, match="refused the logon of LAB") as caught:
        remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)
    assert wrong not in str(caught.value)
    assert endpoint.request_count - before <= 3  # one NTLM handshake, no retries


def test_certificates_are_checked_unless_the_ca_is_given(lab, server_cert, lab_ca):
    host, endpoint = lab(transport="https", tls=server_cert)
    untrusted = RemoteHost(model_host(endpoint), password=PASSWORD, retry_backoff=0.05)
    with pytest.raises(HostUnreachable, match="TLS certificate .* not trusted.*ca_file"):
        untrusted.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)
    trusted = RemoteHost(model_host(endpoint, ca_file=str(lab_ca.cert_path)), password=PASSWORD)
    with trusted:
        assert trusted.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)[0]["Name"] == "W3SVC"


def test_a_host_that_ignores_the_restart_fails_at_the_down_deadline(lab):
    host, endpoint = lab()
    host.ignore_restart = True
    with remote_for(endpoint) as remote, pytest.raises(RebootFailed) as caught:
        remote.reboot(down_timeout=1, up_timeout=5, poll_interval=0.2)
    assert str(caught.value) == "EXCH01 did not go down within 1 s after Restart-Computer"


def test_a_pipeline_past_its_timeout_is_stopped_and_reported(lab):
    host, endpoint = lab()
    with remote_for(endpoint) as remote:
        # (The lab host runs one pipeline at a time and cannot interrupt a sleep: keep it short.)
        with pytest.raises(CommandTimedOut) as caught:
            remote.run(Command("Start-Sleep", {"Seconds": 3}), timeout=1)
        assert str(caught.value).startswith("`Start-Sleep -Seconds 3` did not finish on EXCH01 within 1 s")
        assert "check EXCH01" in str(caught.value)  # a change may be half done
        assert endpoint.shell_count == 0  # the pool was deleted: nothing queues behind a stuck runspace
        assert remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)[0]["Name"] == "W3SVC"


def test_basic_over_https_and_checks_switched_off_by_name(lab, server_cert, lab_ca, qrdr_log):
    from qrdr.model import Auth

    host, endpoint = lab(transport="https", tls=server_cert, allow_basic=True)
    basic = RemoteHost(model_host(endpoint, auth=Auth.BASIC, user=LOCAL_USER, ca_file=str(lab_ca.cert_path)),
                       password=PASSWORD)
    with basic:
        assert basic.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)[0]["Name"] == "W3SVC"
    unchecked = RemoteHost(model_host(endpoint, verify_tls=False), password=PASSWORD)
    with unchecked:
        assert unchecked.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)[0]["Name"] == "W3SVC"
    assert any("WARNING" in line and "EXCH01" in line for line in qrdr_log)


@pytest.mark.parametrize("idle", [True, False], ids=["probed-when-idle", "refused-unread"])
def test_a_change_after_the_host_dropped_the_session_goes_to_a_new_one_once(lab, monkeypatch, idle):
    import qrdr.remote.session as session_module

    host, endpoint = lab()
    with remote_for(endpoint) as remote:
        remote.run(Command("Get-Service", {"Name": ["W3SVC"]}), read_only=True)
        endpoint.go_down()  # e.g. restarted by someone else meanwhile: every shell is forgotten
        endpoint.come_up()
        if idle:
            monkeypatch.setattr(session_module, "IDLE_PROBE_AFTER_S", 0.0)  # probed before the change
        # Not idle: the Command is refused with 401 on the new connection, unread: safe to resend.
        remote.run(Command("Set-Service", {"Name": "W3SVC", "StartupType": "Disabled"}))
    assert host.services["w3svc"]["StartMode"] == "Disabled"
    assert [p[0].name for p in host.invocations].count("Set-Service") == 1


def test_long_waits_keep_telling_the_person_watching(lab, monkeypatch):
    import qrdr.remote.session as session_module

    monkeypatch.setattr(session_module, "PROGRESS_EVERY_S", 0.3)
    host, endpoint = lab()
    endpoint.go_down()
    progress = []
    remote = remote_for(endpoint)
    with pytest.raises(RebootFailed, match="did not come back within 1 s"):
        remote.wait_until_up(1, poll_interval=0.1, progress=progress.append)
    assert progress[0] == "waiting for EXCH01 to come back"
    assert any(line.startswith("still waiting for EXCH01 to come back (") and "of 1 s)" in line
               for line in progress[1:])


def test_shut_down_waits_until_the_host_no_longer_answers(lab):
    host, endpoint = lab()
    remote = remote_for(endpoint)
    evidence = remote.shut_down(down_timeout=5, poll_interval=0.1)
    assert not endpoint.is_up and not remote.is_reachable(timeout=1)
    assert evidence["down_after_s"] < 5
    assert [p[0].named() for p in host.invocations if p[0].name == "Stop-Computer"] == [{"force": True}]


def test_a_restart_no_probe_saw_is_found_by_its_new_boot_time(lab, monkeypatch):
    """On a starved machine a probe can take longer than the host's restart: it never sees the
    host down. The boot time, read while the host still answers, shows it restarted; the reboot
    does not wait out its down deadline."""
    import qrdr.remote.session as session_module

    monkeypatch.setattr(session_module, "BOOT_RECHECK_S", 0.5)
    monkeypatch.setattr(RemoteHost, "is_reachable", lambda self, timeout=5.0: True)  # never seen down
    host, endpoint = lab(reboot_delay=0.3)
    progress = []
    with remote_for(endpoint) as remote:
        evidence = remote.reboot(down_timeout=120, up_timeout=20, poll_interval=0.1, progress=progress.append)
    assert host.reboots == 1
    assert evidence["down_after_s"] is None  # not seen down: proven by the boot time alone
    assert parse_dmtf(evidence["boot_after"]) > parse_dmtf(evidence["boot_before"])
    assert evidence["back_after_s"] < 120  # not the down deadline waited out
    assert progress.count("waiting for EXCH01 to go down after Restart-Computer") == 1


def test_a_host_that_keeps_answering_is_told_about_while_it_is_waited_for(lab, monkeypatch):
    import qrdr.remote.session as session_module

    monkeypatch.setattr(session_module, "BOOT_RECHECK_S", 0.3)
    monkeypatch.setattr(session_module, "PROGRESS_EVERY_S", 0.5)
    host, endpoint = lab()
    host.ignore_restart = True
    progress = []
    with remote_for(endpoint) as remote, pytest.raises(RebootFailed) as caught:
        remote.reboot(down_timeout=2, up_timeout=5, poll_interval=0.1, progress=progress.append)
    assert str(caught.value) == "EXCH01 did not go down within 2 s after Restart-Computer"
    assert any(line.startswith("still waiting for EXCH01 to go down after Restart-Computer (") and "of 2 s)" in line
               for line in progress), progress
