"""The contrib example add-on, importable from its source tree for in-process tests."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

ADDON_SRC = Path(__file__).resolve().parents[2] / "contrib" / "qrdr-example-addon" / "src"


@pytest.fixture
def addon(monkeypatch):
    monkeypatch.syspath_prepend(str(ADDON_SRC))
    module = importlib.import_module("qrdr_example_addon")
    yield module
    sys.modules.pop("qrdr_example_addon", None)
