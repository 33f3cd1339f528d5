"""No traceback anywhere, exit codes as docs/cli.md says: a closed pipe, Ctrl-C while a host does
not answer, a bug in a plugin or in qrdr, a journal that is not one.

What is about the process (a pipe its reader closed, a signal) runs the real command line in a
subprocess (``python -m qrdr``); the rest runs ``qrdr.cli.main`` in this process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qrdr import cli
from qrdr.engine.journal import Journal

from ..json_documents import validated
from ..remote.test_unreachable import BlackHole

PASSWORDS = {"QRDR_AD_PASSWORD": "ad-pw-1234", "QRDR_WINRM_PASSWORD": "winrm-pw-1234",
             "QRDR_EXCH01_LOCAL_PASSWORD": "l1-pw-1234", "QRDR_EXCH02_LOCAL_PASSWORD": "l2-pw-1234",
             "QRDR_COMMCELL_PASSWORD": "cc-pw-1234"}


def qrdr_process(*argv: str, **options) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "QRDR_CONFIG"} | PASSWORDS
    return subprocess.Popen([sys.executable, "-m", "qrdr", *argv], env=env, stderr=subprocess.PIPE, text=True,
                            **options)


def journal_with_many_events(config: Path, events: int) -> None:
    """Run 1 of the site, with ``events`` events: far more output than a pipe holds (64 KiB)."""
    journal = Journal(config.parent / ".qrdr" / "contoso.journal.sqlite")
    try:
        run = journal.start_run("contoso", "promote", ["promote"], ["addon:local"])
        for number in range(events):
            journal.event(run, "progress", f"event {number}: " + "x" * 80)
        journal.end_run(run, "succeeded")
    finally:
        journal.close()


def test_history_piped_into_head_exits_quietly_with_its_own_code(bare_site):
    """``qrdr history --run 1 | head -1``: the reader goes after one line, qrdr is still writing."""
    journal_with_many_events(bare_site, 3000)
    process = qrdr_process("history", "--run", "1", "--config", str(bare_site), stdout=subprocess.PIPE)
    first = process.stdout.readline()
    process.stdout.close()  # what head does after its line
    err = process.stderr.read()
    assert process.wait(timeout=60) == 0
    assert first.startswith("run 1: promote succeeded")
    assert err == "", "no traceback, no 'Exception ignored' at interpreter shutdown, nothing"


@pytest.mark.parametrize("argv", [("status",), ("--json", "status"), ("history",), ("plan", "promote")],
                         ids=" ".join)
def test_a_reader_gone_before_the_first_line(bare_site, argv):
    """``qrdr status | head -3`` where head has already gone: every write finds a closed pipe."""
    journal_with_many_events(bare_site, 1)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        process = qrdr_process(*argv, "--config", str(bare_site), stdout=write_end)
    finally:
        os.close(write_end)
    err = process.stderr.read()
    code = process.wait(timeout=120)
    assert "Traceback" not in err and "Exception ignored" not in err and "BrokenPipe" not in err, err
    # The command ends as it would have: status and history 0; plan 3 (the example site's hosts
    # do not exist here, so the plan is blocked), and its log lines on stderr are its own.
    assert code == (3 if argv[0] == "plan" else 0), err


def test_started_with_stdout_closed(bare_site):
    """``qrdr status >&-``: no stdout at all, from the start."""
    env = {k: v for k, v in os.environ.items() if k != "QRDR_CONFIG"}
    done = subprocess.run(["sh", "-c", 'exec "$0" -m qrdr status --config "$1" >&-', sys.executable, str(bare_site)],
                          env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.fixture
def hole():
    endpoint = BlackHole()
    yield endpoint
    endpoint.close()


def site_at(config: Path, port: int, connection_timeout: int) -> Path:
    """The site with every WinRM host at 127.0.0.1:``port``."""
    text = config.read_text(encoding="utf-8")
    for address in ("10.0.0.21", "10.0.0.22", "10.0.0.30"):
        text = text.replace(f'address = "{address}"', 'address = "127.0.0.1"')
    text = text.replace('ip_address = "127.0.0.1"', 'ip_address = "10.0.0.21"')
    for key in ("production", "standby", "commserve"):
        text = text.replace(f"[hosts.{key}.winrm]\n",
                            f"[hosts.{key}.winrm]\nport = {port}\nconnection_timeout = {connection_timeout}\n")
    config.write_text(text, encoding="utf-8")
    return config


def wait_for_line(stream, wanted: str, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    lines = []
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        lines.append(line)
        if wanted in line:
            return lines
    raise AssertionError(f"no line with {wanted!r} within {timeout} s: {lines}")


@pytest.mark.parametrize("argv", [("check",), ("--json", "check"), ("plan", "promote")], ids=" ".join)
def test_ctrl_c_while_a_host_does_not_answer_is_the_interrupted_exit(bare_site, hole, argv):
    """Ctrl-C lands inside urllib3's connect: one line, exit 6, no traceback."""
    config = site_at(bare_site, hole.port, connection_timeout=60)
    process = qrdr_process(*argv, "--config", str(config), stdout=subprocess.PIPE)
    waited = wait_for_line(process.stderr, "no session yet", timeout=30)
    assert "of 60 s (connection_timeout)" in waited[-1] and f"127.0.0.1:{hole.port}" in waited[-1]
    process.send_signal(signal.SIGINT)
    out = process.stdout.read()
    err = "".join(waited) + process.stderr.read()
    assert process.wait(timeout=30) == 6
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    command = argv[-2] if argv[-1] == "promote" else argv[-1]
    said = f"interrupted (Ctrl-C): nothing was changed ({command} changes nothing)"
    if "--json" in argv:
        assert validated(out, "qrdr error") == {"schema_version": 1, "kind": "qrdr error", "site": "contoso",
                                                "error": "Interrupted", "exit": 6, "message": said}
    else:
        assert err.splitlines()[-1] == f"qrdr: {said}"


def test_check_with_every_host_dead_ends_within_the_deadlines_naming_each_host(bare_site):
    """Three hosts, each a black hole of its own, 2 s connection_timeout: each is waited for once
    (not once per probe, not 4 times), and each probe's line names its host."""
    holes = [BlackHole() for _ in range(3)]
    try:
        text = site_at(bare_site, holes[0].port, connection_timeout=2).read_text(encoding="utf-8")
        for key, hole_ in zip(("standby", "commserve"), holes[1:]):
            text = text.replace(f"[hosts.{key}.winrm]\nport = {holes[0].port}\n",
                                f"[hosts.{key}.winrm]\nport = {hole_.port}\n")
        bare_site.write_text(text, encoding="utf-8")
        started = time.monotonic()
        process = qrdr_process("check", "--config", str(bare_site), stdout=subprocess.PIPE)
        out, err = process.communicate(timeout=120)
        took = time.monotonic() - started
    finally:
        for hole_ in holes:
            hole_.close()
    assert process.returncode == 3
    assert took < 3 * 2 + 8, f"3 dead hosts of 2 s each took {took:.0f} s"
    assert "Traceback" not in err
    for name, hole_ in zip(("EXCH01", "EXCH02", "CS01"), holes):
        lines = [line for line in out.splitlines() if f"{name} is unreachable over WinRM" in line]
        assert lines, f"no probe names {name}:\n{out}"
        assert any(f"127.0.0.1:{hole_.port}/wsman did not accept a connection in time" in line for line in lines)
    assert "not tried again in this run" in out


# --------------------------------------------------------------------------- bugs


BUGGY_ADDON = '''
from qrdr.hookspecs import hookimpl


@hookimpl
def qrdr_promote_standby(site):
    return {}["standby"]
'''


def test_a_plugin_bug_is_one_line_naming_the_plugin_and_where_its_traceback_is(bare_site, fake_distributions,
                                                                             run_cli):
    fake_distributions.install("qrdr-buggy", "qrdr.addons", "buggy", "qrdr_buggy_addon", BUGGY_ADDON)
    text = bare_site.read_text(encoding="utf-8").replace("plugins = []", 'plugins = ["buggy"]')
    bare_site.write_text(text, encoding="utf-8")
    code, out, err = run_cli("plan", "promote", "--config", str(bare_site))
    assert code == 7 and out == ""
    line, = err.splitlines()
    assert line.startswith("qrdr: plugin 'buggy' failed in qrdr_promote_standby: KeyError: 'standby' "
                           "(the traceback is in ")
    log = Path(line.rsplit("the traceback is in ", 1)[1].rstrip(")"))
    assert log == bare_site.parent / ".qrdr" / "contoso.errors.log"
    detail = log.read_text(encoding="utf-8")
    assert "Traceback" in detail and "qrdr_buggy_addon" in detail and 'return {}["standby"]' in detail
    assert oct(log.stat().st_mode & 0o777) == "0o600"


def test_an_unexpected_error_in_qrdr_is_one_line_exit_10(bare_site, run_cli, monkeypatch):
    def broken(self):
        raise RuntimeError("the state is confused; secret ad-pw-1234 inside")

    monkeypatch.setattr("qrdr.api.Runbook.status", broken)
    from qrdr.secrets import SECRETS

    SECRETS.add("ad-pw-1234")
    code, out, err = run_cli("status", "--config", str(bare_site))
    assert code == cli.EXIT_UNEXPECTED == 10
    line, = err.splitlines()
    assert line.startswith("qrdr: unexpected error in tests.cli.test_robust_cli, line ")
    assert "RuntimeError: the state is confused" in line and "(a bug; the traceback is in " in line
    log = Path(line.rsplit("the traceback is in ", 1)[1].rstrip(")"))
    assert "Traceback" in log.read_text(encoding="utf-8")
    assert "ad-pw-1234" not in err + log.read_text(encoding="utf-8"), "secrets masked in the line and in the log"


def test_an_unexpected_error_with_json_is_the_error_document(bare_site, run_cli, monkeypatch):
    monkeypatch.setattr("qrdr.api.Runbook.status", lambda self: 1 / 0)
    code, out, err = run_cli("--json", "status", "--config", str(bare_site))
    document = json.loads(out)
    assert code == document["exit"] == 10 and document["error"] == "UnexpectedError"
    assert "ZeroDivisionError" in document["message"]


# --------------------------------------------------------------------------- bad journals


def test_a_locked_journal_is_named_and_busy(bare_site, run_cli, monkeypatch):
    """Another program holds the journal's lock: exit 5 naming the file, after qrdr's wait."""
    journal_with_many_events(bare_site, 1)
    path = bare_site.parent / ".qrdr" / "contoso.journal.sqlite"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
                               f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
                               "db.execute('PRAGMA locking_mode=EXCLUSIVE'); db.execute('BEGIN EXCLUSIVE')\n"
                               "db.execute(\"INSERT INTO events (run_id, at, kind, message) VALUES (1, 1, 'x', 'y')\")\n"
                               "print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        monkeypatch.setattr("qrdr.engine.journal.BUSY_TIMEOUT_S", 0.5)
        code, out, err = run_cli("status", "--config", str(bare_site))
    finally:
        holder.kill()
        holder.wait()
    assert code == 5 and out == ""
    assert err == f"qrdr: journal {path}: locked by another program for more than 0.5 s (database is locked); " \
                  f"try again once it has let go\n"


class PipeThatCloses:
    """A stdout whose reader goes away after its first line (as ``| head -1``)."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, text: str) -> int:
        if self.lines:
            raise BrokenPipeError(32, "Broken pipe")
        self.lines.append(text)
        return len(text)

    def flush(self) -> None:
        if len(self.lines) > 1:
            raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise OSError("no descriptor in this test")


def test_a_run_whose_reader_went_away_goes_on_to_its_end(bare_site, monkeypatch, capsys):
    """A DR run must not stop half way because its pager was closed: every step still runs."""
    from qrdr.engine.runner import RunResult

    ran: list[int] = []

    def run(self, command, **options):
        for number in range(5):
            self.engine.reporter.note(f"step {number}")
            ran.append(number)
        return RunResult(1, command, "succeeded", (), {}, (), None)

    monkeypatch.setattr("qrdr.api.Runbook.run", run)
    pipe = PipeThatCloses()
    monkeypatch.setattr(sys, "stdout", pipe)
    code = cli.main(["promote", "--yes", "--config", str(bare_site)])
    assert (code, ran, pipe.lines) == (0, [0, 1, 2, 3, 4], ["step 0"])
    assert sys.stdout is pipe, "the command's stdout is given back as it was"
