"""Loopback addresses for lab servers that need a fixed port (LDAP 389/636, Kerberos 88).

Samba cannot move its LDAP ports, so every lab DC listens on an address of its own. This
module hands such addresses out, safely between processes, and remembers which ones it
added so that ``qrdr lab down`` (:func:`release_all`) leaves nothing behind.

API::

    address = allocate(purpose="samba DC1")   # e.g. "127.100.0.1", now on dev lo
    ...
    release(address)                          # removes it from lo and from the registry
    release_all()                             # every address this module added (lab down)
    release_stale()                           # addresses whose owning process has died
    claim(address, purpose)                   # re-add a known address (restart of a DC)
    set_owner(address, pid)                   # a detached server owns it now

How:

* Addresses come from :data:`POOL_PREFIX` (``127.100.0.0/16``), away from 127.0.0.1 and from
  the low 127.0.0.x addresses people pick by hand. A candidate is taken only if
  ``ip -o addr show dev lo`` does not list it and the registry does not hold it.
* Each address is added as a /32 (``ip addr add 127.100.0.N/32 dev lo``): a /32 is a primary
  address of its own, so removing it never takes other addresses with it (removing the
  primary of a /8 would drop every secondary in that /8).
* The registry is a directory (:data:`REGISTRY_DIR`, ``/run/qrdr-lab/addresses``) with one
  file per address holding the owner's pid and purpose; allocation and release run under an
  exclusive ``flock`` on ``/run/qrdr-lab/addresses.lock``, so two test runs never pick the
  same address.
* Needs root (``ip addr add``); a clear :class:`AddressError` otherwise.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from loguru import logger

#: all lab state that must survive a single process lives below this directory
STATE_DIR = Path(os.environ.get("QRDR_LAB_RUN_DIR", "/run/qrdr-lab"))
REGISTRY_DIR = STATE_DIR / "addresses"
LOCK_FILE = STATE_DIR / "addresses.lock"
#: addresses are taken from 127.100.0.1 .. 127.100.255.254
POOL_PREFIX = ipaddress.ip_network("127.100.0.0/16")
DEVICE = "lo"


class AddressError(RuntimeError):
    """An address could not be allocated, added or removed (the message says which and why)."""


@contextmanager
def _locked() -> Iterator[None]:
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    REGISTRY_DIR.mkdir(parents=True, exist_ok=True)
    with open(LOCK_FILE, "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def addresses_on_device() -> set[str]:
    """IPv4 addresses currently configured on ``lo`` (from ``ip -o addr show dev lo``)."""
    result = _ip("-o", "-4", "addr", "show", "dev", DEVICE)
    if result.returncode != 0:
        raise AddressError(f"cannot list addresses of {DEVICE}: {result.stderr.strip()}")
    found = set()
    for line in result.stdout.splitlines():
        fields = line.split()
        if "inet" in fields:
            found.add(fields[fields.index("inet") + 1].split("/")[0])
    return found


def _registry_file(address: str) -> Path:
    return REGISTRY_DIR / address


def registered() -> dict[str, dict]:
    """Addresses this module added and has not released: address -> {"pid", "purpose"}."""
    entries = {}
    if REGISTRY_DIR.is_dir():
        for path in REGISTRY_DIR.iterdir():
            try:
                entries[path.name] = json.loads(path.read_text())
            except (OSError, ValueError):
                entries[path.name] = {"pid": None, "purpose": "unreadable registry entry"}
    return entries


def _add(address: str, purpose: str) -> None:
    # registered first: if this process dies right after adding, `lab down` still finds it
    _registry_file(address).write_text(json.dumps({"pid": os.getpid(), "purpose": purpose}))
    result = _ip("addr", "add", f"{address}/32", "dev", DEVICE)
    if result.returncode != 0:
        _registry_file(address).unlink(missing_ok=True)
        raise AddressError(f"cannot add {address}/32 to {DEVICE} for {purpose}: {result.stderr.strip()} "
                           "(adding loopback addresses needs root)")
    logger.debug("added loopback address {} for {}", address, purpose)


def _remove(address: str) -> None:
    if address in addresses_on_device():
        result = _ip("addr", "del", f"{address}/32", "dev", DEVICE)
        if result.returncode != 0:
            raise AddressError(f"cannot remove {address} from {DEVICE}: {result.stderr.strip()}")
    _registry_file(address).unlink(missing_ok=True)
    logger.debug("removed loopback address {}", address)


def allocate(purpose: str) -> str:
    """Pick an unused address from the pool, add it to ``lo`` and return it.

    ``purpose`` (e.g. ``"samba DC1 /tmp/x"``) is recorded so a leftover can be explained.
    """
    with _locked():
        taken = addresses_on_device() | set(registered())
        for host in POOL_PREFIX.hosts():
            candidate = str(host)
            if candidate not in taken:
                _add(candidate, purpose)
                return candidate
    raise AddressError(f"no free loopback address left in {POOL_PREFIX}")


def claim(address: str, purpose: str) -> None:
    """Add a specific address again (a stopped DC restarting on the address in its config).

    Fails if the address is on ``lo`` already (someone else uses it).
    """
    ipaddress.ip_address(address)  # ValueError names the bad text
    with _locked():
        if address in addresses_on_device():
            raise AddressError(f"loopback address {address} is already in use on {DEVICE}; "
                               f"cannot claim it for {purpose}")
        _add(address, purpose)


def set_owner(address: str, pid: int) -> None:
    """Record ``pid`` as the address's owner (a server that outlives the process that started it)."""
    with _locked():
        entry_file = _registry_file(address)
        if not entry_file.exists():
            raise AddressError(f"loopback address {address} is not in the lab registry")
        entry = json.loads(entry_file.read_text())
        entry["pid"] = pid
        entry_file.write_text(json.dumps(entry))


def release(address: str) -> None:
    """Remove an address this module added (no error if it is already gone)."""
    with _locked():
        _remove(address)


def release_all() -> list[str]:
    """Remove every address in the registry, whoever added it. Returns what was removed.

    For a machine where no lab runs any more; :func:`release_stale` is the safe everyday one.
    """
    with _locked():
        removed = sorted(registered())
        for address in removed:
            _remove(address)
    return removed


def release_stale() -> list[str]:
    """Remove registered addresses whose owning process no longer exists."""
    removed = []
    with _locked():
        for address, entry in registered().items():
            pid = entry.get("pid")
            if not isinstance(pid, int) or not Path(f"/proc/{pid}").exists():
                _remove(address)
                removed.append(address)
    return removed
