"""The runbook end to end on the simulated Exchange and CommServe, at the command level a
plugin uses: build the standby, create the QR volumes, lose production, promote, clean up."""

from __future__ import annotations

import time

from conftest import (COMMCELL_PASSWORD, SiteLab, documented_requests, make_site, native, run, run_script,
                      set_content, write_unattend)

from qrdr.lab.sim import exchange
from qrdr.lab.sim.objects import prop

MAILBOX, PUBLIC = "Mailbox Store (EXCH01)", "Public Folder Store (EXCH01)"
EXCHANGE_SERVICES = ["MSExchangeSA", "MSExchangeIS", "MSExchangeMTA", "RESvc", "MSExchangeMGMT"]


def ok(result):
    assert result.failed is None and not result.errors, (result.failed, result.errors)
    return result.output


def start(host, program, *arguments):
    [shown] = ok(run(host, "Start-Process", FilePath=program, ArgumentList=list(arguments), PassThru=True))
    return prop(shown, "Id")


def rename(host, name):
    host.pending_name = name
    host.restart()


def test_runbook_from_standby_build_to_promote_and_cleanup():
    lab = SiteLab(make_site(), options=exchange.LabOptions(setup_seconds=0.05, setup_hangs_at_system_attendant=True))
    production, standby, cs = lab.production, lab.standby, lab.cs

    # Configure 1: production's Exchange services stopped and Manual, renamed -TEMP.
    for name in reversed(EXCHANGE_SERVICES):
        ok(run(production, "Stop-Service", Name=name, Force=True))
        ok(run(production, "Set-Service", Name=name, StartupType="Manual"))
    rename(production, "EXCH01-TEMP")
    # 2.1-2.4: the standby under production's name, prerequisites, setup /DisasterRecovery (hangs: Q280432).
    rename(standby, "EXCH01")
    set_content(standby, r"C:\qrdr\sysoc.txt", "[Components]\r\niis_nntp = on\r\niis_smtp = on\r\naspnet = on")
    assert native(standby, "sysocmgr", r"/i:C:\WINDOWS\inf\sysoc.inf", r"/u:C:\qrdr\sysoc.txt", "/q")[1] == 0
    unattend = write_unattend(standby, lab.site.exchange.components)
    setup_id = start(standby, r"Z:\setup\i386\setup.exe", "/DisasterRecovery", "/UnattendFile", unattend)
    deadline = time.monotonic() + 5
    while not standby.service("MSExchangeSA") or not standby.service("MSExchangeSA").running:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    ok(run(standby, "Stop-Process", Id=setup_id, Force=True))
    # 2.5: the service pack in DR mode.
    update_id = start(standby, r"Z:\sp2\setup\i386\update.exe", "/DisasterRecovery")
    while update_id in standby.processes:
        assert time.monotonic() < deadline + 5
        time.sleep(0.02)
    assert standby.ended[update_id].exit_code == 0
    [key] = ok(run(standby, "Get-ItemProperty", Path=exchange.SETUP_KEY))
    assert prop(key, "ServicePackBuild") == 7638
    # 2.6-2.7 and 2.8-2.9: standby services Manual and stopped, names back, production running again.
    for name in reversed(EXCHANGE_SERVICES):
        ok(run(standby, "Stop-Service", Name=name, Force=True))
        ok(run(standby, "Set-Service", Name=name, StartupType="Manual"))
    rename(standby, "EXCH02")
    rename(production, "EXCH01")
    for name in EXCHANGE_SERVICES:
        ok(run(production, "Set-Service", Name=name, StartupType="Automatic"))
        ok(run(production, "Start-Service", Name=name))
    assert all(prop(s, "Mounted") for s in ok(run_script(production, "get_exchange_store.ps1")))

    # Configure the Quick Recovery Agent.
    assert native(cs, "qlogin", "-cs", "CS01", "-u", "admin", "-clp", COMMCELL_PASSWORD)[1] == 0
    for request in documented_requests()[:6]:
        set_content(cs, r"C:\qrdr\request.xml", request)
        lines, code = native(cs, "qoperation", "execute", "-af", r"C:\qrdr\request.xml")
        assert code == 0, lines
    exchange.for_host(production).write_transactions(4)
    lab.commserve.run_incremental_update()

    # Production dies; the newest QR job is complete; the standby takes production's name.
    production.power_off()
    lines, _ = native(cs, "qlist", "jobhistory", "-c", "EXCH01", "-a", "Q_QR", "-dispJobTimeUnix")
    assert lines[-1].split()[1] == "Completed"  # the newest QR job
    rename(standby, "EXCH01")
    for name in EXCHANGE_SERVICES:
        ok(run(standby, "Set-Service", Name=name, StartupType="Automatic"))
        ok(run(standby, "Start-Service", Name=name))
    refused = run_script(standby, "mount_exchange_store.ps1", Name=MAILBOX)
    assert "JET_errDatabaseDirtyShutdown" in refused.failed.message
    logs = r"F:\Exchsrvr\mdbdata"
    assert native(standby, "eseutil", "/r", "E00", "/l", logs, "/s", logs)[1] == -1  # a path apart from its switch
    assert native(standby, "eseutil", "/r", "E00", f"/l{logs}", f"/s{logs}")[1] == 0
    for store in (MAILBOX, PUBLIC):
        ok(run_script(standby, "mount_exchange_store.ps1", Name=store))
    assert all(prop(s, "Mounted") for s in ok(run_script(standby, "get_exchange_store.ps1")))

    # Cleanup appendix on the recovery server.
    exchange.add_outlook_profile(standby, "Outlook")
    ok(run(standby, "Remove-Item", Path=exchange.OUTLOOK_PROFILES_KEY + r"\Outlook", Recurse=True, Force=True))
    assert not standby.registry.exists(exchange.OUTLOOK_PROFILES_KEY + r"\Outlook")
    for store in (MAILBOX, PUBLIC):
        ok(run_script(standby, "dismount_exchange_store.ps1", Name=store))
        ok(run_script(standby, "remove_exchange_store.ps1", Name=store))
    ok(run_script(standby, "remove_storage_group.ps1", Name="First Storage Group"))
    lab.organization.options.setup_hangs_at_system_attendant = False
    remove = write_unattend(standby, lab.site.exchange.components, action="Remove", path=r"C:\qrdr\remove.ini")
    remove_id = start(standby, r"Z:\setup\i386\setup.exe", "/UnattendFile", remove)
    while remove_id in standby.processes:
        time.sleep(0.02)
    for key in exchange.UNINSTALL_KEYS:
        ok(run(standby, "Remove-Item", Path=f"{exchange.UNINSTALL_ROOT}\\{key}", Recurse=True, Force=True))
    folder = r"C:\Program Files\Exchsrvr"
    assert run(standby, "Remove-Item", Path=folder, Recurse=True, Force=True).errors  # the three DLLs are held
    for holder in ok(run_script(standby, "find_locking_process.ps1", Path=folder + r"\bin\exsp.dll")):
        ok(run(standby, "Stop-Process", Id=prop(holder, "Id"), Force=True))
    ok(run(standby, "Remove-Item", Path=folder, Recurse=True, Force=True))
    assert ok(run(standby, "Test-Path", Path=folder)) == [False]
