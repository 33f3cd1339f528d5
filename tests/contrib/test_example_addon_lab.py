"""The example add-on on the lab, the way docs/plugins.md tells plugin authors to test:
the ``lab_site`` fixture of the lab's pytest plugin (``qrdr.lab.pytest_plugin``), and a Runbook on its site."""

from __future__ import annotations

import attrs
import pytest

from qrdr.api import Runbook


@pytest.mark.lab
@pytest.mark.lab_site("e2003-w2003-vss")
def test_the_addon_step_is_planned_next_to_the_built_in_steps_on_the_lab(lab_site, addon, tmp_path):
    notes = tmp_path / "notes.txt"
    site = attrs.evolve(lab_site.bound_site, state_dir=str(tmp_path / "state"),
                        plugin_config={"example": {"ticket_queue": "DR-OPS", "note_path": str(notes)}})
    runbook = Runbook(site, extra_plugins=[("example", addon)])
    try:
        plan = runbook.plan("promote")
    finally:
        runbook.close()

    by_plugin = {}
    for planned in plan.steps:
        by_plugin.setdefault(planned.step.plugin, []).append(planned)
    assert [p.step.id for p in by_plugin["example"]] == ["example.post-maintenance-note"]
    assert {"exchange2003", "vss"} & set(by_plugin), "the built-in plugins' steps are planned too"
    # The lab answers: every preflight probe reached its host (none "cannot check").
    assert [p.step.id for p in plan.probes if p.status == "cannot check"] == []
    assert not notes.exists()
