"""A site for CLI tests: the example site copied to a temporary directory (so its
journal lands there), with a test add-on installed as a distribution and listed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"
TOKEN_ENV = "QRDR_CLITEST_TOKEN"

#: The add-on: two local promote steps; the second's title carries a secret it resolved.
CLITEST_ADDON = f'''
from qrdr.hookspecs import hookimpl
from qrdr.model import SecretRef
from qrdr.secrets import resolve
from qrdr.steps import Check, Step


def _step(step_id, title, after=()):
    return Step(id=step_id, title=title, target="local", after=after,
                check=lambda ctx: Check.will_change("create " + step_id), apply=lambda ctx: None)


@hookimpl
def qrdr_promote_standby(site):
    token = resolve(SecretRef(env="{TOKEN_ENV}"), "clitest ticket token")
    return [_step("clitest.first", "first clitest step"),
            _step("clitest.second", "open ticket with token " + token, after=("clitest.first",))]
'''


@pytest.fixture
def cli_site(tmp_path, fake_distributions, monkeypatch) -> Path:
    fake_distributions.install("qrdr-clitest", "qrdr.addons", "clitest", "qrdr_clitest_addon", CLITEST_ADDON)
    monkeypatch.setenv(TOKEN_ENV, "tok-9f8e7d6c5b4a")
    monkeypatch.delenv("QRDR_CONFIG", raising=False)
    config = tmp_path / "site" / "site.toml"
    config.parent.mkdir()
    config.write_text(EXAMPLE.read_text(encoding="utf-8").replace("plugins = []", 'plugins = ["clitest"]'),
                      encoding="utf-8")
    shutil.copy(EXAMPLE.with_name("contoso-ca.pem"), config.parent)  # the CA file its relative ca_file names
    return config


@pytest.fixture
def bare_site(tmp_path, monkeypatch) -> Path:
    """The example site, unchanged, in a directory of its own."""
    monkeypatch.delenv("QRDR_CONFIG", raising=False)
    config = tmp_path / "bare" / "site.toml"
    config.parent.mkdir()
    config.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    shutil.copy(EXAMPLE.with_name("contoso-ca.pem"), config.parent)  # the CA file its relative ca_file names
    return config
