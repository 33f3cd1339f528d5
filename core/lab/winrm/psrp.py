"""The PSRP bridge: one runspace pool per WS-Man shell, pipelines run by the simulated host.

A :class:`ShellSession` owns a psrpcore ``ServerRunspacePool``. WS-Man handlers
feed it the PSRP fragments from Create/Command/Send and take its answers for
Receive. When a pipeline has all it needs (its CreatePipeline message and, if
it takes input, the end of its input), a worker thread calls
``host.invoke(pipeline, input_objects)`` and writes the result back: output
objects, non-terminating errors to the error stream, then the Completed state,
or the Failed state carrying the terminating error record.

psrpcore is not thread-safe: every access to the pool and its pipelines holds
``session.lock`` (a Condition also used to wake long-polling Receives).

psrpcore keeps one send buffer for the pool and all its pipelines, and its
``data_to_send`` stops at the first message for another target; a Receive is
for one target (the pool or one pipeline), so :meth:`ShellSession.take_output`
picks that target's messages out of the buffer, keeping their order.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ContextManager

from loguru import logger
from psrpcore import PowerShell, ServerPipeline, ServerRunspacePool
from psrpcore._payload import ProtocolVersion, PSRPPayload, StreamType
from psrpcore.types import (
    CommandOrigin,
    ErrorCategory,
    ErrorCategoryInfo,
    ErrorRecord,
    InvocationInfo,
    NETException,
    PSInvocationState,
    PSVersion,
    RunspaceAvailability,
    SessionCapability,
)

from qrdr.lab.sim.protocol import ErrorInfo, Invocation, InvocationResult, Logon, SimulatedHost

#: .NET base-type chains for the exception types the lab's hosts report; other types get
#: [type, System.Exception, System.Object].
_EXCEPTION_BASES = {
    "System.Management.Automation.CommandNotFoundException": [
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "System.Management.Automation.ParameterBindingException": [
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "System.Management.Automation.ItemNotFoundException": [
        "System.Management.Automation.SessionStateException",
        "System.Management.Automation.RuntimeException",
        "System.SystemException",
    ],
    "System.Management.Automation.RuntimeException": ["System.SystemException"],
    "Microsoft.PowerShell.Commands.ServiceCommandException": ["System.SystemException"],
    "System.InvalidOperationException": ["System.SystemException"],
    "System.ArgumentException": ["System.SystemException"],
    "System.UnauthorizedAccessException": ["System.SystemException"],
    "System.IO.IOException": ["System.SystemException"],
}


def _version_table() -> dict[str, Any]:
    """$PSVersionTable of Windows PowerShell 2.0 on Windows Server 2003 SP2 (WinRM 2.0)."""
    return {
        "PSVersion": PSVersion("2.0"),
        "PSCompatibleVersions": [PSVersion("1.0"), PSVersion("2.0")],
        "BuildVersion": PSVersion("6.0.6002.18111"),
        "CLRVersion": PSVersion("2.0.50727.3603"),
        "WSManStackVersion": PSVersion("2.0"),
        "PSRemotingProtocolVersion": ProtocolVersion.Pwsh2.value,
        "SerializationVersion": PSVersion("1.1.0.1"),
    }


def _call_id(event: Any) -> int:
    """The call id of a pool call; pypsrp names it ``CI``, psrpcore reads ``ci`` (PowerShell: either)."""
    for name in ("ci", "CI"):
        value = getattr(event._ps_object, name, None)
        if value is not None:
            return int(value)
    raise ValueError("runspace pool call without a call id (ci)")


class LabRunspacePool(ServerRunspacePool):
    """psrpcore's server pool, answering Set-Max/MinRunspaces and GetAvailableRunspaces at once.

    psrpcore leaves those answers to the caller and reads the call id as ``ci`` only, while
    pypsrp sends ``CI``: this reads either and answers as Windows does.
    """

    def _process_SetMaxRunspaces(self, event: Any) -> None:
        ci = _call_id(event)
        self._max_runspaces = int(event._ps_object.MaxRunspaces)
        self.prepare_message(RunspaceAvailability(SetMinMaxRunspacesResponse=True, ci=ci))

    def _process_SetMinRunspaces(self, event: Any) -> None:
        ci = _call_id(event)
        self._min_runspaces = int(event._ps_object.MinRunspaces)
        self.prepare_message(RunspaceAvailability(SetMinMaxRunspacesResponse=True, ci=ci))

    def _process_GetAvailableRunspaces(self, event: Any) -> None:
        busy = sum(1 for p in self.pipeline_table.values() if p.state == PSInvocationState.Running)
        available = max(self.max_runspaces - busy, 0)
        self.prepare_message(RunspaceAvailability(SetMinMaxRunspacesResponse=available, ci=_call_id(event)))


class SessionGone(Exception):
    """The shell was deleted or the host went down while a request waited on it."""


class _CategoryInfo(ErrorCategoryInfo):
    """ErrorCategoryInfo whose text (ErrorCategory_Message) reads as PowerShell's:
    ``ObjectNotFound: (Nope:String) [Nope], CommandNotFoundException`` (psrpcore omits the colon)."""

    def __str__(self) -> str:
        return (
            f"{self.Category.name}: ({self.TargetName or ''}:{self.TargetType or ''}) "
            f"[{self.Activity or ''}], {self.Reason or ''}"
        )


def to_error_record(error: ErrorInfo) -> ErrorRecord:
    """Serialise an :class:`ErrorInfo` as the ErrorRecord Windows PowerShell would send."""
    exception = NETException(Message=error.message, HResult=-2146233087)
    exception.PSObject.type_names = [
        error.exception_type,
        *_EXCEPTION_BASES.get(error.exception_type, []),
        "System.Exception",
        "System.Object",
    ]
    exception.PSObject.to_string = f"{error.exception_type}: {error.message}"
    try:
        category = ErrorCategory[error.category]
    except KeyError:
        category = ErrorCategory.NotSpecified
    target_name = "" if error.target is None else str(error.target)
    category_info = _CategoryInfo(
        Category=category,
        Activity=error.command or "",
        Reason=error.exception_type.rsplit(".", 1)[-1],
        TargetName=target_name,
        TargetType="String" if isinstance(error.target, str) else ("" if error.target is None else type(error.target).__name__),
    )
    invocation_info = None
    if error.command:
        invocation_info = InvocationInfo(
            MyCommand=error.command,
            InvocationName=error.command,
            BoundParameters={},
            UnboundArguments=[],
            ScriptLineNumber=0,
            OffsetInLine=0,
            HistoryId=1,
            ScriptName="",
            Line="",
            PositionMessage="",
            PSScriptRoot="",
            PSCommandPath=None,
            PipelineLength=0,
            PipelinePosition=0,
            ExpectingInput=False,
            CommandOrigin=CommandOrigin.Internal,
            DisplayScriptPosition=None,
        )
    record = ErrorRecord(
        Exception=exception,
        CategoryInfo=category_info,
        TargetObject=error.target,
        FullyQualifiedErrorId=error.fully_qualified_error_id,
        InvocationInfo=invocation_info,
    )
    record.PSObject.to_string = error.message
    record.serialize_extended_info = invocation_info is not None
    return record


def _plain(value: Any) -> Any:
    """psrpcore primitives (PSString, PSInt, PSList ...) as plain Python values; PSObjects unchanged."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    return value


def _parameter(name: Any, value: Any) -> tuple[str | None, Any]:
    """A named parameter without a value is a switch (``add_parameter("Force")``): True, as the
    Invocation contract says; PSRP cannot tell it from an explicit ``$null``."""
    if name is None:
        return None, _plain(value)
    return str(name), True if value is None else _plain(value)


def _names(statements: list[list[Invocation]]) -> str:
    """'Get-Service | Select-Object; Write-Output' (scripts shown as <script>): safe to log."""
    return "; ".join(" | ".join("<script>" if i.is_script else i.name for i in s) for s in statements)


def statements_of(pipeline: PowerShell) -> list[list[Invocation]]:
    """The client's commands as statements (lists of :class:`Invocation`), split at end_of_statement."""
    statements: list[list[Invocation]] = [[]]
    for command in pipeline.commands:
        statements[-1].append(
            Invocation(
                name=str(command.command_text),
                is_script=bool(command.is_script),
                parameters=tuple(_parameter(k, v) for k, v in command.parameters),
            )
        )
        if command.end_of_statement:
            statements.append([])
    return [s for s in statements if s]


@dataclass
class PipelineRun:
    """Server-side state of one client pipeline (WS-Man command)."""

    command_id: str
    pipeline: ServerPipeline
    metadata: PowerShell | None = None
    input_objects: list[Any] = field(default_factory=list)
    started: bool = False
    #: Set once the final state message is queued (Completed/Failed/Stopped).
    finished: bool = False
    #: Set when the client stopped or terminated it; a late host result is then discarded.
    abandoned: bool = False


class ShellSession:
    """One WS-Man shell = one PSRP runspace pool on the simulated host."""

    def __init__(
        self, shell_id: str, host: SimulatedHost, owner: str, host_name: str,
        invoke_lock: ContextManager[Any] | None = None,
    ):
        self.shell_id = shell_id
        self.host = host
        self.owner = owner
        self.host_name = host_name
        #: Held around every host.invoke (simulated hosts are not thread-safe); see WinRMEndpoint.
        self.invoke_lock = invoke_lock if invoke_lock is not None else contextlib.nullcontext()
        self.lock = threading.Condition(threading.RLock())
        self.pool = LabRunspacePool(application_private_data={"PSVersionTable": _version_table()})
        # Speak as PowerShell 2.0 does (protocol 2.1): pypsrp then keeps MaxEnvelopeSize at
        # 150 KiB, as against a real Windows 2003 server.
        self.pool.our_capability = SessionCapability(
            PSVersion=PSVersion("2.0"),
            protocolversion=ProtocolVersion.Pwsh2.value,
            SerializationVersion=PSVersion("1.1.0.1"),
        )
        self.runs: dict[str, PipelineRun] = {}
        self.gone = False
        #: Every pipeline of the shell runs in the logon its authentication made: a network logon,
        #: without credentials for other computers (NTLM; see qrdr.lab.sim.access), in this shell's job.
        self.logon = Logon(owner, network_credentials=False, shell=shell_id)
        #: When the client last used the shell (WinRM's IdleTimeout counts from there).
        self.last_used = time.monotonic()

    # --- feeding client data -----------------------------------------------------------------

    def feed_pool(self, data: bytes) -> None:
        """PSRP fragments for the pool itself (creationXml, pool-level Send)."""
        with self.lock:
            self._check_alive()
            self.pool.receive_data(PSRPPayload(data, StreamType.default, None))
            self._process_events()
            self.lock.notify_all()

    def create_pipeline(self, command_id: str, data: bytes) -> None:
        """A WS-Man Command: the pipeline must exist before its first fragment is fed."""
        with self.lock:
            self._check_alive()
            pipeline_id = uuid.UUID(command_id)
            run = PipelineRun(command_id.upper(), ServerPipeline(self.pool, pipeline_id))
            self.runs[run.command_id] = run
            self.pool.receive_data(PSRPPayload(data, StreamType.default, pipeline_id))
            self._process_events()
            self.lock.notify_all()

    def feed_pipeline(self, command_id: str, data: bytes) -> None:
        with self.lock:
            self._check_alive()
            if command_id.upper() not in self.runs:
                raise KeyError(command_id)
            self.pool.receive_data(PSRPPayload(data, StreamType.default, uuid.UUID(command_id)))
            self._process_events()
            self.lock.notify_all()

    def _process_events(self) -> None:
        while True:
            event = self.pool.next_event()
            if event is None:
                return
            name = type(event).__name__
            run = self.runs.get(str(event.pipeline_id).upper()) if event.pipeline_id else None
            if name == "CreatePipelineEvent" and run is not None:
                # psrpcore already built the PowerShell object (pipeline.metadata); event.pipeline
                # would deserialise it again (about 1 ms).
                run.metadata = run.pipeline.metadata
                if run.metadata.no_input:
                    self._start(run)
            elif name == "PipelineInputEvent" and run is not None:
                run.input_objects.append(_plain(event.data))
            elif name == "EndOfPipelineInputEvent" and run is not None:
                self._start(run)

    # --- running ------------------------------------------------------------------------------

    def _start(self, run: PipelineRun) -> None:
        if run.started:
            return
        run.started = True
        # Windows sends no Running state message (pypsrp sets Running itself when it sends the
        # command); ServerPipeline.start() would queue one, costing a message per command.
        run.pipeline._change_state(PSInvocationState.Running, emit=False)
        statements = statements_of(run.metadata) if run.metadata else []
        input_objects = list(run.input_objects)
        worker = threading.Thread(
            target=self._invoke, args=(run, statements, input_objects),
            name=f"winrm-pipeline-{run.command_id[:8]}", daemon=True,
        )
        worker.start()

    def _invoke(self, run: PipelineRun, statements: list[list[Invocation]], input_objects: list[Any]) -> None:
        results: list[InvocationResult] = []
        try:
            for index, statement in enumerate(statements):
                with self.invoke_lock:
                    result = self.host.invoke(statement, input_objects if index == 0 else [], logon=self.logon)
                results.append(result)
                if result.failed is not None:
                    break
        except Exception as exc:  # a bug in the simulated host: fail the pipeline, say so
            # Command names only: parameter values may be passwords.
            logger.exception("simulated host {} raised while running {}", self.host_name, _names(statements))
            results.append(
                InvocationResult(
                    failed=ErrorInfo(
                        message=f"The lab host {self.host_name} failed: {type(exc).__name__}: {exc}",
                        exception_type="System.Management.Automation.RuntimeException",
                    )
                )
            )
        with self.lock:
            if run.abandoned or self.gone:
                return
            try:
                failed = self._write_results(run, results)
            except Exception as exc:  # e.g. an object psrpcore cannot serialise: fail, don't hang the client
                logger.exception("lab host {}: cannot send the result of {}", self.host_name, _names(statements))
                failed = ErrorInfo(
                    message=f"The lab host {self.host_name} returned what the endpoint cannot send: "
                    f"{type(exc).__name__}: {exc}",
                    exception_type="System.Management.Automation.RuntimeException",
                )
            if failed is not None:
                # psrpcore has no public call that fails a pipeline with an error record.
                run.pipeline._change_state(PSInvocationState.Failed, error=to_error_record(failed))
            else:
                run.pipeline.complete()
            run.finished = True
            self.lock.notify_all()

    @staticmethod
    def _write_results(run: PipelineRun, results: list[InvocationResult]) -> ErrorInfo | None:
        """Queue output and error records; return the terminating error, if any."""
        failed = None
        for result in results:
            for obj in result.output:
                run.pipeline.write_output(obj)
            for error in result.errors:
                record = to_error_record(error)
                run.pipeline.write_error(
                    record.Exception, record.CategoryInfo, record.TargetObject,
                    record.FullyQualifiedErrorId, invocation_info=record.InvocationInfo,
                )
            failed = result.failed or failed
        return failed

    # --- answering Receive --------------------------------------------------------------------

    def take_output(self, command_id: str | None, max_bytes: int, wait_seconds: float) -> tuple[list[bytes], bool] | None:
        """PSRP data for the pool (``command_id`` None) or one pipeline, at most ``max_bytes`` raw bytes.

        Waits up to ``wait_seconds`` for data; returns None when nothing came
        (the caller answers TimedOut). The bool is True when the pipeline has
        ended and all of its data is in this answer.
        """
        deadline = time.monotonic() + wait_seconds
        with self.lock:
            run = None
            if command_id is not None:
                run = self.runs.get(command_id.upper())
                if run is None:
                    raise KeyError(command_id)
            target = run.pipeline.pipeline_id if run else None
            while True:
                self._check_alive()
                payload = self._drain(target, max_bytes)
                if payload is not None:
                    done = bool(run and run.finished and not self._pending(target))
                    if done:
                        self._forget(run)
                    return [payload], done
                if run is not None and run.finished:
                    self._forget(run)
                    return [], True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.lock.wait(remaining)

    def _forget(self, run: PipelineRun) -> None:
        """The client has the final state: Windows releases the command then (a later Terminate is a no-op)."""
        self.runs.pop(run.command_id, None)
        self.pool.pipeline_table.pop(run.pipeline.pipeline_id, None)

    def _pending(self, target: uuid.UUID | None) -> bool:
        return any(m.pipeline_id == target for m in self.pool._send_buffer)

    def _drain(self, target: uuid.UUID | None, max_bytes: int) -> bytes | None:
        buffer = self.pool._send_buffer
        mine = [m for m in buffer if m.pipeline_id == target]
        if not mine:
            return None
        others = [m for m in buffer if m.pipeline_id != target]
        self.pool._send_buffer = mine
        try:
            payload = self.pool.data_to_send(max(22, max_bytes))
        finally:
            self.pool._send_buffer = self.pool._send_buffer + others
        return payload.data if payload else None

    # --- signals and teardown -----------------------------------------------------------------

    def stop_pipeline(self, command_id: str) -> None:
        """ctrl_c: the pipeline ends Stopped; pypsrp forgets it at once, so its data is dropped."""
        self._end_pipeline(command_id)

    def terminate_pipeline(self, command_id: str) -> None:
        """Signal Terminate: the client is done with this pipeline."""
        self._end_pipeline(command_id)

    def _end_pipeline(self, command_id: str) -> None:
        with self.lock:
            run = self.runs.pop(command_id.upper(), None)
            if run is None:
                return
            run.abandoned = True
            if run.pipeline.state in (PSInvocationState.Running, PSInvocationState.Stopping):
                run.pipeline.stop()
            target = run.pipeline.pipeline_id
            self.pool._send_buffer = [m for m in self.pool._send_buffer if m.pipeline_id != target]
            self.pool.pipeline_table.pop(target, None)
            self.lock.notify_all()

    def discard(self) -> None:
        """Shell deleted, timed out or host down: wake every waiter, drop all state, and end what
        the shell started on the host (its job's processes, its logon session's connections)."""
        with self.lock:
            if self.gone:
                return
            self.gone = True
            for run in self.runs.values():
                run.abandoned = True
            self.runs.clear()
            self.pool._send_buffer = []
            self.lock.notify_all()
        self._end_on_host()

    def _end_on_host(self) -> None:
        """``host.end_shell`` under the host's lock: at once when it is free, else as soon as the
        pipeline holding it ends (a shell deleted while its pipeline runs must not wait for it)."""
        acquire = getattr(self.invoke_lock, "acquire", None)
        if acquire is not None and acquire(blocking=False):
            try:
                self.host.end_shell(self.shell_id)
            finally:
                self.invoke_lock.release()
            return

        def later() -> None:
            with self.invoke_lock:
                self.host.end_shell(self.shell_id)

        threading.Thread(target=later, name=f"winrm-end-shell-{self.shell_id[:8]}", daemon=True).start()

    def _check_alive(self) -> None:
        if self.gone:
            raise SessionGone(self.shell_id)
