"""Exchange setup on the standby as the runbook runs it: prerequisites, /DisasterRecovery,
the Q280432 hang, DomainPrep rights, matching components, the service pack, the uninstall."""

from __future__ import annotations

import time

import pytest
from conftest import SiteLab, make_site, prepare_standby_for_setup, run, set_content, write_unattend

from qrdr.lab.sim import exchange
from qrdr.lab.sim.objects import prop

SETUP = r"Z:\setup\i386\setup.exe"
UPDATE = r"Z:\sp2\setup\i386\update.exe"


def start_process(host, program: str, *arguments: str):
    """``Start-Process -FilePath program -ArgumentList ... -PassThru``; the lab's process behind it."""
    result = run(host, "Start-Process", FilePath=program, ArgumentList=list(arguments), PassThru=True)
    assert result.failed is None, result.failed
    [shown] = result.output
    assert shown.PSObject.type_names[0] == "System.Diagnostics.Process"
    process_id = prop(shown, "Id")
    return host.processes.get(process_id) or host.ended[process_id]


def start_setup(host, unattend: str, *switches: str, program: str = SETUP):
    return start_process(host, program, *switches, "/UnattendFile", unattend)


def setup_key(host) -> dict:
    result = run(host, "Get-ItemProperty", Path=exchange.SETUP_KEY)
    if result.failed or result.errors:
        return {}
    [item] = result.output
    return {name: prop(item, name) for name in ("Services", "MsiProductMajor", "ServicePackBuild", "NewestBuild")}


def setup_log(host) -> str:
    return host.files.read_text(exchange.SETUP_LOG) or ""


def dr_setup(lab: SiteLab):
    unattend = write_unattend(lab.standby, lab.site.exchange.components)
    return start_setup(lab.standby, unattend, "/DisasterRecovery")


def wait_for_exit(process, seconds: float = 5.0) -> int | None:
    deadline = time.monotonic() + seconds
    while process.exit_code is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return process.exit_code


def test_setup_refuses_without_nntp_smtp_and_aspnet(site_lab):
    site_lab.standby.name = site_lab.production.name
    process = dr_setup(site_lab)
    assert process.exit_code == 1
    log = setup_log(site_lab.standby)
    for needed in ("SMTP service", "NNTP service", "ASP.NET"):
        assert needed in log
    assert site_lab.standby.service("MSExchangeSA") is None


def test_exchange_2000_does_not_need_aspnet():
    lab = SiteLab(make_site(exchange_version="2000", windows="2000"))
    lab.standby.name = lab.production.name
    process = dr_setup(lab)
    assert process.exit_code == 1
    assert "ASP.NET" not in setup_log(lab.standby)
    assert "NNTP service" in setup_log(lab.standby)


def test_sysocmgr_answer_file_installs_nntp_smtp_and_aspnet(site_lab):
    prepare_standby_for_setup(site_lab)
    standby = site_lab.standby
    services = run(standby, "Get-Service", Name=["NNTPSVC", "SMTPSVC"])
    assert [(prop(s, "Name"), str(prop(s, "Status"))) for s in services.output] == [
        ("NNTPSVC", "Running"), ("SMTPSVC", "Running")]
    assert run(standby, "Test-Path", Path=exchange.ASPNET_KEY).output == [True]


def test_disaster_recovery_setup_installs_the_2003_services_and_setup_key(site_lab):
    prepare_standby_for_setup(site_lab)
    process = dr_setup(site_lab)
    assert process.exit_code == 0, setup_log(site_lab.standby)
    standby = site_lab.standby
    for name in ("MSExchangeSA", "MSExchangeIS", "MSExchangeMTA", "RESvc", "MSExchangeMGMT"):
        assert standby.service(name).running, name
    assert not standby.service("MSExchangeSRS").running  # not an Automatic service: setup leaves it stopped
    key = setup_key(standby)
    assert key["Services"] == r"C:\Program Files\Exchsrvr"
    assert key["MsiProductMajor"] == 6
    assert key["NewestBuild"] == 6944
    assert "Setup completed" in setup_log(standby)


def test_exchange_2000_has_no_management_service():
    lab = SiteLab(make_site(exchange_version="2000", windows="2000"))
    prepare_standby_for_setup(lab)
    assert dr_setup(lab).exit_code == 0
    assert lab.standby.service("MSExchangeSA").running
    assert lab.standby.service("MSExchangeMGMT") is None
    assert setup_key(lab.standby)["NewestBuild"] == 4417


def test_setup_runs_for_the_configured_time_then_exits_0():
    lab = SiteLab(make_site(), options=exchange.LabOptions(setup_seconds=0.5))
    prepare_standby_for_setup(lab)
    process = dr_setup(lab)
    assert process.exit_code is None  # still running
    assert wait_for_exit(process) == 0
    assert lab.standby.service("MSExchangeIS").running


def test_q280432_setup_hangs_with_system_attendant_running_and_killing_it_keeps_exchange():
    lab = SiteLab(make_site(), options=exchange.LabOptions(setup_seconds=0.1, setup_hangs_at_system_attendant=True))
    prepare_standby_for_setup(lab)
    process = dr_setup(lab)
    deadline = time.monotonic() + 5
    while not (lab.standby.service("MSExchangeSA") and lab.standby.service("MSExchangeSA").running):
        assert time.monotonic() < deadline, "System Attendant never reached Running"
        time.sleep(0.02)
    time.sleep(0.2)
    assert process.exit_code is None, "setup must hang (KB Q280432)"
    assert run(lab.standby, "Stop-Process", Id=process.id, Force=True).failed is None
    assert process.id not in lab.standby.processes
    assert setup_key(lab.standby)["Services"] == r"C:\Program Files\Exchsrvr"
    assert run(lab.standby, "Start-Service", Name="MSExchangeIS").failed is None
    assert lab.standby.service("MSExchangeIS").running


def test_setup_without_domainprep_rights_exits_1_and_says_so():
    lab = SiteLab(make_site(), options=exchange.LabOptions(setup_seconds=0, domainprep_rights=False))
    prepare_standby_for_setup(lab)
    process = dr_setup(lab)
    assert process.exit_code == 1
    assert "DomainPrep" in setup_log(lab.standby)
    assert setup_key(lab.standby) == {}


def test_disaster_recovery_needs_the_server_object_of_the_computer_name(site_lab):
    prepare_standby_for_setup(site_lab)
    site_lab.standby.name = "EXCH02"  # not renamed to production's name
    process = dr_setup(site_lab)
    assert process.exit_code == 1
    assert "server object 'EXCH02'" in setup_log(site_lab.standby)


def test_server_object_missing_from_the_directory_stops_setup():
    lab = SiteLab(make_site())
    lab.organization.directory_has_server = lambda name: False
    prepare_standby_for_setup(lab)
    assert dr_setup(lab).exit_code == 1
    assert "in Active Directory" in setup_log(lab.standby)


def test_components_must_match_production(site_lab):
    prepare_standby_for_setup(site_lab)
    unattend = write_unattend(site_lab.standby, ["Microsoft Exchange Messaging and Collaboration Services"])
    process = start_setup(site_lab.standby, unattend, "/DisasterRecovery")
    assert process.exit_code == 1
    assert "Microsoft Exchange System Management Tools" in setup_log(site_lab.standby)


def test_update_in_disaster_recovery_mode_applies_the_service_pack(site_lab):
    prepare_standby_for_setup(site_lab)
    assert dr_setup(site_lab).exit_code == 0
    process = start_process(site_lab.standby, UPDATE, "/DisasterRecovery")
    assert process.exit_code == 0, setup_log(site_lab.standby)
    assert setup_key(site_lab.standby)["ServicePackBuild"] == 7638
    assert setup_key(site_lab.standby)["NewestBuild"] == 7638


def test_update_disaster_recovery_refuses_a_normal_install(site_lab):
    site_lab.production.files.add_drive("Z")
    site_lab.production.files.write_text(UPDATE, "media")
    process = start_process(site_lab.production, UPDATE, "/DisasterRecovery")
    assert process.exit_code == 1
    assert "disaster recovery mode only" in setup_log(site_lab.production)


def test_update_without_exchange_refuses(site_lab):
    process = start_process(site_lab.standby, UPDATE, "/DisasterRecovery")
    assert process.exit_code == 1
    assert "not installed" in setup_log(site_lab.standby)


def test_uninstall_leaves_the_uninstall_keys_and_three_locked_dlls(site_lab):
    prepare_standby_for_setup(site_lab)
    assert dr_setup(site_lab).exit_code == 0
    standby = site_lab.standby
    remove = write_unattend(standby, site_lab.site.exchange.components, action="Remove", path=r"C:\qrdr\remove.ini")
    process = start_setup(standby, remove)
    assert process.exit_code == 0, setup_log(standby)
    assert standby.service("MSExchangeSA") is None
    assert setup_key(standby) == {}
    for key in exchange.UNINSTALL_KEYS:
        assert run(standby, "Test-Path", Path=f"{exchange.UNINSTALL_ROOT}\\{key}").output == [True]
    folder = r"C:\Program Files\Exchsrvr"
    refused = run(standby, "Remove-Item", Path=folder, Recurse=True, Force=True)
    locked = sorted(error.target.rsplit("\\", 1)[1].lower() for error in refused.errors
                    if "being used by another process" in error.message)
    assert locked == sorted(exchange.LOCKED_DLLS)
    found = run(standby, "Get-Process", Name="wmiprvse")
    [holder] = found.output
    assert run(standby, "Stop-Process", Id=prop(holder, "Id"), Force=True).failed is None
    removed = run(standby, "Remove-Item", Path=folder, Recurse=True, Force=True)
    assert removed.errors == [] and run(standby, "Test-Path", Path=folder).output == [False]


def test_setup_of_unknown_media_exits_1(site_lab):
    site_lab.standby.files.write_text(r"C:\other\setup.exe", "not exchange")
    process = start_process(site_lab.standby, r"C:\other\setup.exe")
    assert process.exit_code == 1


@pytest.mark.parametrize("text", ["no sections", "[Component List]\nX = Maybe\n"])
def test_bad_unattend_files_are_named_in_the_log(site_lab, text):
    prepare_standby_for_setup(site_lab)
    set_content(site_lab.standby, r"C:\qrdr\bad.ini", text)
    process = start_setup(site_lab.standby, r"C:\qrdr\bad.ini", "/DisasterRecovery")
    assert process.exit_code == 1
    assert r"C:\qrdr\bad.ini" in setup_log(site_lab.standby)


def test_an_unknown_service_pack_in_the_site_is_named():
    import attrs

    site = make_site()
    site = attrs.evolve(site, exchange=attrs.evolve(site.exchange, service_pack="SP4"))
    with pytest.raises(ValueError, match=r"exchange.service_pack 'SP4' is not a service pack of Microsoft Exchange "
                                         r"Server 2003 \(known: SP1, SP2\)"):
        SiteLab(site)


def test_an_install_path_on_a_missing_drive_is_refused(site_lab):
    prepare_standby_for_setup(site_lab)
    path = r"C:\qrdr\exchange.ini"
    set_content(site_lab.standby, path, exchange.render_unattend(site_lab.site.exchange.components,
                                                                 install_dir=r"Q:\Exchsrvr"))
    assert start_setup(site_lab.standby, path, "/DisasterRecovery").exit_code == 1
    assert "there is no drive Q:" in setup_log(site_lab.standby)


def test_exchange_2000_setup_refuses_windows_2003():
    lab = SiteLab(make_site(exchange_version="2000", windows="2003"))
    prepare_standby_for_setup(lab)
    assert dr_setup(lab).exit_code == 1
    assert "not supported on Windows Server 2003" in setup_log(lab.standby)


def test_without_step_3_rights_the_system_attendant_does_not_start(site_lab):
    prepare_standby_for_setup(site_lab)
    assert dr_setup(site_lab).exit_code == 0
    standby = site_lab.standby
    granted: set[str] = set()
    site_lab.organization.directory_service_rights = (
        lambda name: None if name in granted else f"computer account {name} lacks Create/Delete child objects")
    assert run(standby, "Stop-Service", Name="MSExchangeSA", Force=True).failed is None
    refused = run(standby, "Start-Service", Name="MSExchangeIS")
    assert [e.fully_qualified_error_id.split(",")[0] for e in refused.errors] == ["CouldNotStartService"]
    assert not standby.service("MSExchangeSA").running and not standby.service("MSExchangeIS").running
    granted.add(standby.name)  # the ADSI Edit grants of step 3, replicated
    assert run(standby, "Start-Service", Name="MSExchangeIS").errors == []
    assert standby.service("MSExchangeSA").running and standby.service("MSExchangeIS").running
