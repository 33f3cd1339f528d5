"""``qrdr report``, and the report every changing run writes at its end (docs/cli.md, "qrdr report")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qrdr.api import COMMANDS, Runbook
from qrdr.config import load_site

from ..addon_engine import AddonEngine
from ..json_documents import validated
from .conftest import SECRET, Story


def state_dir(config: Path) -> Path:
    return Path(load_site(config).state_dir)


def test_report_writes_the_last_runs_html_where_the_docs_say_and_prints_the_path(journaled_story, bare_site, run_cli):
    code, out, err = run_cli("report", "--config", str(bare_site))
    expected = state_dir(bare_site) / "reports" / "contoso-run-1.html"
    assert (code, out, err) == (0, f"report: {expected}\n", "")
    page = expected.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and "run 1 (promote)" in page and SECRET not in page


def test_report_of_a_run_as_json_to_a_file_and_to_stdout(journaled_story, bare_site, run_cli, tmp_path):
    target = tmp_path / "out" / "r.json"
    code, out, _ = run_cli("report", "--run", "1", "--format", "json", "-o", str(target), "--config", str(bare_site))
    assert (code, out) == (0, f"report: {target}\n")
    written = json.loads(target.read_text(encoding="utf-8"))
    assert (written["schema_version"], written["site"], written["run_id"], written["state"]) == (1, "contoso", 1,
                                                                                                   "succeeded")
    code, out, _ = run_cli("report", "--format", "json", "-o", "-", "--config", str(bare_site))
    streamed = validated(out, "qrdr run report")
    assert code == 0 and streamed["steps"] == written["steps"] and streamed["source"] == written["source"]
    code, out, _ = run_cli("--json", "report", "--config", str(bare_site))
    assert code == 0 and validated(out, "qrdr report written") == {
        "schema_version": 1, "kind": "qrdr report written", "site": "contoso",
        "report": str(state_dir(bare_site) / "reports" / "contoso-run-1.html"), "format": "html"}


def test_report_with_no_journal_or_no_such_run_says_so(bare_site, run_cli):
    code, _, err = run_cli("report", "--config", str(bare_site))
    assert code == 2 and "no journal" in err and "Traceback" not in err
    assert not state_dir(bare_site).exists(), "a report must not create a journal"
    code, out, _ = run_cli("--json", "report", "--run", "3", "--config", str(bare_site))
    assert code == 2 and validated(out, "qrdr error")["error"] == "ReportError"


@pytest.fixture
def story_runs(monkeypatch, story_site):
    """`qrdr promote` and `qrdr resume` run the report story's steps (the built-in plugins' probes
    need real hosts)."""
    story = Story()

    def engine(runbook):
        return AddonEngine(runbook.site, ("story", story)).engine

    monkeypatch.setattr(Runbook, "run", lambda self, command, done=(), **_: engine(self).run(
        command, list(COMMANDS[command]), yes=True, done=done))
    monkeypatch.setattr(Runbook, "resume", lambda self, done=(), **_: engine(self).resume(yes=True, done=done))
    return story


def test_a_run_writes_its_report_and_prints_the_path_last(story_runs, bare_site, run_cli):
    code, out, _ = run_cli("promote", "--yes", "--config", str(bare_site))
    expected = state_dir(bare_site) / "reports" / "contoso-run-1.html"
    assert code == 1  # the story's promote fails at t.attach the first time
    assert out.splitlines()[-1] == f"report: {expected}"
    assert out.splitlines()[-2] == "  next: qrdr resume"  # the next safe command, before the report's path
    assert "t.attach" in expected.read_text(encoding="utf-8")
    story_runs.standby_answers = story_runs.safe_mode_done = True
    code, out, _ = run_cli("--json", "resume", "--yes", "--done", "t.safe-mode", "--config", str(bare_site))
    document = validated(out, "qrdr run")
    # The resume continues run 1: its report is rewritten with the whole story.
    assert (code, document["state"], document["report"]) == (0, "succeeded", str(expected))
    assert document["site"] == "contoso" and document["run_id"] == 1
    assert document["next"] == "nothing while it serves mail; to return to the source server: qrdr cleanup " \
        "--scope recovery --override promoted-standby, then qrdr cleanup --scope source"  # promoted
    assert json.loads(run_cli("report", "--format", "json", "-o", "-", "--config", str(bare_site))[1])["state"] == \
        "succeeded"


@pytest.mark.parametrize("as_json", [False, True])
def test_a_report_that_cannot_be_written_changes_neither_outcome_nor_exit_code(story_runs, bare_site, run_cli,
                                                                               as_json):
    reports = state_dir(bare_site) / "reports"
    reports.parent.mkdir(parents=True)
    reports.write_text("a file where the reports folder should be")
    code, out, err = run_cli(*(["--json"] if as_json else []), "promote", "--yes", "--config", str(bare_site))
    assert code == 1  # the step failure's exit code, as without a report
    assert "the report of run 1 was not written" in err and "qrdr report --run 1" in err
    if as_json:
        document = validated(out, "qrdr run")
        assert document["state"] == "failed" and document["report"] is None and document["report_error"]
    else:
        assert "Run 1 (promote): failed" in out and "report:" not in out
    story_runs.standby_answers = story_runs.safe_mode_done = True
    code, out, err = run_cli("resume", "--yes", "--done", "t.safe-mode", "--config", str(bare_site))
    assert code == 0 and "Run 1 (promote): succeeded" in out and "was not written" in err
