"""examples/embed.py, the API example of docs/api.md, runs as documented.

On examples/site.toml (hosts that do not exist) the built-in plugins' checks
cannot run, so the example must show its own step in the plan, say what blocks
the run, exit 3 and change nothing. Running the promote itself needs a site
that answers (the lab): see the example's docstring.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_example(*args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QRDR_")}
    return subprocess.run([sys.executable, str(REPO / "examples" / "embed.py"), *args],
                          capture_output=True, text=True, timeout=60, cwd=REPO, env=env)


def test_embed_example_plans_with_its_plugin_and_connector_and_refuses_when_blocked(tmp_path):
    shown = run_example(str(REPO / "examples" / "site.toml"), str(tmp_path))

    assert "Traceback" not in shown.stderr, shown.stderr
    assert shown.returncode == 3, shown.stdout + shown.stderr
    lines = shown.stdout.splitlines()
    assert any(line.startswith("plan: embed.operations-log [") for line in lines)
    assert "connections asked for while planning: host standby" in lines
    blocked = lines.index("blocked, nothing was changed:")
    assert any("environment variable QRDR_WINRM_PASSWORD is not set" in line for line in lines[blocked:])
    assert not (tmp_path / "operations.log").exists()
    assert not any(line.startswith("run ") for line in lines)


def test_docs_api_shows_the_example():
    docs = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    source = (REPO / "examples" / "embed.py").read_text(encoding="utf-8")
    assert "examples/embed.py" in docs
    for line in ('runbook = Runbook(site, extra_plugins=[("operations-log", operations_log)], connector=connector)',
                 "connector = AuditingConnector(SiteConnector(site))",
                 'result = runbook.run("promote", yes=True)'):
        assert line in source
        assert line in docs
