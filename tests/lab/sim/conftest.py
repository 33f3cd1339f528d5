"""Fixtures: simulated hosts built directly (no WinRM endpoint needed)."""

from __future__ import annotations

import pytest

from qrdr.lab.sim import Lab, WindowsHost
from qrdr.lab.sim.protocol import Invocation
from qrdr.lab.sim.services import add_windows_services, install_exchange_services


def call(host, *commands, input_objects=()):
    """Run a pipeline given as (name, {named}, [positional]) tuples or plain names."""
    pipeline = []
    for command in commands:
        if isinstance(command, str):
            command = (command,)
        name, named, positional = (list(command) + [{}, []])[:3]
        parameters = tuple((key, value) for key, value in named.items()) + tuple((None, v) for v in positional)
        pipeline.append(Invocation(name, parameters=parameters))
    return host.invoke(pipeline, list(input_objects))


@pytest.fixture
def lab():
    return Lab()


@pytest.fixture
def exchange_host(lab):
    """A Windows 2003 workgroup host with Exchange 2003's services installed and running."""
    host = lab.add(WindowsHost("ex1", windows="2003", workgroup="WORKGROUP"))
    host.local_users["Administrator"] = "local-pw"
    add_windows_services(host, winrm=True)
    install_exchange_services(host, "2003")
    return host
