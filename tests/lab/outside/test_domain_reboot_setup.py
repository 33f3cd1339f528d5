"""Computer names, domain membership, reboots and Exchange setup, checked from the outside over
HTTPS (NTLM with channel binding, the lab CA checked) and in the real directory with ldap3.

The tests of this module tell one story on one lab (site e2003-w2003-qsnap), in order, as the
runbook does it: the standby's disks are partitioned and Quick Recovery copies production's
volumes to it; production dies; the standby leaves the domain, takes production's name, joins
again reusing production's computer account; Exchange is installed on it in disaster-recovery
mode and patched; the copied databases are soft-recovered and mounted; then Exchange is removed
(leaving what the appendix cleans up) and installed again with setup hanging (KB Q280432).
Each test needs the ones before it.
"""

from __future__ import annotations

import itertools
import time

import pytest
from pypsrp.exceptions import AuthenticationError, WinRMTransportError
from pypsrp.powershell import RunspacePool

from conftest import (ad_password, answers, computer_object, configure_quick_recovery, disabled, file_text, jobs,
                      ldap, local_password, native, pool, prop, run, run_as_task, run_failing, run_script, samba_tool,
                      set_content, started_lab, store_script, wait_until, wsman)

pytestmark = pytest.mark.lab

REBOOT_SECONDS = 1.5
ADMIN = "QRDR\\Administrator"
SETUP = r"Z:\setup\i386\setup.exe"
UPDATE = r"Z:\sp\setup\i386\update.exe"
SETUP_LOG = r"C:\Exchange Server Setup Progress.log"
SETUP_KEY = "HKLM:\\SOFTWARE\\Microsoft\\Exchange\\Setup"
UNINSTALL = "HKLM:\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Uninstall"
UNINSTALL_KEYS = ("{65D9643D-06E8-47d6-865E-80F4CC9BB879}", "{13F9F3AF-9463-4492-854A-191CCC441FDB}")
BIN = r"C:\Program Files\Exchsrvr\bin"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with started_lab(tmp_path_factory, "e2003-w2003-qsnap", reboot_seconds=REBOOT_SECONDS) as started:
        yield started


def computer(runspace: RunspacePool) -> dict:
    (system,) = run(runspace, "Get-WmiObject", Class="Win32_ComputerSystem")
    return {k: prop(system, k) for k in ("Name", "Domain", "PartOfDomain", "Workgroup")}


def boot_time(runspace: RunspacePool) -> str:
    (system,) = run(runspace, "Get-WmiObject", Class="Win32_OperatingSystem")
    return prop(system, "LastBootUpTime")


def wmi_method(runspace: RunspacePool, name: str, arguments: list) -> int:
    """``Get-WmiObject Win32_ComputerSystem | Invoke-WmiMethod -Name NAME -ArgumentList ...``."""
    (answer,) = run(runspace, "Get-WmiObject", Class="Win32_ComputerSystem",
                    pipe=[("Invoke-WmiMethod", {"Name": name, "ArgumentList": arguments})])
    return int(prop(answer, "ReturnValue"))


def restart(lab, key: str, **logon) -> float:
    """Restart-Computer -Force; returns how long a client saw the endpoint away."""
    with pool(lab, key, **logon) as opened:
        run(opened, "Restart-Computer", Force=True)
    wait_until(lambda: not answers(lab, key, **logon), 10, f"{key} goes down for its reboot", 0.05)
    went = time.monotonic()
    wait_until(lambda: answers(lab, key, **logon), 30, f"{key} comes back after its reboot", 0.1)
    return time.monotonic() - went


def local(lab) -> dict:
    return {"user": "Administrator", "password": local_password(lab)}


# --- rename in the domain; reboot -----------------------------------------------------------------


def test_rename_in_the_domain_renames_the_ad_account_at_once_and_the_host_at_reboot(lab):
    connection = ldap(lab)
    with pool(lab, "standby") as standby:
        # Production's name is taken in the directory: 2224, nothing changes.
        assert wmi_method(standby, "Rename", ["EXCH01", ad_password(lab), ADMIN]) == 2224
        assert wmi_method(standby, "Rename", ["CS-02", "Wrong-Passw0rd!", ADMIN]) == 1326
    assert computer_object(connection, lab, "EXCH02") is not None

    with pool(lab, "commserve") as commserve:
        booted = boot_time(commserve)
        assert wmi_method(commserve, "Rename", ["CS02", ad_password(lab), ADMIN]) == 0
        account = computer_object(connection, lab, "CS02")
        assert account is not None and computer_object(connection, lab, "CS01") is None
        assert account["dn"].startswith("CN=CS02,") and account["dNSHostName"] == "cs02.qrdr.lab"
        listed = samba_tool(lab, "computer", "list").split()
        assert "CS02$" in listed and "CS01$" not in listed, listed
        assert computer(commserve)["Name"] == "CS01"  # pending until the reboot
    away = restart(lab, "commserve")
    assert away >= REBOOT_SECONDS * 0.9, f"the endpoint was away {away:.2f} s, the reboot takes {REBOOT_SECONDS} s"
    with pool(lab, "commserve") as commserve:
        assert computer(commserve)["Name"] == "CS02"
        assert boot_time(commserve) > booted


# --- the standby takes production's place ---------------------------------------------------------


def test_standby_disks_partitioned_and_quick_recovery_copies_production_to_them(lab):
    with pool(lab, "standby") as standby:
        set_content(standby, r"C:\qrdr\diskpart.txt", "select disk 1\r\ncreate partition primary\r\nassign letter=E\r\n"
                    "select disk 2\r\ncreate partition primary\r\nassign letter=F\r\n")
        lines, code = native(standby, "diskpart", "/s", r"C:\qrdr\diskpart.txt")
        assert code == 0, lines
        for letter in ("E:", "F:"):
            assert native(standby, "format", letter, "/fs:ntfs", "/q", "/y", f"/v:Exchange{letter[0]}")[1] == 0
    with pool(lab, "commserve") as commserve:
        configure_quick_recovery(commserve, lab)
        job_id = int(lab.fault("qr-update").split("job ")[1].split(":")[0])
        (job,) = jobs(commserve, job_id=job_id)
        assert (job["PHASE"], job["STATUS"]) == ("Complete", "Completed"), job
    with pool(lab, "standby") as standby:
        assert run(standby, "Test-Path", Path=r"E:\Exchsrvr\mdbdata\priv1.edb") == [True]



def test_production_powered_off_refuses_connections(lab):
    lab.fault("power-off", "production")
    assert not answers(lab, "production")


def test_leaving_the_domain_disables_the_account_and_applies_at_reboot(lab):
    connection = ldap(lab)
    assert not disabled(computer_object(connection, lab, "EXCH02"))
    with pool(lab, "standby") as standby:
        assert wmi_method(standby, "UnjoinDomainOrWorkgroup", [4, ad_password(lab), ADMIN]) == 0
        assert disabled(computer_object(connection, lab, "EXCH02"))
        assert computer(standby)["PartOfDomain"] is True  # until the reboot
    restart(lab, "standby", **local(lab))
    with pool(lab, "standby", **local(lab)) as standby:
        assert computer(standby) == {"Name": "EXCH02", "Domain": "WORKGROUP", "PartOfDomain": False,
                                     "Workgroup": "WORKGROUP"}
    # A workgroup computer logs on local accounts only.
    with pytest.raises((AuthenticationError, WinRMTransportError)):
        with RunspacePool(wsman(lab, "standby")):
            pass


def test_workgroup_rename_then_join_reusing_productions_account(lab):
    connection = ldap(lab)
    before = computer_object(connection, lab, "EXCH01")
    with pool(lab, "standby", **local(lab)) as standby:
        assert wmi_method(standby, "Rename", ["EXCH01", None, None]) == 0
        assert computer(standby)["Name"] == "EXCH02"
    restart(lab, "standby", **local(lab))
    time.sleep(1.1)  # pwdLastSet has a resolution of its own; make the change visible
    with pool(lab, "standby", **local(lab)) as standby:
        assert computer(standby)["Name"] == "EXCH01"
        # AccountOU, FJoinOptions (join + reuse the existing account), Name, Password, UserName
        assert wmi_method(standby, "JoinDomainOrWorkgroup", [None, 1 + 32, "qrdr.lab", "Wrong-Passw0rd!", ADMIN]) == 1326
        assert wmi_method(standby, "JoinDomainOrWorkgroup", [None, 1 + 32, "qrdr.lab", ad_password(lab), ADMIN]) == 0
    after = computer_object(connection, lab, "EXCH01")
    assert after["dn"] == before["dn"] and not disabled(after)
    assert after["pwdLastSet"] != before["pwdLastSet"], "the join did not set the machine password"
    # The machine password the host set is the account's password now: the computer binds with it.
    machine_password = lab.hosts["standby"].directory.machine_passwords["EXCH01"]
    as_machine = ldap(lab, user="EXCH01$@qrdr.lab", password=machine_password)
    assert as_machine.bound
    as_machine.unbind()
    restart(lab, "standby", **local(lab))
    with pool(lab, "standby") as standby:  # domain logons work again
        assert computer(standby) == {"Name": "EXCH01", "Domain": "qrdr.lab", "PartOfDomain": True, "Workgroup": None}


# --- Exchange setup in disaster-recovery mode ----------------------------------------------------


def running(runspace: RunspacePool, exit_file: str) -> bool:
    """Whether the program a task started has not written its exit code yet."""
    return file_text(runspace, exit_file) is None


_runs = itertools.count(1)


def start(lab, runspace: RunspacePool, program: str, *arguments: str) -> str:
    """Run setup.exe/update.exe as a scheduled task logged on with the domain administrator's password:
    started in the WinRM shell it would die at the shell's memory quota and reach no domain controller
    (test_windows_strictness.py). Returns the file its exit code goes to."""
    _output, exit_file = run_as_task(runspace, lab, f"qrdr-setup-{next(_runs)}", program, *arguments)
    return exit_file


def setup_process_ids(runspace: RunspacePool) -> list[int]:
    return [int(prop(p, "Id")) for p in run(runspace, "Get-Process") if prop(p, "ProcessName") == "setup"]


def log_text(runspace: RunspacePool) -> str:
    return "\n".join(str(line) for line in run(runspace, "Get-Content", Path=SETUP_LOG))


def unattend(lab, action: str) -> str:
    lines = ["[Version]", 'Signature = "$Windows NT$"', "[Component List]"]
    lines += [f"{component} = {action}" for component in lab.site.exchange.components]
    return "\r\n".join(lines) + "\r\n"


def setup_key(runspace: RunspacePool) -> dict:
    (key,) = run(runspace, "Get-ItemProperty", Path=SETUP_KEY)
    return {k: prop(key, k) for k in ("Services", "MsiProductMajor", "ServicePackBuild", "NewestBuild")}


def exchange_states(runspace: RunspacePool) -> dict[str, str]:
    rows = run(runspace, "Get-WmiObject", Class="Win32_Service",
               Filter="Name='MSExchangeSA' OR Name='MSExchangeIS' OR Name='MSExchangeMTA' OR Name='MSExchangeMGMT'")
    return {prop(row, "Name"): prop(row, "State") for row in rows}


def test_disaster_recovery_setup_needs_the_components_then_installs_and_exits(lab):
    with pool(lab, "standby") as standby:
        set_content(standby, r"C:\qrdr\exchange.ini", unattend(lab, "Install"))
        exit_file = start(lab, standby, SETUP, "/DisasterRecovery", "/UnattendFile", r"C:\qrdr\exchange.ini")
        wait_until(lambda: not running(standby, exit_file), 5, "setup refuses at once")
        log = log_text(standby)
        for missing in ("SMTP service", "NNTP service", "ASP.NET"):
            assert missing in log, log

        set_content(standby, r"C:\qrdr\sysoc.txt", "[Components]\r\niis_nntp = on\r\niis_smtp = on\r\naspnet = on\r\n")
        lines, code = native(standby, "sysocmgr", r"/i:C:\WINDOWS\inf\sysoc.inf", r"/u:C:\qrdr\sysoc.txt", "/q")
        assert code == 0, lines
        exit_file = start(lab, standby, SETUP, "/DisasterRecovery", "/UnattendFile", r"C:\qrdr\exchange.ini")
        assert running(standby, exit_file)
        wait_until(lambda: not running(standby, exit_file), 10, "setup finishes")
        assert "Setup completed" in log_text(standby)
        assert exchange_states(standby) == {name: "Running" for name in
                                            ("MSExchangeSA", "MSExchangeIS", "MSExchangeMTA", "MSExchangeMGMT")}
        assert setup_key(standby) == {"Services": r"C:\Program Files\Exchsrvr", "MsiProductMajor": 6,
                                      "ServicePackBuild": 0, "NewestBuild": 6944}
        lines, code = native(standby, "eseutil", "/mh", r"E:\nothing.edb")
        assert code == -1811, lines  # eseutil is there now; the file is not

        # setup again: refused, Exchange is installed
        exit_file = start(lab, standby, SETUP, "/DisasterRecovery", "/UnattendFile", r"C:\qrdr\exchange.ini")
        wait_until(lambda: not running(standby, exit_file), 5, "a second setup refuses at once")
        assert "already installed" in log_text(standby)


def test_update_needs_disaster_recovery_mode_then_applies_the_service_pack(lab):
    with pool(lab, "standby") as standby:
        exit_file = start(lab, standby, UPDATE)
        wait_until(lambda: not running(standby, exit_file), 5, "update.exe refuses at once")
        assert "run update.exe /DisasterRecovery" in log_text(standby)
        assert setup_key(standby)["ServicePackBuild"] == 0
        exit_file = start(lab, standby, UPDATE, "/DisasterRecovery")
        wait_until(lambda: not running(standby, exit_file), 10, "update.exe finishes")
        assert setup_key(standby)["ServicePackBuild"] == setup_key(standby)["NewestBuild"] == 7638


def test_copied_databases_are_dirty_until_soft_recovery_then_mount(lab):
    with pool(lab, "standby") as standby:
        lines, code = native(standby, "eseutil", "/mh", r"E:\Exchsrvr\mdbdata\priv1.edb")
        assert code == 0 and any(line.strip() == "State: Dirty Shutdown" for line in lines), lines
        with pytest.raises(AssertionError) as refused:
            store_script(standby, "mount_exchange_store.ps1", Name="Mailbox Store (EXCH01)")
        assert "-550" in str(refused.value), refused.value
        lines, code = native(standby, "eseutil", "/r", "E00", r"/lF:\Exchsrvr\mdbdata", r"/sF:\Exchsrvr\mdbdata")
        assert code == 0, lines
        lines, code = native(standby, "eseutil", "/mh", r"E:\Exchsrvr\mdbdata\priv1.edb")
        assert any(line.strip() == "State: Clean Shutdown" for line in lines), lines
        store_script(standby, "mount_exchange_store.ps1", Name="Mailbox Store (EXCH01)")
        mounted = {prop(s, "Name"): prop(s, "Mounted") for s in store_script(standby, "get_exchange_store.ps1")}
        assert mounted["Mailbox Store (EXCH01)"] is True, mounted


def test_uninstall_leaves_the_uninstall_keys_and_dlls_held_open_until_the_process_is_stopped(lab):
    with pool(lab, "standby") as standby:
        set_content(standby, r"C:\qrdr\remove.ini", unattend(lab, "Remove"))
        exit_file = start(lab, standby, SETUP, "/UnattendFile", r"C:\qrdr\remove.ini")
        wait_until(lambda: not running(standby, exit_file), 10, "the uninstall finishes")
        assert run(standby, "Test-Path", Path=SETUP_KEY) == [False]
        assert not exchange_states(standby)
        for key in UNINSTALL_KEYS:
            assert run(standby, "Test-Path", Path=f"{UNINSTALL}\\{key}") == [True], key
        for dll in ("exchmem.dll", "exsp.dll", "pttrace.dll"):
            assert run(standby, "Test-Path", Path=f"{BIN}\\{dll}") == [True], dll

        errors = run_failing(standby, "Remove-Item", Path=f"{BIN}\\exchmem.dll", Force=True)
        assert any("being used by another process" in e for e in errors), errors
        holders = run_script(standby, "find_locking_process.ps1", Path=BIN)
        assert {prop(h, "ProcessName") for h in holders} == {"wmiprvse"}, holders
        run(standby, "Stop-Process", Id=int(prop(holders[0], "Id")), Force=True)
        run(standby, "Remove-Item", Path=r"C:\Program Files\Exchsrvr", Recurse=True, Force=True)
        for key in UNINSTALL_KEYS:
            run(standby, "Remove-Item", Path=f"{UNINSTALL}\\{key}", Recurse=True, Force=True)
        assert run(standby, "Test-Path", Path=r"C:\Program Files\Exchsrvr") == [False]
        assert run(standby, "Test-Path", Path=f"{UNINSTALL}\\{UNINSTALL_KEYS[0]}") == [False]


def test_q280432_setup_hangs_with_the_system_attendant_running_and_killing_it_keeps_exchange(lab):
    assert "hang" in lab.fault("setup-hangs")
    with pool(lab, "standby") as standby:
        exit_file = start(lab, standby, SETUP, "/DisasterRecovery", "/UnattendFile", r"C:\qrdr\exchange.ini")
        wait_until(lambda: exchange_states(standby).get("MSExchangeSA") == "Running", 10,
                   "the System Attendant starts")
        time.sleep(1.0)  # several times the lab's setup time: a normal setup would have exited
        assert running(standby, exit_file), "setup exited although it should hang"
        assert "Setup completed" not in log_text(standby).rsplit("Starting", 1)[-1]
        (process_id,) = setup_process_ids(standby)
        run(standby, "Stop-Process", Id=process_id, Force=True)
        wait_until(lambda: not running(standby, exit_file), 5, "the task's batch goes on once setup is stopped")
        assert not setup_process_ids(standby)
        assert setup_key(standby)["MsiProductMajor"] == 6  # Exchange stays installed
