"""The Task Scheduler (``schtasks.exe`` of Windows Server 2003), the batch files its tasks run,
``Get-Date -Format`` and ``Out-Null``.

A program started inside a WinRM shell ends with the shell (its job object) and
has no credentials for other computers; one started by a scheduled task runs in
a logon made with the task's stored password (``/ru``, ``/rp``), outside any
shell, with the network credentials of that user (docs/design/host-commands.md,
"Long programs"). That is how qrdr runs setup.exe and the other long programs.

``schtasks`` (windowsserverdocs schtasks-create/-run/-query/-delete/-end.md and
the combined Windows Server 2003 ``schtasks.md``):

* ``/create /tn NAME /tr RUN /sc ONCE /st HH:mm [/sd DATE] /ru USER /rp PASSWORD
  [/s COMPUTER [/u USER /p PASSWORD]] [/f]``: ``/st`` is required for ONCE,
  ``/sd`` follows the locale's short date (en-US here: mm/dd/yyyy), a task
  once in the past is refused; ``/tr`` at most 261 characters (the documented
  262 is one more than schtasks takes, widely reported); the password is not
  checked here ("Schtasks does not verify ... user account passwords": the
  task then fails to start); ``/u`` and ``/p`` only with ``/s``.
* ``/run /tn NAME``: "SUCCESS: Attempted to run ..." even when the logon will
  fail; the task's Status is then "Could not start".
* ``/query [/fo TABLE|LIST|CSV] [/v] [/nh]``: Windows Server 2003's schtasks
  has no ``/tn`` here; every task is listed. Status is blank (not running),
  "Running", "Not yet run" or "Could not start"; "Last Result" the exit code.
* ``/end /tn NAME`` stops the program the task started (not programs it
  started in turn); ``/delete /tn NAME /f`` deletes the task and does not
  interrupt what it runs.

``/s COMPUTER`` manages another computer's tasks over the Task Scheduler's
remote interface; Windows 2000 implements it (MS-TSCH, note 44) but has no
schtasks.exe itself. That Windows Server 2003's schtasks manages a Windows 2000
computer is not documented: the lab assumes it does. From a WinRM session (no
credentials for a second hop) ``/s`` needs ``/u`` and ``/p``.

Batch files (``.cmd``): the lab's cmd.exe runs what qrdr writes and nothing
more: ``@echo off``, ``rem``, a program with ``> "FILE" 2>&1``, and
``echo %ERRORLEVEL% > "FILE"``; ``%ERRORLEVEL%`` is expanded as each line is
read, as cmd.exe expands a batch file's variables line by line. The batch's
exit code is its last command's. Any other line ends the batch with exit
code 1 and says so in the output file: the lab does not guess.

Messages whose text no Microsoft page shows are marked ``# not documented``.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

import attrs

from . import registry
from .host import NativeOutput, Param, Process, WindowsHost, cmdlet, native, resolve_computer
from .protocol import Invocation, Logon
from .registry import PSError

#: schtasks' /tr limit as enforced ("Value for '/tr' option cannot be more than 261 character(s).").
MAX_TASK_RUN = 261
#: "/tn ... must conform to the rules for file names, not exceeding 238 characters".
MAX_TASK_NAME = 238
#: The short date the lab's hosts use (en-US: what schtasks /sd and Get-Date -Format d take and give).
SHORT_DATE = "%m/%d/%Y"


@attrs.define
class ScheduledTask:
    name: str
    run: str
    user: str
    password: str | None = attrs.field(repr=False)
    start: dt.datetime
    #: "" (not running: ran, or waiting), "Running", "Not yet run", "Could not start".
    status: str = "Not yet run"
    last_run: dt.datetime | None = None
    last_result: int = 0
    process_id: int | None = None


def _tasks(host: WindowsHost) -> dict[str, ScheduledTask]:
    return host.options.setdefault("scheduled_tasks", {})


def _switches(arguments: list[str]) -> tuple[str, dict[str, str | bool], list[str]]:
    """``/create /tn X /f`` -> ("/create", {"/tn": "X", "/f": True}, unknown words)."""
    if not arguments:
        return "", {}, []
    operation = arguments[0].lower()
    switches: dict[str, str | bool] = {}
    stray: list[str] = []
    index = 1
    while index < len(arguments):
        word = arguments[index]
        if word.startswith("/"):
            value: str | bool = True
            if word.lower() not in _FLAGS and index + 1 < len(arguments) and not arguments[index + 1].startswith("/"):
                value = arguments[index + 1]
                index += 1
            switches[word.lower()] = value
        else:
            stray.append(word)
        index += 1
    return operation, switches, stray


#: Switches that take no value.
_FLAGS = {"/f", "/v", "/nh", "/it", "/z", "/k"}


def _error(text: str, code: int = 1) -> NativeOutput:
    return NativeOutput([], exit_code=code, stderr=[f"ERROR: {text}"])


def _invalid(option: str, operation: str) -> NativeOutput:
    return NativeOutput([], exit_code=1, stderr=[f"ERROR: Invalid argument/option - '{option}'.",
                                                 f'Type "SCHTASKS {operation.upper()} /?" for usage.'])


def _target(host: WindowsHost, switches: dict[str, str | bool]) -> WindowsHost | NativeOutput:
    """The computer whose tasks a schtasks call manages: this one, or /s with /u /p it accepts."""
    computer = switches.get("/s")
    if computer is None:
        if "/u" in switches or "/p" in switches:
            return _error("Invalid syntax. /U and /P are valid only when /S is used.")
        return host
    target = resolve_computer(host, str(computer))
    if target is None:
        return _error("The network path was not found.")
    if target is host:
        return host
    user, password = switches.get("/u"), switches.get("/p")
    if isinstance(user, str):
        if not target.accepts(user, str(password) if isinstance(password, str) else ""):
            return _error("Logon failure: unknown user name or bad password.")
    elif not (host.logon.network_credentials and (host.logon.password is None
                                                  or target.accepts(host.logon.user, host.logon.password))):
        # The second hop: the session's own identity does not reach another computer.  # not documented
        return _error("Access is denied.")
    return target


@native("schtasks")
def schtasks(host: WindowsHost, arguments: list[str], input_objects: list[Any]) -> NativeOutput:
    operation, switches, stray = _switches([str(a) for a in arguments])
    if stray:
        return _invalid(stray[0], operation or "")
    handler = _OPERATIONS.get(operation)
    if handler is None:
        return _invalid(operation or "(none)", "")
    target = _target(host, switches)
    if isinstance(target, NativeOutput):
        return target
    return handler(host, target, switches)


def _create(host: WindowsHost, target: WindowsHost, switches: dict[str, str | bool]) -> NativeOutput:
    for option in switches:
        if option not in ("/tn", "/tr", "/sc", "/st", "/sd", "/ru", "/rp", "/s", "/u", "/p", "/f"):
            return _invalid(option, "/create")
    name, run, schedule = switches.get("/tn"), switches.get("/tr"), switches.get("/sc")
    if not isinstance(name, str) or not isinstance(run, str) or not isinstance(schedule, str):
        return _error("Invalid syntax. Mandatory option '/tn', '/tr' or '/sc' is missing.")  # not documented
    if len(name) > MAX_TASK_NAME or re.search(r'[\\/:*?"<>|]', name):
        return _error("The task name is not valid: it must follow the rules for file names.")  # not documented
    if len(run) > MAX_TASK_RUN:
        return _error(f"Value for '/tr' option cannot be more than {MAX_TASK_RUN} character(s).")
    if schedule.upper() != "ONCE":
        return _error(f"The lab schedules ONCE tasks only, not {schedule!r}.")  # the lab's limit
    start_time = switches.get("/st")
    if not isinstance(start_time, str) or not re.fullmatch(r"\d{2}:\d{2}(:\d{2})?", start_time):
        return _error("Invalid Start Time (Time should be in \"HH:mm\" 24 hour format).")  # widely reported
    start_date = switches.get("/sd") or target.now().strftime(SHORT_DATE)
    try:
        start = dt.datetime.strptime(f"{start_date} {start_time[:5]}", f"{SHORT_DATE} %H:%M").replace(
            tzinfo=dt.timezone.utc)
    except ValueError:
        return _error('Invalid Start Date (Date should be in "mm/dd/yyyy" format).')  # widely reported
    if start < target.now():
        # "Schtasks won't let you schedule a task to run once if the date and time specified are in the past."
        return _error("The task cannot be scheduled to run once at a time in the past.")  # not documented
    user, password = switches.get("/ru"), switches.get("/rp")
    if not isinstance(user, str):
        return _error("The lab creates tasks that run as a named account only: give /ru and /rp.")  # the lab's limit
    if not isinstance(password, str):
        # schtasks would prompt for it; a remote session cannot answer.  # not documented
        return _error("The run as password cannot be read: no console to prompt on (give /rp).")
    tasks = _tasks(target)
    if name.lower() in tasks and not switches.get("/f"):
        return _error("Cannot create a file when that file already exists.")  # not documented
    tasks[name.lower()] = ScheduledTask(name=name, run=run, user=user, password=password, start=start)
    return NativeOutput([f'SUCCESS: The scheduled task "{name}" has successfully been created.'])


def _named(target: WindowsHost, switches: dict[str, str | bool], operation: str) -> ScheduledTask | NativeOutput:
    name = switches.get("/tn")
    if not isinstance(name, str):
        return _error(f"Invalid syntax. Mandatory option '/tn' is missing for {operation}.")  # not documented
    task = _tasks(target).get(name.lower())
    if task is None:
        return _error("The system cannot find the file specified.")  # widely reported (tasks are .job files)
    return task


def _run(host: WindowsHost, target: WindowsHost, switches: dict[str, str | bool]) -> NativeOutput:
    task = _named(target, switches, "/run")
    if isinstance(task, NativeOutput):
        return task
    started = f'SUCCESS: Attempted to run the scheduled task "{task.name}".'
    if task.status == "Running":
        return NativeOutput([started])
    task.last_run = target.now()
    if not target.accepts(task.user, task.password or ""):
        task.status, task.last_result = "Could not start", LOGON_FAILURE
        _log(target, f'"{task.name}.job" ({task.run}) ** ERROR ** The attempt to log on to the account associated '
                     f"with the task failed, therefore, the task did not run. The specific error is: 0x8007052e: "
                     f"Logon failure: unknown user name or bad password.")
        return NativeOutput([started])
    logon = Logon(task.user, network_credentials=True, password=task.password)
    words = split_words(task.run)
    process = start_task_program(target, words, logon)
    if process is None:
        task.status, task.last_result = "Could not start", FILE_NOT_FOUND
        return NativeOutput([started])
    task.status, task.process_id = "Running", process.id

    def ended(_host: WindowsHost, stopped: Process) -> None:
        task.status, task.last_result, task.process_id = "", int(stopped.exit_code or 0), None

    if process.has_exited:
        ended(target, process)
    else:
        process.on_stop.append(ended)
    return NativeOutput([started])


#: 0x8007052E as Task Scheduler reports a logon failure; ERROR_FILE_NOT_FOUND.
LOGON_FAILURE = 0x8007052E
FILE_NOT_FOUND = 2


def _log(target: WindowsHost, line: str) -> None:
    """A line of %SystemRoot%\\SchedLgU.txt, the Task Scheduler's log."""
    path = ("C:\\WINNT" if target.windows == "2000" else "C:\\WINDOWS") + "\\SchedLgU.txt"
    target.files.write(path, (target.files.read_text(path) or "") + line + "\r\n", make_parents=True)


_QUERY_FIELDS = ["HostName", "TaskName", "Next Run Time", "Status", "Last Run Time", "Last Result", "Creator",
                 "Schedule", "Task To Run", "Start In", "Comment", "Scheduled Task State", "Scheduled Type",
                 "Start Time", "Start Date", "End Date", "Days", "Months", "Run As User",
                 "Delete Task If Not Rescheduled", "Stop Task If Runs X Hours and X Mins"]


def _query(host: WindowsHost, target: WindowsHost, switches: dict[str, str | bool]) -> NativeOutput:
    for option in switches:
        if option not in ("/fo", "/v", "/nh", "/s", "/u", "/p", "/query"):
            return _invalid(option, "/query")  # no /tn on Windows Server 2003
    form = str(switches.get("/fo") or "TABLE").upper()
    if form not in ("TABLE", "LIST", "CSV"):
        return _invalid(str(switches.get("/fo")), "/query")
    verbose = bool(switches.get("/v"))
    if verbose and form == "TABLE":
        return _error("/V is valid only with the LIST or CSV format.")  # documented rule, wording not
    rows = []
    for task in sorted(_tasks(target).values(), key=lambda t: t.name.lower()):
        row = {"HostName": target.name, "TaskName": task.name,
               "Next Run Time": task.start.strftime(f"%H:%M:%S, {SHORT_DATE}") if task.last_run is None else "Never",
               "Status": task.status,
               "Last Run Time": task.last_run.strftime(f"%H:%M:%S, {SHORT_DATE}") if task.last_run else "Never",
               "Last Result": str(task.last_result), "Creator": "Administrator", "Schedule": "Once",
               "Task To Run": task.run, "Start In": "N/A", "Comment": "N/A", "Scheduled Task State": "Enabled",
               "Scheduled Type": "Once", "Start Time": task.start.strftime("%H:%M:%S"),
               "Start Date": task.start.strftime(SHORT_DATE), "End Date": "N/A", "Days": "N/A", "Months": "N/A",
               "Run As User": task.user, "Delete Task If Not Rescheduled": "Disabled",
               "Stop Task If Runs X Hours and X Mins": "72:0"}
        rows.append(row)
    fields = _QUERY_FIELDS if verbose else ["TaskName", "Next Run Time", "Status"]
    if form == "CSV":
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        if not switches.get("/nh"):
            writer.writerow(fields)
        for row in rows:
            writer.writerow([row[field] for field in fields])
        return NativeOutput(buffer.getvalue().splitlines())
    if form == "LIST":
        lines: list[str] = []
        for row in rows:
            lines += [f"{field + ':':<40}{row[field]}" for field in fields] + [""]
        return NativeOutput(lines)
    lines = [] if switches.get("/nh") else [f"{'TaskName':<36}{'Next Run Time':<25}Status", f"{'=' * 35} "
                                                                                     f"{'=' * 24} {'=' * 15}"]
    lines += [f"{row['TaskName']:<36}{row['Next Run Time']:<25}{row['Status']}" for row in rows]
    return NativeOutput(lines)


def _end(host: WindowsHost, target: WindowsHost, switches: dict[str, str | bool]) -> NativeOutput:
    task = _named(target, switches, "/end")
    if isinstance(task, NativeOutput):
        return task
    if task.process_id is None or task.process_id not in target.processes:
        return _error(f'The scheduled task "{task.name}" is not running.')  # not documented
    target.stop_process(task.process_id, exit_code=1)
    return NativeOutput([f'SUCCESS: The scheduled task "{task.name}" has been terminated successfully.'])


def _delete(host: WindowsHost, target: WindowsHost, switches: dict[str, str | bool]) -> NativeOutput:
    task = _named(target, switches, "/delete")
    if isinstance(task, NativeOutput):
        return task
    if not switches.get("/f"):
        # schtasks asks first; a remote session has no console to answer on, so nothing is deleted.  # not documented
        return NativeOutput([f'WARNING: Are you sure you want to remove the task "{task.name}" (Y/N )? '], exit_code=1)
    del _tasks(target)[task.name.lower()]
    return NativeOutput([f'SUCCESS: The scheduled task "{task.name}" was successfully deleted.'])


_OPERATIONS = {"/create": _create, "/run": _run, "/query": _query, "/end": _end, "/delete": _delete}


# --- what a task runs ---------------------------------------------------------------------------


def split_words(command_line: str) -> list[str]:
    """A Windows command line's words: blanks separate, double quotes group (and are removed)."""
    from .remote_admin import split_command_line

    return split_command_line(command_line)


def start_task_program(target: WindowsHost, words: list[str], logon: Logon) -> Process | None:
    """Start what a task runs, as ``logon``: a batch file through cmd.exe, or a program the lab
    models. None when there is no such file."""
    if not words:
        return None
    program = words[0]
    if program.lower().endswith((".cmd", ".bat")):
        text = target.files.read_text(program)
        if text is None:
            return None
        batch = target.start_process("C:\\WINDOWS\\system32\\cmd.exe" if target.windows == "2003"
                                     else "C:\\WINNT\\system32\\cmd.exe", ["/c", *words], logon=logon)
        batch.data["batch"] = BatchRun(lines=text.replace("\r\n", "\n").split("\n"), logon=logon)
        batch.data["batch"].continue_(target, batch)
        return batch
    from .processes import _find_program

    path = _find_program(target, program)
    if path is None or registry.program_key(path) not in registry.PROGRAMS:
        return None
    return target.start_process(path, words[1:], logon=logon)


_REDIRECT = re.compile(r'^(?P<command>.*?)\s*>\s*(?P<file>"[^"]+"|\S+)(?P<both>\s+2>&1)?\s*$')


@attrs.define
class BatchRun:
    """A batch file running line by line; it waits for a program it started before the next line."""

    lines: list[str]
    logon: Logon
    position: int = 0
    errorlevel: int = 0

    def continue_(self, host: WindowsHost, batch: Process) -> None:
        """Run lines until one starts a program that keeps running (resumed when it ends) or the end."""
        while self.position < len(self.lines):
            raw = self.lines[self.position].strip()
            self.position += 1
            if not raw or raw.lower() in ("@echo off", "echo off") or raw.lower().startswith(("rem ", "@rem ")):
                continue
            line = raw.replace("%ERRORLEVEL%", str(self.errorlevel)).replace("%errorlevel%", str(self.errorlevel))
            child = self._run_line(host, line)
            if child is not None and not child.has_exited:
                child.on_stop.append(lambda _host, stopped: self._resume(host, batch, stopped))
                return
            if child is not None:
                self.errorlevel = int(child.exit_code or 0)
        if batch.id in host.processes:
            host.stop_process(batch.id, exit_code=self.errorlevel)

    def _resume(self, host: WindowsHost, batch: Process, child: Process) -> None:
        if batch.id not in host.processes:
            return  # the batch itself was ended (schtasks /end, a reboot)
        self.errorlevel = int(child.exit_code or 0)
        self.continue_(host, batch)

    def _run_line(self, host: WindowsHost, line: str) -> Process | None:
        """Run one line; returns the process of a program it started, or None (errorlevel set)."""
        match = _REDIRECT.match(line)
        command, target = (match.group("command"), match.group("file").strip('"')) if match else (line, None)
        words = split_words(command)
        if words and not registry.host_has_program(host.windows, words[0]):
            return self._not_found(host, words[0], target)
        if words and words[0].lower() == "echo" and target is not None:
            host.files.write(target, " ".join(words[1:]) + " \r\n", make_parents=False)
            return None
        if not words or target is None:
            self._unmodelled(host, line)
            return None
        host.files.write(target, "", make_parents=False)
        key = registry.program_key(words[0])
        if key in registry.PROGRAMS:
            from .processes import _find_program

            path = _find_program(host, words[0])
            if path is None:
                return self._not_found(host, words[0], target)
            return host.start_process(path, words[1:], logon=self.logon)
        if key in registry.COMMANDS and "-" not in key:
            saved = host.last_exit_code  # the batch's programs do not touch a session's $LASTEXITCODE
            result = host.invoke([Invocation(name=words[0], parameters=tuple((None, w) for w in words[1:]))], [],
                                 logon=self.logon)
            self.errorlevel, host.last_exit_code = host.last_exit_code, saved
            lines = [str(item) for item in result.output] + [e.message for e in result.errors]
            if result.failed is not None:
                lines.append(result.failed.message)
            host.files.write(target, "".join(f"{text}\r\n" for text in lines), make_parents=False)
            return None
        return self._not_found(host, words[0], target)

    def _not_found(self, host: WindowsHost, program: str, target: str | None) -> None:
        """cmd.exe's answer to a program it cannot find (to the redirected output, if any): errorlevel 9009."""
        self.errorlevel = 9009
        if target is not None:
            host.files.write(target, f"'{program}' is not recognized as an internal or external command,\r\n"
                                     "operable program or batch file.\r\n", make_parents=False)
        return None

    def _unmodelled(self, host: WindowsHost, line: str) -> None:
        self.errorlevel = 1
        self.position = len(self.lines)
        host.options.setdefault("batch_lines_not_modelled", []).append(line)


# --- Get-Date, Out-Null -------------------------------------------------------------------------


@cmdlet("Get-Date", Param("Date", 0), Param("Format"), Param("UFormat"), Param("DisplayHint"), Param("Year"),
        Param("Month"), Param("Day"), Param("Hour"), Param("Minute"), Param("Second"))
def get_date(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """``Get-Date [-Date D] [-Format d]``: the host's clock, or a date, as a DateTime or, with
    ``-Format d``, the host's short date (en-US: M/d/yyyy)."""
    value = args.get("Date")
    moment = value if isinstance(value, dt.datetime) else host.now()
    if isinstance(value, str):
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise PSError(f"Cannot bind parameter 'Date'. Cannot convert value \"{value}\" to type "
                          "\"System.DateTime\".", category="InvalidArgument",
                          error_id="CannotConvertArgumentNoMessage,Microsoft.PowerShell.Commands.GetDateCommand",
                          exception_type="System.Management.Automation.ParameterBindingException") from None
    form = args.get("Format")
    if form is None:
        return [moment]
    if str(form) == "d":
        return [f"{moment.month}/{moment.day}/{moment.year}"]
    raise PSError(f"The lab's Get-Date knows the format 'd' (short date) only, not {form!r}.",
                  category="NotImplemented", error_id="LabFormatNotSimulated")


@cmdlet("Out-Null", Param("InputObject"))
def out_null(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """Drops its input (errors of the commands before it still reach the error stream)."""
    return []
