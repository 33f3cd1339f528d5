"""docs/cli.md documents every command, every global option and every exit code."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from qrdr import cli

DOCS = Path(__file__).resolve().parents[1] / "docs" / "cli.md"


def commands() -> list[str]:
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(sub.choices)


def global_options() -> list[str]:
    return sorted(option for action in cli.build_parser()._actions for option in action.option_strings
                  if option.startswith("--") and option != "--help")


def test_the_parser_has_the_commands_the_issue_asks_for():
    assert {"prepare-production", "install-dr", "grant-acls", "create-qr-volumes", "promote", "cleanup",
            "configure", "plan", "resume", "status", "history"} <= set(commands())


@pytest.mark.parametrize("command", commands())
def test_every_command_has_a_section(command):
    assert re.search(rf"(?m)^### qrdr {re.escape(command)}$", DOCS.read_text(encoding="utf-8")), (
        f"docs/cli.md has no '### qrdr {command}' section")


@pytest.mark.parametrize("option", global_options())
def test_every_global_option_is_documented(option):
    assert re.search(rf"(?m)^\| `{re.escape(option)}[ `,]", DOCS.read_text(encoding="utf-8")), (
        f"docs/cli.md's option table has no row for {option}")


@pytest.mark.parametrize("meaning, code", sorted(cli.EXIT_CODES.items(), key=lambda item: item[1]))
def test_every_exit_code_is_documented_with_its_meaning(meaning, code):
    assert f"| {code} | {meaning} |" in DOCS.read_text(encoding="utf-8"), (
        f"docs/cli.md's exit code table has no row '| {code} | {meaning} |'")


def test_the_exit_code_table_has_no_stale_rows():
    rows = re.findall(r"(?m)^\| (\d+) \| ([^|]+) \|", DOCS.read_text(encoding="utf-8"))
    assert {(int(code), meaning.strip()) for code, meaning in rows} == {(c, m) for m, c in cli.EXIT_CODES.items()}


def test_what_the_docs_say_about_bad_journals_and_bugs_is_what_the_code_does():
    from qrdr.engine.journal import BUSY_TIMEOUT_S, INTERRUPTED_PLANNING

    text = " ".join(DOCS.read_text(encoding="utf-8").split())  # as one line: the docs wrap anywhere
    assert f"locked for more than {BUSY_TIMEOUT_S:g} s" in text
    assert f"journaled `{INTERRUPTED_PLANNING}`" in text
    assert "`<state_dir>/<site>.errors.log`" in text and cli.EXIT_UNEXPECTED == 10
