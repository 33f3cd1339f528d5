"""qrdr-example-addon: a third-party qrdr plugin, kept as small as a real one can be.

It shows the three kinds of hooks a plugin implements:

* ``qrdr_config_section``: its ``[plugin.example]`` section (:class:`ExampleConfig`);
* ``qrdr_promote_standby``: a phase hook that returns one :class:`qrdr.steps.Step`
  (data only, no I/O): post a maintenance note to a local file;
* ``qrdr_step_finished``: an event: every finished step is logged (``qrdr -v`` shows it).

The step's ``check`` only reads the file, so ``qrdr plan promote`` shows what it
would write without writing it.
"""

from __future__ import annotations

from pathlib import Path

import attrs
from loguru import logger

from qrdr.hookspecs import hookimpl
from qrdr.pluginmanager import ConfigSection
from qrdr.steps import Check, Step

SECTION = "example"
STEP_ID = "example.post-maintenance-note"


@attrs.frozen
class ExampleConfig:
    """``[plugin.example]`` of the site config."""

    #: The ticket queue people watch during the promote.
    ticket_queue: str
    #: A local file that receives the note (and one line per finished step).
    note_path: str = "qrdr-maintenance-notes.txt"


def note_text(site_name: str, queue: str) -> str:
    return f"site {site_name}: standby promotion in progress; follow ticket queue {queue}"


def maintenance_note_step(site, config: ExampleConfig) -> Step:
    """The step that appends the maintenance note to ``config.note_path`` unless it is there."""
    path = Path(config.note_path)
    line = note_text(site.name, config.ticket_queue)

    def check(ctx) -> Check:
        present = path.exists() and line in path.read_text(encoding="utf-8").splitlines()
        if present:
            return Check.no_change(f"{path} already has the maintenance note", path=str(path))
        return Check.will_change(f"append to {path}: {line!r}", path=str(path))

    def apply(ctx) -> dict:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
        return {"path": str(path), "note": line}

    # Built-in step ids are not stable yet, so the note is ordered relative to
    # nothing built-in: empty after/before leaves it to the engine's id order.
    return Step(id=STEP_ID, title=f"post a maintenance note for ticket queue {config.ticket_queue}",
                target="local", check=check, apply=apply, idempotent=True, after=(), before=())


@hookimpl
def qrdr_config_section():
    return ConfigSection(SECTION, ExampleConfig)


@hookimpl
def qrdr_promote_standby(site, plugin_config):
    # The engine structured [plugin.example] before calling any phase hook; a
    # missing section is a config error (ticket_queue has no default) named there.
    return [maintenance_note_step(site, plugin_config[SECTION])]


@hookimpl
def qrdr_step_finished(run_id, step, result):
    # Events are for notification only: the engine ignores the return value and
    # logs (never raises) an exception from here. A real add-on would post to its
    # ticket queue; this one logs a line (shown by `qrdr -v`).
    logger.info("example add-on: run {}: step {} {}", run_id, step.id, result.status)
