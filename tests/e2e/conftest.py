"""End-to-end runs of the runbook on the lab: qrdr drives, plain clients check."""

from __future__ import annotations

import attrs
import pytest

from qrdr.api import Runbook

from .outside import Outside


@pytest.fixture
def start_site(lab_site_factory, tmp_path):
    """``start(name, **lab options) -> (lab, runbook, outside)`` for a built-in lab site."""

    def start(name: str, **options):
        lab = lab_site_factory(name, **options)
        site = attrs.evolve(lab.bound_site, state_dir=str(tmp_path / "state"))
        return lab, Runbook(site), Outside(lab)

    return start
