"""The shipped store scripts against the lab's Exchange: what an admin sees in System Manager."""

from __future__ import annotations

from conftest import native, run, run_script

from qrdr.lab.sim import exchange
from qrdr.lab.sim.objects import prop

MAILBOX = "Mailbox Store (EXCH01)"
PUBLIC = "Public Folder Store (EXCH01)"
PRIV1 = r"E:\Exchsrvr\mdbdata\priv1.edb"


def stores(host) -> dict[str, dict]:
    result = run_script(host, "get_exchange_store.ps1")
    assert result.failed is None, result.failed
    keys = ("Name", "StorageGroup", "Type", "EdbPath", "StmPath", "LogPath", "SystemPath", "Mounted",
            "MountAtStartup")
    return {prop(obj, "Name"): {key: prop(obj, key) for key in keys} for obj in result.output}


def state_of(host, path=PRIV1) -> str:
    lines, code = native(host, "eseutil", "/mh", path)
    assert code == 0, lines
    return next(line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("State:"))


def test_production_has_first_storage_group_with_two_mounted_stores_on_its_volumes(site_lab):
    found = stores(site_lab.production)
    assert set(found) == {MAILBOX, PUBLIC}
    mailbox = found[MAILBOX]
    assert mailbox["StorageGroup"] == "First Storage Group"
    assert mailbox["Type"] == "Mailbox" and found[PUBLIC]["Type"] == "Public"
    assert mailbox["EdbPath"] == PRIV1
    assert mailbox["LogPath"] == r"F:\Exchsrvr\mdbdata" == mailbox["SystemPath"]
    assert mailbox["Mounted"] is True and mailbox["MountAtStartup"] is True
    assert state_of(site_lab.production) == "Dirty Shutdown"  # mounted databases are dirty on disk


def test_dismount_leaves_the_database_clean_and_mount_brings_it_back(site_lab):
    host = site_lab.production
    assert run_script(host, "dismount_exchange_store.ps1", Name=MAILBOX).failed is None
    assert stores(host)[MAILBOX]["Mounted"] is False
    assert state_of(host) == "Clean Shutdown"
    assert run_script(host, "mount_exchange_store.ps1", Name=MAILBOX).failed is None
    assert stores(host)[MAILBOX]["Mounted"] is True


def test_mount_needs_the_information_store_running(site_lab):
    host = site_lab.production
    host.stop_service("MSExchangeIS", force=True)
    assert all(not row["Mounted"] for row in stores(host).values())
    assert state_of(host) == "Clean Shutdown"
    result = run_script(host, "mount_exchange_store.ps1", Name=MAILBOX)
    assert result.failed is not None
    assert "c1041722" in result.failed.message
    assert result.failed.fully_qualified_error_id == "ComMethodTargetInvocation"


def test_starting_the_information_store_mounts_only_stores_marked_to_mount_at_startup(site_lab):
    host = site_lab.production
    result = run_script(host, "set_exchange_store.ps1", Name=PUBLIC, MountAtStartup=False)
    assert result.failed is None, result.failed
    host.stop_service("MSExchangeIS", force=True)
    host.start_service("MSExchangeIS")
    found = stores(host)
    assert found[MAILBOX]["Mounted"] is True
    assert found[PUBLIC]["Mounted"] is False and found[PUBLIC]["MountAtStartup"] is False


def test_store_paths_move_only_while_dismounted(site_lab):
    host = site_lab.production
    moved = r"G:\Exchsrvr\mdbdata\priv1.edb"
    refused = run_script(host, "set_exchange_store.ps1", Name=MAILBOX, EdbPath=moved)
    assert refused.failed is not None and "must be dismounted" in refused.failed.message
    run_script(host, "dismount_exchange_store.ps1", Name=MAILBOX)
    assert run_script(host, "set_exchange_store.ps1", Name=MAILBOX, EdbPath=moved).failed is None
    assert stores(host)[MAILBOX]["EdbPath"] == moved


def test_mounting_with_the_database_file_missing_fails_file_not_found(site_lab):
    host = site_lab.production
    run_script(host, "dismount_exchange_store.ps1", Name=MAILBOX)
    run_script(host, "set_exchange_store.ps1", Name=MAILBOX, EdbPath=r"E:\elsewhere\priv1.edb")
    result = run_script(host, "mount_exchange_store.ps1", Name=MAILBOX)
    assert result.failed is not None
    assert "c1041724" in result.failed.message and "JET_errFileNotFound" in result.failed.message


def test_cleanup_removes_stores_then_the_storage_group(site_lab):
    host = site_lab.production
    refused = run_script(host, "remove_exchange_store.ps1", Name=MAILBOX)
    assert refused.failed is not None and "mounted" in refused.failed.message
    not_empty = run_script(host, "remove_storage_group.ps1", Name="First Storage Group")
    assert not_empty.failed is not None and "still contains stores" in not_empty.failed.message
    for name in (MAILBOX, PUBLIC):
        assert run_script(host, "dismount_exchange_store.ps1", Name=name).failed is None
        assert run_script(host, "remove_exchange_store.ps1", Name=name).failed is None
    assert run_script(host, "remove_storage_group.ps1", Name="First Storage Group").failed is None
    assert stores(host) == {}


def test_unknown_store_is_reported_not_found(site_lab):
    result = run_script(site_lab.production, "mount_exchange_store.ps1", Name="No Such Store")
    assert result.failed is not None
    assert result.failed.category == "ObjectNotFound" and "No Such Store" in result.failed.message


def test_store_scripts_on_a_host_without_exchange_fail_like_a_missing_com_class(site_lab):
    result = run_script(site_lab.standby, "get_exchange_store.ps1")
    assert result.failed is not None
    assert "80040154" in result.failed.message


def test_eseutil_is_not_there_without_exchange(site_lab):
    result = run(site_lab.standby, r"C:\Program Files\Exchsrvr\bin\eseutil.exe", "/mh", PRIV1)
    assert result.failed is not None and result.failed.fully_qualified_error_id == "CommandNotFoundException"


def test_production_users_working_advance_the_logs_required(site_lab):
    state = exchange.for_host(site_lab.production)
    state.write_transactions(3)
    lines, _ = native(site_lab.production, "eseutil", "/mh", PRIV1)
    assert "     Log Required: 15-17 (0xf-0x11)" in lines


def test_store_scripts_reach_another_server_with_computer_name(site_lab):
    # A Windows 2000 Exchange server is driven from the management host through CDOEXM.
    found = run_script(site_lab.standby, "get_exchange_store.ps1", ComputerName="EXCH01")
    assert {prop(obj, "Name") for obj in found.output} == {MAILBOX, PUBLIC}
    assert run_script(site_lab.standby, "dismount_exchange_store.ps1", Name=MAILBOX, ComputerName="EXCH01").failed is None
    assert stores(site_lab.production)[MAILBOX]["Mounted"] is False
    unreachable = run_script(site_lab.standby, "get_exchange_store.ps1", ComputerName="NOSUCHHOST")
    assert unreachable.failed is not None and "0x800706BA" in unreachable.failed.message


def test_a_log_path_on_a_missing_drive_fails_the_mount_and_changes_nothing(site_lab):
    host = site_lab.production
    run_script(host, "dismount_exchange_store.ps1", Name=MAILBOX)
    exchange.for_host(host).server.storage_group("First Storage Group").log_path = r"Q:\Exchsrvr\mdbdata"
    result = run_script(host, "mount_exchange_store.ps1", Name=MAILBOX)
    assert result.failed is not None and "JET_errInvalidPath" in result.failed.message
    assert stores(host)[MAILBOX]["Mounted"] is False
    assert state_of(host) == "Clean Shutdown"


def test_script_parameters_bind_as_powershell_binds_them(site_lab):
    missing = run_script(site_lab.production, "mount_exchange_store.ps1")
    assert missing.failed.fully_qualified_error_id == "MissingMandatoryParameter"
    assert "missing mandatory parameters: Name." in missing.failed.message
    typo = run_script(site_lab.production, "mount_exchange_store.ps1", Nmae=MAILBOX)
    assert "A parameter cannot be found that matches parameter name 'Nmae'." == typo.failed.message
