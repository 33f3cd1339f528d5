"""Sites for the built-in plugins' unit tests: the lab's four supported combinations, loaded as a user's would be."""

from __future__ import annotations

from pathlib import Path

import pytest

from qrdr.config import load_site
from qrdr.pluginmanager import make_plugin_manager

SITES = Path(__file__).resolve().parents[2] / "core" / "lab" / "sites"
COMBINATIONS = {
    "e2000-w2000-qsnap": ("exchange2000", "qsnap"),
    "e2003-w2000-qsnap": ("exchange2003", "qsnap"),
    "e2003-w2003-qsnap": ("exchange2003", "qsnap"),
    "e2003-w2003-vss": ("exchange2003", "vss"),
}


def site_named(name: str):
    return load_site(SITES / f"{name}.toml")


@pytest.fixture(params=sorted(COMBINATIONS))
def combination(request):
    """(site, plugin manager) for each supported version combination."""
    exchange, snap = COMBINATIONS[request.param]
    manager, _loaded = make_plugin_manager(exchange=exchange, snap=snap)
    return site_named(request.param), manager
