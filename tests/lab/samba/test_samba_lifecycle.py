"""A DC of its own: provision, start, ready, stop leaves nothing behind; addresses are exclusive."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from qrdr.lab import addresses
from qrdr.lab.samba import SambaDC, SambaError, _process_alive, ldbsearch
from qrdr.lab.samba_fixtures import golden_dir, lab_admin_password

pytestmark = pytest.mark.samba


def _processes_using(workdir: Path) -> list[int]:
    """pids of processes with a file below the work directory open, or naming it in argv."""
    prefix = str(workdir) + "/"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            open_files = [os.readlink(fd) for fd in (proc / "fd").iterdir()]
        except OSError:
            continue
        if prefix in cmdline or any(path.startswith(prefix) for path in open_files):
            found.append(int(proc.name))
    return found


def test_provision_start_ready_stop_destroy_leaves_nothing(tmp_path):
    """A real provision (no golden copy), end to end."""
    dc = SambaDC.provision(tmp_path / "dc", realm="life.qrdr.lab", netbios="LIFE",
                           admin_password=lab_admin_password(), name="DC1")
    try:
        assert dc.address in addresses.addresses_on_device()
        assert dc.address in addresses.registered()
        dc.start()
        dc.wait_ready(60)
        pid = dc.pid
        assert pid is not None and _process_alive(pid)
        assert dc.rss_kib() > 10_000
        assert dc.connect().bound
        assert pid in _processes_using(dc.workdir)  # the check after stop can see samba
        with pytest.raises(SambaError, match="already running"):
            dc.start()
    finally:
        dc.destroy()
    assert not _process_alive(pid)
    assert _processes_using(tmp_path / "dc") == []
    assert dc.address not in addresses.addresses_on_device()
    assert dc.address not in addresses.registered()
    assert not (tmp_path / "dc").exists()


def test_samba_exits_with_the_process_that_started_it(tmp_path, tmp_path_factory):
    """A test run that dies must not leave a DC running (samba -i on our stdin pipe)."""
    dc = SambaDC.provision(tmp_path / "dc", admin_password=lab_admin_password(),
                           cache_dir=golden_dir(tmp_path_factory))
    try:
        dc.start()
        dc.wait_ready(60)
        pid = dc.pid
        dc._process.stdin.close()  # what the kernel does when the starting process dies
        dc._process.wait(15)
        assert not _process_alive(pid)
    finally:
        dc.destroy()
    assert dc.address not in addresses.addresses_on_device()


def test_wait_ready_reports_a_dc_that_cannot_start(tmp_path, tmp_path_factory):
    dc = SambaDC.provision(tmp_path / "dc", admin_password=lab_admin_password(),
                           cache_dir=golden_dir(tmp_path_factory))
    try:
        (dc.workdir / "private" / "sam.ldb").write_bytes(b"not a database")
        dc.start()
        with pytest.raises(SambaError, match="DC1 exited .* before it was ready"):
            dc.wait_ready(60)
    finally:
        dc.destroy()
    assert dc.address not in addresses.addresses_on_device()


def test_golden_copies_are_separate_domains_with_their_own_password(tmp_path, tmp_path_factory, samba_dc):
    """A copy of the golden the session DC came from: own address, own password, own data."""
    password = lab_admin_password()
    copy = SambaDC.provision(tmp_path / "copy", admin_password=password, cache_dir=golden_dir(tmp_path_factory))
    try:
        assert copy.address != samba_dc.address
        assert str(tmp_path / "copy") in copy.smb_conf.read_text()
        assert str(golden_dir(tmp_path_factory)) not in copy.smb_conf.read_text()
        copy.start()
        copy.wait_ready(60)
        assert copy.connect().bound
        with pytest.raises(SambaError, match="invalidCredentials"):
            copy.connect(copy.admin_user, samba_dc.admin_password)
        # the session DC's computer accounts were added after the golden was made
        assert ldbsearch(copy, "(sAMAccountName=EXCH01$)") == []
        assert ldbsearch(samba_dc, "(sAMAccountName=EXCH01$)") != []
    finally:
        copy.destroy()


def test_provision_refuses_a_directory_in_use(tmp_path):
    (tmp_path / "dc").mkdir()
    (tmp_path / "dc" / "something").write_text("x")
    with pytest.raises(SambaError, match="not empty"):
        SambaDC.provision(tmp_path / "dc", admin_password=lab_admin_password())


_ALLOCATE = """
import sys
from qrdr.lab import addresses
print(addresses.allocate(purpose="test " + sys.argv[1]))
"""


def test_concurrent_allocations_get_distinct_addresses_and_release_removes_them():
    runs = [subprocess.Popen([sys.executable, "-c", _ALLOCATE, str(n)], stdout=subprocess.PIPE, text=True)
            for n in range(4)]
    got = [run.communicate(timeout=60)[0].strip() for run in runs]
    try:
        assert all(run.returncode == 0 for run in runs)
        assert len(set(got)) == 4
        on_lo = addresses.addresses_on_device()
        assert set(got) <= on_lo
        with pytest.raises(addresses.AddressError, match=got[0]):
            addresses.claim(got[0], purpose="a second owner")
    finally:
        # their owners (the allocating processes) have exited: stale, and cleaned as such
        removed = addresses.release_stale()
    assert set(got) <= set(removed)
    assert not set(got) & addresses.addresses_on_device()


def test_bad_addresses_are_refused_with_their_value(tmp_path):
    with pytest.raises(ValueError, match="'dc-one' is not an IP address"):
        SambaDC.provision(tmp_path / "a", admin_password=lab_admin_password(), address="dc-one")
    with pytest.raises(ValueError, match="10.1.2.3 is not an IPv4 loopback"):
        SambaDC.provision(tmp_path / "b", admin_password=lab_admin_password(), address="10.1.2.3")
    with pytest.raises(SambaError, match="127.100.255.254 is not on lo"):
        SambaDC.provision(tmp_path / "c", admin_password=lab_admin_password(), address="127.100.255.254")


def test_stop_never_signals_a_process_named_by_a_stale_pid_file(tmp_path):
    """After a crash the pid in samba.pid may belong to anything; stop must leave it alone."""
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        dc = SambaDC(workdir=tmp_path, name="DC1", realm="qrdr.lab", netbios="QRDR", address="127.0.0.1",
                     admin_password="unused", hosts_file=tmp_path / "hosts", krb5_config=tmp_path / "krb5.conf",
                     owns_address=False)
        dc.run_dir.mkdir()
        (dc.run_dir / "samba.pid").write_text(f"{bystander.pid}\n")
        assert dc.pid is None
        dc.stop()
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()
