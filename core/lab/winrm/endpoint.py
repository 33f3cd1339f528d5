"""The WinRM endpoint: listener lifecycle, faults, and the WS-Man shell operations.

See the package docstring (``qrdr.lab.winrm``) for the public API.
"""

from __future__ import annotations

import base64
import binascii
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from typing import Any, ContextManager, Literal

from loguru import logger

from qrdr.lab.sim.protocol import SimulatedHost
from qrdr.lab.tls import ServerCertificate
from qrdr.lab.winrm import ntlm_users, wsman
from qrdr.lab.winrm.faults import Faults
from qrdr.lab.winrm.http import DropConnection, WinRMServer, channel_binding_data
from qrdr.lab.winrm.psrp import SessionGone, ShellSession
from qrdr.lab.winrm.wsman import NS, Request, WSManFault, q

#: The PowerShell remoting shell resource (pypsrp's default configuration name).
POWERSHELL_RESOURCE_PREFIX = "http://schemas.microsoft.com/powershell/"

#: WinRM 2.0's winrs defaults (Windows Management Framework 2.0 on Windows Server 2003 SP2; win32
#: "Installation and Configuration for Windows Remote Management", MS-WSMV 2.2.4.42): shells one
#: user may hold, and how long a shell may stay idle before the service deletes it.
MAX_SHELLS_PER_USER = 5
IDLE_TIMEOUT_S = 180.0
#: The fault text WinRM 2.0 (KB968930) gives when MaxShellsPerUser is reached (MS-WSMV 3.1.4.5.2.1, note 111).
MAX_SHELLS_MESSAGE = ("The WS-Management service cannot process the request. The maximum number of concurrent "
                      "shells for this user has been exceeded. Close existing shells or raise the quota for this "
                      "user.")


class WinRMEndpoint:
    """A WS-Management/PSRP endpoint in front of one simulated host (see the package docstring)."""

    def __init__(
        self,
        host: SimulatedHost,
        users: dict[str, str],
        *,
        address: str = "127.0.0.1",
        port: int = 0,
        transport: Literal["http", "https"] = "http",
        tls: ServerCertificate | None = None,
        faults: Faults | None = None,
        name: str | None = None,
        invoke_lock: ContextManager[Any] | None = None,
        max_shells_per_user: int = MAX_SHELLS_PER_USER,
        idle_timeout: float = IDLE_TIMEOUT_S,
        allow_basic: bool = False,
    ):
        if transport not in ("http", "https"):
            raise ValueError(f"WinRM endpoint {name or address}: transport must be 'http' or 'https', not {transport!r}")
        if transport == "https" and tls is None:
            raise ValueError(f"WinRM endpoint {name or address}: transport 'https' needs tls=ServerCertificate")
        if not users:
            raise ValueError(f"WinRM endpoint {name or address}: users must name at least one account")
        self.host = host
        self._users = dict(users)
        self._users_folded = {k.lower(): v for k, v in users.items()}
        self.address = address
        self.port = port
        self.transport = transport
        self.tls = tls
        self.faults = faults if faults is not None else Faults()
        self.name = name or address
        self.max_shells_per_user = max_shells_per_user
        self.idle_timeout = idle_timeout
        #: winrm/config/service/auth Basic: "The default is FALSE" (win32 "Installation and Configuration
        #: for Windows Remote Management"); as ``winrm set ... @{Basic="true"}`` would set it.
        self.allow_basic = allow_basic
        #: How many shells (runspace pools) clients have opened so far: what a test counts.
        self.shells_created = 0
        # Simulated hosts are plain Python objects, not thread-safe: by default one pipeline at a
        # time runs on this host. A lab shares one lock between endpoints whose hosts touch each
        # other (-ComputerName); contextlib.nullcontext() lets pipelines run concurrently.
        self.invoke_lock = invoke_lock if invoke_lock is not None else threading.Lock()
        self.ssl_context = tls.ssl_context() if transport == "https" and tls else None
        self.channel_binding = channel_binding_data(tls.certificate) if self.ssl_context and tls else None
        #: HTTP requests received since start (faults included); for tests and the benchmark.
        self.request_count = 0
        #: Responses larger than the request's MaxEnvelopeSize (should stay 0).
        self.oversized_responses = 0

        self._lock = threading.Lock()
        #: Serialises go_down/come_up (an orchestrator may call them from timer threads).
        self._lifecycle = threading.RLock()
        self._server: WinRMServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self._sessions: dict[str, ShellSession] = {}
        self._registered = False
        self._up = False

    # --- lifecycle ----------------------------------------------------------------------------

    def __repr__(self) -> str:  # no users or passwords here
        return f"<WinRMEndpoint {self.name} {self.url if self.port else '(not started)'} up={self.is_up}>"

    @property
    def url(self) -> str:
        return f"{self.transport}://{self.address}:{self.port}/wsman"

    @property
    def shell_count(self) -> int:
        """Open shells (runspace pools)."""
        with self._lock:
            return len(self._sessions)

    @property
    def pipeline_count(self) -> int:
        """Pipelines the server still holds (not yet closed, stopped or terminated by the client)."""
        with self._lock:
            sessions = list(self._sessions.values())
        return sum(len(s.runs) for s in sessions)

    @property
    def is_up(self) -> bool:
        """True from start/come_up until go_down has closed the listener and every connection."""
        return self._up

    def start(self) -> "WinRMEndpoint":
        """Listen (port 0 picks a free port, kept for the endpoint's lifetime). Returns self."""
        if not self._registered:
            ntlm_users.register(self._users)
            self._registered = True
        self._listen()
        return self

    def stop(self) -> None:
        """Stop for good: close everything and withdraw this endpoint's NTLM accounts."""
        self.go_down()
        if self._registered:
            ntlm_users.unregister(self._users)
            self._registered = False

    def __enter__(self) -> "WinRMEndpoint":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def go_down(self) -> None:
        """The host reboots or powers off: close the listener and every connection, forget all shells."""
        with self._lifecycle:
            self._go_down()

    def _go_down(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            thread, self._thread = self._thread, None
            connections = list(self._connections)
            sessions = list(self._sessions.values())
            self._sessions.clear()
        if server is not None:
            server.shutdown()
            server.server_close()
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for session in sessions:
            session.discard()
        if thread is not None:
            thread.join(timeout=5)
        self._up = False
        logger.debug("WinRM endpoint {} is down", self.name)

    def come_up(self) -> None:
        """Listen again on the same address and port (after :meth:`go_down`).

        Raises RuntimeError while ``faults.never_return`` is set: the host died for good.
        """
        with self._lifecycle:
            if self.is_up:
                return
            self._listen()

    def _listen(self) -> None:
        if self.faults.never_return:
            raise RuntimeError(f"WinRM endpoint {self.name}: faults.never_return is set, the host stays down")
        with self._lifecycle, self._lock:
            if self._server is not None:
                return
            try:
                server = WinRMServer((self.address, self.port), self)
            except OSError as exc:
                raise OSError(exc.errno, f"WinRM endpoint {self.name}: cannot listen on {self.address}:{self.port}: "
                              f"{exc.strerror}") from exc
            self.port = server.server_address[1]
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"winrm-{self.name}", daemon=True
            )
            self._server, self._thread = server, thread
            self._up = True
        thread.start()
        logger.debug("WinRM endpoint {} listening on {}", self.name, self.url)

    def _track_connection(self, connection: socket.socket) -> None:
        with self._lock:
            if self._server is None:  # went down while this connection was being accepted
                connection.close()
                raise ConnectionAbortedError("endpoint is down")
            self._connections.add(connection)

    def _untrack_connection(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def _on_request(self) -> bool:
        """Count the request and apply faults; True means drop it."""
        with self._lock:
            self.request_count += 1
        return self.faults.on_request()

    # --- accounts -------------------------------------------------------------------------------

    def _password_ok(self, user: str, password: str) -> bool:
        """Basic: switched on for the service, a local account ("You can supply UserName and Password for
        a domain account when using Negotiate or Kerberos authentication, or for a local account with
        Basic authentication": win32 WinRM, ConnectionOptions.UserName), ours, the password matching,
        and the host accepting it."""
        if not self.allow_basic or not self._local_account(user):
            return False
        expected = self._users_folded.get(user.lower())
        if expected is None or expected != password:
            return False
        return bool(self.host.accepts(user, password))

    def _local_account(self, user: str) -> bool:
        """``user`` names an account of this computer: no domain part, or the computer's own name."""
        if "@" in user:
            return False
        domain, _, _name = user.rpartition("\\")
        return domain in ("", ".") or domain.lower() == str(getattr(self.host, "name", "")).lower()

    def _account_ok(self, principal: str) -> bool:
        """Negotiate: pyspnego checked the password; the account must be ours and the host must accept it."""
        # The account as the client named it first: a set here made the order depend on string
        # hashing, so a domain account sometimes logged on as the local account of the same name
        # (on a workgroup computer, where domain logons must fail).
        for candidate in dict.fromkeys((principal, principal.split("\\", 1)[-1])):
            password = self._users_folded.get(candidate.lower())
            if password is not None:
                return bool(self.host.accepts(candidate, password))
        return False

    # --- WS-Man ---------------------------------------------------------------------------------

    def _dispatch(self, soap: bytes, user: str, client_ip: str) -> tuple[int, bytes]:
        request: Request | None = None
        try:
            request = wsman.parse_request(soap)
            handler = {
                wsman.ACTION_CREATE: self._create,
                wsman.ACTION_DELETE: self._delete,
                wsman.ACTION_GET: self._get,
                wsman.ACTION_COMMAND: self._command,
                wsman.ACTION_SEND: self._send,
                wsman.ACTION_RECEIVE: self._receive,
                wsman.ACTION_SIGNAL: self._signal,
            }.get(request.action)
            if handler is None:
                raise WSManFault(
                    wsman.ERROR_ACTION_NOT_SUPPORTED, "ActionNotSupported", f"action {request.action} is not supported"
                )
            content = handler(request, user, client_ip)
            answer = wsman.build_response(request, *content)
            if len(answer) > request.max_envelope_size:
                self.oversized_responses += 1
                logger.warning(
                    "WinRM {}: {} bytes answer exceeds MaxEnvelopeSize {}", self.name, len(answer),
                    request.max_envelope_size,
                )
            return 200, answer
        except WSManFault as fault:
            return 500, wsman.build_fault(request, fault, self.name)
        except SessionGone:
            if self._server is None:
                raise DropConnection() from None
            return 500, wsman.build_fault(request, wsman.unknown_shell_fault(request.shell_id if request else None), self.name)
        except Exception as exc:  # a bug here or bad PSRP data: a fault for the client, the traceback in the log
            logger.exception("WinRM {}: request failed", self.name)
            fault = WSManFault(wsman.ERROR_INTERNAL, "InternalError", f"{type(exc).__name__}: {exc}")
            return 500, wsman.build_fault(request, fault, self.name)

    def _session(self, request: Request, user: str) -> ShellSession:
        self.delete_idle_shells()
        with self._lock:
            session = self._sessions.get(request.shell_id or "")
        if session is None or session.owner.lower() != user.lower():
            raise wsman.unknown_shell_fault(request.shell_id)
        session.last_used = time.monotonic()
        return session

    def delete_idle_shells(self) -> int:
        """Delete the shells no request used for ``idle_timeout`` seconds (WinRM's IdleTimeout: "the
        service SHOULD close and terminate the shell instance if it is idle"), ending what they
        started; returns how many. Done as requests come (a shell idle meanwhile is deleted at the
        next request to this endpoint) and when a test asks."""
        now = time.monotonic()
        with self._lock:
            idle = [s for s in self._sessions.values()
                    if now - s.last_used > self.idle_timeout and not any(not r.finished for r in s.runs.values())]
            for session in idle:
                self._sessions.pop(session.shell_id, None)
        for session in idle:
            logger.info("WinRM endpoint {}: shell {} idle for over {:.0f} s: deleted", self.name, session.shell_id,
                        self.idle_timeout)
            session.discard()
        return len(idle)

    @staticmethod
    def _b64(text: str | None, where: str) -> bytes:
        try:
            return base64.b64decode((text or "").strip(), validate=True)
        except (binascii.Error, ValueError):
            raise WSManFault(wsman.ERROR_INVALID_MESSAGE, "InvalidMessage", f"{where} is not base64") from None

    def _create(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        body = request.body
        if body is None or body.tag != q("rsp", "Shell"):
            raise WSManFault(wsman.ERROR_INVALID_MESSAGE, "InvalidMessage", "Create needs an rsp:Shell body")
        if not request.resource_uri.startswith(POWERSHELL_RESOURCE_PREFIX):
            raise WSManFault(
                wsman.ERROR_ACTION_NOT_SUPPORTED, "ActionNotSupported",
                f"only PowerShell remoting shells are served here, not {request.resource_uri}",
            )
        creation = body.find("pwsh:creationXml", NS)
        if creation is None:
            raise WSManFault(wsman.ERROR_INVALID_MESSAGE, "InvalidMessage", "Create has no creationXml")
        self.delete_idle_shells()
        with self._lock:
            held = sum(1 for s in self._sessions.values() if s.owner.lower() == user.lower())
        if held >= self.max_shells_per_user:
            raise WSManFault(wsman.ERROR_QUOTA_MAX_SHELLS, "QuotaLimit", MAX_SHELLS_MESSAGE)
        shell_id = (body.attrib.get("ShellId") or str(uuid.uuid4())).upper()
        session = ShellSession(shell_id, self.host, user, self.name, self.invoke_lock)
        session.feed_pool(self._b64(creation.text, "creationXml"))
        with self._lock:
            self._sessions[shell_id] = session
            self.shells_created += 1
        return [
            wsman.resource_created(self.url, request.resource_uri, shell_id),
            wsman.shell_element(shell_id, request.resource_uri, user, client_ip),
        ]

    def _delete(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        session = self._session(request, user)
        with self._lock:
            self._sessions.pop(session.shell_id, None)
        session.discard()
        return []

    def _get(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        if request.resource_uri.rstrip("/") == wsman.CONFIG_RESOURCE:
            return [wsman.service_config()]
        session = self._session(request, user)
        return [wsman.shell_element(session.shell_id, request.resource_uri, session.owner, client_ip, state="Connected")]

    def _command(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        session = self._session(request, user)
        body = request.body
        if body is None or body.tag != q("rsp", "CommandLine"):
            raise WSManFault(wsman.ERROR_INVALID_MESSAGE, "InvalidMessage", "Command needs an rsp:CommandLine body")
        command_id = (body.attrib.get("CommandId") or str(uuid.uuid4())).upper()
        arguments = body.find("rsp:Arguments", NS)
        session.create_pipeline(command_id, self._b64(arguments.text if arguments is not None else "", "Arguments"))
        return [wsman.command_response(command_id)]

    def _send(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        session = self._session(request, user)
        body = request.body
        if body is None:
            raise WSManFault(wsman.ERROR_INVALID_MESSAGE, "InvalidMessage", "Send needs an rsp:Send body")
        for stream in body.findall("rsp:Stream", NS):
            data = self._b64(stream.text, "Send stream")
            command_id = stream.attrib.get("CommandId")
            if command_id:
                try:
                    session.feed_pipeline(command_id, data)
                except KeyError:
                    raise wsman.unknown_shell_fault(request.shell_id) from None
            else:
                session.feed_pool(data)
        return [wsman.plain("SendResponse")]

    def _receive(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        session = self._session(request, user)
        desired = request.body.find("rsp:DesiredStream", NS) if request.body is not None else None
        command_id = desired.attrib.get("CommandId") if desired is not None else None
        # Answer TimedOut a little before the client's OperationTimeout runs out.
        wait = max(0.05, request.operation_timeout - min(1.0, request.operation_timeout * 0.2))
        budget = (request.max_envelope_size - wsman.RECEIVE_ENVELOPE_OVERHEAD) * 3 // 4
        try:
            taken = session.take_output(command_id, budget, wait)
        except KeyError:
            raise wsman.unknown_shell_fault(request.shell_id) from None
        if taken is None:
            raise wsman.timed_out_fault()
        chunks, done = taken
        return [wsman.receive_response(chunks, command_id.upper() if command_id else None, done)]

    def _signal(self, request: Request, user: str, client_ip: str) -> list[ET.Element]:
        session = self._session(request, user)
        body = request.body
        code = body.find("rsp:Code", NS) if body is not None else None
        command_id = body.attrib.get("CommandId") if body is not None else None
        if not command_id or code is None:
            raise WSManFault(wsman.ERROR_INVALID_MESSAGE, "InvalidMessage", "Signal needs a CommandId and a Code")
        signal = (code.text or "").strip()
        if signal == wsman.SIGNAL_PS_CTRL_C:
            session.stop_pipeline(command_id)
        else:  # Terminate (and any other code) ends the pipeline
            session.terminate_pipeline(command_id)
        return [wsman.plain("SignalResponse")]
