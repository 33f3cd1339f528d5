"""Run reports: the proof of what a run did, for an auditor (HTML) and for machines (JSON).

Built only from the site's journal (:mod:`qrdr.report.model`), rendered by
:mod:`qrdr.report.render`. ``qrdr report`` rebuilds any run's report; every run that changes
something writes its own at the end (:func:`write_after_run`).
"""

from __future__ import annotations

from pathlib import Path

from loguru import logger

from ..model import Site
from .model import SCHEMA_VERSION, ReportError, build_report, journal_digest, last_run_id
from .render import render_html, render_json

FORMATS = ("html", "json")


def journal_path(site: Site) -> Path:
    """Where the engine journals the site's runs (qrdr.engine.runner.Engine.journal_path)."""
    return Path(site.state_dir or ".qrdr") / f"{site.name}.journal.sqlite"


def default_path(site: Site, run_id: int, fmt: str) -> Path:
    """``<state_dir>/reports/<site>-run-<N>.<html|json>``."""
    return Path(site.state_dir or ".qrdr") / "reports" / f"{site.name}-run-{run_id}.{fmt}"


def write_report(site: Site, run_id: int | None = None, fmt: str = "html", output: str | Path | None = None) -> Path:
    """Build the report of run ``run_id`` (default: the newest) from the site's journal and write it
    to ``output`` (default :func:`default_path`). Returns the path written. Raises :class:`ReportError`
    (no journal, no such run) and ``OSError`` (cannot write); ``ValueError`` for an unknown format."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r} (formats: {', '.join(FORMATS)})")
    report = build_report(journal_path(site), run_id)
    path = Path(output) if output is not None else default_path(site, report["run_id"], fmt)
    text = render_html(report) if fmt == "html" else render_json(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: a reader (or a crash) never sees half a report.
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def write_after_run(site: Site, run_id: int) -> tuple[Path | None, str | None]:
    """The report a run writes at its end: ``(path, None)``, or ``(None, why)`` when it could not be
    written. Never raises: a report that cannot be written must not change the run's outcome."""
    try:
        return write_report(site, run_id, "html"), None
    except Exception as exc:  # noqa: BLE001 - whatever went wrong, the run's result stands
        logger.opt(exception=True).debug("report of run {} not written", run_id)
        return None, f"{type(exc).__name__}: {exc}"


__all__ = ["FORMATS", "SCHEMA_VERSION", "ReportError", "build_report", "default_path", "journal_digest",
           "journal_path", "last_run_id", "render_html", "render_json", "write_after_run", "write_report"]
