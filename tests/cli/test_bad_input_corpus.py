"""A generated corpus of bad command lines and bad journals: 0 tracebacks, 0 silent acceptances.

Every case runs ``qrdr.cli.main`` as a person would and must end with a nonzero exit code that
docs/cli.md documents, with one message that names the bad thing (the option, the value, the
file), and never a traceback. Together with tests/config/test_broken_configs.py (the site
configs) this is qrdr's corpus of bad inputs; the number of cases here is
``len(ARGUMENT_CASES) + len(JOURNAL_CASES)`` (each a parametrize id of its own).
"""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path
from typing import Callable

import pytest

from qrdr.api import COMMANDS
from qrdr.cli import EXIT_CODES
from qrdr.engine.journal import REQUIRED_COLUMNS, SCHEMA, Journal
from qrdr.engine.sitestate import OVERRIDES

DOCUMENTED_FAILURES = set(EXIT_CODES.values()) - {0}

# --------------------------------------------------------------------------- command lines
#
# (argv, exit code, a phrase the message must contain). "{config}" is the site's config file.

NOT_AT_LEAST_ONE = ["-5", "0", "-1", "00", "abc", "1.5", "", "0x10", " 5", "5 ", "+3", "1e3", "\uff15", "5_0"]
COMMAND_NAMES = [*COMMANDS, "plan", "resume", "status", "history", "check"]


def _argument_cases() -> list[tuple[tuple[str, ...], int, str]]:
    cases = []
    for option in ("--limit", "--run"):
        for value in NOT_AT_LEAST_ONE:
            cases.append((("history", option, value), 2, f"argument {option}: must be a whole number of at least 1"))
        cases.append((("history", option), 2, f"argument {option}: expected one argument"))
    for wrong in ("promot", "PROMOTE", "status2", "", "lab2"):
        cases.append(((wrong,), 2, "argument COMMAND: invalid choice"))
    for nothing in ((), ("--",), ("--json",), ("--yes", "-v")):
        cases.append((nothing, 2, "the following arguments are required: COMMAND"))
    for command in COMMAND_NAMES:
        words = ("plan", "promote") if command == "plan" else (command,)
        cases.append(((*words, "--bogus"), 2, "unrecognized arguments: --bogus"))
        cases.append(((*words, "stray"), 2, "unrecognized arguments: stray"))
    for command in COMMANDS:
        for override in ("all", "", "unfinished_run", "UNFINISHED-RUN"):
            cases.append(((command, "--override", override), 2, "argument --override: invalid choice"))
    for override in sorted(set(OVERRIDES) - {"site-lock"}):
        cases.append((("resume", "--override", override), 2, "argument --override: invalid choice"))
    for words in (("cleanup",), ("plan", "cleanup")):
        for scope in ("everything", "", "Recovery", "both"):
            cases.append(((*words, "--scope", scope), 2, "argument --scope: invalid choice"))
    for phase in ("status", "check", "plan", "resume", "history", "", "Promote"):
        cases.append((("plan", phase), 2, "argument COMMAND: invalid choice"))
    cases.append((("plan",), 2, "the following arguments are required: COMMAND"))
    for option in ("--config", "--plugin", "--snap", "--done"):
        cases.append((("promote", option), 2, f"argument {option}: expected one argument"))
    # Options whose value is read once the command runs: refused naming the value.
    for plugin in ("nosuch", "exchange2000", "vss"):
        expected = (3, "exchange2000: the site runs Exchange 2003") if plugin == "exchange2000" else \
            (7, f"no exchange plugin named {plugin!r} is installed")
        cases.append((("plan", "promote", "--config", "{config}", "--plugin", plugin), *expected))
    for option in ("--config", "--plugin", "--snap"):
        for blank in ("", " ", "\t"):
            cases.append((("plan", "promote", "--config", "{config}", option, blank), 2,
                          f"argument {option}: must not be empty"))
    for snap in ("nosuch", "qsnap", "exchange2003"):
        expected = (3, "--snap qsnap: the site config says snap_engine = 'vss'") if snap == "qsnap" else \
            (7, f"no snap plugin named {snap!r} is installed")
        cases.append((("plan", "promote", "--config", "{config}", "--snap", snap), *expected))
    for words in (("status",), ("history",), ("plan", "promote"), ("check",)):
        cases.append(((*words, "--config", "{missing}"), 2, "{missing}"))
        cases.append(((*words, "--config", "{directory}"), 2, "{directory}"))
        cases.append(((*words, "--config", "{binary}"), 2, "{binary}"))
        cases.append(((*words, "--config", "{empty}"), 2, "{empty}"))
    cases.append((("history", "--run", "7", "--config", "{config}"), 2, "no run 7"))
    return cases


ARGUMENT_CASES = _argument_cases()


@pytest.fixture
def files(bare_site, tmp_path) -> dict[str, str]:
    (tmp_path / "a-directory").mkdir()
    (tmp_path / "binary.toml").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.toml").write_text("", encoding="utf-8")
    return {"config": str(bare_site), "missing": str(tmp_path / "no-such.toml"),
            "directory": str(tmp_path / "a-directory"), "binary": str(tmp_path / "binary.toml"),
            "empty": str(tmp_path / "empty.toml")}


def assert_refused_naming(code, out: str, err: str, expected_code: int, phrase: str) -> None:
    assert "Traceback" not in out + err and "Exception ignored" not in err
    assert code != 0 and code in DOCUMENTED_FAILURES, f"exit {code} is not a documented failure: {err}"
    assert code == expected_code, err or out
    message = json.loads(out)["message"] if out.startswith("{") else err
    assert phrase in message, message


@pytest.mark.parametrize("argv, code, phrase", ARGUMENT_CASES,
                         ids=[" ".join(argv) or "(nothing)" for argv, _, _ in ARGUMENT_CASES])
def test_a_bad_command_line_is_refused_naming_what_is_wrong(argv, code, phrase, files, run_cli):
    argv = tuple(word.format(**files) for word in argv)
    got, out, err = run_cli(*argv)
    assert_refused_naming(got, out, err, code, phrase.format(**files))


# --------------------------------------------------------------------------- journals
#
# Each case makes the file at the site's journal path from a real journal (made once per test)
# or from nothing; every command that reads the journal must refuse it naming its path.

Maker = Callable[[Path, bytes], None]
JOURNAL_COMMANDS = [("status",), ("history",), ("--json", "history", "--run", "1"), ("plan", "promote")]


def _write(data: bytes) -> Maker:
    return lambda path, good: path.write_bytes(data)


def _truncated(keep: Callable[[int], int]) -> Maker:
    return lambda path, good: path.write_bytes(good[:keep(len(good))])


def _page_garbled(page: int) -> Maker:
    def make(path: Path, good: bytes) -> None:
        size = 4096
        assert len(good) >= (page + 1) * size, "the real journal has fewer pages than the case needs"
        noise = random.Random(page).randbytes(size)
        path.write_bytes(good[:page * size] + noise + good[(page + 1) * size:])
    return make


def _database(*statements: str) -> Maker:
    def make(path: Path, good: bytes) -> None:
        db = sqlite3.connect(path)
        for statement in statements:
            db.executescript(statement)
        db.commit()
        db.close()
    return make


def _without_column(table: str, column: str) -> Maker:
    """qrdr's schema with one column of one table missing (another program's look-alike)."""
    kept = sorted(REQUIRED_COLUMNS[table] - {column})
    others = [f"CREATE TABLE {name} ({', '.join(sorted(REQUIRED_COLUMNS[name]))});"
              for name in REQUIRED_COLUMNS if name != table]
    return _database(f"CREATE TABLE {table} ({', '.join(kept)});", *others)


def _journal_cases() -> list[tuple[str, Maker, str]]:
    """(case name, how to make the file, a phrase the message must contain besides the path)."""
    broken = "not a qrdr journal (not even an SQLite database"
    cases: list[tuple[str, Maker, str]] = [
        ("empty file", _write(b""), "the file is empty (0 bytes)"),
        ("text", _write(b"hello, this is not a database\n"), broken),
        ("toml", _write(b'name = "contoso"\n'), broken),
        ("json", _write(b'{"runs": []}'), broken),
        ("sqlite magic only", _write(b"SQLite format 3\x00"), "not a qrdr journal"),
        ("sqlite header of zeros", _write(b"SQLite format 3\x00" + bytes(84)), "not a qrdr journal"),
    ]
    for size in (1, 100, 4096, 10000, 65536):
        cases.append((f"random {size} bytes", _write(random.Random(size).randbytes(size)), broken))
    for keep in (1, 15):
        cases.append((f"truncated to {keep} bytes", _truncated(lambda n, keep=keep: keep), broken))
    for keep in (16, 50, 99):
        cases.append((f"truncated to {keep} bytes", _truncated(lambda n, keep=keep: keep), "not a qrdr journal"))
    for keep in (100, 101, 512, 1000, 4095, 4096, 4097, 8191, 8192):
        cases.append((f"truncated to {keep} bytes", _truncated(lambda n, keep=keep: keep), "truncated"))
    for name, keep in (("half", lambda n: n // 2), ("all but one byte", lambda n: n - 1),
                       ("all but one page", lambda n: n - 4096), ("all but 100 bytes", lambda n: n - 100)):
        cases.append((f"truncated: {name}", _truncated(keep), "truncated"))
    for page in range(8):
        cases.append((f"page {page} garbled", _page_garbled(page), "damaged" if page else "not a qrdr journal"))
    cases += [
        ("another program's tables", _database("CREATE TABLE invoices (id, total);"), "another schema"),
        ("another program's id", _database("PRAGMA application_id = 1234; CREATE TABLE t (a);"),
         "application id 0x4d2"),
        ("another id, qrdr's tables", _database("PRAGMA application_id = 305419896;", SCHEMA), "another program"),
        ("an empty database of another program", _database("PRAGMA application_id = 7;"), "another program"),
        ("qrdr's tables but runs only", _database("CREATE TABLE runs (id INTEGER PRIMARY KEY, site, command, phases,"
                                                   " plugins, status, started_at, ended_at, pid, hostname, message,"
                                                   " resumed_from, windows);"), "no table steps"),
        ("a view called runs", _database("CREATE TABLE x (a); CREATE VIEW runs AS SELECT a FROM x;"), "no table runs"),
    ]
    for table, columns in REQUIRED_COLUMNS.items():
        for column in sorted(columns):
            cases.append((f"{table} without {column}", _without_column(table, column), f"table {table} lacks {column}"))
    cases.append(("a directory", lambda path, good: path.mkdir(), "not a file"))
    return cases


JOURNAL_CASES = [(name, make, phrase, command) for name, make, phrase in _journal_cases()
                 for command in JOURNAL_COMMANDS]


@pytest.fixture(scope="module")
def good_journal(tmp_path_factory) -> bytes:
    """A real journal of 8 pages or more: one run with its steps, events and facts."""
    path = tmp_path_factory.mktemp("good") / "contoso.journal.sqlite"
    journal = Journal(path)
    run = journal.start_run("contoso", "promote", ["promote"], ["addon:local"])
    journal.add_steps(run, [{"id": f"local.step-{n}", "phase": "promote", "plugin": "local", "title": f"step {n}",
                             "target": "standby", "idempotent": True, "destructive": False, "planned": "will change",
                             "changes": ["x" * 200]} for n in range(40)])
    for n in range(60):
        journal.event(run, "progress", "y" * 300)
    journal.save_facts({"recorded": {"n": 1}}, run)
    journal.end_run(run, "succeeded")
    journal.close()
    data = path.read_bytes()
    assert len(data) >= 8 * 4096 and not path.with_name(path.name + "-wal").exists()
    return data


@pytest.mark.parametrize("name, make, phrase, command", JOURNAL_CASES,
                         ids=[f"{name}: {' '.join(command)}" for name, _, _, command in JOURNAL_CASES])
def test_a_bad_journal_is_refused_naming_its_file(name, make, phrase, command, bare_site, good_journal, run_cli):
    path = bare_site.parent / ".qrdr" / "contoso.journal.sqlite"
    path.parent.mkdir()
    make(path, good_journal)
    before = path.read_bytes() if path.is_file() else None
    code, out, err = run_cli(*command, "--config", str(bare_site))
    assert_refused_naming(code, out, err, 3, f"journal {path}: ")
    message = json.loads(out)["message"] if out.startswith("{") else err
    assert phrase in message and "\n" not in message.rstrip("\n"), message
    if before is not None:
        assert path.read_bytes() == before, "a file that is not a qrdr journal is left as it was"


def test_the_corpus_is_large():
    """With the site-config corpus (tests/config/test_broken_configs.py) well over 300 bad inputs."""
    assert len(ARGUMENT_CASES) >= 100 and len(JOURNAL_CASES) >= 200
