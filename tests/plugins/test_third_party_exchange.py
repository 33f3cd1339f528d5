"""A third party adds an Exchange plugin: a distribution with an entry point in the
``qrdr.exchange`` group, for a version the built-in plugins do not know (Exchange 5.5).
``qrdr --plugin NAME`` loads it and plans with it; the version matrix is its own
``qrdr_validate_site``'s, so qrdr neither refuses the site for its version nor lets
a built-in plugin take a site it does not serve. docs/plugins.md, "Writing an
Exchange plugin", is the recipe this follows.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"

#: The whole plugin, as its author would write it: its own row of the version matrix and one promote step.
ACME_EXCHANGE = '''
from qrdr.hookspecs import hookimpl
from qrdr.steps import Check, Step

#: Exchange 5.5, on Windows 2000 and 2003.
VERSION, WINDOWS = "5.5", {"2000", "2003"}


@hookimpl
def qrdr_validate_site(site):
    reasons = []
    if site.exchange.version.value != VERSION:
        reasons.append(f"this plugin is for Exchange {VERSION}; the site runs Exchange {site.exchange.version.value}")
    reasons += [f"Exchange {VERSION} does not run on Windows {host.windows.value} ({host.name})"
                for host in (site.production, site.standby) if host.windows.value not in WINDOWS]
    return reasons


@hookimpl
def qrdr_promote_standby(site):
    return [Step(id="acme55.promote-standby", title=f"Promote {site.standby.name} the Exchange 5.5 way",
                 target="local", check=lambda ctx: Check.will_change("run the 5.5 promote"), apply=lambda ctx: None)]
'''


@pytest.fixture
def acme_site(tmp_path, fake_distributions, monkeypatch) -> Path:
    """The example site running Exchange 5.5, and the acme-qrdr-exchange55 distribution installed."""
    fake_distributions.install("acme-qrdr-exchange55", "qrdr.exchange", "acme55", "acme_qrdr_exchange55",
                               ACME_EXCHANGE)
    monkeypatch.delenv("QRDR_CONFIG", raising=False)
    config = tmp_path / "site" / "site.toml"
    config.parent.mkdir()
    text = EXAMPLE.read_text(encoding="utf-8")
    assert text.count('version = "2003"') == 1
    config.write_text(text.replace('version = "2003"', 'version = "5.5"'), encoding="utf-8")
    shutil.copy(EXAMPLE.with_name("contoso-ca.pem"), config.parent)  # the CA file its relative ca_file names
    return config


def test_plan_promote_with_a_third_party_exchange_plugin_shows_its_step(acme_site, run_cli):
    code, out, err = run_cli("--plugin", "acme55", "--snap", "vss", "plan", "promote", "--config", str(acme_site))

    assert "Traceback" not in err and "not supported" not in err, err
    lines = out.splitlines()
    assert lines[0] == "Plan: promote (phases: promote)"
    assert any("acme55.promote-standby (local)" in line and "Promote EXCH02 the Exchange 5.5 way" in line
               for line in lines), out
    assert code in (0, 3)  # 3: the vss plugin's probes cannot reach the example's hosts


def test_the_plan_document_names_the_third_party_plugin_behind_its_step(acme_site, run_cli):
    _, out, _ = run_cli("--json", "--plugin", "acme55", "plan", "promote", "--config", str(acme_site))

    steps = {step["step_id"]: step for step in json.loads(out)["steps"]}
    assert steps["acme55.promote-standby"]["plugin"] == "acme55"
    assert not [step for step in steps if step.startswith(("exchange2000.", "exchange2003."))]


def test_a_built_in_plugin_refuses_the_site_it_does_not_serve(acme_site, run_cli):
    code, out, err = run_cli("--plugin", "exchange2003", "plan", "promote", "--config", str(acme_site))

    assert code == 3 and out == ""
    assert "exchange2003: the site runs Exchange 5.5; this plugin is for Exchange 2003" in err


def test_the_third_party_plugin_refuses_a_site_outside_its_own_matrix(acme_site, run_cli):
    acme_site.write_text(acme_site.read_text(encoding="utf-8").replace('version = "5.5"', 'version = "2003"'),
                         encoding="utf-8")
    code, _, err = run_cli("--plugin", "acme55", "plan", "promote", "--config", str(acme_site))

    assert code == 3
    assert "acme55: this plugin is for Exchange 5.5; the site runs Exchange 2003" in err


def test_without_plugin_a_site_of_another_version_asks_for_exchange_and_its_version(acme_site, run_cli):
    code, _, err = run_cli("plan", "promote", "--config", str(acme_site))

    assert code == 7  # a plugin error: no plugin exchange5.5 is installed
    assert "no exchange plugin named 'exchange5.5' is installed" in err and "acme55" in err
