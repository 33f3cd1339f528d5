"""The journal: a SQLite file per site recording every run and every step as it happens.

It is the record an administrator hands to an auditor and what ``resume``
continues from. Each state change is committed at once (WAL mode, synchronous
FULL), so a process killed at any point leaves the truth behind: a step whose
last state is ``applying`` was interrupted while changing something and is
re-checked on resume, never blindly redone.

Everything written passes through :func:`qrdr.secrets.mask`.

Step states: ``pending`` -> ``checking`` -> (``no change`` | ``applying`` ->
``applied`` -> ``done``) or ``failed``; a manual step ``waiting`` (for the
person) -> ``done``; ``undone`` after a rollback.
Run states: ``running``, ``succeeded``, ``failed``, ``refused``,
``interrupted``, ``waiting`` (for a manual step), ``not confirmed``, ``rolled back``
(``resume --rollback`` undid it), ``interrupted while planning`` (Ctrl-C before the plan was
made: nothing changed). A run left ``running`` by a dead process
is reported as ``interrupted (process ended)``.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import attrs

from ..errors import JournalError, JournalLocked
from ..secrets import mask, mask_value

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    site TEXT NOT NULL,
    command TEXT NOT NULL,
    phases TEXT NOT NULL,          -- JSON list of phase names
    plugins TEXT NOT NULL,         -- JSON list of "kind:name"
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    message TEXT,
    resumed_from INTEGER,
    windows TEXT,                  -- JSON {window: seconds}
    scope TEXT,                    -- cleanup's scope ('recovery' or 'source'); NULL for other commands
    operator TEXT                  -- who started it: user@host of the operating system
);
CREATE TABLE IF NOT EXISTS steps (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    seq INTEGER NOT NULL,
    step_id TEXT NOT NULL,
    phase TEXT NOT NULL,
    plugin TEXT NOT NULL,
    title TEXT NOT NULL,
    target TEXT NOT NULL,
    idempotent INTEGER NOT NULL,
    destructive INTEGER NOT NULL,
    state TEXT NOT NULL,
    planned TEXT,                  -- the plan's outcome for this step
    changes TEXT,                  -- JSON list of lines
    evidence TEXT,                 -- JSON
    error TEXT,
    started_at REAL,
    ended_at REAL,
    apply_count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    at REAL NOT NULL,
    step_id TEXT,
    kind TEXT NOT NULL,
    message TEXT NOT NULL,
    data TEXT                      -- JSON: what the event records beyond its words (a probe's evidence)
);
CREATE TABLE IF NOT EXISTS facts (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,           -- JSON
    run_id INTEGER,
    at REAL NOT NULL
);
"""


@attrs.frozen
class RunRecord:
    id: int
    site: str
    command: str
    phases: list[str]
    plugins: list[str]
    status: str
    started_at: float
    ended_at: float | None
    pid: int
    hostname: str
    message: str | None
    resumed_from: int | None
    windows: dict[str, float]
    scope: str | None = None
    #: Who started the run (``user@host``); None for runs journaled before it was recorded.
    operator: str | None = None


@attrs.frozen
class StepRecord:
    run_id: int
    seq: int
    step_id: str
    phase: str
    plugin: str
    title: str
    target: str
    idempotent: bool
    destructive: bool
    state: str
    planned: str | None
    changes: list[str]
    evidence: Any
    error: str | None
    started_at: float | None
    ended_at: float | None
    apply_count: int


def operator() -> str:
    """Who runs qrdr here: ``user@host`` of the operating system (what the journal names as the person)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        user = f"uid {os.getuid()}" if hasattr(os, "getuid") else "unknown user"
    return f"{user}@{socket.gethostname()}"


def _json(value: Any) -> str:
    # Masked before it is serialised (a secret holding a quote or a non-ASCII letter changes once
    # in JSON), and after, for text an object's str() produced.
    return mask(json.dumps(mask_value(value), default=str, sort_keys=True))


#: A run interrupted (Ctrl-C) before its plan was made: it changed nothing and cannot be resumed.
INTERRUPTED_PLANNING = "interrupted while planning"
#: How a journaled readiness check (``qrdr check``, a run of command ``check``) ended.
CHECK_READY, CHECK_NOT_READY = "ready", "not ready"
#: Run states of runs that changed nothing, or whose changes were undone: they never hide an unfinished run.
CHANGED_NOTHING = ("refused", "not confirmed", "rolled back", INTERRUPTED_PLANNING, CHECK_READY, CHECK_NOT_READY)

#: ``PRAGMA application_id`` of a qrdr journal ("QRDR" in ASCII). A file with another id belongs to
#: another program; 0 is an SQLite file that never said (a journal written before qrdr set the id).
APPLICATION_ID = 0x51524452
#: Columns each table of a journal has, whatever qrdr version wrote it (``_upgrade`` adds newer ones).
REQUIRED_COLUMNS = {
    "runs": {"id", "site", "command", "phases", "plugins", "status", "started_at", "ended_at", "pid", "hostname",
             "message", "resumed_from", "windows"},
    "steps": {"run_id", "seq", "step_id", "phase", "plugin", "title", "target", "idempotent", "destructive",
              "state", "planned", "changes", "evidence", "error", "started_at", "ended_at", "apply_count"},
    "events": {"id", "run_id", "at", "step_id", "kind", "message"},
    "facts": {"key", "value", "run_id", "at"},
}
#: Seconds an operation waits for another program's lock on the journal before it is reported locked.
BUSY_TIMEOUT_S = 30.0


def journal_error(path: Path, exc: sqlite3.Error, timeout: float) -> JournalError:
    """What an SQLite error on the journal at ``path`` means to a person, naming the file."""
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc)):
        return JournalLocked(f"journal {path}: locked by another program for more than {timeout:g} s ({exc}); "
                             f"try again once it has let go")
    if isinstance(exc, sqlite3.OperationalError):
        return JournalError(f"journal {path}: cannot be used ({exc})")
    return JournalError(f"journal {path}: not a qrdr journal, or damaged or truncated (SQLite: {exc}); "
                        f"nothing was done")


class _Connection:
    """The journal's SQLite connection; its errors become :class:`JournalError` naming the file
    (a lock held by another program shows up at the first write, long after opening)."""

    def __init__(self, db: sqlite3.Connection, path: Path, timeout: float):
        self._db = db
        self._path = path
        self._timeout = timeout

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, parameters)
        except sqlite3.Error as exc:
            raise journal_error(self._path, exc, self._timeout) from None

    def executescript(self, script: str) -> None:
        try:
            self._db.executescript(script)
        except sqlite3.Error as exc:
            raise journal_error(self._path, exc, self._timeout) from None

    def close(self) -> None:
        self._db.close()


def _is_sqlite(path: Path) -> bool:
    """Whether the file starts as every SQLite database does. SQLite itself takes a file shorter
    than its 100-byte header for an empty database, and says nothing."""
    with path.open("rb") as file:
        return file.read(16) == b"SQLite format 3\x00"


def _truncated(path: Path) -> str | None:
    """What shows that the SQLite file at ``path`` lost its end, or None. SQLite itself reads a file
    cut inside its last page as if the page were free, so qrdr compares the size with the header's."""
    wal = path.with_name(path.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        return None  # pages not yet copied back live in the WAL; the header's count may not hold yet
    size = path.stat().st_size
    with path.open("rb") as file:
        header = file.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return None  # not SQLite at all: _is_sqlite says so
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if page_size < 512 or page_size & (page_size - 1):
        return None  # no valid page size: SQLite's own error says the file is not a database
    if size % page_size:
        return f"{size} bytes is not a whole number of its {page_size}-byte pages"
    if pages * page_size > size:
        return f"its header counts {pages} pages of {page_size} bytes, the file holds {size // page_size}"
    return None


class Journal:
    """One site's journal file. Not shared between threads; one per run is cheap.

    Opening creates the file where none exists. An existing file is used only when it is a qrdr
    journal: anything else (not SQLite, another program's database or schema, damaged or truncated,
    empty, locked past ``busy_timeout`` seconds) raises :class:`~qrdr.errors.JournalError` naming the
    file and what is wrong (:class:`~qrdr.errors.JournalLocked` for a lock), and the file is left as
    it was: qrdr never adds its tables to someone else's database.
    """

    def __init__(self, path: str | os.PathLike, *, busy_timeout: float | None = None):
        self.path = Path(path)
        timeout = BUSY_TIMEOUT_S if busy_timeout is None else busy_timeout
        self._opened: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            existed = self.path.exists()
            if existed and not self.path.is_file():
                raise JournalError(f"journal {self.path}: not a file; a site's journal is a file qrdr writes")
            if existed and self.path.stat().st_size == 0:
                # SQLite would take an empty file for a new database: a journal emptied by a disk or a
                # person would silently become an empty history, and the site's state "unknown".
                raise JournalError(f"journal {self.path}: the file is empty (0 bytes), which no journal qrdr "
                                   f"wrote ever is; if no run ever used it, delete it")
            if existed and not _is_sqlite(self.path):
                raise JournalError(f"journal {self.path}: not a qrdr journal (not even an SQLite database: "
                                   f"{self.path.stat().st_size} bytes that do not start as one); nothing was done")
            cut = _truncated(self.path) if existed else None
            if cut:
                raise JournalError(f"journal {self.path}: truncated ({cut}); nothing was done")
            self._opened = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._opened.row_factory = sqlite3.Row
            self._db = _Connection(self._opened, self.path, timeout)
            # Looked at before anything is written: switching to WAL rewrites the file's header, and
            # a file that is not a qrdr journal must be left exactly as it was.
            if existed:
                self._check_is_journal()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            if not existed or not self._tables():
                self._db.executescript(SCHEMA)
            if self._db.execute("PRAGMA application_id").fetchone()[0] != APPLICATION_ID:
                self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            self._upgrade()
        except JournalError:
            self._close_quietly()
            raise
        except sqlite3.Error as exc:
            self._close_quietly()
            raise journal_error(self.path, exc, timeout) from None
        except OSError as exc:
            self._close_quietly()
            raise JournalError(f"journal {self.path}: cannot be opened ({exc.strerror or exc})") from None

    def _tables(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _check_is_journal(self) -> None:
        """An existing file is a qrdr journal, whole (read only: nothing is written before this passes).
        A database with no tables that carries qrdr's id is one qrdr began and never wrote to."""
        application_id = self._db.execute("PRAGMA application_id").fetchone()[0]
        if application_id not in (0, APPLICATION_ID):
            raise JournalError(f"journal {self.path}: an SQLite database of another program (application id "
                               f"{application_id:#x}), not a qrdr journal; nothing was done")
        tables = self._tables()
        if not tables and application_id == APPLICATION_ID:
            return
        problems = [f"no table {table}" for table in REQUIRED_COLUMNS if table not in tables]
        for table, wanted in REQUIRED_COLUMNS.items():
            if table in tables:
                have = {row["name"] for row in self._db.execute(f"PRAGMA table_info({table})")}
                if wanted - have:
                    problems.append(f"table {table} lacks {', '.join(sorted(wanted - have))}")
        if problems:
            raise JournalError(f"journal {self.path}: an SQLite database of another schema, not a qrdr journal "
                               f"({'; '.join(problems)}); nothing was done")
        damage = [row[0] for row in self._db.execute("PRAGMA quick_check")]
        if damage != ["ok"]:
            # SQLite's report is several lines ("*** in database main ***", one per bad page): one line here.
            found = " ".join(damage[:3]).replace("*** in database main ***", "").split()
            raise JournalError(f"journal {self.path}: damaged ({' '.join(found)}); nothing was done")

    def _upgrade(self) -> None:
        """Journals written before a column existed get it (empty for their old runs)."""
        columns = {row["name"] for row in self._db.execute("PRAGMA table_info(runs)")}
        if "scope" not in columns:
            self._db.execute("ALTER TABLE runs ADD COLUMN scope TEXT")
        if "operator" not in columns:
            self._db.execute("ALTER TABLE runs ADD COLUMN operator TEXT")
        if "data" not in {row["name"] for row in self._db.execute("PRAGMA table_info(events)")}:
            self._db.execute("ALTER TABLE events ADD COLUMN data TEXT")

    def _close_quietly(self) -> None:
        if self._opened is not None:
            try:
                self._opened.close()
            except sqlite3.Error:  # the connection to a file that is not a journal: nothing to keep
                pass

    def close(self) -> None:
        self._db.close()

    # -- runs -------------------------------------------------------------

    def start_run(self, site: str, command: str, phases: list[str], plugins: list[str],
                  resumed_from: int | None = None, scope: str | None = None) -> int:
        """Record a new run; ``scope`` is what a resume needs to rebuild the same steps (cleanup's scope).
        Records who started it (:func:`operator`) and a ``session`` event naming the process."""
        cursor = self._db.execute(
            "INSERT INTO runs (site, command, phases, plugins, status, started_at, pid, hostname, resumed_from,"
            " scope, operator) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?, ?)",
            (site, command, json.dumps(phases), json.dumps(plugins), time.time(), os.getpid(),
             socket.gethostname(), resumed_from, scope, operator()),
        )
        run_id = int(cursor.lastrowid)
        self._session(run_id)
        return run_id

    def _session(self, run_id: int) -> None:
        """One event per process that works on a run: who (user@host), which process and which qrdr.
        A resume overwrites the run's pid and hostname; these events keep every session's."""
        from .. import __version__

        self.event(run_id, "session", f"{operator()} pid {os.getpid()} qrdr {__version__}")

    def end_run(self, run_id: int, status: str, message: str | None = None,
                windows: dict[str, float] | None = None) -> None:
        self._db.execute(
            "UPDATE runs SET status = ?, ended_at = ?, message = ?, windows = ? WHERE id = ?",
            (status, time.time(), mask(message) if message else None, json.dumps(windows or {}), run_id),
        )

    def adopt_run(self, run_id: int) -> None:
        """A resumed run continues in the same record: mark it running again, by this process."""
        self._db.execute(
            "UPDATE runs SET status = 'running', ended_at = NULL, pid = ?, hostname = ? WHERE id = ?",
            (os.getpid(), socket.gethostname(), run_id),
        )
        self._session(run_id)

    def run(self, run_id: int) -> RunRecord:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise KeyError(f"no run {run_id} in {self.path}")
        return self._run_record(row)

    def runs(self, limit: int = 20) -> list[RunRecord]:
        rows = self._db.execute("SELECT * FROM runs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [self._run_record(row) for row in rows]

    def last_run_of(self, command: str) -> RunRecord | None:
        """The newest run of ``command`` (``check``: the last readiness check), or None."""
        row = self._db.execute("SELECT * FROM runs WHERE command = ? ORDER BY id DESC LIMIT 1", (command,)).fetchone()
        return None if row is None else self._run_record(row)

    def last_unfinished_run(self) -> RunRecord | None:
        """The newest run that did not succeed and can be continued (failed, interrupted, waiting or
        died), unless a later run changed the world since. Refused, unconfirmed and rolled back runs
        changed nothing: they never hide an unfinished one."""
        marks = ", ".join("?" for _ in CHANGED_NOTHING)
        row = self._db.execute(
            f"SELECT * FROM runs WHERE status NOT IN ({marks}) ORDER BY id DESC LIMIT 1", CHANGED_NOTHING
        ).fetchone()
        if row is None or row["status"] not in ("running", "failed", "interrupted", "waiting"):
            return None
        return self._run_record(row)

    @staticmethod
    def _run_record(row: sqlite3.Row) -> RunRecord:
        return RunRecord(
            id=row["id"], site=row["site"], command=row["command"], phases=json.loads(row["phases"]),
            plugins=json.loads(row["plugins"]), status=row["status"], started_at=row["started_at"],
            ended_at=row["ended_at"], pid=row["pid"], hostname=row["hostname"], message=row["message"],
            resumed_from=row["resumed_from"], windows=json.loads(row["windows"] or "{}"), scope=row["scope"],
            operator=row["operator"],
        )

    # -- steps ------------------------------------------------------------

    def add_steps(self, run_id: int, steps: list[dict[str, Any]]) -> None:
        with self._transaction():
            for seq, step in enumerate(steps):
                self._db.execute(
                    "INSERT INTO steps (run_id, seq, step_id, phase, plugin, title, target, idempotent,"
                    " destructive, state, planned, changes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                    (run_id, seq, step["id"], step["phase"], step["plugin"], mask(step["title"]), step["target"],
                     int(step["idempotent"]), int(step["destructive"]), step.get("planned"),
                     _json(step.get("changes", []))),
                )

    def set_step(self, run_id: int, step_id: str, state: str, *, changes: list[str] | None = None,
                 evidence: Any = None, error: str | None = None, applying: bool = False,
                 facts: dict[str, Any] | None = None) -> None:
        """Journal the step's new state. ``facts``: what the run has learnt so far, written in the
        same transaction, so that a step journaled done never lacks the facts it recorded (a
        kill between the two would leave a resume whose later steps find them missing)."""
        with self._transaction() if facts is not None else contextlib.nullcontext():
            if facts is not None:
                self._write_facts(facts, run_id)
            self._update_step(run_id, step_id, state, changes, evidence, error, applying)

    def _update_step(self, run_id: int, step_id: str, state: str, changes: list[str] | None, evidence: Any,
                     error: str | None, applying: bool) -> None:
        now = time.time()
        fields = ["state = ?"]
        values: list[Any] = [state]
        if state in ("checking",):
            fields.append("started_at = COALESCE(started_at, ?)")
            values.append(now)
        if state in ("done", "no change", "failed", "undone", "refused"):
            fields.append("ended_at = ?")
            values.append(now)
        if applying:
            fields.append("apply_count = apply_count + 1")
        if changes is not None:
            fields.append("changes = ?")
            values.append(_json(changes))
        if evidence is not None:
            fields.append("evidence = ?")
            values.append(_json(evidence))
        if error is not None:
            fields.append("error = ?")
            values.append(mask(error))
        values += [run_id, step_id]
        self._db.execute(f"UPDATE steps SET {', '.join(fields)} WHERE run_id = ? AND step_id = ?", values)

    def steps(self, run_id: int) -> list[StepRecord]:
        rows = self._db.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY seq", (run_id,)).fetchall()
        return [
            StepRecord(
                run_id=row["run_id"], seq=row["seq"], step_id=row["step_id"], phase=row["phase"],
                plugin=row["plugin"], title=row["title"], target=row["target"],
                idempotent=bool(row["idempotent"]), destructive=bool(row["destructive"]), state=row["state"],
                planned=row["planned"], changes=json.loads(row["changes"] or "[]"),
                evidence=json.loads(row["evidence"]) if row["evidence"] else None, error=row["error"],
                started_at=row["started_at"], ended_at=row["ended_at"], apply_count=row["apply_count"],
            )
            for row in rows
        ]

    # -- events and facts -------------------------------------------------

    def event(self, run_id: int, kind: str, message: str, step_id: str | None = None, data: Any = None) -> None:
        """Journal an event: its words, and ``data`` (JSON-able) for what a report reads back
        (a probe's evidence, the digest of an approved plan); secrets masked in both."""
        self._db.execute(
            "INSERT INTO events (run_id, at, step_id, kind, message, data) VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, time.time(), step_id, kind, mask(message), None if data is None else _json(data)),
        )

    def events(self, run_id: int) -> list[dict[str, Any]]:
        """The run's events, oldest first; ``data`` decoded (None when the event has none)."""
        rows = self._db.execute("SELECT * FROM events WHERE run_id = ? ORDER BY id", (run_id,)).fetchall()
        return [{**dict(row), "data": json.loads(row["data"]) if row["data"] else None} for row in rows]

    def facts(self) -> dict[str, Any]:
        return {row["key"]: json.loads(row["value"]) for row in self._db.execute("SELECT key, value FROM facts")}

    def save_facts(self, facts: dict[str, Any], run_id: int) -> None:
        with self._transaction():
            self._write_facts(facts, run_id)

    def _write_facts(self, facts: dict[str, Any], run_id: int) -> None:
        for key, value in facts.items():
            self._db.execute(
                "INSERT INTO facts (key, value, run_id, at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value, run_id = excluded.run_id, at = excluded.at",
                (key, _json(value), run_id, time.time()),
            )

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db)


class _Transaction:
    def __init__(self, db: _Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
