from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from qrdr.config import load_site
from qrdr.engine.runner import Engine
from qrdr.pluginmanager import make_plugin_manager

from .world import World

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"


def example_site(state_dir: Path):
    return attrs.evolve(load_site(EXAMPLE), state_dir=str(state_dir))


def make_engine(state_dir: Path, plugin, confirm=None, reporter=None) -> Engine:
    manager, loaded = make_plugin_manager(exchange=None, snap=None, extra_objects=[("world", plugin)])
    return Engine(example_site(state_dir), manager, plugin_names=["addon:world"], plugin_config={},
                  confirm=confirm, reporter=reporter)


@pytest.fixture
def world(tmp_path) -> World:
    return World(tmp_path / "world.json")
