"""Stand-in for qrdr.lab.samba_fixtures until it lands: session DCs built with qrdr.lab.samba."""

from __future__ import annotations

import secrets
import shutil
import tempfile

import pytest

from qrdr.lab.samba import SambaDC


def _password() -> str:
    return "Qr-" + secrets.token_urlsafe(12) + "9a"


@pytest.fixture(scope="session")
def samba_dc():
    workdir = tempfile.mkdtemp(prefix="qrdr-dir-dc-")
    dc = SambaDC.provision(f"{workdir}/dc1", realm="qrdr.lab", netbios="QRDR", admin_password=_password(), name="DC1")
    try:
        dc.start()
        dc.wait_ready(60)
        yield dc
    finally:
        dc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def samba_dc_pair():
    workdir = tempfile.mkdtemp(prefix="qrdr-dir-pair-")
    first = SambaDC.provision(f"{workdir}/dc1", realm="pair.lab", netbios="PAIR", admin_password=_password(),
                              name="DC1")
    second = None
    try:
        first.start()
        first.wait_ready(60)
        second = first.join_second_dc(f"{workdir}/dc2", name="DC2")
        yield first, second
    finally:
        if second is not None:
            second.stop()
        first.stop()
        shutil.rmtree(workdir, ignore_errors=True)
