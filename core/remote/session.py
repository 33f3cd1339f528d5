"""One PowerShell remoting session per host: :class:`RemoteHost`.

A ``RemoteHost`` owns one pypsrp ``RunspacePool`` on its host, opened lazily
on the first :meth:`RemoteHost.run` and reused by every later call of the run
(opening a pool costs 2 round trips, plus the NTLM handshake; a command on an
open pool costs 2: Command and Receive).

    remote = RemoteHost(site.hosts["standby"], password=lambda: resolve(host.winrm.password))
    services = remote.run(Command("Get-Service", {"Name": ["MSExchangeSA", "MSExchangeIS"]}), read_only=True)
    services[0]["Status"]                                   # "Running"
    services[0].type_names[0]                               # "System.ServiceProcess.ServiceController"
    remote.run(Command("Set-Service", {"Name": "MSExchangeIS", "StartupType": "Manual"}))
    remote.reboot(expected_name="EXCH01")                   # after a rename: reconnects as EXCH01
    remote.close()

``run(*commands, read_only=False, allow_errors=False, timeout=None) -> Output``
    Sends ONE pipeline: cmdlets/programs with ``add_cmdlet`` + ``add_parameter``
    (+ ``add_argument`` for positional arguments), scripts with ``add_script`` +
    ``add_parameter``. Values travel as PSRP parameters (``commands.reveal``
    shows a :class:`~qrdr.remote.commands.Secret` only there), never in text.
    Returns an :class:`Output`: a list of plain data (``qrdr.remote.results``).
    A terminating error (pipeline Failed) raises :class:`RemoteCommandError`;
    non-terminating errors raise it too unless ``allow_errors=True``, in which
    case they come back in ``Output.errors``.
    ``read_only=True`` declares that the pipeline changes nothing: if the
    connection is lost it is repeated on a fresh pool (``retries`` times, with
    exponential backoff). For a changing pipeline a lost connection raises
    :class:`ConnectionLostDuringChange` and nothing is repeated.
    ``timeout`` (seconds, default None: as long as it runs) bounds the
    pipeline's run time: past it the pipeline is stopped (Ctrl+C), the pool
    deleted (nothing may queue behind a program deaf to Ctrl+C), and
    :class:`CommandTimedOut` raised.
``reboot(expected_name=None, down_timeout=120, up_timeout=900, progress=None) -> dict``
    Restart-Computer -Force, wait down, wait up, reconnect (as ``expected_name``
    after a rename), check the boot time changed and the name; evidence back.
``shut_down(down_timeout=300, progress=None) -> dict``
    Stop-Computer -Force, then wait until the host stops answering.
``reconnect_as(name, address=None)``
    Later connections use ``name`` (the computer's name after a rename: the
    Kerberos SPN and, for a Windows 2000 host, the ``-ComputerName``).
``is_reachable(timeout=5) -> bool``, ``wait_until_down(timeout, ...)``, ``wait_until_up(timeout, ...)``
``close()``
    Deletes the pool on the host (best effort) and forgets it.

What is sent again, and what is not:

* opening a pool runs nothing: refused, reset or timed-out connections are
  retried ``retries`` times with exponential backoff (from ``retry_backoff``),
  then :class:`HostUnreachable`; an untrusted certificate or a refused logon
  is reported at once;
* a Command the host refused unread (HTTP 401 because the authenticated
  connection is gone, WS-Man "no such shell" after a restart, a quota fault) is
  sent again on a new pool, changes included;
* a connection lost after the Command was accepted: a ``read_only`` pipeline is
  run again on a new pool; a change raises :class:`ConnectionLostDuringChange`.

The run's sessions: :class:`Sessions` (in this module, as ``qrdr.connect`` imports it)::

    sessions = Sessions(site, password_for=lambda host: secrets.resolve(host.winrm.password))
    standby = sessions.host("standby")      # a RemoteHost, made on first use, then the same one
    w2k = sessions.host("production")       # Host.via = "mgmt": runs on mgmt's pool with -ComputerName
    sessions.close_all()                    # at the end of the run (also: ``with Sessions(...) as s``)

``password_for(host)`` is called only when a pool to that host is opened (a
Windows 2000 host never needs its own: it borrows its management host's
session). The engine's run context holds one ``Sessions`` and hands
``sessions.host(key)`` to steps as ``ctx.host(key)``.

Connection settings come from the site model (``Host.winrm``, see
:class:`ConnectionSettings`): HTTPS, or HTTP with message encryption (NTLM,
Kerberos, Negotiate, CredSSP; Basic only over HTTPS); certificate checks on
unless ``verify_tls = false`` (then a warning naming the host is logged);
``ca_file`` trusts that CA file only.

A Windows 2000 host (``Host.via`` set) has no WinRM: its ``RemoteHost`` runs
on the management host's pool, adding ``-ComputerName <name>`` where
PowerShell 2.0 takes it (``qrdr.remote.targeting``) and refusing commands that
would act on the management host instead.

Secrets: the password is asked for (the callable is called) only when a pool
is opened and kept only by pypsrp's transport; exceptions, reprs and log
lines carry rendered commands (secrets masked) and remote messages with every
secret value of the command and the password masked. pypsrp's own DEBUG logging
(``logging`` logger ``pypsrp``) dumps raw messages; keep it off on real sites.

Why no Signal(terminate) after each pipeline, and why pools are recycled: WinRM
keeps a finished command until the client terminates it or deletes the shell,
and refuses new ones past its quotas (MaxConcurrentCommandsPerShell, 1000 on
recent Windows; WinRM 2.0 counts operations per user far lower, 15 by
default on 2008 R2). Terminating each pipeline costs one request out of three.
qrdr instead deletes the pool after ``pipelines_per_pool`` pipelines (default
10, below every default quota) and opens a new one: Delete + Create + Receive
= 3 requests per 10 pipelines instead of 10 (never right after a native
program, whose ``$LASTEXITCODE`` the next pipeline may read). A quota fault at Command (the
command was refused, not started) also recycles the pool and sends it again.
(A pipeline cut off by a lost connection cannot be terminated: its pool is
dropped with it.)
"""

from __future__ import annotations

import math
import re
import socket
import ssl
import threading
import time
from typing import Any, Callable, Iterable

import attrs
import requests
from loguru import logger
from pypsrp.complex_objects import GenericComplexObject, PSInvocationState, RunspacePoolState
from pypsrp.exceptions import (
    AuthenticationError,
    InvalidPSRPOperation,
    WinRMError,
    WinRMTransportError,
    WSManFaultError,
)
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from qrdr.model import Auth, Host, Site, Transport

from .commands import Command, Credential, Script, Secret, carries_credential, render_pipeline, reveal
from .errors import (
    CommandTimedOut,
    ConnectionLostDuringChange,
    HostUnreachable,
    RebootFailed,
    RemoteCommandError,
    RemoteError,
    mask,
)
from .results import plain
from .shells import ShellLedger
from .targeting import redirect

Password = str | Callable[[], str]

#: WS-Man fault: the shell (pool) named in the request does not exist (any more) on the host.
_FAULT_NO_SUCH_SHELL = 0x8033805B


def _refused_before_start(error: WSManFaultError) -> bool:
    """Whether a fault answering Command means the command was never started (no shell; quota reached)."""
    reason = str(error.reason or "").lower()
    return error.code == _FAULT_NO_SUCH_SHELL or "maximum number of concurrent" in reason or "quota" in reason

#: A pool unused for longer than this is probed (one Get) before a changing pipeline is sent on it,
#: so that a pool that died meanwhile (reboot, idle timeout) is replaced instead of reported as a lost change.
IDLE_PROBE_AFTER_S = 10.0

_ERROR_CATEGORIES = (
    "NotSpecified OpenError CloseError DeviceError DeadlockDetected InvalidArgument InvalidData "
    "InvalidOperation InvalidResult InvalidType MetadataError NotImplemented NotInstalled ObjectNotFound "
    "OperationStopped OperationTimeout SyntaxError ParserError PermissionDenied ResourceBusy ResourceExists "
    "ResourceUnavailable ReadError WriteError FromStdErr SecurityError ProtocolError ConnectionError "
    "AuthenticationError LimitsExceeded QuotaExceeded NotEnabled"
).split()

#: While waiting for a host to go down or come back, tell ``progress`` this often that qrdr still waits.
PROGRESS_EVERY_S = 30.0

#: While a restarting host still answers, its boot time is read this often: a host may go down and
#: come back between two probes (a fast restart, probes slowed down by a starved machine).
BOOT_RECHECK_S = 10.0

#: How Windows says a -ComputerName target does not answer (HRESULT 0x800706BA).
_RPC_UNAVAILABLE = "The RPC server is unavailable"

#: What a lost connection or a dead pool looks like from pypsrp.
_CONNECTION_LOST = (requests.exceptions.RequestException, WinRMError, ConnectionError, socket.timeout)


#: Consecutive failed probes before a shut-down host counts as down (wait_until_down).
DOWN_PROBES = 2


@attrs.frozen
class ConnectionSettings:
    """Where and how to open the WinRM connection of one host (no secret in here)."""

    server: str
    port: int
    transport: Transport
    auth: Auth
    user: str
    path: str = "wsman"
    #: True (system CA store), a CA file path, or False (checks off, by name in the config).
    cert_validation: bool | str = True
    operation_timeout: int = 20
    connection_timeout: int = 30
    #: The computer name Kerberos builds the SPN from (``WSMAN/<name>``); None uses ``server``.
    spn_hostname: str | None = None

    @classmethod
    def from_host(cls, host: Host) -> "ConnectionSettings":
        """Settings from ``host.winrm``; logs a warning naming the host when certificate checks are off."""
        winrm = host.winrm
        if winrm is None:
            raise ValueError(f"host {host.name} has no [winrm] settings (a Windows 2000 host is reached via its "
                             f"management host: set via)")
        https = winrm.transport is Transport.HTTPS
        if winrm.auth is Auth.BASIC and not https:
            raise ValueError(f"host {host.name}: Basic authentication over HTTP would send the password in clear "
                             f"text; use transport = \"https\" or auth = \"ntlm\"/\"kerberos\"/\"negotiate\"")
        validation: bool | str = True
        if https:
            if not winrm.verify_tls:
                logger.warning("TLS certificate checks are OFF for {} (verify_tls = false in its winrm settings): "
                               "anyone on the path can impersonate it", host.name)
                validation = False
            elif winrm.ca_file:
                validation = winrm.ca_file
        return cls(
            server=host.address, port=winrm.effective_port, transport=winrm.transport, auth=winrm.auth,
            user=winrm.user, path=winrm.path, cert_validation=validation,
            operation_timeout=winrm.operation_timeout, connection_timeout=winrm.connection_timeout,
        )

    @property
    def url(self) -> str:
        host = f"[{self.server}]" if ":" in self.server else self.server
        return f"{self.transport.value}://{host}:{self.port}/{self.path}"

    def wsman(self, password: str, *, timeout: float | None = None, connect_timeout: float | None = None) -> WSMan:
        """A pypsrp ``WSMan`` for these settings; ``timeout`` shortens every wait (probes),
        ``connect_timeout`` only the wait for the connection (what is left of a deadline)."""
        operation = self.operation_timeout if timeout is None else max(1, int(timeout))
        connect = connect_timeout if connect_timeout is not None else \
            self.connection_timeout if timeout is None else timeout
        extra: dict[str, Any] = {}
        if self.spn_hostname and self.auth in (Auth.KERBEROS, Auth.NEGOTIATE, Auth.CREDSSP):
            extra["negotiate_hostname_override"] = self.spn_hostname
        return WSMan(
            self.server, port=self.port, username=self.user, password=password,
            ssl=self.transport is Transport.HTTPS, path=self.path, auth=self.auth.value,
            cert_validation=self.cert_validation, connection_timeout=connect,
            # The HTTP read must outlast the WS-Man operation timeout, after which the host answers TimedOut.
            read_timeout=operation + 10, operation_timeout=operation,
            encryption="auto", no_proxy=True, **extra,
        )


#: While a host does not answer, warn after this many seconds, then every CONNECT_PROGRESS_EVERY_S.
CONNECT_PROGRESS_FIRST_S = 2.0
CONNECT_PROGRESS_EVERY_S = 10.0


class UnreachableHosts:
    """The WinRM endpoints found unreachable in one run, each with its first failure.

    A dead host is waited for once per run: later probes and steps get :class:`HostUnreachable`
    at once, naming the first failure and when it was found, instead of waiting out the
    connection timeout (and its retries) again. Only network failures count (nothing answered in
    time, refused, reset); a refused logon or an untrusted certificate is the account's or the
    config's problem and is reported at once anyway. A pool that opens forgets the endpoint.
    """

    def __init__(self) -> None:
        self._found: dict[str, tuple[float, HostUnreachable]] = {}
        self._lock = threading.Lock()

    def found(self, url: str, error: HostUnreachable) -> None:
        with self._lock:
            self._found.setdefault(url, (time.time(), error))

    def forget(self, url: str) -> None:
        with self._lock:
            self._found.pop(url, None)

    def forget_all(self) -> None:
        """A new run (command) starts: every host gets its chance again."""
        with self._lock:
            self._found.clear()

    def raise_if_found(self, url: str, label: str) -> None:
        with self._lock:
            first = self._found.get(url)
        if first is not None:
            at, error = first
            again = HostUnreachable(label, f"{error.reason}; found at {time.strftime('%H:%M:%S', time.localtime(at))} "
                                           f"(for {error.host}), not tried again in this run")
            again.retryable = True
            raise again

    def __contains__(self, url: str) -> bool:
        with self._lock:
            return url in self._found


class _Waiting:
    """While a connection is being opened: a warning naming the host, the seconds waited and the
    deadline, first after CONNECT_PROGRESS_FIRST_S, then every CONNECT_PROGRESS_EVERY_S (the person
    watching must see that qrdr waits, for what, and until when), from a thread of its own since
    the connecting thread is blocked in the socket."""

    def __init__(self, label: str, url: str, start: float, deadline_s: float):
        self._label, self._url, self._start, self._deadline_s = label, url, start, deadline_s
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._report, name=f"qrdr-connect-{label}", daemon=True)

    def _report(self) -> None:
        wait = CONNECT_PROGRESS_FIRST_S
        while not self._done.wait(wait):
            elapsed = time.monotonic() - self._start
            logger.warning("{}: no session yet at {}: waited {:.0f} s of {:g} s (connection_timeout)", self._label,
                           self._url, elapsed, self._deadline_s)
            wait = CONNECT_PROGRESS_EVERY_S

    def __enter__(self) -> "_Waiting":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()


class Output(list):
    """A pipeline's output objects as plain data; ``errors`` holds non-terminating errors
    (only ever non-empty when the caller passed ``allow_errors=True``)."""

    def __init__(self, items: Iterable[Any] = (), errors: list[RemoteError] | None = None):
        super().__init__(items)
        self.errors: list[RemoteError] = errors or []


class RemoteHost:
    """PowerShell remoting to one host of the site; see the module docstring for the contract."""

    def __init__(
        self,
        host: Host,
        password: Password | None = None,
        *,
        via: "RemoteHost | None" = None,
        retries: int = 3,
        retry_backoff: float = 0.5,
        settings: ConnectionSettings | None = None,
        pipelines_per_pool: int = 10,
        credential: Callable[[], Credential] | None = None,
        unreachable: "UnreachableHosts | None" = None,
        shells: ShellLedger | None = None,
    ):
        if pipelines_per_pool < 1:
            raise ValueError(f"host {host.name}: pipelines_per_pool must be at least 1")
        self.host = host
        #: The computer's current name: the host's configured name until :meth:`reconnect_as`.
        self.name = host.name
        self.retries = retries
        self.retry_backoff = retry_backoff
        self._via = via
        self._password = password
        self._lock = threading.RLock()
        self._pool: RunspacePool | None = None
        self._last_used = 0.0
        self.pipelines_per_pool = pipelines_per_pool
        #: Pipelines run on the current pool (never terminated one by one: see the module docstring).
        self._pipelines_on_pool = 0
        self._after_native_program = False
        #: The password once asked for, kept only to mask it in texts (pypsrp's transport holds it anyway).
        self._password_seen: list[str] = [password] if isinstance(password, str) else []
        #: For a Windows 2000 host: the account every call from the management host acts on it with
        #: (the management host's session holds no credentials for a second hop).
        self._credential = credential
        #: The endpoints found unreachable in this run, shared by every session of the run (the
        #: same host as its local administrator included): a dead host is waited for once per run.
        self.unreachable = unreachable if unreachable is not None else \
            via.unreachable if via is not None else UnreachableHosts()
        #: Where the shells this process opens are recorded, so that one killed is deleted by the
        #: next process (see :mod:`qrdr.remote.shells`); the orphans at an endpoint are deleted
        #: before this process first connects to it.
        self.shells = shells if shells is not None else ShellLedger(None)
        self._orphans_deleted = False
        if via is None:
            if password is None:
                raise ValueError(f"host {host.name}: a password (or a callable giving it) is needed for WinRM")
            self.settings = settings or ConnectionSettings.from_host(host)
        else:
            if credential is None:
                raise ValueError(f"host {host.name} is reached via {via.name}: the account to act on it with "
                                 f"(credential) is needed")
            self.settings = via.settings

    def acting_credential(self) -> Credential:
        """For a Windows 2000 host: the account the calls from its management host act with now."""
        if self._credential is None:
            raise ValueError(f"{self.label}: only a host reached via a management host acts with a credential")
        return self._credential()

    def acting_as(self, credential: Callable[[], Credential]) -> "RemoteHost":
        """For a Windows 2000 host: the same host through the same management session, acting with
        ``credential`` (its local administrator while it is out of the domain)."""
        if self._via is None:
            raise ValueError(f"{self.label}: acting_as is for a host reached via a management host")
        other = RemoteHost(self.host, via=self._via, credential=credential)
        other.name = self.name
        return other

    # -- identity ---------------------------------------------------------------------------

    @property
    def label(self) -> str:
        """How errors name this host: ``EXCH01``, or ``W2K01 (via MGMT01)``."""
        if self._via is not None:
            return f"{self.name} (via {self._via.name})"
        return self.name

    @property
    def management(self) -> "RemoteHost | None":
        """The management host's session for a Windows 2000 host, else None."""
        return self._via

    def __repr__(self) -> str:
        if self._via is not None:
            return f"RemoteHost({self.name!r} via {self._via.name!r})"
        state = "open" if self._pool is not None else "closed"
        return f"RemoteHost({self.name!r}, {self.settings.url}, {self.settings.auth.value} as " \
               f"{self.settings.user!r}, pool {state})"

    def reconnect_as(self, name: str, address: str | None = None) -> None:
        """Use ``name`` from now on: as the Kerberos SPN host name (and ``address``, if given, to
        connect to), or for a Windows 2000 host as its ``-ComputerName``. Drops the current pool."""
        with self._lock:
            self._discard_pool()
            self.name = name
            if self._via is None:
                changes: dict[str, Any] = {"spn_hostname": name}
                if address is not None:
                    changes["server"] = address
                self.settings = attrs.evolve(self.settings, **changes)

    # -- running pipelines ------------------------------------------------------------------

    def run(self, *commands: Command | Script, read_only: bool = False, allow_errors: bool = False,
            timeout: float | None = None, before: Iterable[Command] = ()) -> Output:
        """Run ``commands`` as one pipeline; see the module docstring for errors, retries and ``timeout``.

        ``before``: commands run first, in the same request and runspace, each as a statement of its
        own with its output dropped (its errors raise as the pipeline's do): what must hold for the
        pipeline, such as the ``net use`` that lets it reach a Windows 2000 host's share.
        """
        if not commands:
            raise ValueError(f"run on {self.label}: no command given")
        options = {"read_only": read_only, "allow_errors": allow_errors, "timeout": timeout}
        if self._via is not None:
            assert self._credential is not None
            sent, logons = redirect(commands, self.name, self._via.name, self._credential())
            return self._via._run_pipeline(sent, before=[*logons, *before], label=self.label, **options)
        return self._run_pipeline(list(commands), before=list(before), label=self.label, **options)

    def _secrets(self, commands: Iterable[Command | Script]) -> list[str]:
        """Every value to mask in texts about this pipeline: its Secrets and the connection's password."""
        return [secret for command in commands for secret in command.secrets()] + self._password_seen

    def _run_pipeline(self, commands: list[Command | Script], *, before: list[Command], label: str,
                      read_only: bool, allow_errors: bool, timeout: float | None) -> Output:
        rendered = render_pipeline(commands, before)
        secrets = self._secrets([*before, *commands])
        with_credential = carries_credential([*before, *commands])
        attempt = 0
        with self._lock:
            while True:
                pool = self._ensure_pool(probe=not read_only)
                logger.debug("{}: {}", label, rendered)
                shell = PowerShell(pool)
                _build_pipeline(shell, before, commands)
                try:
                    if with_credential:
                        # A PSCredential's password travels as a SecureString, encrypted with a session
                        # key exchanged once per runspace pool (MS-PSRP 3.1.5.4.3); pypsrp skips it after.
                        pool.exchange_keys()
                    shell.begin_invoke()
                except WSManFaultError as error:
                    if not _refused_before_start(error):
                        reason = self._check_lost(label, rendered, error, read_only, secrets)
                    else:
                        # The host no longer knows our pool (it restarted) or its quota is full: the command
                        # was refused, not started, so sending it again on a new pool is safe even for a change.
                        reason = mask(f"the host refused the command before starting it: "
                                      f"{error.reason or error.code}", secrets)
                        self._discard_pool()
                except AuthenticationError as error:
                    # HTTP 401: the host refused the request unread. This happens when the connection the
                    # pool was authenticated on is gone (host restarted, idle timeout): not started, safe to resend.
                    reason = mask(f"the host asked to authenticate again ({error})", secrets)
                    self._discard_pool()
                except _CONNECTION_LOST as error:
                    reason = self._check_lost(label, rendered, error, read_only, secrets)
                else:
                    self._pipelines_on_pool += 1
                    self._after_native_program = any(
                        isinstance(command, Command) and "-" not in command.name for command in commands)
                    try:
                        self._wait_for(shell, timeout, label, rendered, read_only)
                    except _CONNECTION_LOST as error:
                        reason = self._check_lost(label, rendered, error, read_only, secrets)
                    else:
                        self._last_used = time.monotonic()
                        return _collect(shell, label, rendered, secrets, allow_errors)
                attempt += 1
                if attempt > self.retries:
                    raise HostUnreachable(label, f"connection lost {attempt} times running `{rendered}`: {reason}")
                delay = self.retry_backoff * 2 ** (attempt - 1)
                logger.info("{}: connection lost running `{}` ({}); retrying on a new session in {:.1f} s",
                            label, rendered, reason, delay)
                time.sleep(delay)

    def _check_lost(self, label: str, rendered: str, error: BaseException, read_only: bool,
                    secrets: list[str]) -> str:
        """The pool is dead after ``error``: raise for a change, else return the reason to retry."""
        self._discard_pool()
        reason = mask(_reason(error), secrets)
        if not read_only:
            raise ConnectionLostDuringChange(label, rendered, reason) from None
        return reason

    def _wait_for(self, shell: PowerShell, timeout: float | None, label: str, rendered: str,
                  read_only: bool) -> None:
        """Poll the pipeline to its end; past ``timeout`` stop it (Ctrl+C) and raise :class:`CommandTimedOut`."""
        if timeout is None:
            shell.end_invoke()
            return
        deadline = time.monotonic() + timeout
        while shell.state == PSInvocationState.RUNNING:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                try:
                    shell.stop()
                except _CONNECTION_LOST as error:
                    logger.info("{}: stopping `{}` failed ({})", label, rendered, _reason(error))
                # A program deaf to Ctrl+C would keep the pool's runspace busy and every later pipeline
                # queued behind it: delete the pool (the host ends its process) and start afresh.
                self.close()
                raise CommandTimedOut(label, rendered, timeout, changing=not read_only)
            # The host answers a Receive at the latest after its operation timeout, so the deadline is kept.
            shell.poll_invoke(timeout=max(1, min(self.settings.operation_timeout, math.ceil(remaining))))

    # -- the pool ---------------------------------------------------------------------------

    def _password_text(self) -> str:
        password = self._password
        if callable(password):
            password = password()
        if not isinstance(password, str):
            raise TypeError(f"host {self.host.name}: the password callable must return a str")
        if password not in self._password_seen:
            self._password_seen.append(password)
        return password

    def _ensure_pool(self, *, probe: bool = False) -> RunspacePool:
        if self._pool is not None and probe and time.monotonic() - self._last_used > IDLE_PROBE_AFTER_S:
            try:
                alive = self._pool.is_alive(timeout=self.settings.connection_timeout)
            except _CONNECTION_LOST:
                alive = False
            if not alive:
                logger.info("{}: the session idle since {:.0f} s is gone; opening a new one", self.label,
                            time.monotonic() - self._last_used)
                self._discard_pool()
        # Not right after a native program: its $LASTEXITCODE lives in this runspace and a step
        # may read it with the next pipeline (but never let that postpone recycling for long).
        limit = self.pipelines_per_pool * (2 if self._after_native_program else 1)
        if self._pool is not None and self._pipelines_on_pool >= limit:
            self._recycle_pool()
        if self._pool is None:
            self._pool = self._open_with_retries()
            self._pipelines_on_pool = 0
            self._last_used = time.monotonic()
        return self._pool

    def _recycle_pool(self) -> None:
        """Delete the pool (freeing every finished pipeline on the host at once, see the module
        docstring) and open a new one on the same authenticated connection: 3 requests."""
        pool, self._pool = self._pool, None
        assert pool is not None
        try:
            closing = pool.shell.id
            pool.close()
            self.shells.closed(self.settings.url, closing)
            fresh = RunspacePool(pool.connection)
            fresh.open()
            self.shells.opened(self.settings.url, fresh.shell.id)
        except _CONNECTION_LOST as error:
            logger.debug("{}: recycling the session failed ({}); opening a new connection", self.label,
                         _reason(error))
            try:
                pool.connection.close()
            except Exception:  # noqa: BLE001 - already broken
                pass
            return
        self._pool = fresh
        self._pipelines_on_pool = 0
        self._last_used = time.monotonic()

    def _open_with_retries(self) -> RunspacePool:
        """A new pool, within ``connection_timeout`` seconds in all (every attempt and pause included;
        at most ``retries`` more attempts after the first), with a warning every so often while the
        host does not answer. An endpoint found unreachable earlier in the run is not tried again:
        :class:`HostUnreachable` at once, naming that first failure."""
        url = self.settings.url
        self.unreachable.raise_if_found(url, self.label)
        if not self._orphans_deleted:
            self._orphans_deleted = True
            self.shells.delete_orphans(url, lambda: self.settings.wsman(self._password_text()), self.label)
        start = time.monotonic()
        deadline = start + self.settings.connection_timeout
        attempt = 0
        with _Waiting(self.label, url, start, self.settings.connection_timeout):
            while True:
                try:
                    return self._open_pool(connect_timeout=max(0.1, deadline - time.monotonic()))
                except HostUnreachable as error:
                    attempt += 1
                    if not getattr(error, "retryable", False):
                        raise
                    delay = self.retry_backoff * 2 ** (attempt - 1)
                    if attempt > self.retries or time.monotonic() + delay >= deadline:
                        elapsed = time.monotonic() - start
                        final = HostUnreachable(self.label, f"{error.reason} ({attempt} attempt"
                                                            f"{'s' if attempt > 1 else ''} in {elapsed:.0f} s of "
                                                            f"{self.settings.connection_timeout} s, connection_timeout)")
                        final.retryable = True
                        self.unreachable.found(url, final)
                        raise final from None
                    logger.info("{}: cannot open a session ({}); retrying in {:.1f} s", self.label, error.reason, delay)
                    time.sleep(delay)

    def _open_pool(self, timeout: float | None = None, *, connect_timeout: float | None = None) -> RunspacePool:
        """Open a new pool or raise :class:`HostUnreachable` (``retryable`` set for network trouble).
        A pool that opens clears the endpoint from :attr:`unreachable` (it is back: after a reboot)."""
        password = self._password_text()
        wsman = self.settings.wsman(password, timeout=timeout, connect_timeout=connect_timeout)
        pool = RunspacePool(wsman)
        try:
            pool.open()
        except BaseException as error:
            wsman.close()
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            unreachable = HostUnreachable(self.label, mask(self._open_failure(error), [password]))
            unreachable.retryable = not (isinstance(error, AuthenticationError) or _untrusted(error))
            raise unreachable from None
        if connect_timeout is not None:
            wsman.transport.connection_timeout = self.settings.connection_timeout
        self.shells.opened(self.settings.url, pool.shell.id)
        self.unreachable.forget(self.settings.url)
        logger.debug("{}: session opened at {}", self.label, self.settings.url)
        return pool

    def _open_failure(self, error: BaseException) -> str:
        url = self.settings.url
        if isinstance(error, requests.exceptions.SSLError) and not _untrusted(error):
            return f"the TLS handshake with {url} broke off ({_reason(error)})"
        if isinstance(error, requests.exceptions.SSLError):
            return (f"the TLS certificate of {url} is not trusted ({_reason(error)}); give its CA as ca_file in "
                    f"the host's winrm settings (or, knowingly, verify_tls = false)")
        if isinstance(error, AuthenticationError):
            return f"{url} refused the logon of {self.settings.user} with {self.settings.auth.value}"
        if isinstance(error, requests.exceptions.ConnectTimeout):
            # urllib3's own text is a page of reprs; the person needs to know that nothing answered.
            return f"{url} did not accept a connection in time (nothing answers at that address and port)"
        if isinstance(error, requests.exceptions.Timeout):
            return f"no answer from {url} in time ({_reason(error)})"
        if isinstance(error, WinRMTransportError):
            return f"{url} answered HTTP {error.code}"
        if isinstance(error, WSManFaultError):
            return f"{url} refused to open a PowerShell session: {error.reason or error.code}"
        return f"cannot connect to {url}: {_reason(error)}"

    def _discard_pool(self) -> None:
        """Forget the pool without talking to the host (it is gone or going)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.state = RunspacePoolState.CLOSED
            try:
                pool.connection.close()
            except Exception:  # noqa: BLE001 - the socket may already be dead; nothing to tell anyone
                pass

    def close(self) -> None:
        """Delete the pool on the host (best effort: the host may be gone) and forget it."""
        with self._lock:
            pool, self._pool = self._pool, None
            if pool is None:
                return
            closing = pool.shell.id
            try:
                pool.close()
                self.shells.closed(self.settings.url, closing)
            except _CONNECTION_LOST as error:
                logger.debug("{}: closing the session failed ({}); dropped", self.label, _reason(error))
            finally:
                try:
                    pool.connection.close()
                except Exception:  # noqa: BLE001
                    pass

    def __enter__(self) -> "RemoteHost":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reachability and reboots -----------------------------------------------------------

    def is_reachable(self, timeout: float = 5.0) -> bool:
        """Whether the host answers now. Errs on the side of "reachable": a DR tool must not take a
        host for dead (and take over its name) while something still answers at its address.

        Direct hosts: something accepts a TCP connection on the WinRM port and does not close it
        unanswered (any HTTP status counts, even 401: no credentials are sent; so does no answer
        within ``timeout`` on an accepted connection). Refused, unroutable or reset: not reachable.
        Windows 2000 hosts: ``Get-WmiObject Win32_OperatingSystem -ComputerName`` from the
        management host; only "The RPC server is unavailable" counts as not reachable, and an
        unreachable management host raises :class:`HostUnreachable` (it says nothing of the target).
        """
        if self._via is not None:
            try:
                self.run(Command("Get-WmiObject", {"Class": "Win32_OperatingSystem"}), read_only=True)
                return True
            except RemoteCommandError as error:
                return not all(_RPC_UNAVAILABLE in e.message or "0x800706BA" in e.message for e in error.errors)
        settings = self.settings
        try:
            raw = socket.create_connection((settings.server, settings.port), timeout=timeout)
        except OSError:
            return False
        with raw:
            try:
                raw.settimeout(timeout)
                stream: Any = raw
                if settings.transport is Transport.HTTPS:
                    context = ssl.create_default_context()
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE  # only asking "does anything answer?"; nothing is sent
                    stream = context.wrap_socket(raw, server_hostname=settings.server)
                request = (f"POST /{settings.path} HTTP/1.1\r\nHost: {settings.server}:{settings.port}\r\n"
                           f"Content-Length: 0\r\nConnection: close\r\n\r\n")
                stream.sendall(request.encode("ascii"))
                return bool(stream.recv(12))
            except (socket.timeout, TimeoutError):
                return True  # accepted but silent: alive enough not to be declared down
            except (OSError, ssl.SSLError):
                return False

    def wait_until_down(self, timeout: float, *, poll_interval: float = 1.0, probe_timeout: float = 3.0,
                        probes: int = 1,
                        progress: Callable[[str], None] | None = None, after: str = "") -> float:
        """Poll until the host stops answering; return the seconds it took.

        Raises :class:`RebootFailed` "``<host> did not go down within N s<after>``" at the deadline.
        """
        with self._lock:
            self._discard_pool()
        # ``probes`` failed probes in a row count as down. A shutdown before a promote asks for
        # DOWN_PROBES: one probe timing out on a busy network is not a dead host, and the promote
        # takes over its name next. A reboot needs one: its new boot time is checked afterwards.
        misses = [0]

        def gone() -> bool:
            misses[0] = 0 if self.is_reachable(probe_timeout) else misses[0] + 1
            return misses[0] >= probes

        return self._wait(gone, timeout, poll_interval,
                          f"{self.label} did not go down within {timeout:g} s{after}",
                          progress, f"waiting for {self.label} to go down{after}")

    def wait_until_up(self, timeout: float, *, poll_interval: float = 1.0, probe_timeout: float = 5.0,
                      progress: Callable[[str], None] | None = None, after: str = "") -> float:
        """Poll until a new session opens on the host (it is then kept); return the seconds it took."""

        def session_opens() -> bool:
            if self._via is not None:
                return self.is_reachable(probe_timeout)
            with self._lock:
                try:
                    pool = self._open_pool(timeout=probe_timeout)
                except HostUnreachable as error:
                    if not getattr(error, "retryable", True):
                        raise
                    return False
                # Opened with the probe's short timeouts; the session keeps the configured ones.
                _restore_timeouts(pool.connection, self.settings)
                self._pool = pool
                self._pipelines_on_pool = 0
                self._last_used = time.monotonic()
                return True

        return self._wait(session_opens, timeout, poll_interval,
                          f"{self.label} did not come back within {timeout:g} s{after}",
                          progress, f"waiting for {self.label} to come back{after}")

    def _wait(self, done: Callable[[], bool], timeout: float, poll_interval: float, failure: str,
              progress: Callable[[str], None] | None, what: str) -> float:
        start = time.monotonic()
        deadline = start + timeout
        next_report = start + PROGRESS_EVERY_S
        if progress:
            progress(what)
        while True:
            if done():
                return time.monotonic() - start
            now = time.monotonic()
            if now >= deadline:
                raise RebootFailed(self.label, failure)
            if progress and now >= next_report:
                # The person watching at 3 a.m. should see that qrdr is still waiting, and how long it will.
                progress(f"still {what} ({now - start:.0f} s of {timeout:g} s)")
                next_report = now + PROGRESS_EVERY_S
            time.sleep(min(poll_interval, max(0.0, deadline - time.monotonic())))

    def boot_time(self) -> str:
        """``Win32_OperatingSystem.LastBootUpTime`` (DMTF text; ``results.parse_dmtf`` reads it)."""
        found = self.run(Command("Get-WmiObject", {"Class": "Win32_OperatingSystem"}), read_only=True)
        return found[0]["LastBootUpTime"]

    def computer_name(self) -> str:
        """``Win32_ComputerSystem.Name``: the name the computer runs under now."""
        found = self.run(Command("Get-WmiObject", {"Class": "Win32_ComputerSystem"}), read_only=True)
        return found[0]["Name"]

    def shut_down(self, *, down_timeout: float = 300, poll_interval: float = 2.0,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """``Stop-Computer -Force``, then wait until the host stops answering (promote: "production
        down"). Raises :class:`RebootFailed` "<host> did not go down within N s after Stop-Computer"."""
        self._power_command("Stop-Computer", f"shutting down {self.label}", progress)
        down_after = self.wait_until_down(down_timeout, poll_interval=poll_interval, progress=progress,
                                          after=" after Stop-Computer", probes=DOWN_PROBES)
        logger.info("{} is down ({} s after Stop-Computer)", self.label, round(down_after, 1))
        return {"host": self.host.name, "name": self.name, "down_after_s": round(down_after, 1)}

    def _power_command(self, cmdlet: str, doing: str, progress: Callable[[str], None] | None) -> None:
        """Send ``Stop-Computer``/``Restart-Computer -Force``, saying ``doing`` first."""
        if progress:
            progress(doing)
        try:
            self.run(Command(cmdlet, {"Force": True}))
        except ConnectionLostDuringChange:
            pass  # The host went down under the command: that is what the command does.

    def _restarted_since(self, boot_time: str) -> bool:
        try:
            return self.boot_time() != boot_time
        except (HostUnreachable, RemoteCommandError):
            return False

    def reboot(self, expected_name: str | None = None, *, come_back_as: Callable[[], RemoteHost] | None = None,
               down_timeout: float = 120, up_timeout: float = 900, poll_interval: float = 2.0,
               progress: Callable[[str], None] | None = None) -> dict[str, Any]:
        """Restart the host and wait it out; return evidence for the journal.

        Reads LastBootUpTime, sends ``Restart-Computer -Force``, waits until the
        host stops answering (``down_timeout``), then until a session opens
        again (``up_timeout``). The host is reached afterwards through
        ``come_back_as()`` when given (the session of another account or name:
        a host that left the domain logs on with its local account), else
        through this session, as ``expected_name`` when a pending rename took
        effect (:meth:`reconnect_as`). A host never seen down may have been down
        and back between two polls: only an unchanged boot time fails then.
        Then checks that the boot time changed and that the computer's name is
        ``expected_name`` (default: the name it had). Each failure raises
        :class:`RebootFailed` saying which deadline or check failed.
        """
        before = self.boot_time()
        old_name = self.name
        wanted = expected_name or old_name
        after = " after Restart-Computer"
        self._power_command("Restart-Computer", f"restarting {self.label}", progress)
        started = time.monotonic()

        def returning() -> RemoteHost:
            if come_back_as is not None:
                return come_back_as()
            if self.name.lower() != wanted.lower():
                self.reconnect_as(wanted)
            return self

        # The boot time is the proof. A probe that fails while the host still runs (a reset
        # connection on a busy network) looks like "down"; the session that then opens reaches
        # the host before its restart, with the old boot time: wait for it to go down again,
        # within what is left of down_timeout. A host that is never seen down (it restarted
        # faster than a probe answers on a starved machine) has its boot time read every
        # BOOT_RECHECK_S: a new one means it went down and came back between two probes.
        down_deadline = started + down_timeout
        back, told, next_report = self, progress, started + PROGRESS_EVERY_S
        while True:
            down_after: float | None
            try:
                chunk = max(poll_interval, min(BOOT_RECHECK_S, down_deadline - time.monotonic()))
                down_after = back.wait_until_down(chunk, poll_interval=poll_interval, progress=told, after=after)
                back = returning()
            except RebootFailed:
                back = returning()
                if not back._restarted_since(before):
                    if time.monotonic() >= down_deadline:
                        raise RebootFailed(back.label, f"{self.label} did not go down within {down_timeout:g} s"
                                                       f"{after}") from None
                    told = None  # "waiting for ... to go down" was said once
                    if progress and time.monotonic() >= next_report:
                        progress(f"still waiting for {self.label} to go down{after} "
                                 f"({time.monotonic() - started:.0f} s of {down_timeout:g} s)")
                        next_report = time.monotonic() + PROGRESS_EVERY_S
                    continue
                down_after = None
            up_after = back.wait_until_up(up_timeout, poll_interval=poll_interval, progress=progress, after=after)
            now_boot = back.boot_time()
            if now_boot != before:
                break
            if time.monotonic() >= down_deadline:
                raise RebootFailed(back.label, f"{back.label} answers again but its boot time is unchanged "
                                               f"({before}): it did not restart")
            logger.info("{}: answered with its old boot time: not restarted yet, waiting again", back.label)
            told = None
        name = back.computer_name()
        if name.lower() != wanted.lower():
            raise RebootFailed(back.label, f"{back.label} came back as {name}, expected {wanted}")
        evidence = {"host": self.host.name, "name_before": old_name, "name_after": name, "boot_before": before,
                    "boot_after": now_boot, "down_after_s": None if down_after is None else round(down_after, 1),
                    "back_after_s": round(time.monotonic() - started, 1), "up_wait_s": round(up_after, 1)}
        logger.info("{} restarted: down after {} s, back after {} s", back.label, evidence["down_after_s"],
                    evidence["back_after_s"])
        return evidence


def _restore_timeouts(wsman: WSMan, settings: ConnectionSettings) -> None:
    """Give a connection opened by a short probe the configured timeouts (pypsrp reads them per request)."""
    wsman.operation_timeout = settings.operation_timeout
    wsman.transport.connection_timeout = settings.connection_timeout
    wsman.transport.read_timeout = settings.operation_timeout + 10


def _build_pipeline(shell: PowerShell, before: Iterable[Command], commands: Iterable[Command | Script]) -> None:
    for command in before:
        _add_commands(shell, [command, Command("Out-Null")])
        shell.add_statement()
    _add_commands(shell, commands)


def _add_commands(shell: PowerShell, commands: Iterable[Command | Script]) -> None:
    for command in commands:
        if isinstance(command, Script):
            shell.add_script(command.text)
            for key, value in command.parameters.items():
                shell.add_parameter(key, reveal(value))
        else:
            shell.add_cmdlet(command.name)
            for key, value in command.parameters.items():
                shell.add_parameter(key, reveal(value))
            for value in command.arguments:
                shell.add_argument(reveal(value))


def _collect(shell: PowerShell, label: str, rendered: str, secrets: list[str], allow_errors: bool) -> Output:
    records = list(shell.streams.error)
    failed = shell.had_errors or shell.state == PSInvocationState.FAILED
    errors = [_remote_error(record, secrets, terminating=failed and index == len(records) - 1)
              for index, record in enumerate(records)]
    output = [plain(item) for item in shell.output]
    if failed and not errors:
        errors = [RemoteError("the pipeline failed without an error record", terminating=True)]
    if shell.state == PSInvocationState.STOPPED:
        errors.append(RemoteError("the pipeline was stopped on the host", terminating=True))
        failed = True
    if failed or (errors and not allow_errors):
        raise RemoteCommandError(label, rendered, errors, output)
    return Output(output, errors)


def _prop(obj: Any, name: str) -> Any:
    if isinstance(obj, GenericComplexObject):
        return obj.adapted_properties.get(name, obj.extended_properties.get(name))
    return getattr(obj, name, None)


def _remote_error(record: Any, secrets: list[str], terminating: bool) -> RemoteError:
    """An error record (pypsrp ``ErrorRecord`` or a generic object) as a :class:`RemoteError`."""
    if isinstance(record, GenericComplexObject):
        message = _prop(record, "ErrorDetails_Message") or _prop(_prop(record, "Exception"), "Message") \
            or record.to_string
        fq_error = _prop(record, "FullyQualifiedErrorId")
        category = _prop(record, "ErrorCategory_Category")
    else:
        exception = getattr(record, "exception", None)
        message = getattr(record, "details_message", None) or _prop(exception, "Message") or str(record)
        fq_error = getattr(record, "fq_error", None)
        category = getattr(record, "category", None)
    if isinstance(category, int) and 0 <= category < len(_ERROR_CATEGORIES):
        category = _ERROR_CATEGORIES[category]
    return RemoteError(
        message=mask(str(message or ""), secrets),
        fully_qualified_error_id=mask(str(fq_error or ""), secrets),
        category=str(category or ""),
        terminating=terminating,
    )


def _untrusted(error: BaseException) -> bool:
    """Whether a TLS error is about trust (certificate, name): the config's problem, never retried.
    A handshake cut off (EOF, reset: a host going down, a listener closing) is network trouble."""
    text = str(error).lower()
    return isinstance(error, requests.exceptions.SSLError) and ("certificate" in text or "hostname" in text)


_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")]+|\[SSL: [^\]]+\][^'\")]*")


def _reason(error: BaseException) -> str:
    """A short human reason for a transport error (the innermost OS/TLS message when there is one)."""
    text = str(error)
    found = _ERRNO.findall(text)
    if found:
        return found[-1].strip()
    if isinstance(error, requests.exceptions.ConnectionError) and "RemoteDisconnected" in text:
        return "the host closed the connection without answering"
    if isinstance(error, requests.exceptions.ConnectionError) and "Connection aborted" in text:
        return "the connection was reset"
    if isinstance(error, InvalidPSRPOperation):
        return f"the session broke: {text}"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class Sessions:
    """One :class:`RemoteHost` per host key of ``site``, made on first use and closed together."""

    def __init__(self, site: Site, password_for: Callable[[Host], str], *, retries: int = 3,
                 retry_backoff: float = 0.5):
        self.site = site
        #: Shared by every session made here: see :class:`UnreachableHosts`.
        self.unreachable = UnreachableHosts()
        self._password_for = password_for
        self._retries = retries
        self._retry_backoff = retry_backoff
        self._hosts: dict[str, RemoteHost] = {}
        self._lock = threading.RLock()
        #: The shells of every session made here, recorded beside the journal (see :mod:`.shells`).
        self.shells = ShellLedger(site.state_file(".shells.json"))

    def host(self, key: str) -> RemoteHost:
        """The session of ``site.hosts[key]``; raises ``KeyError`` naming the known keys."""
        with self._lock:
            if key in self._hosts:
                return self._hosts[key]
            if key not in self.site.hosts:
                raise KeyError(f"site {self.site.name!r} has no host {key!r} (hosts: {', '.join(self.site.hosts)})")
            host = self.site.hosts[key]
            if host.via is not None:
                management = self.site.hosts.get(host.via)
                if management is None or management.via is not None or management.winrm is None:
                    raise ValueError(
                        f"host {key!r} ({host.name}) is reached via {host.via!r}, which must be another host of "
                        f"the site with winrm settings and no via of its own")
                # It acts on the host with the account that reaches its management host, until a
                # step says otherwise (RemoteHost.acting_as: its local administrator out of the domain).
                remote = RemoteHost(host, via=self.host(host.via),
                                    credential=lambda management=management: self._credential_of(management))
            else:
                if host.winrm is None:
                    raise ValueError(f"host {key!r} ({host.name}) has neither winrm settings nor a management "
                                     f"host (via): qrdr cannot reach it")
                remote = RemoteHost(host, lambda host=host: self._password_for(host), retries=self._retries,
                                    retry_backoff=self._retry_backoff, unreachable=self.unreachable,
                                    shells=self.shells)
            self._hosts[key] = remote
            return remote

    def _credential_of(self, host: Host) -> Credential:
        assert host.winrm is not None
        return Credential(host.winrm.user, Secret(self._password_for(host)))

    def opened(self) -> dict[str, RemoteHost]:
        """The sessions made so far, by host key."""
        with self._lock:
            return dict(self._hosts)

    def close_all(self) -> None:
        """Close every session (best effort: a host that went away is just forgotten)."""
        with self._lock:
            hosts, self._hosts = self._hosts, {}
        for remote in hosts.values():
            if remote.management is None:
                remote.close()

    def __enter__(self) -> "Sessions":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_all()

    def __repr__(self) -> str:
        return f"Sessions({self.site.name!r}, open: {sorted(self._hosts)})"
