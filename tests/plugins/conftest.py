"""Fake installed distributions for plugin-loading tests.

A distribution is "installed" by writing its ``.dist-info`` (METADATA and
entry_points.txt) and its module into a temporary directory put first on
sys.path: that is what pip leaves behind, and importlib.metadata finds it the
same way, in a millisecond instead of a pip run. monkeypatch takes the
directory off sys.path again; the modules are dropped from sys.modules.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest


class FakeDistributions:
    def __init__(self, root: Path):
        self.root = root
        self.modules: list[str] = []

    def install(self, distribution: str, group: str, name: str, module: str, source: str) -> None:
        """Install ``distribution`` providing entry point ``name`` in ``group`` -> ``module`` with ``source``."""
        info = self.root / f"{distribution.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}\n")
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        self.modules.append(module)


@pytest.fixture
def fake_distributions(tmp_path, monkeypatch):
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    fakes = FakeDistributions(root)
    yield fakes
    for module in fakes.modules:
        sys.modules.pop(module, None)
