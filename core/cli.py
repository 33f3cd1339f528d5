"""``qrdr``: a thin command line over :class:`qrdr.api.Runbook`.

    qrdr [--config FILE] [--plugin NAME] [--snap NAME] [--json] [--yes] [-v] COMMAND

Global options may also follow the command (``qrdr plan promote --config site.toml``).
Exit codes are listed in :data:`EXIT_CODES` and docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from typing import Any, Callable, Sequence

from loguru import logger

from . import __version__, documents
from .api import COMMANDS, Runbook, fleet_check
from .engine.runner import Plan, Reporter, RunResult, StepResult
from .engine.sitestate import OVERRIDES
from .fleet import DEFAULT_JOBS, FleetCheck, SiteReadiness, site_configs
from .errors import (
    ConfigError, Interrupted, JournalError, JournalLocked, NotConfirmed, NothingToResume, PluginError, QrdrError,
    Refused, RunLocked, SecretError, SiteNotSupported, StepFailed,
)
from .secrets import mask, mask_value
from .steps import Check, Step

#: Exit codes: documented in docs/cli.md; automation relies on them.
EXIT_CODES: dict[str, int] = {
    "ok": 0,
    "step failed": 1,
    "usage or config error": 2,
    "refused (not supported, blocked, not ready, the site's state)": 3,
    "not confirmed": 4,
    "site busy (another run)": 5,
    "interrupted": 6,
    "plugin error": 7,
    "nothing to resume": 8,
    "waiting for a manual step": 9,
    "unexpected error (a bug)": 10,
}

#: First match wins: a locked journal is "busy" (try again), any other unusable journal is refused.
_ERROR_EXIT: list[tuple[type[BaseException], int]] = [
    (ConfigError, 2), (SecretError, 2), (SiteNotSupported, 3), (Refused, 3), (NotConfirmed, 4),
    (JournalLocked, 5), (JournalError, 3), (RunLocked, 5), (Interrupted, 6), (PluginError, 7),
    (NothingToResume, 8), (StepFailed, 1),
]
EXIT_INTERRUPTED = 6
EXIT_UNEXPECTED = 10

RUN_STATUS_EXIT = {"succeeded": 0, "rolled back": 0, "failed": 1, "interrupted": 6, "waiting": 9}

PHASE_COMMANDS = [name for name in COMMANDS]
#: Commands that change nothing on the site, whenever they are interrupted.
READ_ONLY_COMMANDS = ("plan", "check", "status", "history", "fleet")


class TerminalReporter(Reporter):
    """Prints the plan and each step as it goes; long waits show progress lines."""

    def __init__(self, out: Callable[[str], None]):
        self.out = out
        self._step_started = 0.0

    def plan(self, plan: Plan) -> None:
        self.out(render_plan(plan))

    def step_started(self, step: Step) -> None:
        self._step_started = time.monotonic()
        self.out(f"-> {step.id} ({step.target}): {step.title}")

    def step_finished(self, step: Step, result: StepResult) -> None:
        detail = f": {result.error}" if result.error else ""
        self.out(f"   {result.status} in {result.seconds:.1f}s{detail}")

    def progress(self, message: str) -> None:
        elapsed = time.monotonic() - self._step_started
        self.out(f"   ... {mask(message)} ({elapsed:.0f}s)")

    def note(self, message: str) -> None:
        self.out(mask(message))

    def manual(self, step: Step, check: Check) -> None:
        self.out(mask(f"   MANUAL STEP {step.id} ({step.target}): {step.manual}"))
        for line in check.changes:
            self.out(mask(f"      now: {line}"))


class QuietReporter(Reporter):
    """For --json: nothing on stdout but the final document."""

    def plan(self, plan: Plan) -> None:
        pass


def render_plan(plan: Plan) -> str:
    lines = [f"Plan: {plan.command}" + (f" (phases: {', '.join(plan.phases)})" if plan.phases else "")]
    if plan.probes:
        lines.append("Preflight checks:")
        for probe in plan.probes:
            status = "ok" if probe.status == "no change" else probe.status
            lines.append(f"  [{status}] {probe.step.id} ({probe.step.target}): {probe.step.title}")
            lines += [f"      {line}" for line in probe.lines]
    if plan.steps:
        lines.append("Steps:")
        for number, planned in enumerate(plan.steps, 1):
            step = planned.step
            flags = "".join([" [DESTRUCTIVE]" if step.destructive else "",
                             " [not idempotent]" if not step.idempotent else "",
                             " [MANUAL]" if step.manual else "",
                             f" [waits: {', '.join(step.waits)}]" if step.waits else ""])
            lines.append(f"  {number:>2}. [{planned.status}] {step.id} ({step.target}){flags}: {step.title}")
            lines += [f"        {line}" for line in planned.lines]
            if step.manual:
                lines.append(f"        by hand: {step.manual}")
    if plan.blockers:
        lines.append("Blocked: nothing will be changed.")
        lines += [f"  - {reason}" for reason in plan.blockers]
    elif plan.steps:
        will = sum(1 for p in plan.steps if p.status in ("will change", "depends on an earlier step"))
        if plan.unavoidable_waits:
            lines.append("Unavoidable waits: " + "; ".join(
                f"{target}: " + ", ".join(f"{count} {kind}{'s' if count > 1 else ''}" for kind, count in kinds.items())
                for target, kinds in plan.unavoidable_waits.items()))
        lines.append(f"{will} of {len(plan.steps)} steps will or may change something"
                     + (f"; destructive: {', '.join(s.id for s in plan.destructive)}" if plan.destructive else "") + ".")
        if will:
            lines.append(f"Plan {plan.digest}: the approval of this plan is journaled with it.")
    return mask("\n".join(lines))


def render_result(result: RunResult) -> str:
    lines = [f"Run {result.run_id} ({result.command}): {result.status}"]
    counts: dict[str, int] = {}
    for step in result.steps:
        counts[step.status] = counts.get(step.status, 0) + 1
    lines.append("  steps: " + ", ".join(f"{n} {status}" for status, n in sorted(counts.items())))
    for name, seconds in result.windows.items():
        lines.append(f"  {name}: {seconds:.1f} s")
    if result.undone:
        lines.append("  undone after the failure: " + ", ".join(result.undone))
    if result.message:
        lines.append(f"  {result.message}")
    return mask("\n".join(lines))


def _ask_manual(step: Step, check: Check) -> bool:
    """Wait for the person to do a manual step: True once they type 'done' (no terminal: False)."""
    if not sys.stdin.isatty():
        return False
    answer = input(f"When you have done it, type 'done' (anything else stops here; `qrdr resume --done {step.id}` "
                   f"continues later): ")
    return answer.strip().lower() == "done"


def _ask(plan: Plan) -> bool:
    if not sys.stdin.isatty():
        print("Not confirmed: no terminal to ask on; pass --yes to apply without asking.", file=sys.stderr)
        return False
    destructive = plan.destructive
    if destructive:
        print("Destructive steps: " + ", ".join(step.id for step in destructive))
    answer = input("Apply these changes? Type 'yes' to continue: ")
    return answer.strip().lower() == "yes"


def _global_options(parser: argparse.ArgumentParser, suppress: bool) -> None:
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", metavar="FILE", default=default, type=_not_empty,
                        help="site config (default: $QRDR_CONFIG or ./qrdr.toml)")
    parser.add_argument("--plugin", metavar="NAME", default=default, type=_not_empty,
                        help="Exchange plugin: any installed in qrdr.exchange (built in: exchange2000, "
                             "exchange2003; default: exchange<version> of the site)")
    parser.add_argument("--snap", metavar="NAME", default=default, type=_not_empty,
                        help="snap engine plugin (qsnap, vss; default: from the site)")
    parser.add_argument("--json", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="print one JSON document for machines")
    parser.add_argument("--yes", "-y", action="store_true", default=argparse.SUPPRESS if suppress else False,
                        help="apply without asking")
    parser.add_argument("--verbose", "-v", action="count", default=argparse.SUPPRESS if suppress else 0,
                        help="log more (-vv for debug)")


def _done_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--done", action="append", metavar="STEP", default=[],
                        help="a manual step already done by hand (repeatable; --yes never confirms one)")


def _not_empty(text: str) -> str:
    """argparse type of --config, --plugin, --snap: an empty value would silently mean the default."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must not be empty (got {text!r}); leave the option out for the default")
    return text


def _at_least_one(text: str) -> int:
    """argparse type of --run and --limit: a whole number from 1 (argparse names the option)."""
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


class UsageError(Exception):
    """A command line argparse refuses: raised instead of argparse's exit, so that :func:`main` can
    say it as a JSON document when ``--json`` is anywhere on the line (else as argparse does)."""

    def __init__(self, parser: argparse.ArgumentParser, message: str):
        super().__init__(message)
        self.parser = parser
        self.message = message


class _Parser(argparse.ArgumentParser):
    """argparse's parser whose usage errors raise :class:`UsageError` (its subcommands' parsers too:
    argparse makes them of the parent's class)."""

    def error(self, message: str) -> Any:  # argparse's own declares NoReturn
        raise UsageError(self, message)


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether ``--json`` (or an abbreviation argparse would take for it) is on the command line."""
    words = list(argv)
    if "--" in words:
        words = words[:words.index("--")]
    return any(len(word) >= 3 and "--json".startswith(word) for word in words)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="qrdr", description=
                                     "Plans, runs, checks and proves the Quick Recovery standby Exchange runbook.")
    parser.add_argument("--version", action="version", version=f"qrdr {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    helps = {
        "prepare-production": "production and standby prepared, renamed, rebooted (runbook Configure 1-2.2)",
        "install-dr": "Exchange installed in DisasterRecovery mode on the standby (2.3-2.7)",
        "grant-acls": "the standby's rights in Active Directory, replicated (3)",
        "finish-configuration": "standby checked, both renamed back, production running (4-11)",
        "create-qr-volumes": "Quick Recovery pool, policy, subclient, volumes, schedule",
        "promote": "the standby takes production's place",
        "cleanup": "the appendix: clean up after a Quick Recovery",
        "configure": "prepare-production, install-dr, grant-acls, finish-configuration in one run",
    }
    for name in PHASE_COMMANDS:
        sub = commands.add_parser(name, help=helps.get(name, name))
        _global_options(sub, suppress=True)
        _done_option(sub)
        sub.add_argument("--override", action="append", default=[], choices=sorted(OVERRIDES), metavar="NAME",
                         help="lift a refusal the site's state makes, by the name the refusal gives (journaled): "
                              + "; ".join(f"{k}: {v}" for k, v in OVERRIDES.items()))
        if name == "cleanup":
            sub.add_argument("--scope", choices=["recovery", "source"], default="recovery",
                             help="the recovery server (default) or the source server")
    plan = commands.add_parser("plan", help="show what a command would do, changing nothing")
    plan.add_argument("phase", choices=PHASE_COMMANDS, metavar="COMMAND")
    plan.add_argument("--scope", choices=["recovery", "source"], default="recovery")
    _global_options(plan, suppress=True)
    for name, text in (("resume", "continue the last unfinished run"),
                       ("status", "where the site stands: busy, resumable, last runs"),
                       ("check", "read-only readiness check (non-zero when a promote would fail now)")):
        sub = commands.add_parser(name, help=text)
        _global_options(sub, suppress=True)
        if name == "resume":
            _done_option(sub)
            sub.add_argument("--override", action="append", default=[], choices=["site-lock"], metavar="NAME",
                             help="site-lock: " + OVERRIDES["site-lock"] + " (journaled)")
            either = sub.add_mutually_exclusive_group()  # continue (retrying a step), or undo
            either.add_argument("--retry", action="append", metavar="STEP", default=[],
                                help="a failed step that is not idempotent, which you checked on its host: apply "
                                     "it again (repeatable; journaled)")
            either.add_argument("--rollback", action="store_true",
                                help="undo the unfinished run instead of continuing it (configure: production "
                                     "back under its own name, services and stores)")
    history = commands.add_parser("history", help="past runs; --run N for one run's steps and events")
    history.add_argument("--run", type=_at_least_one, metavar="N", help="one run's steps and events")
    history.add_argument("--limit", type=_at_least_one, default=20, metavar="N", help="how many runs (default 20)")
    _global_options(history, suppress=True)
    _add_fleet_command(commands)
    from .report.cli import add_report_command

    add_report_command(commands, lambda sub: _global_options(sub, suppress=True))
    try:
        from .lab.cli import add_lab_commands
    except ImportError:  # the lab is qrdr's `lab` extra: without it there is no `qrdr lab`, the rest works
        add_lab_commands = None
    if add_lab_commands is not None:
        add_lab_commands(commands, lambda sub: _global_options(sub, suppress=True))
    return parser


def _add_fleet_command(commands: Any) -> None:
    """``qrdr fleet check [DIR | --sites GLOB] [--jobs N] [--json]``: see docs/cli.md."""
    fleet = commands.add_parser("fleet", help="many sites at once: qrdr fleet check")
    sub = fleet.add_subparsers(dest="fleet_command", required=True, metavar="FLEET_COMMAND")
    check = sub.add_parser("check", help="the readiness of every site config, checked concurrently, read-only "
                                         "(non-zero when any site is not ready)")
    check.add_argument("directory", nargs="?", metavar="DIR", help="a directory: every *.toml in it is a site config")
    check.add_argument("--sites", metavar="GLOB", type=_not_empty,
                       help="the site configs a glob matches instead (quote it; ** crosses directories)")
    check.add_argument("--jobs", type=_at_least_one, default=DEFAULT_JOBS, metavar="N",
                       help=f"sites checked at once (default {DEFAULT_JOBS})")
    # Of the global options only these mean something for many sites (each site's config chooses its plugins).
    check.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print one JSON document")
    check.add_argument("--verbose", "-v", action="count", default=argparse.SUPPRESS, help="log more (-vv for debug)")


def _enable_logging(verbosity: int) -> None:
    logger.remove()
    level = "WARNING" if verbosity == 0 else "INFO" if verbosity == 1 else "DEBUG"

    def scrub(record: dict[str, Any]) -> None:
        record["message"] = mask(record["message"])

    logger.configure(patcher=scrub)
    logger.add(sys.stderr, level=level, format="{time:HH:mm:ss} {level:<7} {message}")
    logger.enable("qrdr")


class _ClosableStdout:
    """``sys.stdout`` while a command runs. Once its reader has gone (``qrdr status | head -3``
    closes the pipe) the rest of the output is dropped without a word, as git does; the command
    goes on to its end (a DR run must never stop half way because a pager was closed: the
    journal has everything) and exits with its own code."""

    def __init__(self, stream: Any):
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._drop_the_rest()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop_the_rest()

    def _drop_the_rest(self) -> None:
        self.reader_gone = True
        # Python flushes stdout once more at exit and would print "Exception ignored ... BrokenPipeError":
        # point the descriptor at devnull, as the Python docs' note on SIGPIPE recommends.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._stream.fileno())
            finally:
                os.close(devnull)
        except (OSError, ValueError):  # a stream without a descriptor (captured output): nothing left to flush
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _plugin_modules(runbook: Runbook | None) -> dict[str, str]:
    """Module name -> "<kind> plugin '<name>'" for each loaded plugin (an object: its class's module)."""
    named: dict[str, str] = {}
    for plugin in runbook.loaded if runbook is not None else ():
        module = plugin.module
        name = module.__name__ if isinstance(module, type(sys)) else type(module).__module__
        named[name] = f"{plugin.kind} plugin {plugin.name!r}"
    return named


def _culprit(exc: BaseException, runbook: Runbook | None) -> str:
    """Who raised ``exc``: the plugin whose code is innermost in the traceback, else where in qrdr."""
    frames = list(traceback.walk_tb(exc.__traceback__))
    plugins = _plugin_modules(runbook)
    for frame, _ in reversed(frames):
        module = frame.f_globals.get("__name__", "")
        for name, plugin in plugins.items():
            if module == name or module.startswith(name + "."):
                return f"in {plugin} ({module}, {frame.f_code.co_name})"
    if frames:
        frame, line = frames[-1]
        return f"in {frame.f_globals.get('__name__', '?')}, line {line}"
    return "in qrdr"


def _write_detail(exc: BaseException, runbook: Runbook | None) -> str:
    """Write ``exc``'s traceback (secrets masked) for a person to read later; return where it went:
    ``<state_dir>/<site>.errors.log`` (appended, owner-only), else a new file in the temp directory."""
    text = (f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} qrdr {__version__} pid {os.getpid()}: "
            f"{' '.join(sys.argv)}\n" + "".join(traceback.format_exception(exc)))
    text = mask(text)
    if runbook is not None:
        path = runbook.engine.journal_path.with_name(f"{runbook.site.name}.errors.log")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "a") as file:
                file.write(text)
            return str(path)
        except OSError:
            pass  # a state directory we cannot write to: the temp directory below
    try:
        descriptor, name = tempfile.mkstemp(prefix="qrdr-error-", suffix=".log")
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
        return name
    except OSError as error:
        return f"nowhere (it could not be written: {error.strerror or error})"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``qrdr`` command line; return its exit code (:data:`EXIT_CODES`).

    Never raises and never prints a traceback: usage errors exit 2 (argparse's text, or with
    ``--json`` anywhere on the line a ``qrdr error`` document), every qrdr error is one
    ``qrdr: <message>`` on stderr (or the ``qrdr error`` document ``{"error", "message", "exit"}``
    with ``--json``), Ctrl-C is exit 6, and anything unexpected (a bug, in a plugin or in qrdr) is one
    line naming where it happened and the file holding its traceback, exit 10.
    """
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        if _wants_json(argv):
            print(mask(json.dumps(documents.error(None, "UsageError", exc.message, 2), indent=2)))
        else:
            exc.parser.print_usage(sys.stderr)
            print(mask(f"{exc.parser.prog}: error: {exc.message}"), file=sys.stderr)
        return 2
    _enable_logging(args.verbose)
    stdout = sys.stdout
    # Started with stdout closed (``qrdr status >&-``), Python has no sys.stdout at all.
    sys.stdout = guarded = _ClosableStdout(stdout if stdout is not None else open(os.devnull, "w"))
    try:
        return _main(args)
    finally:
        guarded.flush()
        sys.stdout = stdout


def _main(args: argparse.Namespace) -> int:
    as_json = args.json

    def emit(document: Any) -> None:
        print(mask(json.dumps(mask_value(document), indent=2, default=str)))

    def failed(kind: str, message: str, code: int) -> int:
        if as_json:
            emit(documents.error(runbook.site.name if runbook is not None else None, kind, message, code))
        else:
            print(f"qrdr: {mask(message)}", file=sys.stderr)
        return code

    runbook = None
    try:
        try:
            if getattr(args, "lab_handler", None):
                return args.lab_handler(args)
            if args.command == "fleet":  # many sites, each with a Runbook of its own
                return _fleet(args, emit)
            if args.command == "report":  # from the journal alone: no plugins, no connection
                from .report.cli import report_command

                return report_command(args, emit)
            reporter = QuietReporter() if as_json else TerminalReporter(print)
            runbook = Runbook.from_config(args.config, exchange=args.plugin, snap=args.snap,
                                          reporter=reporter, confirm=_ask, confirm_manual=_ask_manual)
            return _command(runbook, args, emit)
        finally:
            if runbook is not None:
                _close(runbook)
    except QrdrError as exc:
        code = next((code for kind, code in _ERROR_EXIT if isinstance(exc, kind)), 1)
        message = str(exc)
        if exc.__cause__ is not None and not isinstance(exc.__cause__, QrdrError):
            message += f" (the traceback is in {_write_detail(exc.__cause__, runbook)})"
        return failed(type(exc).__name__, message, code)
    except KeyboardInterrupt:
        # A run's own Ctrl-C (between or in steps, while planning) comes back as its result or as
        # Interrupted; one arriving here was outside that: say only what is known to be true.
        if args.command in READ_ONLY_COMMANDS:
            message = f"interrupted (Ctrl-C): nothing was changed ({args.command} changes nothing)"
        elif getattr(args, "lab_handler", None):
            message = "interrupted (Ctrl-C); `qrdr lab status` shows what is running"
        else:
            message = "interrupted (Ctrl-C); `qrdr status` shows where the site stands"
        return failed("Interrupted", message, EXIT_INTERRUPTED)
    except Exception as exc:  # a bug: one line and a file with the detail, never a traceback on stderr
        where = _write_detail(exc, runbook)
        return failed("UnexpectedError", f"unexpected error {_culprit(exc, runbook)}: {type(exc).__name__}: {exc} "
                                         f"(a bug; the traceback is in {where})", EXIT_UNEXPECTED)


def _close(runbook: Runbook) -> None:
    """Close the run's connections; a host gone meanwhile is no error of the command's."""
    try:
        runbook.close()
    except Exception as exc:  # noqa: BLE001 - the command's own outcome matters more than a last goodbye
        logger.debug("closing the connections failed: {}", exc)


def _command(runbook: Runbook, args: argparse.Namespace, emit: Callable[[Any], None]) -> int:
    as_json = args.json
    site = runbook.site.name
    if args.command == "plan":
        plan = runbook.plan(args.phase, scope=args.scope)
        emit(documents.plan("qrdr plan", site, plan)) if as_json else print(render_plan(plan))
        return 3 if plan.blockers else 0
    if args.command == "check":
        plan = runbook.check()
        emit(documents.plan("qrdr check", site, plan)) if as_json else print(render_plan(plan) + ("\nReady." if not plan.blockers else ""))
        return 3 if plan.blockers else 0
    if args.command == "status":
        status = runbook.status()
        emit(documents.status(status)) if as_json else print(_render_status(status))
        return 0
    if args.command == "history":
        return _history(runbook, args, emit)
    done = getattr(args, "done", None) or ()
    if args.command == "resume" and args.rollback:
        result = runbook.rollback(yes=args.yes, overrides=args.override)
    elif args.command == "resume":
        result = runbook.resume(yes=args.yes, done=done, overrides=args.override, retry=args.retry)
    else:
        result = runbook.run(args.command, yes=args.yes, scope=getattr(args, "scope", "recovery"), done=done,
                             overrides=args.override)
    # The next safe command, as `qrdr status` names it: read from the journal the run just wrote.
    following = runbook.state().next_command
    document = {**documents.run_result(site, result), "next": following}
    if not as_json:
        print(render_result(result))
        print(mask(f"  next: {following}"))
    from .report.cli import after_run

    after_run(runbook.site, result.run_id, as_json, document)  # never raises: the outcome stands
    if as_json:
        emit(document)
    return RUN_STATUS_EXIT.get(result.status, 1)


def _fleet(args: argparse.Namespace, emit: Callable[[Any], None]) -> int:
    """``qrdr fleet check``: exit 0 when every site is ready, 3 when any is not (or could not be checked)."""
    if args.config or args.plugin or args.snap:
        raise ConfigError("qrdr fleet check", [("", "--config, --plugin and --snap name one site: give a directory "
                                                     "of site configs or --sites GLOB (each config names its plugins)")])
    if args.directory is not None and args.sites is not None:
        raise ConfigError("qrdr fleet check", [("", "give a directory or --sites GLOB, not both")])
    fleet = fleet_check(site_configs(args.directory, pattern=args.sites) if args.sites is None
                        else site_configs(pattern=args.sites), jobs=args.jobs)
    if args.json:
        emit(documents.fleet_check(fleet))
    else:
        print(render_fleet(fleet))
    return 0 if fleet.all_ready else 3


def render_fleet(fleet: FleetCheck) -> str:
    """One line per site (name, state, READY / NOT READY / ERROR, the first reason or the recovery
    point, seconds, config), then a summary line."""
    width = max(len(site.site or "-") for site in fleet.sites)
    states = max(len(site.state or "-") for site in fleet.sites)
    lines = []
    for site in fleet.sites:
        verdict = "READY" if site.ready else "ERROR" if site.error else "NOT READY"
        lines.append(f"{site.site or '-':<{width}}  {site.state or '-':<{states}}  {verdict:<9}  "
                     f"{_fleet_detail(site)} ({site.seconds:.1f} s, {site.config})")
    summary = fleet.summary()
    lines.append(f"{summary['ready']} of {summary['sites']} sites ready"
                 + (f", {summary['errors']} could not be checked" if summary["errors"] else "")
                 + f"; {fleet.seconds:.1f} s, {fleet.jobs} at a time")
    return mask("\n".join(lines))


def _fleet_detail(site: SiteReadiness) -> str:
    if site.error is not None:
        lines = [line.strip() for line in site.error.message.splitlines() if line.strip()]
        detail = f"{site.error.kind}: " + "; ".join(lines).replace(":;", ":")
    elif site.ready:
        detail = (f"recovery point {site.recovery_point_age_hours:.1f} h old"
                  if site.recovery_point_age_hours is not None else "recovery point unknown")
    else:
        more = len(site.reasons) - 1
        detail = site.reasons[0] + (f" (and {more} more: qrdr check --config {site.config})" if more else "")
    return detail + (f" [busy: {site.busy}]" if site.busy else "")


def _render_status(status: dict[str, Any]) -> str:
    since = f" since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(status['since']))}" if status["since"] else ""
    lines = [f"Site {status['site']}: {status['state'].upper()}{since}"]
    lines.append(f"  busy: {status['busy']}" if status["busy"] else "  not busy")
    lines += [f"  {line}" for line in status["known"]]
    lines.append(f"  next: {status['next']}")
    if status["resumable"]:
        run = status["resumable"]
        lines.append(f"  run {run['id']} ({run['command']}) is {run['status']}: `qrdr resume` continues it")
    if status["last_check"]:
        check = status["last_check"]
        checked = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(check["started_at"]))
        lines.append(f"  last readiness check: {check['status']} at {checked} (run {check['id']})")
    for run in status["last_runs"]:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run["started_at"]))
        lines.append(f"  run {run['id']}: {run['command']} {run['status']} (started {started})")
    return "\n".join(lines)


def _history(runbook: Runbook, args: argparse.Namespace, emit: Callable[[Any], None]) -> int:
    if args.run is None:
        runs = runbook.history(args.limit)
        if args.json:
            emit(documents.history(runbook.site.name, runs))
        else:
            for run in runs:
                started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started_at))
                took = f"{run.ended_at - run.started_at:.0f}s" if run.ended_at else "-"
                print(f"run {run.id}: {run.command} {run.status} started {started} took {took}"
                      + (f": {run.message}" if run.message else ""))
        return 0
    try:
        record, steps, events = runbook.run_detail(args.run)
    except KeyError as exc:
        if args.json:
            emit(documents.error(runbook.site.name, "NoSuchRun", exc.args[0], 2))
        else:
            print(f"qrdr: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.json:
        emit(documents.run_detail(runbook.site.name, record, steps, events))
        return 0
    print(f"run {record.id}: {record.command} {record.status}; plugins {', '.join(record.plugins)}")
    for name, seconds in record.windows.items():
        print(f"  {name}: {seconds:.1f} s")
    for step in steps:
        print(f"  {step.seq + 1:>2}. [{step.state}] {step.step_id} ({step.target}) applied {step.apply_count}x"
              + (f": {step.error}" if step.error else ""))
        for line in step.changes:
            print(f"        {line}")
    print("events:")
    for event in events:
        at = time.strftime("%H:%M:%S", time.localtime(event["at"]))
        print(f"  {at} {event['kind']}" + (f" {event['step_id']}" if event["step_id"] else "") + f": {event['message']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
