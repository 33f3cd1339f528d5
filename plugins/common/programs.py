"""Long programs (setup.exe, update.exe, sysocmgr, eseutil /r) run outside the remoting shell.

A program started inside a WinRM shell belongs to the shell's job object and
dies with it (PowerShell-Docs, Start-Process: "On a remote system, the new
process is terminated when the remote session ends"); the shell's quota holds
it to 150 MB (WinRM 2.0's MaxMemoryPerShellMB); and it has no credentials for
a domain controller, which Exchange setup needs (the second hop). qrdr's
runspace pools close and reopen every few pipelines, so none of that would do.

:func:`run_long_program` therefore runs the program as a scheduled task that
logs on with the domain account's password (``schtasks /create /ru /rp``:
Windows Server 2003's schtasks.exe; for a Windows 2000 host, which has none,
the management host's with ``/s HOST /u /p``). The task runs a batch file qrdr
writes to ``C:\\qrdr``::

    @echo off
    "Z:\\setup\\i386\\setup.exe" /DisasterRecovery /UnattendFile "C:\\qrdr\\x.ini" > "C:\\qrdr\\ID.out" 2>&1
    echo %ERRORLEVEL% > "C:\\qrdr\\ID.exit"

then polls for the exit file, reads the exit code and the output back, and
deletes the task and the files. Its schedule (ONCE, at midnight of 12/31/2099
in the host's short-date format, as ``Get-Date -Format d`` gives it) never
fires by itself: ``schtasks /run`` starts it now.

Every word of the command line is a value that goes into a batch file: one
holding a double quote, a percent sign, a line break or another control
character is refused (:class:`BatchValueError`) rather than escaped, because
cmd.exe has no quoting that makes ``%`` or ``"`` literal in every position.
"""

from __future__ import annotations

import csv
import ntpath
import re
import time
import uuid
from typing import Any, Callable

import attrs

from qrdr.remote import Command
from qrdr.steps import SETUP, Check, StepContext

from . import catalog, hosts

#: The date of the tasks' schedule: far ahead, so that it never fires by itself.
NEVER_BY_ITSELF = "2099-12-31"
#: Characters that make a word need double quotes on a cmd.exe line.
_NEEDS_QUOTES = re.compile(r"[\s&|<>^(),;=]")
#: Characters no quoting makes safe in a batch file line.
_UNSAFE = re.compile(r'["%\x00-\x1f\x7f]')


class BatchValueError(ValueError):
    """A value cannot be written into a batch file safely (the message names it and why)."""


class ProgramFailed(RuntimeError):
    """The scheduled task could not run the program (the message says why: the Task Scheduler's words)."""


@attrs.frozen
class ProgramRun:
    """How a long program ended: its exit code (None when qrdr stopped it, KB Q280432), output, task."""

    program: str
    exit_code: int | None
    output: tuple[str, ...]
    task: str
    stopped_by_qrdr: bool = False
    seconds: float = 0.0

    def evidence(self) -> dict[str, Any]:
        return {"program": self.program, "exit_code": self.exit_code, "task": self.task,
                "stopped_by_qrdr": self.stopped_by_qrdr, "seconds": round(self.seconds, 1),
                "output": list(self.output[-5:])}


def batch_word(word: str, what: str) -> str:
    """``word`` as one word of a cmd.exe line: quoted when it holds a blank or an operator.

    Raises :class:`BatchValueError` naming ``what`` when no quoting makes it safe.
    """
    bad = _UNSAFE.search(word)
    if bad is not None:
        shown = repr(bad.group()) if bad.group().isprintable() else f"U+{ord(bad.group()):04X}"
        raise BatchValueError(f"{what}: {word!r} holds {shown}, which cannot be written into a batch file safely")
    return f'"{word}"' if not word or _NEEDS_QUOTES.search(word) else word


def batch_text(words: list[str], output: str, exit_file: str, what: str) -> str:
    """The batch file that runs ``words``, its output into ``output``, its exit code into ``exit_file``."""
    line = " ".join(batch_word(word, what) for word in words)
    return "\r\n".join(["@echo off", f"{line} > {batch_word(output, what)} 2>&1",
                        f"echo %ERRORLEVEL% > {batch_word(exit_file, what)}"]) + "\r\n"


def _short_date(session: Any) -> str:
    """12/31/2099 in the short-date format of the computer that runs schtasks (its /sd takes that)."""
    runner = getattr(session, "management", None) or session
    found = runner.run(Command("Get-Date", {"Date": NEVER_BY_ITSELF, "Format": "d"}), read_only=True)
    return str(found[0])


def _schtasks(ctx: StepContext, key: str, session: Any, *arguments: Any) -> list[str]:
    """schtasks on the host itself, or for a Windows 2000 host on its management host with /s, /u and /p."""
    words: list[Any] = list(arguments)
    if hosts.is_windows_2000(ctx.site, key):
        user, password = hosts.acting_account(ctx, key)
        words += ["/s", session.name, "/u", user, "/p", password]
    output = session.run(Command("schtasks", arguments=tuple(words)), allow_errors=True,
                         read_only=arguments[0] == "/query")
    lines = hosts.native_lines(output) + [error.message for error in output.errors]
    if output.errors or any(line.startswith("ERROR:") for line in lines):
        raise ProgramFailed(f"{session.name}: schtasks {arguments[0]} failed: {' '.join(lines)}")
    return lines


def task_status(ctx: StepContext, key: str, session: Any, task: str) -> dict[str, str] | None:
    """The task's row of ``schtasks /query /fo csv /v`` (Windows Server 2003 has no /query /tn), or None."""
    return next((row for name, row in _task_rows(ctx, key, session) if name.lower() == task.lower()), None)


def _task_rows(ctx: StepContext, key: str, session: Any) -> list[tuple[str, dict[str, str]]]:
    """Every task on the host: its name (without the leading backslash) and its row of
    ``schtasks /query /fo csv /v``. Read-only."""
    rows = csv.DictReader(_schtasks(ctx, key, session, "/query", "/fo", "csv", "/v"))
    return [((row.get("TaskName") or "").lstrip("\\"), row) for row in rows]


#: The longest pause between two looks at a running program (the first is ``poll``, then 1.5 times longer).
MAX_POLL_SECONDS = 5.0


def run_long_program(ctx: StepContext, key: str, words: list[str], *, what: str,
                     done: Callable[[Any], bool] | None = None, hang_grace: float = 30.0, poll: float = 0.25,
                     timeout: float = 4 * 3600.0, wait_kind: str | None = None) -> ProgramRun:
    """Run ``words`` on ``site.hosts[key]`` as a scheduled task of the domain account and wait for it.

    ``what`` names the program in errors (the config field its path came from, say).
    ``done(session)``: the program's work is finished (Exchange installed, say); if it still
    runs ``hang_grace`` seconds after that, it is stopped, as runbook 2.4 says of setup hanging
    while starting the System Attendant (KB Q280432). Raises :class:`ProgramFailed` when the
    task cannot start or the deadline passes, :class:`BatchValueError` for an unsafe value.
    ``wait_kind``: the :attr:`Step.waits` kind the program is (an installer: ``SETUP``); its run
    time (from the task's start until its exit file is seen; not the task's set-up and removal)
    is then noted with ``ctx.waited`` (the report's unavoidable waits).
    """
    session = hosts.remote(ctx, key)
    started = time.monotonic()
    prefix = task_prefix(words[0])
    earlier = _earlier_task(ctx, key, session, prefix)
    if earlier is not None:
        task = earlier
        ctx.progress(f"{session.name}: {ntpath.basename(words[0])} already runs as scheduled task {task} "
                     "(started before qrdr was stopped): waiting for it, not starting it again")
    else:
        task = f"{prefix}{uuid.uuid4().hex[:8]}"
    batch, output, exit_file = _task_files(task)
    try:
        if earlier is None:
            user, password = hosts.domain_credentials(ctx.site)
            session.run(Command("New-Item", {"Path": catalog.WORK_FOLDER, "ItemType": "Directory", "Force": True}))
            session.run(Command("Set-Content", {"Path": batch, "Value": batch_text(words, output, exit_file, what)}))
            _schtasks(ctx, key, session, "/create", "/tn", task, "/tr", batch, "/sc", "ONCE", "/st", "00:00",
                      "/sd", _short_date(session), "/ru", user, "/rp", password)
            _schtasks(ctx, key, session, "/run", "/tn", task)
            ctx.progress(f"{session.name}: {ntpath.basename(words[0])} runs as scheduled task {task}")
        running_since = time.monotonic()
        stopped = _wait(ctx, key, session, task, exit_file, words[0], done=done, hang_grace=hang_grace, poll=poll,
                        deadline=started + timeout)
        ran = time.monotonic() - running_since  # the program's own time, as near as polling sees it
        code = int(str(session.run(Command("Get-Content", {"Path": exit_file}), read_only=True)[0]).strip())
        lines = [str(line) for line in session.run(Command("Get-Content", {"Path": output}), read_only=True)]
    finally:
        _forget(ctx, key, session, task, [batch, output, exit_file])
    run = ProgramRun(program=words[0], exit_code=None if stopped else code, output=tuple(lines), task=task,
                     stopped_by_qrdr=stopped, seconds=time.monotonic() - started)
    if wait_kind is not None:
        ctx.waited(wait_kind, ran)
    return run


#: The start of the name of every scheduled task qrdr creates (:func:`task_prefix`).
TASK_PREFIX = "qrdr-"


def task_prefix(program: str) -> str:
    """The start of the names of the tasks that run ``program`` (a path): ``qrdr-setup-``."""
    return f"{TASK_PREFIX}{ntpath.basename(program).split('.')[0].lower()}-"


def wait_for_left_programs(ctx: StepContext, key: str, *, before: str, poll: float = 2.0,
                           timeout: float = 4 * 3600.0) -> list[str]:
    """Wait until no program a stopped qrdr started (a task of qrdr's) still runs on
    ``site.hosts[key]``: before an undo renames and restarts the host (``before`` says so in the
    progress lines), which would cut an installer off half way. Returns the tasks waited for;
    raises :class:`ProgramFailed` when one still runs at the deadline (it is left running)."""
    session = hosts.remote(ctx, key)
    deadline = time.monotonic() + timeout
    waited: list[str] = []
    while True:
        running = _running_tasks(ctx, key, TASK_PREFIX)
        if not running:
            return waited
        waited += [name for name in running if name not in waited]
        if time.monotonic() > deadline:
            raise ProgramFailed(f"{session.name}: {', '.join(running)} still run(s) after {timeout:.0f} s; "
                                f"{before} waits for them (they were left running)")
        ctx.progress(f"{session.name}: waiting for {', '.join(running)} (started before qrdr was stopped) to end "
                     f"before {before}")
        time.sleep(poll)


def running_task(ctx: StepContext, key: str, program: str) -> str | None:
    """The name of a task of qrdr's that runs ``program`` on ``site.hosts[key]`` now, or None.

    An installer's effects show on the host (its setup key, its build) long before it ends; a
    check that finds them while the installer a killed qrdr started still runs must not call the
    step done (the next steps would run beside it). Read-only."""
    return next(iter(_running_tasks(ctx, key, task_prefix(program))), None)


def _running_tasks(ctx: StepContext, key: str, prefix: str) -> list[str]:
    """The tasks on ``site.hosts[key]`` whose names start with ``prefix`` and that run now. Read-only."""
    return [name for name, row in _task_rows(ctx, key, hosts.remote(ctx, key))
            if name.lower().startswith(prefix) and row.get("Status") == "Running"]


def still_running(ctx: StepContext, key: str, program: str) -> Check | None:
    """"Will change" while ``program`` (a path or file name), started as a task by a qrdr that was
    stopped, still runs on ``site.hosts[key]``, else None. The check of every step that runs a
    long program asks this first: the program's effects show before it ends (an installer's setup
    key, a component's service, a database's header), and a step called done then would let the
    next steps run beside it; "will change" sends the run to the apply, which follows the task
    (:func:`run_long_program`) instead of starting the program again. Read-only."""
    task = running_task(ctx, key, program)
    if task is None:
        return None
    return Check.will_change(f"{hosts.remote(ctx, key).name}: {ntpath.basename(program)} started before qrdr was "
                             f"stopped still runs (scheduled task {task}): wait for it to end")


def _task_files(task: str) -> tuple[str, str, str]:
    """The batch file a task runs, and the output and exit-code files it writes."""
    return tuple(ntpath.join(catalog.WORK_FOLDER, f"{task}.{suffix}") for suffix in ("cmd", "out", "exit"))


def _earlier_task(ctx: StepContext, key: str, session: Any, prefix: str) -> str | None:
    """A task of this program that an earlier, interrupted qrdr left behind and that is still worth
    following: running now, or ended with its exit file written. A task's program outlives qrdr
    (it runs in its own logon), so after a kill it may still be at work; a second run beside it
    would install twice. A left task that neither runs nor has an exit file never ran to the end:
    it is deleted and the program started afresh."""
    for name, row in _task_rows(ctx, key, session):
        if not name.lower().startswith(prefix):
            continue
        files = _task_files(name)
        if row.get("Status") == "Running" or hosts.path_exists(session, files[2]):
            return name
        _forget(ctx, key, session, name, list(files))
    return None


def _wait(ctx: StepContext, key: str, session: Any, task: str, exit_file: str, program: str, *,
          done: Callable[[Any], bool] | None, hang_grace: float, poll: float, deadline: float) -> bool:
    """Poll until the batch wrote its exit file; True when qrdr had to stop the program (Q280432)."""
    done_since: float | None = None
    stopped = False
    while not hosts.path_exists(session, exit_file):
        row = task_status(ctx, key, session, task)
        if row is not None and row.get("Status") == "Could not start":
            raise ProgramFailed(f"{session.name}: the Task Scheduler could not start {program} (task {task}, last "
                                f"result {row.get('Last Result')}): is the account's password right, and may it "
                                f"log on as a batch job?")
        if (row is None or row.get("Status") not in ("Running", "Not yet run")) \
                and not hosts.path_exists(session, exit_file):
            # Not running, and the batch's last line never wrote the exit code (looked at again:
            # it may have been written since the first look): cmd.exe ended with the program, as
            # when the host restarts or loses power under it, or someone ended or deleted the task.
            raise ProgramFailed(f"{session.name}: {ntpath.basename(program)} ended without its exit code (task {task} "
                                f"{'is gone' if row is None else 'no longer runs'}; last result "
                                f"{None if row is None else row.get('Last Result')}): the host restarted or lost "
                                f"power while it ran, or the task was ended")
        if done is not None and not stopped and done(session):
            done_since = done_since or time.monotonic()
            if time.monotonic() - done_since >= hang_grace:
                ctx.progress(f"{session.name}: {ntpath.basename(program)} hangs after finishing its work "
                             f"(KB Q280432): stopping it")
                stop_program(session, program)
                stopped = True
        if time.monotonic() > deadline:
            raise ProgramFailed(f"{session.name}: {ntpath.basename(program)} still runs (task {task}) after the "
                                f"deadline; it was left running")
        time.sleep(poll)
        # Its end is seen soon after a short program ends, and a long one (setup: minutes) is asked
        # every few seconds only: each poll is a round trip and a schtasks on the host.
        poll = min(poll * 1.5, MAX_POLL_SECONDS)
    return stopped


def stop_program(session: Any, program: str) -> list[int]:
    """Terminate the running processes of ``program`` (its file name) through WMI; their ids."""
    name = ntpath.basename(program)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise BatchValueError(f"{program!r}: its file name cannot be put in a WMI filter")
    found = session.run(Command("Get-WmiObject", {"Class": "Win32_Process", "Filter": f"Name='{name}'"}),
                        read_only=True)
    stopped = [int(p["ProcessId"]) for p in found]
    if stopped:
        session.run(Command("Get-WmiObject", {"Class": "Win32_Process", "Filter": f"Name='{name}'"}),
                    Command("Invoke-WmiMethod", {"Name": "Terminate", "ArgumentList": [1]}))
    return stopped


def _forget(ctx: StepContext, key: str, session: Any, task: str, paths: list[str]) -> None:
    """Delete the task (it never runs again by itself) and its files; what cannot be deleted is left."""
    try:
        _schtasks(ctx, key, session, "/delete", "/tn", task, "/f")
    except ProgramFailed as error:
        ctx.progress(f"{session.name}: the scheduled task {task} was left: {error}")
    for path in paths:
        if hosts.path_exists(session, path):
            session.run(Command("Remove-Item", {"Path": path, "Force": True}), allow_errors=True)


def run_installer(ctx: StepContext, key: str, words: list[str], *, what: str, done: Callable[[Any], bool]) -> dict[str, Any]:
    """setup.exe or update.exe through :func:`run_long_program`; evidence for the journal.

    Finished means exit code 0, or stopped by qrdr after ``done`` held (KB Q280432). Anything else
    raises, quoting the end of "C:\\Exchange Server Setup Progress.log", where setup writes why.
    """
    run = run_long_program(ctx, key, words, what=what, done=done, wait_kind=SETUP)
    session = hosts.remote(ctx, key)
    if run.exit_code == 0 or (run.stopped_by_qrdr and done(session)):
        return run.evidence()
    raise ProgramFailed(f"{session.name}: {ntpath.basename(words[0])} ended with exit code {run.exit_code}; setup "
                        f"log: " + " | ".join(setup_log_tail(session)))


def setup_log_tail(session: Any, lines: int = 5) -> list[str]:
    """The last lines of Exchange setup's progress log (none when there is none)."""
    if not hosts.path_exists(session, catalog.SETUP_LOG):
        return []
    found = session.run(Command("Get-Content", {"Path": catalog.SETUP_LOG}), read_only=True)
    return [str(line) for line in found][-lines:]
