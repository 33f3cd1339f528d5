"""``qrdr plan``: the text framing, the --json document, refusals before anything runs, and masking."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..json_documents import validated
from .conftest import TOKEN_ENV

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
STEP_LINE = re.compile(r"^ +\d+\. \[(?P<status>[^\]]+)\] (?P<id>\S+) \((?P<target>[^)]+)\)(?P<flags>( \[[A-Za-z ]+(: [a-z ,]+)?\])*): (?P<title>.*)$")


def test_plan_text_shows_each_step_with_status_target_and_title(cli_site, run_cli):
    code, out, err = run_cli("plan", "promote", "--config", str(cli_site))

    assert "Traceback" not in err
    lines = out.splitlines()
    assert lines[0] == "Plan: promote (phases: promote)"
    steps = [STEP_LINE.match(line) for line in lines if STEP_LINE.match(line)]
    ours = {m["id"]: m for m in steps if m["id"].startswith("clitest.")}
    assert ours["clitest.first"]["target"] == "local" and ours["clitest.first"]["title"] == "first clitest step"
    numbers = [int(line.split(".")[0]) for line in lines if STEP_LINE.match(line)]
    assert numbers == list(range(1, len(numbers) + 1))
    order = [m["id"] for m in steps]
    assert order.index("clitest.first") < order.index("clitest.second")
    # The built-in plugins cannot reach the example's hosts: blocked, exit 3, every reason listed.
    if "Blocked: nothing will be changed." in lines:
        assert code == 3
        reasons = lines[lines.index("Blocked: nothing will be changed.") + 1:]
        assert reasons and all(line.startswith("  - ") for line in reasons)
    else:
        assert code == 0
        assert re.fullmatch(r"\d+ of \d+ steps will or may change something.*\.", lines[-1])
        assert ours["clitest.first"]["status"] == "will change"


def test_plan_json_is_one_document_with_the_documented_keys(cli_site, run_cli):
    code, out, err = run_cli("--json", "plan", "promote", "--config", str(cli_site))

    document = validated(out, "qrdr plan")  # stdout holds the document and nothing else
    documented = json.loads(re.search(r"(?s)With `--json`:\s+```json\n(.*?)```", DOCS.read_text()).group(1))
    assert set(document) == set(documented) == {"schema_version", "kind", "site", "command", "phases", "ready",
                                                 "blockers", "unavoidable_waits", "probes", "steps"}
    assert document["command"] == "promote" and document["phases"] == ["promote"]
    for step in document["steps"] + document["probes"]:
        assert set(step) == set(documented["steps"][0])
        assert step["planned"] in ("will change", "no change", "depends on an earlier step", "blocked", "cannot check")
    ours = [step for step in document["steps"] if step["plugin"] == "clitest"]
    assert [step["step_id"] for step in ours] == ["clitest.first", "clitest.second"]
    assert ours[0]["target"] == "local" and ours[0]["phase"] == "promote" and ours[0]["idempotent"] is True
    assert code == (3 if document["blockers"] else 0)
    assert "Traceback" not in err


def test_wrong_exchange_plugin_is_refused_before_anything_runs(bare_site, run_cli):
    code, out, err = run_cli("--plugin", "exchange2000", "--snap", "vss", "plan", "promote", "--config", str(bare_site))

    assert code == 3
    assert out == ""
    assert f"site 'contoso' ({bare_site}) is not supported by the chosen plugins; nothing was done" in err
    assert "exchange2000: the site runs Exchange 2003; this plugin is for Exchange 2000 (use --plugin exchange2003" in err
    assert "Traceback" not in err
    assert not (bare_site.parent / ".qrdr").exists(), "nothing may be written before the refusal"


def test_wrong_snap_engine_is_refused_too(bare_site, run_cli):
    code, _, err = run_cli("--snap", "qsnap", "plan", "promote", "--config", str(bare_site))
    assert code == 3
    assert "--snap qsnap: the site config says snap_engine = 'vss'" in err


def test_refusal_as_json(bare_site, run_cli):
    code, out, _ = run_cli("--json", "--plugin", "exchange2000", "plan", "promote", "--config", str(bare_site))
    document = json.loads(out)
    assert code == document["exit"] == 3
    assert document["error"] == "SiteNotSupported" and "exchange2000" in document["message"]


def test_a_secret_in_a_step_title_is_masked_everywhere(cli_site, run_cli, monkeypatch):
    import os

    token = os.environ[TOKEN_ENV]
    code, out, err = run_cli("-vv", "plan", "promote", "--config", str(cli_site))
    assert "open ticket with token ********" in out
    code, out_json, err_json = run_cli("--json", "-vv", "plan", "promote", "--config", str(cli_site))
    titles = [step["title"] for step in json.loads(out_json)["steps"] if step["step_id"] == "clitest.second"]
    assert titles == ["open ticket with token ********"]
    for text in (out, err, out_json, err_json):
        assert token not in text


def test_unknown_command_is_a_usage_error(run_cli):
    code, _, err = run_cli("promot")
    assert code == 2 and "invalid choice: 'promot'" in err
