"""The contrib example add-on's hooks, run in-process (fast): the same module the
venv test installs, registered as an in-process plugin next to the built-ins."""

from __future__ import annotations

import shutil
from pathlib import Path

from loguru import logger

from qrdr.api import Runbook
from qrdr.config import load_site
from qrdr.engine.context import NoConnector

from ..addon_engine import AddonEngine

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "site.toml"


def example_runbook(tmp_path: Path, addon, notes: Path) -> Runbook:
    config = tmp_path / "site.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8")
                      + f'\n[plugin.example]\nticket_queue = "DR-OPS"\nnote_path = "{notes}"\n', encoding="utf-8")
    shutil.copy(EXAMPLE.with_name("contoso-ca.pem"), tmp_path)  # the CA file its relative ca_file names
    return Runbook(load_site(config), extra_plugins=[("example", addon)], connector=NoConnector())


def test_the_addon_posts_its_note_once_and_reports_its_steps(tmp_path, addon):
    notes = tmp_path / "notes" / "maintenance.txt"
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(message.record["message"]), level="INFO")
    try:
        runbook = example_runbook(tmp_path, addon, notes)
        # With the built-in plugins: the add-on's step is in the plan (their probes block it without hosts).
        assert "example.post-maintenance-note" in [p.step.id for p in runbook.plan("promote").steps]
        # The add-on alone, with the config the Runbook structured: planned, then run.
        engine = AddonEngine(runbook.site, ("example", addon), plugin_config=runbook.plugin_config)
        planned = engine.plan("promote").steps
        assert [(p.step.id, p.status) for p in planned] == [("example.post-maintenance-note", "will change")]
        assert not notes.exists()

        result = engine.run("promote")

        assert result.status == "succeeded"
        assert notes.read_text() == "site contoso: standby promotion in progress; follow ticket queue DR-OPS\n"
        assert f"example add-on: run {result.run_id}: step example.post-maintenance-note done" in lines
        assert [p.status for p in engine.plan("promote").steps] == ["no change"]
        second = engine.run("promote")
        assert [s.status for s in second.steps] == ["no change"]
        assert notes.read_text().count("DR-OPS") == 1
    finally:
        logger.remove(sink)
