"""The contrib example add-on seen as a third party sees it: its own distribution,
pip-installed next to qrdr (not editable) in a fresh venv, loaded through its
entry point because the site config lists it, and shown by ``qrdr plan``.

The venv is built once per session (tests/conftest.py, ``installed_venv``);
with a warm pip cache that takes about 20 s, so these tests are marked ``slow``
(still run by default and by .ci/run; ``-m "not slow"`` skips them locally).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "site.toml"

pytestmark = pytest.mark.slow


def site_with_addon(tmp_path: Path, section: str) -> Path:
    """The example site, with the add-on listed and its section appended."""
    text = EXAMPLE.read_text(encoding="utf-8")
    text, count = re.subn(r"(?m)^plugins = \[\]$", 'plugins = ["example"]', text)
    assert count == 1, "examples/site.toml no longer has a `plugins = []` line"
    config = tmp_path / "site.toml"
    # The journal goes next to the config file (tmp_path/.qrdr) by default.
    config.write_text(text + "\n" + section, encoding="utf-8")
    shutil.copy(EXAMPLE.with_name("contoso-ca.pem"), tmp_path)  # the CA file its relative ca_file names
    return config


def test_plan_shows_the_addon_step(installed_venv, tmp_path):
    notes = tmp_path / "notes.txt"
    config = site_with_addon(tmp_path, f'[plugin.example]\nticket_queue = "DR-OPS"\nnote_path = "{notes}"\n')

    shown = installed_venv.run("qrdr", "plan", "promote", "--config", str(config), cwd=tmp_path)

    assert "Traceback" not in shown.stderr, shown.stderr
    assert shown.stdout.startswith("Plan: promote (phases: promote)")
    line = next(line for line in shown.stdout.splitlines() if "example.post-maintenance-note" in line)
    assert "example.post-maintenance-note (local): post a maintenance note for ticket queue DR-OPS" in line
    # The built-in plugins' probes cannot reach the example's hosts: the plan is blocked (exit 3)
    # and the add-on's step is listed as not checked; with reachable hosts it says what it appends.
    blocked = "Blocked: nothing will be changed." in shown.stdout
    assert shown.returncode == (3 if blocked else 0), shown.stdout + shown.stderr
    assert "[depends on an earlier step]" in line if blocked else f"append to {notes}" in shown.stdout
    assert not notes.exists(), "plan must not write the note"


def test_plan_json_lists_the_addon_step_with_its_plugin(installed_venv, tmp_path):
    config = site_with_addon(tmp_path, f'[plugin.example]\nticket_queue = "DR-OPS"\nnote_path = "{tmp_path / "n.txt"}"\n')

    shown = installed_venv.run("qrdr", "--json", "plan", "promote", "--config", str(config), cwd=tmp_path)

    document = json.loads(shown.stdout)
    assert shown.returncode == (3 if document["blockers"] else 0), shown.stderr
    steps = {step["step_id"]: step for step in document["steps"]}
    assert steps["example.post-maintenance-note"]["plugin"] == "example"
    assert steps["example.post-maintenance-note"]["phase"] == "promote"
    assert steps["example.post-maintenance-note"]["planned"] in ("will change", "depends on an earlier step")


def test_a_missing_addon_field_is_a_config_error_naming_it(installed_venv, tmp_path):
    config = site_with_addon(tmp_path, "[plugin.example]\nnote_path = 'x.txt'\n")

    shown = installed_venv.run("qrdr", "plan", "promote", "--config", str(config), cwd=tmp_path)

    assert shown.returncode == 2
    assert str(config) in shown.stderr
    assert "plugin.example.ticket_queue" in shown.stderr
    assert "Traceback" not in shown.stderr
