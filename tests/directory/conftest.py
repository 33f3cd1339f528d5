"""Fixtures of the directory tests: real Samba AD DCs (never a mock) and site models for them."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from loguru import logger

from qrdr.directory import Directory
from qrdr.model import Domain, DomainController, SecretRef

from qrdr.lab.samba_fixtures import ADMINISTRATIVE_GROUP as GROUP
from qrdr.lab.samba_fixtures import ORGANIZATION
from qrdr.lab.samba_fixtures import samba_dc, samba_dc_pair  # noqa: F401  (the lab's real DCs)


def domain_for(*dcs, ca_file: str | None = "auto", **changes) -> Domain:
    """The site's Domain model for these DCs (first one first), binding as the administrator.

    Each lab DC made its own CA; ``ca_file="auto"`` writes a bundle of all of them,
    as a site would point ca_file at its enterprise CA.
    """
    first = dcs[0]
    if ca_file == "auto":
        bundle = Path(tempfile.mkdtemp(prefix="qrdr-dir-ca-", dir=first.workdir)) / "ca-bundle.pem"
        bundle.write_text("".join(Path(dc.ca_file).read_text() for dc in dcs))
        ca_file = str(bundle)
    values = dict(
        dns_name=first.dns_domain,
        netbios_name=first.netbios,
        controllers=tuple(DomainController(name=dc.name, address=dc.address) for dc in dcs),
        bind_user=first.admin_user,
        bind_password=SecretRef(env="QRDR_TEST_NOT_USED"),
        ca_file=ca_file,
    )
    values.update(changes)
    return Domain(**values)


@pytest.fixture(scope="session")
def dc(samba_dc):
    """The lab DC, with the Exchange tree (ORGANIZATION / GROUP / EXCH01, EXCH02)."""
    return samba_dc


@pytest.fixture(scope="session")
def domain(dc) -> Domain:
    return domain_for(dc)


@pytest.fixture
def directory(dc, domain):
    with Directory.connect(domain, dc.admin_password) as connected:
        yield connected


@pytest.fixture
def qrdr_log():
    """Every line qrdr logs during the test (the library's logger is enabled for the test only)."""
    lines: list[str] = []
    logger.enable("qrdr")
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG", format="{level} {message}")
    yield lines
    logger.remove(sink)
    logger.disable("qrdr")
