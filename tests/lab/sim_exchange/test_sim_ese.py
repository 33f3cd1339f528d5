"""eseutil on the lab's ESE files: header dump and soft recovery, as an admin reads them."""

from __future__ import annotations

from qrdr.lab.sim import ese
from qrdr.lab.sim.host import VirtualFileSystem

LOGS = r"F:\Exchsrvr\mdbdata"
EDB = r"E:\Exchsrvr\mdbdata\priv1.edb"


def dirty_copy(generations=range(1, 15), checkpoint: int | None = 12) -> VirtualFileSystem:
    """A database copied while mounted: Dirty Shutdown, needing logs 12-14, with these logs present."""
    files = VirtualFileSystem()
    for drive in "EF":
        files.add_drive(drive)
    files.write_text(EDB, ese.DatabaseHeader(ese.DIRTY_SHUTDOWN, "LOGSIG", "DBSIG", log_required=(12, 14)).to_text())
    for generation in generations:
        name = ese.log_file_name("E00", None if generation == 14 else generation)
        files.write_text(f"{LOGS}\\{name}", ese.LogFile(generation, "LOGSIG", [EDB]).to_text())
    if checkpoint is not None:
        files.write_text(f"{LOGS}\\E00.chk", ese.Checkpoint(checkpoint, "LOGSIG").to_text())
    return files


def test_header_dump_of_a_dirty_copy_shows_state_and_logs_required():
    result = ese.run_eseutil(dirty_copy(), ["/mh", EDB])
    assert result.exit_code == 0
    assert "Microsoft(R) Exchange Server Database Utilities" in result.lines
    assert "            State: Dirty Shutdown" in result.lines
    assert "     Log Required: 12-14 (0xc-0xe)" in result.lines


def test_soft_recovery_with_all_logs_leaves_the_database_clean():
    files = dirty_copy()
    result = ese.run_eseutil(files, ["/r", "E00", f"/l{LOGS}", f"/s{LOGS}"])
    assert result.exit_code == 0, result.lines
    assert "Operation completed successfully in 0.47 seconds." in result.lines
    after = ese.run_eseutil(files, ["/mh", EDB])
    assert "            State: Clean Shutdown" in after.lines
    assert "     Log Required: 0-0 (0x0-0x0)" in after.lines


def test_soft_recovery_without_a_required_log_fails_and_leaves_the_database_dirty():
    files = dirty_copy(generations=[1, 2, 3, 12, 14])  # generation 13 missing
    result = ese.run_eseutil(files, ["/r", "E00", f"/l{LOGS}", f"/s{LOGS}"])
    assert result.exit_code == -528
    assert any("-528 (JET_errMissingLogFile" in line for line in result.lines)
    assert "            State: Dirty Shutdown" in ese.run_eseutil(files, ["/mh", EDB]).lines


def test_soft_recovery_with_a_checkpoint_from_another_time_fails_attached_database_mismatch():
    # Seed step 1's reason: a checkpoint newer than the database's copy skips logs it needs.
    files = dirty_copy(checkpoint=14)
    result = ese.run_eseutil(files, ["/r", "E00", f"/l{LOGS}", f"/s{LOGS}"])
    assert result.exit_code == -1216
    assert any("JET_errAttachedDatabaseMismatch" in line for line in result.lines)


def test_soft_recovery_with_no_logs_at_all_fails():
    files = dirty_copy(generations=[], checkpoint=None)
    assert ese.run_eseutil(files, ["/r", "E00", f"/l{LOGS}", f"/s{LOGS}"]).exit_code == -528


def test_a_torn_copy_is_reported_corrupt():
    files = dirty_copy()
    header = ese.parse(files.read_text(EDB))
    header.torn = True
    files.write_text(EDB, header.to_text())
    assert ese.run_eseutil(files, ["/mh", EDB]).exit_code == -1206
    assert ese.run_eseutil(files, ["/r", "E00", f"/l{LOGS}", f"/s{LOGS}"]).exit_code == -1206


def test_header_dump_of_a_missing_file_says_file_not_found():
    result = ese.run_eseutil(VirtualFileSystem(), ["/mh", EDB])
    assert result.exit_code == -1811
    assert any("JET_errFileNotFound" in line for line in result.lines)


def test_exchange_2000_banner_is_version_6_0():
    result = ese.run_eseutil(dirty_copy(), ["/mh", EDB], exchange_version="2000")
    assert "Version 6.0" in result.lines


def test_joined_switch_forms_are_accepted():
    files = dirty_copy()
    assert ese.run_eseutil(files, ["/r", "E00", f"/l{LOGS}", f"/s{LOGS}"]).exit_code == 0


def test_a_path_apart_from_its_switch_is_a_usage_error():
    """Exchange Server 2003 documents ``ESEUTIL /R E00 /Ld:\\exchsrvr\\logfiles``: the path joined to the
    switch. Given apart, the path is an argument eseutil does not know (usage error, -1)."""
    files = dirty_copy()
    result = ese.run_eseutil(files, ["/r", "E00", "/l", LOGS, "/s", LOGS])
    assert result.exit_code == -1 and "Invalid argument" in result.lines[-1]
    assert ese.run_eseutil(files, ["/r", f"/l{LOGS}"]).exit_code == -1  # the log base name is required
