"""Sites that load (the file is right) but that no plugin serves: the version matrix is the
plugins' (``qrdr_validate_site``), so the loader accepts these and the Runbook refuses them,
before anything runs, with every plugin's reason.

Every file in tests/config/unsupported/ says in its header what the refusal must say::

    # refused: vss | VSS does not exist on Windows 2000: production EXCH01 runs Windows 2000

one line per reason: the plugin that gives it and the reason's text; ``(loading)`` for a
plugin that cannot even be loaded (a snap engine no installed plugin provides).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qrdr.api import Runbook
from qrdr.config import load_site
from qrdr.engine.context import NoConnector
from qrdr.errors import PluginError, SiteNotSupported

UNSUPPORTED = sorted((Path(__file__).resolve().parent / "unsupported").glob("*.toml"))
REFUSED = re.compile(r"^# refused: (?P<plugin>.+?) \| (?P<phrase>.+)$", re.MULTILINE)


@pytest.mark.parametrize("path", UNSUPPORTED, ids=lambda p: p.name)
def test_the_plugins_refuse_a_site_they_do_not_serve_before_anything_runs(path, tmp_path):
    expected = [(m["plugin"], m["phrase"].strip()) for m in REFUSED.finditer(path.read_text(encoding="utf-8"))]
    assert expected, f"{path.name} has no '# refused: <plugin> | <phrase>' header line"
    site = load_site(path)  # no ConfigError: the file itself is right

    with pytest.raises((SiteNotSupported, PluginError)) as refused:
        Runbook(site, connector=NoConnector())

    message = str(refused.value)
    for plugin, phrase in expected:
        if plugin == "(loading)":
            assert isinstance(refused.value, PluginError) and phrase in message
        else:
            assert isinstance(refused.value, SiteNotSupported) and "nothing was done" in message
            assert f"  - {plugin}: {phrase}" in message, message
    assert not (path.parent / ".qrdr").exists(), "nothing may be written before the refusal"


def test_the_corpus_covers_the_version_matrix():
    assert {path.stem for path in UNSUPPORTED} >= {"exchange2000_on_w2003", "vss_on_w2000", "unknown_snap_engine"}
