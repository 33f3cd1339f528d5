"""A dead host is found once per run and stays dead for that run; connecting is bounded by
``connection_timeout`` (all attempts included) and says, while it waits, for whom and until when.

Two local stand-ins for a dead host, no network needed: an endpoint that accepts each TCP
connection and closes it at once (counts the attempts exactly), and one whose listen queue is
full, so that the kernel drops every SYN and a connect waits until its timeout (what an
unplugged or firewalled host looks like).
"""

from __future__ import annotations

import socket
import threading
import time

from pathlib import Path

import attrs
import pytest

from qrdr.config import load_site
from qrdr.model import Host, Role, SecretRef, WindowsVersion, WinRM
from qrdr.remote.commands import Command
from qrdr.remote.errors import HostUnreachable
from qrdr.remote.session import RemoteHost, Sessions, UnreachableHosts
from qrdr.secrets import ResolvedOnce, resolve


class SlammingDoor:
    """Accepts every connection and closes it unanswered; ``attempts`` counts them."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.attempts = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.attempts += 1
            connection.close()

    def close(self) -> None:
        self.socket.close()


class BlackHole:
    """A port where a connect is never accepted: the listen queue is full and never drained."""

    def __init__(self) -> None:
        self.socket = socket.socket()
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(0)
        self.port = self.socket.getsockname()[1]
        self._fill = []
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self._fill.append(filler)
        probe = socket.socket()
        probe.settimeout(0.5)
        try:
            probe.connect(("127.0.0.1", self.port))
        except (socket.timeout, TimeoutError):
            pass
        else:  # pragma: no cover - a kernel that accepts past the queue: the tests would not test waiting
            pytest.fail("this kernel accepted a connection past a full listen queue; no black hole here")
        finally:
            probe.close()

    def close(self) -> None:
        for filler in self._fill:
            filler.close()
        self.socket.close()


@pytest.fixture
def door():
    endpoint = SlammingDoor()
    yield endpoint
    endpoint.close()


@pytest.fixture
def hole():
    endpoint = BlackHole()
    yield endpoint
    endpoint.close()


def make_host(name: str, port: int, connection_timeout: int = 30, password: SecretRef | None = None) -> Host:
    winrm = WinRM(user="LAB\\qrdr", password=password or SecretRef(env="QRDR_UNREACH_PW"), port=port,
                  connection_timeout=connection_timeout)
    return Host(name=name, role=Role.STANDBY, address="127.0.0.1", windows=WindowsVersion.W2003, winrm=winrm)


EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"
PROBE = Command("Get-Service", {"Name": "MSExchangeIS"})


def test_a_dead_host_is_tried_once_then_fails_fast_naming_the_first_failure(door):
    remote = RemoteHost(make_host("EXCH02", door.port), password="pw-123456", retries=3, retry_backoff=0.05)
    with pytest.raises(HostUnreachable) as first:
        remote.run(PROBE, read_only=True)
    assert door.attempts == 4, "the first attempt and 3 retries, no more"
    assert "EXCH02" in str(first.value) and "4 attempts" in str(first.value)
    for _ in range(5):  # later probes and steps of the same run
        started = time.monotonic()
        with pytest.raises(HostUnreachable) as later:
            remote.run(PROBE, read_only=True)
        assert time.monotonic() - started < 0.5
        assert "not tried again in this run" in str(later.value) and first.value.reason in str(later.value)
    assert door.attempts == 4


def test_every_session_to_the_same_endpoint_shares_the_finding(door):
    """The same host as its local administrator is a second session: it must not wait again."""
    dead = UnreachableHosts()
    domain = RemoteHost(make_host("EXCH02", door.port), password="pw-123456", retry_backoff=0.05, unreachable=dead)
    local = RemoteHost(make_host("EXCH02", door.port), password="local-123456", unreachable=dead)
    with pytest.raises(HostUnreachable):
        domain.run(PROBE, read_only=True)
    attempts = door.attempts
    with pytest.raises(HostUnreachable, match="not tried again in this run"):
        local.run(PROBE, read_only=True)
    assert door.attempts == attempts


def test_connecting_is_bounded_by_the_deadline_and_shows_progress(hole, qrdr_log):
    remote = RemoteHost(make_host("EXCH01", hole.port, connection_timeout=3), password="pw-123456", retries=3)
    started = time.monotonic()
    with pytest.raises(HostUnreachable) as error:
        remote.run(PROBE, read_only=True)
    took = time.monotonic() - started
    assert 2.5 < took < 4.5, f"connection_timeout is 3 s for every attempt together, took {took:.1f} s"
    assert "did not accept a connection in time" in str(error.value) and "1 attempt in 3 s of 3 s" in str(error.value)
    waiting = [line for line in qrdr_log if line.startswith("WARNING") and "no session yet" in line]
    assert waiting and "EXCH01" in waiting[0] and f"127.0.0.1:{hole.port}" in waiting[0] \
        and "of 3 s (connection_timeout)" in waiting[0]
    assert "pw-123456" not in "".join(qrdr_log) + str(error.value)


def test_a_host_that_comes_back_is_forgotten_as_dead(door):
    """A new command of the Runbook forgets (``forget_all``); so does a pool that opens (a reboot):
    here shown with the registry itself, since no WinRM endpoint answers in this test."""
    dead = UnreachableHosts()
    dead.found("https://127.0.0.1:1/wsman", HostUnreachable("EXCH01", "gone"))
    assert "https://127.0.0.1:1/wsman" in dead
    with pytest.raises(HostUnreachable, match="gone; found at .* \\(for EXCH01\\), not tried again"):
        dead.raise_if_found("https://127.0.0.1:1/wsman", "EXCH01")
    dead.forget("https://127.0.0.1:1/wsman")
    dead.raise_if_found("https://127.0.0.1:1/wsman", "EXCH01")
    dead.found("https://127.0.0.1:1/wsman", HostUnreachable("EXCH01", "gone"))
    dead.forget_all()
    dead.raise_if_found("https://127.0.0.1:1/wsman", "EXCH01")


def test_the_password_of_a_dead_host_is_asked_once_however_often_it_is_tried(door, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr("qrdr.secrets._terminal_prompt", lambda text: asked.append(text) or "typed-pw-1234")
    host = make_host("EXCH02", door.port, password=SecretRef(prompt=True))
    site = attrs.evolve(load_site(EXAMPLE), hosts={"standby": host})
    sessions = Sessions(site, lambda h: resolve(h.winrm.password, f"WinRM password for {h.name}"),
                        retry_backoff=0.05)
    with ResolvedOnce().active():
        for _ in range(3):
            with pytest.raises(HostUnreachable):
                sessions.host("standby").run(PROBE, read_only=True)
    assert door.attempts == 4
    assert asked == ["WinRM password for EXCH02: "]


def test_a_port_where_nothing_listens_is_tried_a_bounded_number_of_times(qrdr_log):
    """Connection refused at once: the first attempt and ``retries`` more, with their pauses, once."""
    unused = socket.socket()
    unused.bind(("127.0.0.1", 0))
    port = unused.getsockname()[1]
    unused.close()  # nothing listens there now
    remote = RemoteHost(make_host("CS01", port), password="pw-123456", retries=2, retry_backoff=0.1)
    started = time.monotonic()
    with pytest.raises(HostUnreachable, match="Connection refused .*3 attempts in"):
        remote.run(PROBE, read_only=True)
    assert time.monotonic() - started < 0.1 + 0.2 + 2, "two pauses, each attempt refused at once"
    retried = [line for line in qrdr_log if "retrying in" in line]
    assert len(retried) == 2
    with pytest.raises(HostUnreachable, match="not tried again in this run"):
        remote.run(PROBE, read_only=True)
    assert len([line for line in qrdr_log if "retrying in" in line]) == 2
