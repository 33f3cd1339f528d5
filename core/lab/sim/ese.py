"""The lab's Extensible Storage Engine: database, log and checkpoint files, eseutil.

No real ESE file exists here. A simulated host's files hold text, so the lab
writes each ESE file as a short text record (a magic line, then JSON) that
carries exactly what Exchange's tools and the Information Store look at:
the database header (state, logs required, signatures), a log file's
generation and the databases attached in its stream, the checkpoint's
generation. Because the state lives *in the files*, it travels with them: a
Quick Recovery copy of a production volume carries the databases as they were
at the snapshot (clean or dirty), with the logs and checkpoint only when they
were on a copied volume (the reason for seed step 1).

File names follow Exchange 2000/2003: the log stream of a storage group has
base name ``E00`` (first storage group), the current log is ``E00.log``,
older ones ``E00`` + five hex digits (``E000000C.log`` is generation 12),
the checkpoint is ``E00.chk`` in the storage group's system path.

:func:`eseutil` renders what ``eseutil /mh`` and ``eseutil /r`` print on
Exchange 2003 (``Microsoft(R) Exchange Server Database Utilities`` banner,
version 6.5; Exchange 2000's is version 6.0) and their exit codes (the JET
error number, 0 on success).
"""

from __future__ import annotations

import json
import ntpath
from typing import Any, Protocol

import attrs

CLEAN_SHUTDOWN = "Clean Shutdown"
DIRTY_SHUTDOWN = "Dirty Shutdown"

_DB_MAGIC = "QRDR-LAB ESE DATABASE v1"
_LOG_MAGIC = "QRDR-LAB ESE LOG v1"
_CHK_MAGIC = "QRDR-LAB ESE CHECKPOINT v1"

#: JET errors the lab produces: number -> (symbol, eseutil's description).
JET_ERRORS: dict[int, tuple[str, str]] = {
    -528: ("JET_errMissingLogFile", "Current log file missing"),
    -550: ("JET_errDatabaseDirtyShutdown", "Database was not shutdown cleanly"),
    -1023: ("JET_errInvalidPath", "Invalid file path"),
    -1206: ("JET_errDatabaseCorrupted", "Non database file or corrupted db"),
    -1216: ("JET_errAttachedDatabaseMismatch",
            "An outstanding database attachment has been detected at the start or end of recovery, "
            "but database is missing or does not match attachment info"),
    -1811: ("JET_errFileNotFound", "File not found"),
}


def jet_error_text(code: int) -> str:
    """``-550 (JET_errDatabaseDirtyShutdown, Database was not shutdown cleanly)``."""
    symbol, description = JET_ERRORS[code]
    return f"{code} ({symbol}, {description})"


@attrs.define
class DatabaseHeader:
    """What ``eseutil /mh`` reads from a database (.edb) file.

    ``torn`` marks a copy whose blocks come from two points in time (a QR
    update that never finished its copy phase): ESE finds the file corrupt.
    """

    state: str
    log_signature: str
    db_signature: str
    #: (lowest, highest) log generation needed to make the file consistent; (0, 0) when clean.
    log_required: tuple[int, int] = (0, 0)
    #: Log generation of the last clean shutdown.
    last_consistent: int = 0
    torn: bool = False

    @property
    def clean(self) -> bool:
        return self.state == CLEAN_SHUTDOWN and not self.torn

    def to_text(self) -> str:
        return _DB_MAGIC + "\n" + json.dumps(attrs.asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DatabaseHeader":
        data = dict(data)
        data["log_required"] = tuple(data.get("log_required", (0, 0)))
        return cls(**data)


@attrs.define
class LogFile:
    """One transaction log of a storage group's stream."""

    generation: int
    log_signature: str
    #: The .edb paths attached in this stream when the log was written.
    databases: list[str] = attrs.field(factory=list)

    def to_text(self) -> str:
        return _LOG_MAGIC + "\n" + json.dumps(attrs.asdict(self))


@attrs.define
class Checkpoint:
    generation: int
    log_signature: str

    def to_text(self) -> str:
        return _CHK_MAGIC + "\n" + json.dumps(attrs.asdict(self))


def parse(text: str | None) -> DatabaseHeader | LogFile | Checkpoint | None:
    """The ESE record a file holds, or None when it is not one of the lab's ESE files."""
    if not text:
        return None
    magic, _, body = text.partition("\n")
    try:
        if magic == _DB_MAGIC:
            return DatabaseHeader.from_dict(json.loads(body))
        if magic == _LOG_MAGIC:
            return LogFile(**json.loads(body))
        if magic == _CHK_MAGIC:
            return Checkpoint(**json.loads(body))
    except (ValueError, TypeError):
        return None
    return None


def log_file_name(base: str, generation: int | None) -> str:
    """``E00.log`` for the current log (None), ``E000000C.log`` for generation 12."""
    if generation is None:
        return f"{base}.log"
    return f"{base}{generation:05X}.log"


def checkpoint_name(base: str) -> str:
    return f"{base}.chk"


class Files(Protocol):
    """The file access eseutil needs from a host (paths are Windows paths, case-insensitive)."""

    def read_text(self, path: str) -> str | None:
        """The file's text, or None when there is no such file."""

    def write_text(self, path: str, text: str) -> None: ...

    def list_files(self, folder: str) -> list[str]:
        """Full paths of the files directly in ``folder`` (empty when it does not exist)."""


def read_logs(files: Files, log_dir: str, base: str) -> dict[int, tuple[str, LogFile]]:
    """generation -> (path, log) for the logs of stream ``base`` in ``log_dir``."""
    found: dict[int, tuple[str, LogFile]] = {}
    prefix = base.lower()
    for path in files.list_files(log_dir):
        name = ntpath.basename(path).lower()
        if not (name.startswith(prefix) and name.endswith(".log")):
            continue
        middle = name[len(prefix):-4]
        if middle and not (len(middle) == 5 and all(ch in "0123456789abcdef" for ch in middle)):
            continue
        record = parse(files.read_text(path))
        if isinstance(record, LogFile):
            found[record.generation] = (path, record)
    return found


@attrs.frozen
class EseutilResult:
    lines: list[str]
    exit_code: int


def _banner(exchange_version: str) -> list[str]:
    if exchange_version == "2000":
        return ["", "Microsoft(R) Exchange Server(TM) Database Utilities", "Version 6.0",
                "Copyright (C) Microsoft Corporation 1991-2000.  All Rights Reserved.", ""]
    return ["", "Microsoft(R) Exchange Server Database Utilities", "Version 6.5",
            "Copyright (C) Microsoft Corporation. All Rights Reserved.", ""]


def _generation_range(low: int, high: int) -> str:
    return f"{low}-{high} (0x{low:x}-0x{high:x})"


def dump_header(files: Files, path: str, exchange_version: str = "2003") -> EseutilResult:
    """``eseutil /mh PATH``."""
    lines = _banner(exchange_version) + ["Initiating FILE DUMP mode...", f"         Database: {path}", ""]
    text = files.read_text(path)
    if text is None:
        lines += ["", f"Operation terminated with error {jet_error_text(-1811)} after 0.10 seconds.", ""]
        return EseutilResult(lines, -1811)
    record = parse(text)
    if not isinstance(record, DatabaseHeader) or record.torn:
        lines += ["", f"Operation terminated with error {jet_error_text(-1206)} after 0.20 seconds.", ""]
        return EseutilResult(lines, -1206)
    low, high = record.log_required
    lines += [
        "        File Type: Database",
        "   Format ulMagic: 0x89abcdef",
        "   Engine ulMagic: 0x89abcdef",
        " Format ulVersion: 0x620,12",
        " Engine ulVersion: 0x620,12",
        f"     DB Signature: {record.db_signature}",
        "         cbDbPage: 4096",
        f"            State: {record.state}",
        f"     Log Required: {_generation_range(low, high)}",
        "   Streaming File: Yes",
        "         Shadowed: Yes",
        f"  Last Consistent: (0x{record.last_consistent:X},0,0)",
        f"    Log Signature: {record.log_signature}",
        "",
        "Operation completed successfully in 0.30 seconds.",
        "",
    ]
    return EseutilResult(lines, 0)


def soft_recovery(files: Files, base: str, log_dir: str, system_dir: str,
                  exchange_version: str = "2003") -> EseutilResult:
    """``eseutil /r BASE /l LOG_DIR /s SYSTEM_DIR``: replay the logs into the attached databases.

    The databases are those named by the newest log of the stream (as ESE finds
    them in the log's attach records). Succeeds, leaving every one of them
    Clean Shutdown, when each dirty database's required generations are all in
    ``log_dir``; otherwise stops with the error eseutil gives and changes nothing.
    """
    lines = _banner(exchange_version) + [
        "Initiating RECOVERY mode...",
        f"    Logfile base name: {base}",
        f"            Log files: {log_dir}",
        f"         System files: {system_dir}",
        "",
        "Performing soft recovery...",
    ]

    def fail(code: int) -> EseutilResult:
        return EseutilResult(lines + ["", f"Operation terminated with error {jet_error_text(code)} after 0.47 seconds.",
                                      ""], code)

    logs = read_logs(files, log_dir, base)
    if not logs:
        return fail(-528)
    newest = logs[max(logs)][1]
    checkpoint = parse(files.read_text(ntpath.join(system_dir, checkpoint_name(base))))
    headers: dict[str, DatabaseHeader] = {}
    for db_path in newest.databases:
        record = parse(files.read_text(db_path))
        if record is None:
            return fail(-1216)
        if not isinstance(record, DatabaseHeader) or record.torn:
            return fail(-1206)
        headers[db_path] = record
    for record in headers.values():
        if record.clean or record.log_signature != newest.log_signature:
            continue
        low, high = record.log_required
        # Replay starts at the checkpoint: one from another point in time (system path
        # not copied with the logs, seed step 1) skips generations the database needs.
        if isinstance(checkpoint, Checkpoint) and (checkpoint.log_signature != record.log_signature
                                                   or checkpoint.generation > low):
            return fail(-1216)
        # ... and runs to the end of the stream.
        if any(gen not in logs for gen in range(low, max(high, max(logs)) + 1)):
            return fail(-528)
    for db_path, record in headers.items():
        if record.state == DIRTY_SHUTDOWN and record.log_signature == newest.log_signature:
            record.state = CLEAN_SHUTDOWN
            record.log_required = (0, 0)
            record.last_consistent = max(logs)
            files.write_text(db_path, record.to_text())
    return EseutilResult(lines + ["", "Operation completed successfully in 0.47 seconds.", ""], 0)


def run_eseutil(files: Files, arguments: list[str], exchange_version: str = "2003") -> EseutilResult:
    """Dispatch eseutil's command line: ``/mh PATH`` or ``/r BASE /lDIR /sDIR [/dDIR]``.

    The path of a switch is joined to it (Exchange Server 2003, "How to Run Eseutil /R in Recovery
    Mode": ``ESEUTIL /R E00 /Ld:\\exchsrvr\\logfiles``; ESE's own help: ``/l<path>``); a path given
    as the next word is an argument eseutil does not know, and the log base name (three characters,
    e.g. E00) is required. A usage error ends with -1 (ESE source); its text is the lab's.
    """
    args = [str(arg) for arg in arguments]
    usage = _banner(exchange_version) + ["Usage: ESEUTIL /mh <database name> | /r <3-character logfile base name> "
                                         "[/l<path>] [/s<path>] [/d<path>]"]
    if not args:
        return EseutilResult(usage, -1)
    mode = args[0].lower()
    if mode == "/mh" and len(args) == 2:
        return dump_header(files, args[1], exchange_version)
    if mode == "/r" and len(args) >= 2 and len(args[1]) == 3 and not args[1].startswith("/"):
        options = _options(args[2:])
        if options is None:
            return EseutilResult(usage + [f"ERROR: Invalid argument(s): {' '.join(args[2:])}"], -1)
        log_dir = options.get("/l", ".")
        system_dir = options.get("/s", ".")
        return soft_recovery(files, args[1], log_dir, system_dir, exchange_version)
    return EseutilResult(usage + [f"ERROR: Invalid argument(s): {' '.join(args)}"], -1)


def _options(args: list[str]) -> dict[str, str] | None:
    """``/lDIR /sDIR /dDIR`` (each path joined to its switch) -> {"/l": DIR, ...}; None when a word
    is not such a switch (a path given apart from its switch, say)."""
    options: dict[str, str] = {}
    for arg in args:
        key = arg[:2].lower()
        if key not in ("/l", "/s", "/d") or (len(arg) == 2 and key != "/d"):  # /d[path]: the path may be left out
            return None
        options[key] = arg[2:]
    return options
