"""pytest fixtures giving tests a real Samba AD DC (and a pair of replicating DCs).

Use from a conftest: ``from qrdr.lab.samba_fixtures import *`` (or list this module in
``pytest_plugins``).

* ``samba_dc`` (session): a started :class:`~qrdr.lab.samba.SambaDC` for realm
  ``qrdr.lab`` with the Exchange tree for organization :data:`ORGANIZATION`, administrative
  group :data:`ADMINISTRATIVE_GROUP` and servers :data:`EXCHANGE_SERVERS` (EXCH01, EXCH02),
  and computer accounts for those servers whose passwords are :func:`default_computer_password`
  (what "Reset Account" sets: the name in lower case, first 14 characters). Shared by the whole
  session: tests that change it must use names of their own.
* ``samba_dc_pair`` (module): ``(dc1, dc2)``, a second domain of two replicating DCs,
  started and ready, replication not paused.

Both provision by copying a "golden" domain (:meth:`SambaDC.provision` ``cache_dir``,
:func:`golden_dir`): a copy takes about 0.5 s, a provision about 5 s. The goldens live in the
session's pytest temporary directory, unless ``QRDR_LAB_SAMBA_CACHE`` names a directory to
keep them across sessions (the Samba version is part of each golden's name).

Both DC fixtures clean up after themselves (processes, loopback addresses, work directories).
The administrator password is random per session.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Iterator

import pytest

from . import addresses
from .samba import SambaDC, add_computer, populate_exchange

__all__ = ["samba_dc", "samba_dc_pair", "golden_dir", "ORGANIZATION", "ADMINISTRATIVE_GROUP",
           "EXCHANGE_SERVERS",
           "default_computer_password", "lab_admin_password"]

ORGANIZATION = "First Organization"
ADMINISTRATIVE_GROUP = "First Administrative Group"
EXCHANGE_SERVERS = ("EXCH01", "EXCH02")
READY_TIMEOUT = 60.0


def default_computer_password(name: str) -> str:
    """The password "Reset Account" gives a computer: its name in lower case, first 14 characters."""
    return name.lower()[:14]


def lab_admin_password() -> str:
    """A random administrator password meeting AD complexity (upper, lower, digit, symbol)."""
    return secrets.token_urlsafe(15) + "Aa1!"


def golden_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where this session keeps golden provisioned domains (``QRDR_LAB_SAMBA_CACHE`` or basetemp)."""
    configured = os.environ.get("QRDR_LAB_SAMBA_CACHE")
    return Path(configured) if configured else tmp_path_factory.getbasetemp() / "samba-golden"


@pytest.fixture(scope="session")
def samba_dc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SambaDC]:
    addresses.release_stale()
    dc = SambaDC.provision(tmp_path_factory.mktemp("samba") / "dc1", realm="qrdr.lab", netbios="QRDR",
                           admin_password=lab_admin_password(), name="DC1", cache_dir=golden_dir(tmp_path_factory))
    try:
        dc.start()
        dc.wait_ready(READY_TIMEOUT)
        populate_exchange(dc, ORGANIZATION, ADMINISTRATIVE_GROUP, list(EXCHANGE_SERVERS))
        for server in EXCHANGE_SERVERS:
            add_computer(dc, server, password=default_computer_password(server))
        yield dc
    finally:
        dc.destroy()


@pytest.fixture(scope="module")
def samba_dc_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SambaDC, SambaDC]]:
    addresses.release_stale()
    base = tmp_path_factory.mktemp("samba-pair")
    first = SambaDC.provision(base / "dc1", realm="pair.qrdr.lab", netbios="PAIR",
                              admin_password=lab_admin_password(), name="DC1", cache_dir=golden_dir(tmp_path_factory))
    second = None
    try:
        first.start()
        first.wait_ready(READY_TIMEOUT)
        second = first.join_second_dc(base / "dc2", name="DC2", timeout=READY_TIMEOUT)
        yield first, second
    finally:
        if second is not None:
            second.destroy()
        first.destroy()
