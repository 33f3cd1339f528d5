"""``qrdr fleet check`` and ``qrdr.api.fleet_check`` over two lab sites and a broken config.

Site A (a lab in this process) is configured with its QR volumes and a fresh recovery point
(ready); site B (a lab of its own, ``qrdr lab up``, with other passwords: one process holds one
NTLM credential store, docs/lab.md) is fresh and its standby is powered off (not ready: the
standby does not answer); ``broken.toml`` is not a usable site config. Each lab site's config
names environment variables of its own (``QRDR_FLEET_A_*``, ``QRDR_FLEET_B_*``), as an MSP's
sites do, so that neither site can be checked with the other's passwords.
"""

from __future__ import annotations

import json
import os
import shlex
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qrdr.api import Runbook, fleet_check, site_configs
from qrdr.config import load_site
from qrdr.lab.samba_fixtures import golden_dir
from qrdr.lab.site import ENV_AD_PASSWORD, ENV_COMMCELL_PASSWORD, ENV_LOCAL_PASSWORD

from ..json_documents import validated

SITE = "e2003-w2003-vss"
BROKEN = """\
name = "broken"
snap_engine = "vss"

[domain]
dns_name = "broken.example"
netbios_name = "BROKEN"
controlers = []
"""


class LabProcess:
    """A lab in a process of its own (``qrdr lab up --dir``): its ``workdir``, ``environment()``, ``lab()``."""

    def __init__(self, workdir: Path, cache: Path):
        self.workdir = workdir
        environment = {**os.environ, "QRDR_LAB_SAMBA_CACHE": str(cache)}
        up = self.lab("up", "--site", SITE, "--reboot-seconds", "0.5", env=environment)
        assert up.returncode == 0, up.stderr

    def lab(self, *argv: str, **options) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "qrdr", "lab", *argv, "--dir", str(self.workdir)],
                              capture_output=True, text=True, timeout=200, **options)

    def environment(self) -> dict[str, str]:
        """The lab's secrets, from its lab.env (``export NAME='value'`` lines)."""
        pairs = (shlex.split(line.removeprefix("export "))[0].split("=", 1)
                 for line in (self.workdir / "lab.env").read_text().splitlines() if line.strip())
        return dict(pairs)


def fleet_config(lab, folder: Path, label: str, monkeypatch) -> Path:
    """The lab's site config under its own name (``lab-<label>``) and with secrets in environment
    variables of its own, written to ``folder/<label>.toml``; those variables set for the test."""
    text = (lab.workdir / "qrdr.toml").read_text(encoding="utf-8")
    for env in (ENV_AD_PASSWORD, ENV_LOCAL_PASSWORD, ENV_COMMCELL_PASSWORD):
        own = env.replace("QRDR_LAB_", f"QRDR_FLEET_{label.upper()}_")
        text = text.replace(f'"{env}"', f'"{own}"')
        monkeypatch.setenv(own, lab.environment()[env])
    name = load_site(lab.workdir / "qrdr.toml").name
    text = text.replace(f'name = "{name}"', f'name = "lab-{label}"', 1)
    path = folder / f"{label}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def journal_rows(config: Path) -> list[tuple]:
    site = load_site(config)
    path = Path(site.state_dir) / f"{site.name}.journal.sqlite"
    if not path.exists():
        return []
    with sqlite3.connect(path) as db:
        return db.execute("SELECT id, command, status FROM runs ORDER BY id").fetchall()


@pytest.fixture
def lab_process(tmp_path, tmp_path_factory):
    lab = LabProcess(tmp_path / "lab-b", golden_dir(tmp_path_factory))
    yield lab
    lab.lab("down")


@pytest.fixture
def fleet(lab_site_factory, lab_process, tmp_path, monkeypatch):
    """``(folder, lab_a, lab_b)``: the fleet's folder holding a.toml (ready), b.toml (standby off), broken.toml."""
    folder = tmp_path / "fleet"
    folder.mkdir()
    lab_a, lab_b = lab_site_factory(SITE), lab_process
    a = fleet_config(lab_a, folder, "a", monkeypatch)
    fleet_config(lab_b, folder, "b", monkeypatch)
    assert lab_a.environment()[ENV_AD_PASSWORD] != lab_b.environment()[ENV_AD_PASSWORD]
    for env in (ENV_AD_PASSWORD, ENV_LOCAL_PASSWORD, ENV_COMMCELL_PASSWORD):
        monkeypatch.delenv(env)  # the labs' shared names: a site must be checked with its own secrets
    runbook = Runbook.from_config(a)
    try:
        assert runbook.run("configure", yes=True).status == "succeeded"
        assert runbook.run("create-qr-volumes", yes=True).status == "succeeded"
    finally:
        runbook.close()
    lab_a.fault("qr-update")
    assert lab_b.lab("fault", "power-off", "standby").returncode == 0
    (folder / "broken.toml").write_text(BROKEN, encoding="utf-8")
    return folder, lab_a, lab_b


def passwords(*labs) -> list[str]:
    return [value for lab in labs for value in lab.environment().values()]


@pytest.mark.lab
def test_fleet_check_reports_each_site_changes_nothing_and_exits_3(fleet, run_cli):
    folder, lab_a, lab_b = fleet
    a, b, broken = folder / "a.toml", folder / "b.toml", folder / "broken.toml"
    before = {config: journal_rows(config) for config in (a, b)}

    code, out, err = run_cli(*["fleet", "check", str(folder)])
    assert code == 3, err
    lines = out.splitlines()
    assert len(lines) == 4, out  # one line per site (sorted by config path), then the summary
    line_a, line_b, line_broken, summary = lines[0], lines[1], lines[2], lines[3]
    assert line_a.startswith("lab-a ") and " qr-ready " in line_a and " READY " in line_a
    assert "recovery point 0.0 h old" in line_a and str(a) in line_a
    # The first reason, and where the others are (JSON below has them all: the standby does not answer).
    assert line_b.startswith("lab-b ") and " NOT READY " in line_b and f"more: qrdr check --config {b})" in line_b
    assert line_broken.startswith("- ") and " ERROR " in line_broken and "ConfigError" in line_broken
    assert f"ConfigError: {broken}: " in line_broken and "domain: unknown key controlers" in line_broken
    assert summary.startswith("1 of 3 sites ready, 1 could not be checked;")

    code, out, _ = run_cli(*["fleet", "check", "--json", str(folder)])
    assert code == 3
    document = validated(out, "qrdr fleet check")
    assert document["site"] is None  # many sites: each names its own
    by_config = {Path(site["config"]).name: site for site in document["sites"]}
    assert by_config["a.toml"]["site"] == "lab-a" and by_config["a.toml"]["state"] == "qr-ready"
    assert by_config["a.toml"]["ready"] is True and by_config["a.toml"]["reasons"] == []
    assert 0 <= by_config["a.toml"]["recovery_point_age_hours"] < 1 and by_config["a.toml"]["recovery_point_at"]
    assert by_config["b.toml"]["ready"] is False and by_config["b.toml"]["state"] == "unknown"
    assert any("EXCH02 is unreachable" in reason for reason in by_config["b.toml"]["reasons"])
    assert by_config["b.toml"]["error"] is None
    assert by_config["broken.toml"]["error"]["kind"] == "ConfigError"
    assert "domain.controllers: required field missing" in by_config["broken.toml"]["error"]["message"]
    assert document["summary"] == {**document["summary"], "sites": 3, "ready": 1, "not_ready": 2, "errors": 1}
    # Timed per site: the two that were reached took their round trips; a config refused on
    # loading can take less than the millisecond the document rounds to.
    assert by_config["a.toml"]["duration_seconds"] > 0 and by_config["b.toml"]["duration_seconds"] > 0
    assert by_config["broken.toml"]["duration_seconds"] >= 0

    for secret in passwords(lab_a, lab_b):
        assert secret not in out
    # Read-only on the sites: each check is journaled as a run of command "check" (the text one
    # and the JSON one), nothing else; the standby still off.
    after = {config: journal_rows(config) for config in (a, b)}
    assert after[a][:len(before[a])] == before[a] and before[b] == []
    assert [row[1:] for row in after[a][len(before[a]):]] == [("check", "ready")] * 2, after[a]
    assert [row[1:] for row in after[b]] == [("check", "not ready")] * 2, after[b]
    status = json.loads(lab_b.lab("status", "--json").stdout)
    assert status["hosts"]["standby"]["power"] == "off"


@pytest.mark.lab
def test_fleet_check_of_ready_sites_exits_0_and_the_api_gives_records(fleet, run_cli, monkeypatch):
    folder, lab_a, lab_b = fleet
    code, out, err = run_cli(*["fleet", "check", "--sites", str(folder / "a*.toml"), "--jobs", "1"])
    assert code == 0, err
    assert out.splitlines()[-1].startswith("1 of 1 sites ready;")

    result = fleet_check(site_configs(folder), jobs=2)
    assert [site.site for site in result.sites] == ["lab-a", "lab-b", None]
    assert [site.ready for site in result.sites] == [True, False, False]
    assert result.ready == 1 and result.errors == 1 and not result.all_ready and result.jobs == 2

    # B's secrets are its own: without them B cannot be checked (the variable is named, never a value),
    # and A still is.
    monkeypatch.delenv("QRDR_FLEET_B_AD_PASSWORD")
    result = fleet_check([folder / "a.toml", folder / "b.toml"])
    assert result.sites[0].ready
    assert any("QRDR_FLEET_B_AD_PASSWORD is not set" in reason for reason in result.sites[1].reasons)


def test_fleet_check_usage_errors_exit_2(tmp_path, run_cli):
    code, _, err = run_cli(*["fleet", "check", str(tmp_path)])
    assert code == 2 and "no site config matches" in err and str(tmp_path) in err
    code, _, err = run_cli(*["fleet", "check", str(tmp_path / "nowhere")])
    assert code == 2 and "not a directory" in err
    code, _, err = run_cli(*["fleet", "check"])
    assert code == 2 and "--sites GLOB" in err
    code, _, err = run_cli(*["fleet", "check", str(tmp_path), "--sites", "*.toml"])
    assert code == 2 and "not both" in err
    code, _, err = run_cli(*["--config", "x.toml", "fleet", "check", str(tmp_path)])
    assert code == 2 and "--config" in err
    code, _, err = run_cli(*["fleet", "check", "--jobs", "0", str(tmp_path)])
    assert code == 2 and "--jobs" in err
