"""Reboots, power-offs and injected faults of the lab endpoint, seen through plain pypsrp."""

from __future__ import annotations

import socket
import threading
import time

import pytest
import requests
from pypsrp.powershell import PowerShell, RunspacePool

from winrm_testhost import LOCAL_USER


def echo(pool, text="pong") -> list:
    ps = PowerShell(pool)
    ps.add_cmdlet("Write-Output").add_argument(text)
    return ps.invoke()


def refuses_connections(endpoint) -> bool:
    try:
        socket.create_connection((endpoint.address, endpoint.port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def test_go_down_and_come_up_on_the_same_port(http_endpoint, connect):
    port = http_endpoint.port
    pool = RunspacePool(connect(http_endpoint))
    pool.open()
    assert echo(pool) == ["pong"]

    http_endpoint.go_down()
    assert refuses_connections(http_endpoint)
    assert pool.is_alive() is False
    with pytest.raises(requests.exceptions.ConnectionError):
        RunspacePool(connect(http_endpoint)).open()

    http_endpoint.come_up()
    assert http_endpoint.port == port
    assert http_endpoint.shell_count == 0  # a reboot forgets every shell
    with RunspacePool(connect(http_endpoint)) as fresh:
        assert echo(fresh, "back") == ["back"]


def test_go_down_cuts_a_waiting_receive(http_endpoint, connect):
    # Not closed afterwards: the host is gone, like the pools of a rebooted Windows server.
    pool = RunspacePool(connect(http_endpoint))
    pool.open()
    ps = PowerShell(pool)
    ps.add_cmdlet("Start-Sleep").add_parameter("Seconds", 30)
    ps.begin_invoke()
    started = time.monotonic()
    timer = threading.Timer(0.3, http_endpoint.go_down)
    timer.start()
    with pytest.raises(requests.exceptions.ConnectionError):
        ps.end_invoke()
    timer.join()
    assert time.monotonic() - started < 20  # cut at once, not left to the client's timeout


def test_drop_at_request_drops_exactly_that_request(http_endpoint, connect):
    # The dropped pool is left alone: its NTLM context died with its connection.
    pool = RunspacePool(connect(http_endpoint))
    pool.open()
    assert echo(pool) == ["pong"]
    http_endpoint.faults.drop_at_request = 1  # the Command of the next pipeline
    with pytest.raises(requests.exceptions.ConnectionError):
        echo(pool)
    assert http_endpoint.faults.drop_at_request is None  # one-shot
    with RunspacePool(connect(http_endpoint)) as fresh:
        assert echo(fresh) == ["pong"]


def test_drop_counts_from_when_it_was_set(http_endpoint, connect):
    pool = RunspacePool(connect(http_endpoint))
    pool.open()
    http_endpoint.faults.drop_at_request = 3
    assert echo(pool) == ["pong"]  # Command + Receive: requests 1 and 2
    before = http_endpoint.request_count
    with pytest.raises(requests.exceptions.ConnectionError):
        echo(pool)
    assert http_endpoint.request_count == before + 1


def test_latency_is_added_to_every_request(http_endpoint, connect):
    with RunspacePool(connect(http_endpoint)) as pool:
        http_endpoint.faults.latency_ms = 150
        before = http_endpoint.request_count
        started = time.monotonic()
        assert echo(pool) == ["pong"]
        elapsed = time.monotonic() - started
        requests_made = http_endpoint.request_count - before
        assert requests_made >= 2
        assert elapsed >= requests_made * 0.150
        http_endpoint.faults.latency_ms = 0


def test_never_return_makes_the_next_reboot_final(http_endpoint, connect):
    http_endpoint.faults.never_return = True
    with RunspacePool(connect(http_endpoint)) as pool:
        assert echo(pool) == ["pong"]  # serves as usual until it goes down
    http_endpoint.go_down()  # the reboot
    with pytest.raises(RuntimeError, match="never_return"):
        http_endpoint.come_up()
    assert not http_endpoint.is_up
    assert refuses_connections(http_endpoint)
    # Clearing the fault is the lab operator's "repair": the host may come back.
    http_endpoint.faults.never_return = False
    http_endpoint.come_up()
    assert not refuses_connections(http_endpoint)


def test_faults_and_reboots_over_https(https_endpoint, connect):
    pool = RunspacePool(connect(https_endpoint, auth="basic", username=LOCAL_USER))
    pool.open()
    https_endpoint.faults.drop_at_request = 1
    with pytest.raises(requests.exceptions.ConnectionError):
        echo(pool)
    https_endpoint.go_down()
    assert refuses_connections(https_endpoint)
    https_endpoint.come_up()
    with RunspacePool(connect(https_endpoint, auth="basic", username=LOCAL_USER)) as fresh:
        assert echo(fresh, "tls back") == ["tls back"]
