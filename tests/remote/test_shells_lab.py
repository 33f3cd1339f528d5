"""The shells a killed qrdr left open are deleted by the next process (qrdr.remote.shells)."""

import json
import os
import subprocess

import pytest

from qrdr.remote.commands import Command
from qrdr.remote.session import RemoteHost
from qrdr.remote.shells import ShellLedger

from .conftest import PASSWORD, model_host

pytestmark = pytest.mark.lab


def ended_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def left_open(endpoint, ledger: ShellLedger, pid: int) -> str:
    """A session whose process was killed: its shell still open on the host, recorded by ``pid``."""
    remote = RemoteHost(model_host(endpoint), password=PASSWORD, shells=ledger)
    remote.run(Command("Echo-Value", {"Text": "x"}), read_only=True)
    remote._discard_pool()  # the connection gone, the shell not deleted: what a SIGKILL leaves
    entries = json.loads(ledger.path.read_text())
    (shell,) = [entry for entry in entries[endpoint.url] if entry["pid"] == os.getpid()]
    shell["pid"] = pid
    ledger.path.write_text(json.dumps(entries))
    return shell["shell"]


def test_the_next_process_deletes_the_shells_a_killed_one_left_and_no_other(lab, tmp_path):
    host, endpoint = lab()
    ledger = ShellLedger(tmp_path / "site.shells.json")
    in_use = left_open(endpoint, ledger, subprocess.Popen(["sleep", "30"]).pid)  # its process still runs
    orphan = left_open(endpoint, ledger, ended_pid())
    assert endpoint.shell_count == 2

    with RemoteHost(model_host(endpoint), password=PASSWORD, shells=ledger) as remote:
        remote.run(Command("Echo-Value", {"Text": "y"}), read_only=True)
        shells = {s["shell"] for s in json.loads(ledger.path.read_text())[endpoint.url]}
        assert orphan not in shells and in_use in shells and len(shells) == 2, shells
        assert endpoint.shell_count == 2  # the one in use and this process's own
    assert [s["shell"] for s in json.loads(ledger.path.read_text())[endpoint.url]] == [in_use]
    assert endpoint.shell_count == 1


def test_a_shell_the_host_no_longer_knows_is_forgotten(lab, tmp_path):
    host, endpoint = lab()
    ledger = ShellLedger(tmp_path / "site.shells.json")
    orphan = left_open(endpoint, ledger, ended_pid())
    endpoint.idle_timeout = 0  # IdleTimeout: the host deletes it meanwhile
    endpoint.delete_idle_shells()
    endpoint.idle_timeout = 180
    assert endpoint.shell_count == 0

    with RemoteHost(model_host(endpoint), password=PASSWORD, shells=ledger) as remote:
        remote.run(Command("Echo-Value", {"Text": "y"}), read_only=True)
        shells = [s["shell"] for s in json.loads(ledger.path.read_text())[endpoint.url]]
        assert orphan not in shells and len(shells) == 1


def test_a_ledger_that_cannot_be_written_never_fails_the_connection(lab, tmp_path):
    host, endpoint = lab()
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    ledger = ShellLedger(blocked / "state" / "site.shells.json")  # its folder cannot be made
    with RemoteHost(model_host(endpoint), password=PASSWORD, shells=ledger) as remote:
        assert remote.run(Command("Echo-Value", {"Text": "z"}), read_only=True) == ["z"]
    assert endpoint.shell_count == 0
