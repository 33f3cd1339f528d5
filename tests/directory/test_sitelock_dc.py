"""The site's lock in Active Directory, on a real Samba DC: one holder, whatever machine, named to
the second; a dead holder of this host taken over, a live one never without a person's word."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from qrdr.directory import Directory
from qrdr.directory.sitelock import DirectoryLock, SiteLockHeld


@pytest.fixture
def two_directories(dc, domain):
    with Directory.connect(domain, dc.admin_password) as first, Directory.connect(domain, dc.admin_password) as second:
        yield first, second


def test_a_second_qrdr_is_refused_naming_the_first(two_directories):
    first, second = two_directories
    holder, other = DirectoryLock(first, "contoso-a"), DirectoryLock(second, "contoso-a")
    assert holder.acquire("promote") is None
    holder.renew("promote", 7)
    with pytest.raises(SiteLockHeld) as refused:
        other.acquire("cleanup")
    message = str(refused.value)
    assert "run 7 (promote)" in message and socket.gethostname() in message and "wait for it to end" in message
    assert refused.value.holder["run_id"] == 7
    holder.release()
    assert other.acquire("cleanup") is None and other.holder()["command"] == "cleanup"
    other.release()
    assert other.holder() is None


def test_another_sites_lock_is_another_object(two_directories):
    first, second = two_directories
    a, b = DirectoryLock(first, "contoso-b"), DirectoryLock(second, "contoso-c")
    assert a.acquire("promote") is None and b.acquire("promote") is None
    assert a.dn != b.dn
    a.release()
    b.release()


def test_a_holder_killed_on_this_host_is_taken_over_and_a_live_one_is_not(dc, domain, two_directories):
    first, _ = two_directories
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(child.stdout)  # a process that has ended
    lock = DirectoryLock(first, "contoso-d")
    record = {"token": "someone-else", "user": "admin", "host": socket.gethostname(), "pid": dead_pid,
              "command": "configure", "run_id": 3, "since": 1.0, "deadline": 2.0}
    assert first.add(lock.dn, "container", {"description": json.dumps(record)}, what="a test lock")
    taken = lock.acquire("resume")
    assert taken is not None and "run 3 (configure)" in taken and lock.holder()["token"] == lock.token
    lock.release()

    alive = dict(record, host="jump-host-2", pid=1)  # another machine: nothing shows it is gone
    assert first.add(lock.dn, "container", {"description": json.dumps(alive)}, what="a test lock")
    with pytest.raises(SiteLockHeld) as refused:
        lock.acquire("promote")
    assert "jump-host-2" in str(refused.value) and "stale" in str(refused.value)
    assert "--override site-lock" in str(refused.value)
    assert lock.acquire("promote", take_over=True) is not None
    lock.release()


def test_a_lock_taken_over_stops_the_run_at_its_next_step(two_directories):
    first, second = two_directories
    mine, theirs = DirectoryLock(first, "contoso-e"), DirectoryLock(second, "contoso-e")
    mine.acquire("promote")
    theirs.acquire("promote", take_over=True)
    with pytest.raises(SiteLockHeld, match="was taken over"):
        mine.renew("promote", 1)
    mine.release()  # no longer ours: left alone
    assert theirs.holder()["token"] == theirs.token
    theirs.release()
