"""``qrdr report`` and the report line every changing run prints (kept out of qrdr.cli, which only
wires them in)."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from loguru import logger

from .. import documents
from ..secrets import mask
from . import FORMATS, ReportError, write_after_run, write_report
from .model import build_report
from .render import render_html, render_json


def add_report_command(commands: Any, global_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """The ``report`` subcommand on qrdr's parser."""
    sub = commands.add_parser("report", help="a run's report (HTML or JSON), rebuilt from the journal")
    sub.add_argument("--run", type=int, metavar="N", help="the run (default: the last run)")
    sub.add_argument("--format", choices=FORMATS, default="html", help="html (default) or json")
    sub.add_argument("-o", "--output", metavar="FILE",
                     help="where to write it (default: <state_dir>/reports/<site>-run-<N>.<format>; - for stdout)")
    global_options(sub)


def report_command(args: argparse.Namespace, emit: Callable[[Any], None]) -> int:
    """Run ``qrdr report``: writes the file and prints its path (``--json``: the ``qrdr report written``
    document, ``{"report", "format"}``). Exit 2 when there is no journal or no such run, or the file cannot be written."""
    from ..config import load_site
    from ..errors import QrdrError

    try:
        site = load_site(args.config)
    except QrdrError as exc:
        return _fail(args, emit, None, type(exc).__name__, str(exc))
    try:
        if args.output == "-":
            from . import journal_path

            report = build_report(journal_path(site), args.run)
            sys.stdout.write(render_html(report) if args.format == "html" else render_json(report))
            return 0
        path = write_report(site, args.run, args.format, args.output)
    except ReportError as exc:
        return _fail(args, emit, site.name, "ReportError", str(exc))
    except OSError as exc:
        return _fail(args, emit, site.name, "OSError", f"the report could not be written: {exc}")
    if args.json:
        emit(documents.document("qrdr report written", site.name, {"report": str(path), "format": args.format}))
    else:
        print(f"report: {path}")
    return 0


def _fail(args: argparse.Namespace, emit: Callable[[Any], None], site: str | None, kind: str, message: str) -> int:
    if args.json:
        emit(documents.error(site, kind, message, 2))
    else:
        print(f"qrdr: {mask(message)}", file=sys.stderr)
    return 2


def after_run(site: Any, run_id: int, as_json: bool, document: dict[str, Any] | None) -> None:
    """Write the run's report and say where (``report: <path>``; with ``--json`` as the document's
    ``report`` key). When it cannot be written, say so on stderr and carry on: the run's outcome and
    exit code stay what the run made them."""
    path, why = write_after_run(site, run_id)
    if document is not None:
        document["report"] = str(path) if path else None
        if why:
            document["report_error"] = why
    if path is not None:
        if not as_json:
            print(f"report: {path}")
        return
    # Logged at info (-v): the line below already says it at the default verbosity.
    logger.info("the report of run {} was not written: {}", run_id, why)
    print(mask(f"qrdr: the report of run {run_id} was not written ({why}); the run's outcome stands; "
               f"`qrdr report --run {run_id}` tries again"), file=sys.stderr)
