"""Every fault of ``LabSite.FAULTS``, injected with ``LabSite.fault`` and seen by a plain pypsrp
client (HTTPS) or in the directory (ldap3); a few through ``qrdr lab fault`` on a lab started with
``qrdr lab up``. qr-update, qr-update-stuck and setup-hangs are proven where their effect is seen:
test_commserve.py and test_domain_reboot_setup.py (the coverage test below checks that)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
from pypsrp.powershell import PowerShell, RunspacePool

from conftest import REPO, answers, pool, prop, run, run_failing, started_lab, wait_until, wsman
from qrdr.lab.site import LabSite

pytestmark = pytest.mark.lab

REBOOT_SECONDS = 0.5


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with started_lab(tmp_path_factory, reboot_seconds=REBOOT_SECONDS) as started:
        yield started


def boot_time(runspace) -> str:
    (system,) = run(runspace, "Get-WmiObject", Class="Win32_OperatingSystem")
    return prop(system, "LastBootUpTime")


def test_every_fault_is_proven_by_a_test_of_this_directory():
    """The fault table and these tests cannot drift apart: each fault is injected somewhere here."""
    sources = "".join(path.read_text() for path in Path(__file__).parent.glob("test_*.py"))
    for kind in LabSite.FAULTS:
        assert f'fault("{kind}"' in sources or f'"fault", "{kind}"' in sources, f"fault {kind} is not tested"


def test_unknown_faults_and_hosts_are_named(lab):
    with pytest.raises(ValueError, match="unknown fault 'melt-down'"):
        lab.fault("melt-down", "production")
    with pytest.raises(ValueError, match="no lab host 'EXCH99'"):
        lab.fault("latency", "EXCH99", "10")
    with pytest.raises(ValueError, match="needs a host"):
        lab.fault("power-off")
    with pytest.raises(ValueError, match="second DC"):
        lab.fault("pause-replication")


def test_power_off_refuses_connections_until_power_on(lab):
    with pool(lab, "commserve") as commserve:
        booted = boot_time(commserve)
    assert "powered off" in lab.fault("power-off", "CS01")
    with pytest.raises(Exception) as refused:
        with RunspacePool(wsman(lab, "commserve", connection_timeout=2)):
            pass
    assert "refused" in str(refused.value).lower() or "connection" in str(refused.value).lower(), refused.value
    time.sleep(REBOOT_SECONDS * 2)
    assert not answers(lab, "commserve"), "a powered-off host came back by itself"
    lab.fault("power-on", "commserve")
    wait_until(lambda: answers(lab, "commserve"), 10, "the host answers after power-on")
    with pool(lab, "commserve") as commserve:
        assert boot_time(commserve) > booted


def test_drop_connection_at_the_nth_request(lab):
    with pool(lab, "standby") as standby:
        run(standby, "Get-Service", Name="WinRM")
        lab.fault("drop-connection", "standby", "1")
        shell = PowerShell(standby)
        shell.add_cmdlet("Get-Service").add_parameter("Name", "WinRM")
        with pytest.raises(Exception) as dropped:
            shell.invoke()
        assert "connection" in f"{type(dropped.value).__name__} {dropped.value}".lower(), repr(dropped.value)
    # One-shot: the endpoint serves new connections again.
    with pool(lab, "standby") as standby:
        assert [prop(s, "Status") for s in run(standby, "Get-Service", Name="WinRM")] == ["Running"]


def test_latency_is_added_to_every_request_and_cleared(lab):
    with pool(lab, "standby") as standby:
        endpoint = lab.endpoints["standby"]

        def timed_command() -> tuple[float, int]:
            requests = endpoint.request_count
            started = time.monotonic()
            run(standby, "Get-Service", Name="WinRM")
            return time.monotonic() - started, endpoint.request_count - requests

        timed_command()
        lab.fault("latency", "EXCH02", "150")
        seconds, requests = timed_command()
        assert requests >= 2 and seconds >= 0.15 * requests, (seconds, requests)
        assert "cleared" in lab.fault("clear", "standby")
        assert endpoint.faults.latency_ms == 0  # no timing here: an upper bound would be flaky
        timed_command()


def test_service_fails_to_start_by_hand_and_at_boot(lab):
    lab.fault("service-fails", "standby", "W32Time")
    with pool(lab, "standby") as standby:
        run(standby, "Stop-Service", Name="W32Time", Force=True)
        errors = run_failing(standby, "Start-Service", Name="W32Time")
        assert any("Windows Time" in e for e in errors), errors
        (row,) = run(standby, "Get-WmiObject", Class="Win32_Service", Filter="Name='W32Time'")
        assert (prop(row, "State"), prop(row, "StartMode")) == ("Stopped", "Auto")
        run(standby, "Restart-Computer", Force=True)
    wait_until(lambda: not answers(lab, "standby"), 10, "the standby goes down", 0.05)
    wait_until(lambda: answers(lab, "standby"), 20, "the standby comes back", 0.1)
    with pool(lab, "standby") as standby:
        (row,) = run(standby, "Get-WmiObject", Class="Win32_Service", Filter="Name='W32Time'")
        assert prop(row, "State") == "Stopped"  # an Automatic service that fails stays stopped at boot


def test_never_return_keeps_the_endpoint_away_after_a_reboot(lab):
    lab.fault("never-return", "production")
    with pool(lab, "production") as production:
        run(production, "Get-Service", Name="MSExchangeIS")  # serves as usual until the reboot
        run(production, "Restart-Computer", Force=True)
    wait_until(lambda: not answers(lab, "production"), 10, "production goes down", 0.05)
    time.sleep(REBOOT_SECONDS * 4)
    assert not answers(lab, "production"), "the endpoint came back although it should never return"
    lab.fault("clear", "production")
    lab.fault("power-on", "production")
    wait_until(lambda: answers(lab, "production"), 10, "production answers once the fault is cleared and it is powered on")


# --- through the command line: qrdr lab up / fault / down -----------------------------------------


def qrdr(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qrdr.cli", *args], capture_output=True, text=True, timeout=240,
                          cwd=REPO, env={**os.environ})


def test_faults_through_the_command_line_with_a_second_dc(tmp_path):
    """``qrdr lab up --second-dc``, then ``qrdr lab fault``: latency, service-fails, pause/resume of
    replication (a change on DC1 reaches DC2 only after resume) and power-off, seen by plain
    clients using the endpoints ``--json`` printed."""
    import ssl

    import ldap3
    from pypsrp.wsman import WSMan

    workdir = tmp_path / "cli-lab"
    up = qrdr("lab", "up", "--second-dc", "--reboot-seconds", "0.5", "--dir", str(workdir), "--json")
    assert up.returncode == 0, up.stderr
    described = json.loads(up.stdout)
    try:
        host = described["hosts"]["standby"]
        url = urllib.parse.urlparse(host["winrm_url"])

        def standby_pool() -> RunspacePool:
            return RunspacePool(WSMan(url.hostname, port=url.port, ssl=True, auth="ntlm", username=host["user"],
                                      password=host["password"], cert_validation=host["ca_file"]))

        def fault(*args: str) -> str:
            done = qrdr("lab", "fault", *args, "--dir", str(workdir))
            assert done.returncode == 0, done.stderr
            return done.stdout

        fault("latency", "standby", "200")
        with standby_pool() as standby:
            started = time.monotonic()
            run(standby, "Get-Service", Name="WinRM")
            assert time.monotonic() - started >= 0.2 * 2  # a command is at least two requests
        fault("clear", "standby")

        assert "will fail to start" in fault("service-fails", "EXCH02", "W32Time")
        with standby_pool() as standby:
            run(standby, "Stop-Service", Name="W32Time", Force=True)
            assert run_failing(standby, "Start-Service", Name="W32Time")

        refused = qrdr("lab", "fault", "latency", "EXCH99", "10", "--dir", str(workdir))
        assert refused.returncode != 0 and "EXCH99" in refused.stderr

        dc1, dc2 = described["directory"]

        def connect(dc: dict) -> ldap3.Connection:
            tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=dc["ca_file"], valid_names=[dc["tls_server_name"]])
            server = ldap3.Server(urllib.parse.urlparse(dc["ldaps_url"]).hostname, port=636, use_ssl=True, tls=tls)
            return ldap3.Connection(server, dc["bind_user"], dc["password"], auto_bind=True)

        def description_on(connection: ldap3.Connection) -> str | None:
            connection.search("DC=qrdr,DC=lab", "(sAMAccountName=CS01$)", attributes=["description"])
            values = connection.entries[0].description.values
            return values[0] if values else None

        one, two = connect(dc1), connect(dc2)
        assert "paused" in fault("pause-replication")
        dn = one.entries[0].entry_dn if one.search("DC=qrdr,DC=lab", "(sAMAccountName=CS01$)") else None
        assert one.modify(dn, {"description": [(ldap3.MODIFY_REPLACE, ["changed while paused"])]})
        time.sleep(5)  # replication normally takes 1-4 s
        assert description_on(two) != "changed while paused", "DC2 took a change while its replication was paused"
        assert "resumed" in fault("resume-replication")
        wait_until(lambda: description_on(two) == "changed while paused", 30, "the change reaches DC2 after resume", 0.2)

        assert "powered off" in fault("power-off", "standby")
        with pytest.raises(Exception):
            with standby_pool():
                pass
        status = json.loads(qrdr("lab", "status", "--json", "--dir", str(workdir)).stdout)
        assert (status["hosts"]["standby"]["power"], status["hosts"]["standby"]["endpoint"]) == ("off", "down")
        fault("power-on", "standby")
        deadline = time.monotonic() + 10
        while True:
            try:
                with standby_pool() as standby:
                    run(standby, "Get-Service", Name="WinRM")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
    finally:
        down = qrdr("lab", "down", "--dir", str(workdir))
    assert down.returncode == 0, down.stderr
    assert not workdir.exists()


# --- what a person does at the console (qrdr's manual steps) -------------------------------------


def test_partition_by_hand_gives_the_standby_its_exchange_drives(lab):
    wanted = {volume.target_letter.rstrip(":").upper() + ":" for volume in lab.site.volumes}

    def drives(runspace) -> dict[str, str | None]:
        return {prop(d, "DeviceID"): prop(d, "FileSystem") for d in run(runspace, "Get-WmiObject",
                                                                        Class="Win32_LogicalDisk")}

    with pool(lab, "standby") as standby:
        assert not wanted & set(drives(standby))  # raw disks: no drive letters yet
        assert "partitioned and formatted by hand" in lab.fault("partition", "standby")
        assert {drive: drives(standby)[drive] for drive in wanted} == {drive: "NTFS" for drive in wanted}
    assert "nothing was missing" in lab.fault("partition", "standby")


def boot_time_or_none(lab) -> str | None:
    """LastBootUpTime of production, or None while it does not answer. The safe-mode fault
    restarts it twice (into safe mode, then normally): it may go down again between answering and
    the pool's close, which is not answering either."""
    if not answers(lab, "production"):
        return None
    try:
        with pool(lab, "production") as production:
            return boot_time(production)
    except requests.exceptions.ConnectionError:
        return None


def test_safe_mode_services_by_hand_leaves_exchange_manual_and_stopped_after_a_normal_boot(lab):
    with pool(lab, "production") as production:
        booted = boot_time(production)
    said = lab.fault("safe-mode-services", "production")
    assert "set to Manual" in said and "MSExchangeIS" in said
    wait_until(lambda: boot_time_or_none(lab) not in (None, booted), 20, "production booted again", 0.1)
    with pool(lab, "production") as production:
        rows = run(production, "Get-WmiObject", Class="Win32_Service",
                   Filter="Name='MSExchangeSA' OR Name='MSExchangeIS' OR Name='MSExchangeMTA'")
        assert {prop(r, "Name"): (prop(r, "StartMode"), prop(r, "State")) for r in rows} == {
            name: ("Manual", "Stopped") for name in ("MSExchangeSA", "MSExchangeIS", "MSExchangeMTA")}
