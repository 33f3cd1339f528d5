"""Every ``--json`` document of every command is one object with the envelope (``schema_version``,
``kind``, ``site``), ISO-8601 UTC times and the one vocabulary, and validates against the schema
shipped for its kind (docs/cli.md, "JSON documents"). The run commands' documents are checked in
tests/report/test_cli.py, on the report story's runs; a lab run's in tests/e2e."""

from __future__ import annotations

import json
import re
from importlib import resources
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from qrdr import documents

from ..json_documents import validated
from .test_status_history import used_site  # noqa: F401 - the fixture: two journaled runs

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "cli.md"
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+00:00$")


def test_every_shipped_schema_is_a_valid_draft_2020_12_schema():
    shipped = {entry.name for entry in resources.files("qrdr.schemas").iterdir() if entry.name.endswith(".schema.json")}
    assert shipped == set(documents.SCHEMAS.values()), "a schema file no kind names, or a kind with no file"
    for name in sorted(shipped):
        schema = json.loads(resources.files("qrdr.schemas").joinpath(name).read_text(encoding="utf-8"))
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", name
        Draft202012Validator.check_schema(schema)


def test_every_kind_the_code_emits_has_a_schema_and_is_documented():
    emitted = set()
    for path in [*(REPO / "core").glob("*.py"), *(REPO / "core" / "report").glob("*.py"), REPO / "core" / "lab" / "cli.py"]:
        # (the lab's commands hand their kind to their _print)
        emitted |= set(re.findall(r'(?:documents\.(?:document|plan)|_print)\(\s*"(qrdr [a-z ]+)"', path.read_text()))
    emitted |= set(re.findall(r'document\("(qrdr [a-z ]+)"', (REPO / "core" / "documents.py").read_text()))
    emitted.add("qrdr run report")  # qrdr.report.model builds it
    assert emitted == set(documents.SCHEMAS)
    table = dict(re.findall(r"^\| `(qrdr [a-z ]+)` \| `([a-z-]+\.schema\.json)` \|", DOCS.read_text(), re.M))
    assert table == documents.SCHEMAS, "docs/cli.md's table of kinds and schema files is out of date"
    with pytest.raises(ValueError, match="no schema"):
        documents.document("qrdr something else", "contoso", {})


def test_status_of_a_site_that_never_ran(bare_site, run_cli):
    code, out, _ = run_cli("--json", "status", "--config", str(bare_site))
    document = validated(out, "qrdr status")
    assert code == 0
    assert document == {"schema_version": 1, "kind": "qrdr status", "site": "contoso", "state": "unknown",
                        "since_at": None, "run_id": None, "unfinished": None,
                        "known": ["no run has changed this site from here yet"], "next": "qrdr check",
                        "cleaned": [], "failed_over": False, "busy": None, "resumable": None, "last_runs": [], "last_check": None,
                        "facts": {}}


def test_status_of_a_used_site(used_site, run_cli):  # noqa: F811
    code, out, _ = run_cli("--json", "status", "--config", str(used_site))
    document = validated(out, "qrdr status")
    assert code == 0 and document["state"] == "promoting" and document["run_id"] == 2
    assert ISO_UTC.match(document["since_at"])
    assert (document["resumable"]["run_id"], document["resumable"]["state"]) == (2, "failed")
    assert [(run["run_id"], run["state"]) for run in document["last_runs"]] == [(2, "failed"), (1, "succeeded")]
    assert all(ISO_UTC.match(run["started_at"]) and ISO_UTC.match(run["ended_at"]) for run in document["last_runs"])


def test_history_and_one_runs_detail(used_site, run_cli):  # noqa: F811
    code, out, _ = run_cli("--json", "history", "--config", str(used_site))
    history = validated(out, "qrdr history")
    assert code == 0 and [(run["run_id"], run["state"]) for run in history["runs"]] == [(2, "failed"), (1, "succeeded")]
    code, out, _ = run_cli("--json", "history", "--run", "2", "--config", str(used_site))
    detail = validated(out, "qrdr run detail")
    assert code == 0 and detail["site"] == "contoso" and detail["run"]["run_id"] == 2
    assert [(s["step_id"], s["state"], s["attempts"]) for s in detail["steps"]] == [("local.one", "done", 1),
                                                                                   ("local.two", "failed", 1)]
    assert detail["events"] and all(ISO_UTC.match(event["at"]) for event in detail["events"])


def test_history_of_a_site_that_never_ran(bare_site, run_cli):
    code, out, _ = run_cli("--json", "history", "--config", str(bare_site))
    assert code == 0 and validated(out, "qrdr history")["runs"] == []


def test_no_such_run_is_an_error_document(used_site, run_cli):  # noqa: F811
    code, out, _ = run_cli("--json", "history", "--run", "99", "--config", str(used_site))
    document = validated(out, "qrdr error")
    assert code == document["exit"] == 2 and document["site"] == "contoso" and "99" in document["message"]


def test_plan_and_check(cli_site, run_cli):
    code, out, _ = run_cli("--json", "plan", "promote", "--config", str(cli_site))
    plan = validated(out, "qrdr plan")
    assert plan["site"] == "contoso" and code == (0 if plan["ready"] else 3)
    assert [s["step_id"] for s in plan["steps"] if s["plugin"] == "clitest"] == ["clitest.first", "clitest.second"]
    code, out, _ = run_cli("--json", "check", "--config", str(cli_site))
    check = validated(out, "qrdr check")
    assert check["ready"] is (not check["blockers"]) and code == (0 if check["ready"] else 3)


@pytest.mark.parametrize("argv", [
    ("--json", "promot"),                                   # a mistyped command
    ("status", "--json", "--limit", "3"),                   # an option the command does not take
    ("history", "--run", "0", "--json"),                    # a value its type refuses
    ("--json",),                                            # no command at all
    ("--js", "plan"),                                       # --json abbreviated, plan without its COMMAND
    ("--json", "resume", "--retry", "x.step", "--rollback"),  # continue and undo at once
], ids=" ".join)
def test_a_usage_error_with_json_anywhere_is_an_error_document(argv, run_cli):
    code, out, err = run_cli(*argv)
    document = validated(out, "qrdr error")
    assert code == document["exit"] == 2 and document["error"] == "UsageError" and document["site"] is None
    assert err == "" and "usage:" not in out


def test_a_usage_error_without_json_is_argparses_text(run_cli):
    code, out, err = run_cli("promot")
    assert (code, out) == (2, "")
    assert err.startswith("usage: qrdr ") and "qrdr: error: argument COMMAND: invalid choice: 'promot'" in err


def test_a_config_error_before_the_site_loaded_has_no_site(run_cli, tmp_path, monkeypatch):
    monkeypatch.delenv("QRDR_CONFIG", raising=False)
    code, out, _ = run_cli("--json", "status", "--config", str(tmp_path / "missing.toml"))
    document = validated(out, "qrdr error")
    assert code == document["exit"] == 2 and document["site"] is None and document["error"] == "ConfigError"
