"""The lab refuses what real Windows refuses, seen by a plain pypsrp client (site e2003-w2003-vss).

Each test here is a thing the lab once accepted and Windows does not (docs/design/host-commands.md
cites the source of every answer): a program started in a WinRM shell dies with the shell and
within its memory quota, and has no credentials for a third computer; WinRM 2.0's shell quota and
idle timeout; schtasks' Windows Server 2003 syntax and its deferred logon failure; Windows
PowerShell's Set-Service without -Force; eseutil's joined switches; FJoinOptions Windows Server
2003 does not know.

Every test opens its own pools (``with pool(...)``): the shell quota is per user and a shell's end
ends what it started.
"""

from __future__ import annotations

import contextlib
import time

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import RunspacePoolState

from conftest import (ad_password, domain_admin, file_text, last_exit_code, native, pool, prop, run, run_as_task,
                      run_failing, schtasks, set_content, started_lab, task_rows, wait_until)

pytestmark = pytest.mark.lab

SETUP_LOG = r"C:\Exchange Server Setup Progress.log"
SETUP_KEY = "HKLM:\\SOFTWARE\\Microsoft\\Exchange\\Setup"
#: ERROR_COMMITMENT_LIMIT: what a program the shell's MaxMemoryPerShellMB refuses ends with (widely reported).
PAGING_FILE_TOO_SMALL = 1455
#: A file the lab's hosts run as a program that does nothing until it is stopped.
WAITER = r"C:\qrdr\waiter.exe"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with started_lab(tmp_path_factory, "e2003-w2003-vss") as started:
        yield started


def unattend(lab, action: str = "Install") -> str:
    lines = ["[Version]", 'Signature = "$Windows NT$"', "[Component List]"]
    lines += [f"{component} = {action}" for component in lab.site.exchange.components]
    return "\r\n".join(lines) + "\r\n"


def process_ids(runspace) -> set[int]:
    return {int(prop(p, "Id")) for p in run(runspace, "Get-Process")}


def exchange_installed(runspace) -> bool:
    (exists,) = run(runspace, "Test-Path", Path=SETUP_KEY)
    return bool(exists)


def setup_log(runspace) -> str:
    return file_text(runspace, SETUP_LOG) or ""


# --- programs belong to the shell that started them ------------------------------------------------


def test_setup_started_inside_the_shell_ends_at_the_shells_memory_quota(lab):
    """WinRM 2.0's MaxMemoryPerShellMB (150) holds every process of the shell: setup.exe needs more."""
    with pool(lab, "standby") as standby:
        set_content(standby, r"C:\qrdr\exchange.ini", unattend(lab))
        (process,) = run(standby, "Start-Process", FilePath=lab.site.exchange.setup_path,
                         ArgumentList=["/DisasterRecovery", "/UnattendFile", r"C:\qrdr\exchange.ini"], PassThru=True)
        assert prop(process, "HasExited") is True
        assert prop(process, "ExitCode") == PAGING_FILE_TOO_SMALL
        assert not exchange_installed(standby)


def test_a_program_started_in_a_shell_ends_with_the_shell(lab):
    with pool(lab, "standby") as first:
        set_content(first, WAITER, "lab program")
        (process,) = run(first, "Start-Process", FilePath=WAITER, PassThru=True)
        process_id = int(prop(process, "Id"))
        assert process_id in process_ids(first)
    with pool(lab, "standby") as second:
        assert process_id not in process_ids(second)


def test_a_program_created_through_wmi_holds_no_credentials_for_the_directory(lab):
    """Win32_Process.Create starts the program outside the shell's job, still as the session's network
    logon: Exchange setup then cannot bind to a domain controller."""
    with pool(lab, "standby") as first:
        set_content(first, r"C:\qrdr\exchange.ini", unattend(lab))
        (created,) = run(first, "Invoke-WmiMethod", Class="Win32_Process", Name="Create",
                         ArgumentList=[f'"{lab.site.exchange.setup_path}" /DisasterRecovery /UnattendFile '
                                       r'C:\qrdr\exchange.ini'])
        assert prop(created, "ReturnValue") == 0
    with pool(lab, "standby") as second:
        log = setup_log(second)
        assert "could not read the Exchange configuration from Active Directory" in log, log
        assert "(0x80072020)" in log
        assert not exchange_installed(second)


def test_a_task_with_a_wrong_password_is_created_and_then_could_not_start(lab):
    """schtasks does not check /rp when it creates the task; the logon fails when it runs."""
    with pool(lab, "standby") as standby:
        output, exit_file = run_as_task(standby, lab, "qrdr-wrong", "sysocmgr", "/q", password="Not-The-Passw0rd!")
        row = task_rows(standby)["qrdr-wrong"]
        assert (row["Status"], int(row["Last Result"])) == ("Could not start", 0x8007052E)
        assert file_text(standby, exit_file) is None
        log = file_text(standby, r"C:\WINDOWS\SchedLgU.txt")
        assert "0x8007052e: Logon failure: unknown user name or bad password." in log, log
        assert "Not-The-Passw0rd!" not in log
        schtasks(standby, "/delete", "/tn", "qrdr-wrong", "/f")


def test_schtasks_of_windows_server_2003_has_no_tn_on_query_and_no_run_once_in_the_past(lab):
    with pool(lab, "standby") as standby:
        lines, errors, code = schtasks(standby, "/query", "/tn", "qrdr-setup")
        assert (code, errors[0]) == (1, "ERROR: Invalid argument/option - '/tn'."), errors
        lines, errors, code = schtasks(standby, "/query", "/v")
        assert (code, errors) == (1, ["ERROR: /V is valid only with the LIST or CSV format."])
        lines, errors, code = schtasks(standby, "/create", "/tn", "past", "/tr", r"C:\qrdr\x.cmd", "/sc", "ONCE",
                                       "/st", "00:00", "/sd", "01/01/2001", "/ru", "QRDR\\Administrator",
                                       "/rp", ad_password(lab))
        assert code == 1 and "past" in errors[0], errors
        lines, errors, code = schtasks(standby, "/create", "/tn", "long", "/tr", "C:\\" + "x" * 300, "/sc", "ONCE",
                                       "/st", "00:00", "/sd", "12/31/2099", "/ru", "QRDR\\Administrator",
                                       "/rp", ad_password(lab))
        assert (code, errors) == (1, ["ERROR: Value for '/tr' option cannot be more than 261 character(s)."])
        lines, errors, code = schtasks(standby, "/run", "/tn", "no-such-task")
        assert (code, errors) == (1, ["ERROR: The system cannot find the file specified."])


# --- WinRM 2.0's quotas ----------------------------------------------------------------------------


def test_a_sixth_shell_of_one_user_is_refused_until_one_closes(lab):
    with contextlib.ExitStack() as stack:
        pools = [stack.enter_context(pool(lab, "commserve")) for _ in range(5)]
        with pytest.raises(WSManFaultError) as refused:
            with pool(lab, "commserve"):
                pass
        assert "maximum number of concurrent shells for this user has been exceeded" in str(refused.value)
        pools[0].close()
        with pool(lab, "commserve") as sixth:
            assert run(sixth, "Get-WmiObject", Class="Win32_ComputerSystem")


def test_an_idle_shell_is_deleted_and_ends_what_it_started(lab):
    """WinRM's IdleTimeout (180 s on WinRM 2.0; set short here as ``winrm set winrm/config/winrs`` would)."""
    endpoint = lab.endpoints["standby"]
    saved = endpoint.idle_timeout
    endpoint.idle_timeout = 1.0
    try:
        with pool(lab, "standby") as idle:
            set_content(idle, WAITER, "lab program")
            (process,) = run(idle, "Start-Process", FilePath=WAITER, PassThru=True)
            time.sleep(1.5)
            with pool(lab, "standby") as other:  # the service deletes idle shells as requests come
                assert int(prop(process, "Id")) not in process_ids(other)
            with pytest.raises(WSManFaultError) as gone:
                run(idle, "Get-Process")
            assert "the shell was not found on the server" in str(gone.value)
            idle.state = RunspacePoolState.BROKEN  # its shell is gone: nothing left to close
    finally:
        endpoint.idle_timeout = saved


# --- Windows PowerShell 2.0's cmdlets, and the programs' own syntax --------------------------------


def test_set_service_without_force_refuses_a_service_with_dependents_or_dependencies(lab):
    with pool(lab, "production") as production:
        errors = run_failing(production, "Set-Service", Name="MSExchangeSA", Status="Stopped")
        assert len(errors) == 1 and "because it has dependent services" in errors[0], errors
        errors = run_failing(production, "Set-Service", Name="MSExchangeMTA", Status="Stopped")
        assert len(errors) == 1 and "because it is dependent on other services" in errors[0], errors
        (service,) = run(production, "Get-Service", Name="MSExchangeMTA")
        assert str(prop(service, "Status")) in ("Running", "4")
        errors = run_failing(production, "Set-Service", Name="MSExchangeIS", Status="Halted")
        assert "does not belong to the set \"Running,Stopped,Paused\"" in errors[0], errors


def test_eseutil_takes_paths_joined_to_their_switches(lab):
    with pool(lab, "production") as production:
        lines, code = native(production, "eseutil", "/r", "E00", "/l", r"D:\Exchsrvr\mdbdata", "/s",
                             r"D:\Exchsrvr\mdbdata")
        assert code == -1 and any(line.startswith("ERROR: Invalid argument(s)") for line in lines), lines


def test_each_runspace_keeps_its_own_last_exit_code(lab):
    with pool(lab, "production") as first, pool(lab, "production") as second:
        assert native(first, "eseutil", "/r", "E00", "/l", "X")[1] == -1
        assert last_exit_code(second) == 0
        assert last_exit_code(first) == -1


def test_netdom_without_userO_cannot_act_on_another_computer_from_a_session(lab):
    """netdom connects to the computer it names as the session's logon unless /UserO /PasswordO say
    otherwise: the second hop."""
    with pool(lab, "standby") as standby:
        lines, code = native(standby, "netdom", "renamecomputer", lab.bound_site.hosts["production"].name,
                             "/NewName:EXCH09", "/UserD:QRDR\\Administrator", f"/PasswordD:{ad_password(lab)}",
                             "/Force")
        assert code != 0 and lines[0] == "Access is denied.", lines


def test_join_options_of_windows_vista_and_later_are_not_supported(lab):
    """FJoinOptions 0x400 (JOIN_WITH_NEW_NAME) is Vista and later: Windows Server 2003 answers 50."""
    with pool(lab, "standby") as standby:
        (answer,) = run(standby, "Get-WmiObject", Class="Win32_ComputerSystem",
                        pipe=[("Invoke-WmiMethod", {"Name": "JoinDomainOrWorkgroup",
                                                    "ArgumentList": [None, 0x401, lab.site.domain.dns_name,
                                                                     ad_password(lab), "QRDR\\Administrator"]})])
        assert prop(answer, "ReturnValue") == 50


def test_wmi_credentials_for_the_local_computer_are_refused(lab):
    with pool(lab, "standby") as standby:
        errors = run_failing(standby, "Get-WmiObject", Class="Win32_ComputerSystem", ComputerName="localhost",
                             Credential=domain_admin(lab))
        assert [e.strip() for e in errors] == ["User credentials cannot be used for local connections"]
        errors = run_failing(standby, "Get-WmiObject", Class="Win32_ComputerSystem",
                             ComputerName=lab.bound_site.hosts["production"].name)
        assert errors == ["Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))"]


# --- last: a long program run as a task (it uninstalls Exchange from production) -----------------


@pytest.fixture
def slow_setup(lab):
    """Setup takes 3 s (the lab's default is 0.3 s): long enough to outlive the shell that started it."""
    options = lab.organization.options
    saved, options.setup_seconds = options.setup_seconds, 3.0
    yield
    options.setup_seconds = saved


def test_setup_run_by_a_task_with_a_password_outlives_the_shells_that_started_and_watched_it(lab, slow_setup):
    """The appendix's uninstall on the source server, as qrdr runs every long program."""
    media = lab.site.exchange.setup_path
    production_files = lab.hosts["production"].files
    production_files.add_drive(media[:2])  # the admin puts the Exchange CD in (the lab seeds the standby's only)
    production_files.write_text(media, "lab Exchange media setup.exe")
    with pool(lab, "production") as first:
        set_content(first, r"C:\qrdr\remove.ini", unattend(lab, "Remove"))
        output, exit_file = run_as_task(first, lab, "qrdr-setup", media, "/UnattendFile", r"C:\qrdr\remove.ini")
        assert task_rows(first)["qrdr-setup"]["Status"] == "Running"
    # The shell that started it is gone; later ones see setup still running, then finished.
    with pool(lab, "production") as second:
        assert task_rows(second)["qrdr-setup"]["Status"] == "Running"
    with pool(lab, "production") as third:
        wait_until(lambda: file_text(third, exit_file) is not None, 20, "setup writes its exit code")
        assert file_text(third, exit_file).strip() == "0"
        row = task_rows(third)["qrdr-setup"]
        assert (row["Status"], row["Last Result"], row["Run As User"]) == ("", "0", "QRDR\\Administrator")
        assert "Setup completed" in setup_log(third)
        assert not exchange_installed(third)
        lines, errors, code = schtasks(third, "/delete", "/tn", "qrdr-setup", "/f")
        assert code == 0 and "qrdr-setup" not in task_rows(third), errors
