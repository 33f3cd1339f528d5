"""Exchange storage groups and stores through qrdr's shipped scripts, sent exactly as qrdr sends
them (the script text read from plugins/common/scripts, ``add_script`` plus parameters), and
``eseutil /mh`` reading the database state; plain pypsrp over HTTPS, site e2003-w2003-qsnap."""

from __future__ import annotations

import pytest

from conftest import Failed, native, pool, prop, run, run_script, started_lab, store_script

pytestmark = pytest.mark.lab

MAILBOX, PUBLIC = "Mailbox Store (EXCH01)", "Public Folder Store (EXCH01)"
PRIV1 = r"E:\Exchsrvr\mdbdata\priv1.edb"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    with started_lab(tmp_path_factory, "e2003-w2003-qsnap") as started:
        yield started


@pytest.fixture(scope="module")
def production(lab):
    with pool(lab, "production") as opened:
        yield opened


def stores(runspace) -> dict[str, dict]:
    return {prop(s, "Name"): {k: prop(s, k) for k in ("StorageGroup", "Type", "EdbPath", "StmPath", "LogPath",
                                                      "SystemPath", "Mounted", "MountAtStartup")}
            for s in store_script(runspace, "get_exchange_store.ps1")}


def database_state(runspace, path: str = PRIV1) -> tuple[str, list[str], int]:
    lines, code = native(runspace, "eseutil", "/mh", path)
    state = next((line.split(":", 1)[1].strip() for line in lines if line.strip().startswith("State:")), None)
    return state, lines, code


def script_error(runspace, file_name: str, **parameters) -> str:
    with pytest.raises(Failed) as failure:
        store_script(runspace, file_name, **parameters)
    return str(failure.value)


def test_stores_of_production_with_their_paths(production):
    found = stores(production)
    assert found[MAILBOX] == {"StorageGroup": "First Storage Group", "Type": "Mailbox", "EdbPath": PRIV1,
                              "StmPath": r"E:\Exchsrvr\mdbdata\priv1.stm", "LogPath": r"F:\Exchsrvr\mdbdata",
                              "SystemPath": r"F:\Exchsrvr\mdbdata", "Mounted": True, "MountAtStartup": True}
    assert found[PUBLIC]["Type"] == "Public" and found[PUBLIC]["Mounted"] is True
    # The files are where the store says.
    for path in (found[MAILBOX]["EdbPath"], found[MAILBOX]["StmPath"], found[PUBLIC]["EdbPath"]):
        assert run(production, "Test-Path", Path=path) == [True], path


def test_a_mounted_database_is_dirty_and_a_dismounted_one_clean(production):
    state, lines, code = database_state(production)
    assert (state, code) == ("Dirty Shutdown", 0), lines
    assert any(line.strip().startswith("Log Required:") and "0x" in line for line in lines), lines
    store_script(production, "dismount_exchange_store.ps1", Name=MAILBOX)
    try:
        assert stores(production)[MAILBOX]["Mounted"] is False
        state, lines, code = database_state(production)
        assert (state, code) == ("Clean Shutdown", 0), lines
    finally:
        store_script(production, "mount_exchange_store.ps1", Name=MAILBOX)
    assert stores(production)[MAILBOX]["Mounted"] is True
    state, lines, code = database_state(production, r"E:\no\such.edb")
    assert code == -1811, lines


def test_mount_needs_the_information_store_running(production):
    run(production, "Stop-Service", Name="MSExchangeIS", Force=True)
    try:
        assert {s["Mounted"] for s in stores(production).values()} == {False}
        error = script_error(production, "mount_exchange_store.ps1", Name=MAILBOX)
        assert "c1041722" in error.lower(), error
    finally:
        run(production, "Start-Service", Name="MSExchangeIS")
    assert {s["Mounted"] for s in stores(production).values()} == {True}  # mounted at startup


def test_do_not_mount_at_startup_is_honoured_when_the_store_service_starts(production):
    store_script(production, "dismount_exchange_store.ps1", Name=PUBLIC)
    store_script(production, "set_exchange_store.ps1", Name=PUBLIC, MountAtStartup=False)
    assert stores(production)[PUBLIC]["MountAtStartup"] is False
    run(production, "Stop-Service", Name="MSExchangeIS", Force=True)
    run(production, "Start-Service", Name="MSExchangeIS")
    found = stores(production)
    assert (found[MAILBOX]["Mounted"], found[PUBLIC]["Mounted"]) == (True, False)
    # Mount(): "the store must be enabled": not while it is marked not to mount at start-up.
    error = script_error(production, "mount_exchange_store.ps1", Name=PUBLIC)
    assert "is not enabled" in error and PUBLIC in error, error
    store_script(production, "set_exchange_store.ps1", Name=PUBLIC, MountAtStartup=True)
    run(production, "Stop-Service", Name="MSExchangeIS", Force=True)
    run(production, "Start-Service", Name="MSExchangeIS")
    assert stores(production)[PUBLIC]["Mounted"] is True


def test_store_paths_change_only_while_dismounted_and_a_missing_database_will_not_mount(production):
    moved = r"E:\moved\priv1.edb"
    error = script_error(production, "set_exchange_store.ps1", Name=MAILBOX, EdbPath=moved)
    assert MAILBOX in error or "mounted" in error.lower(), error
    store_script(production, "dismount_exchange_store.ps1", Name=MAILBOX)
    try:
        store_script(production, "set_exchange_store.ps1", Name=MAILBOX, EdbPath=moved)
        assert stores(production)[MAILBOX]["EdbPath"] == moved
        error = script_error(production, "mount_exchange_store.ps1", Name=MAILBOX)
        assert "c1041724" in error.lower() and "-1811" in error, error
    finally:
        store_script(production, "set_exchange_store.ps1", Name=MAILBOX, EdbPath=PRIV1)
        store_script(production, "mount_exchange_store.ps1", Name=MAILBOX)
    assert stores(production)[MAILBOX]["Mounted"] is True


def test_unknown_store_is_named_in_the_error(production):
    error = script_error(production, "mount_exchange_store.ps1", Name="No Such Store")
    assert "No Such Store" in error, error


def test_remove_refuses_a_mounted_store_and_a_group_with_stores(production):
    error = script_error(production, "remove_exchange_store.ps1", Name=PUBLIC)
    assert "mounted" in error.lower(), error
    error = script_error(production, "remove_storage_group.ps1", Name="First Storage Group")
    assert "First Storage Group" in error, error
    store_script(production, "dismount_exchange_store.ps1", Name=PUBLIC)
    store_script(production, "remove_exchange_store.ps1", Name=PUBLIC)
    assert set(stores(production)) == {MAILBOX}
    assert "First Storage Group" in script_error(production, "remove_storage_group.ps1", Name="First Storage Group")


def test_removing_a_storage_group_that_is_not_there_is_the_scripts_own_error(production):
    """remove_storage_group.ps1 ends with its own throw when the server has no such group (what a
    resumed cleanup meets after a kill that came when the group was already deleted)."""
    error = script_error(production, "remove_storage_group.ps1", Name="No Such Group")
    assert "No storage group named 'No Such Group' on server EXCH01." in error, error
