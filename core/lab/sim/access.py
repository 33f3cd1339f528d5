"""Who may reach which computer from a pipeline: the second hop, as Windows decides it.

A WinRM session logged on with NTLM (or Kerberos without delegation) is a
network logon: it holds no credentials for a third machine, so anything that
leaves the host with the session's own identity is denied (PowerShell-Docs,
"Making the second hop in PowerShell Remoting"; LogonUser, LOGON32_LOGON_NETWORK:
"the new process cannot access other network resources"). What works is a
call that carries its own credentials, or a logon that holds a password:

* WMI over DCOM (``Get-WmiObject``/``Invoke-WmiMethod``/``Restart-Computer``/
  ``Stop-Computer -ComputerName X``): only with ``-Credential`` that X accepts,
  or from a logon with credentials; ``-Credential`` for the local computer is
  refused ("User credentials cannot be used for local connections",
  WBEM_E_LOCAL_CREDENTIALS 0x80041064). A WMI object fetched from X that way
  carries its connection: a method called on it in the same pipeline reaches X.
* SMB (administrative shares ``\\\\X\\C$``, the service control manager of X
  through ``Get-Service``/``Set-Service -ComputerName``, which have no
  ``-Credential``): only after ``net use \\\\X\\IPC$ PASSWORD /user:U`` in the same
  logon session (the SMB session is reused: widely reported, not documented by
  Microsoft), or from a logon with credentials.
* Programs that log on with a password (a scheduled task with ``/ru /rp``)
  have credentials; a process created remotely through ``Win32_Process.Create``
  does not (WMI SDK, "Connecting to a 3rd Computer-Delegation").

:class:`~qrdr.lab.sim.protocol.Logon` says which kind of logon runs a pipeline
or a process. The error records are those Windows PowerShell 2.0 writes (their
exact FullyQualifiedErrorIds are widely reported, not documented):
docs/design/host-commands.md, "Who may reach which computer".
"""

from __future__ import annotations

from typing import Any

from .protocol import ErrorInfo
from .registry import PSError


def credential_of(value: Any, command: str) -> tuple[str, str] | None:
    """The user and password of a ``-Credential`` value (a PSCredential), or None when none was given.

    A plain user name makes PowerShell prompt for the password, which a remote session cannot do.
    """
    if value is None:
        return None
    if isinstance(value, str):
        raise PSError("Windows PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
                      category="InvalidOperation",
                      error_id=f"System.Management.Automation.Host.HostException,Microsoft.PowerShell.Commands."
                               f"{command}Command",
                      exception_type="System.Management.Automation.Host.HostException", target=value)
    user = getattr(value, "UserName", None)
    secret = getattr(value, "Password", None)
    if user is None or secret is None:
        raise PSError(f"Cannot process argument transformation on parameter 'Credential'. A PSCredential is "
                      f"expected, not {type(value).__name__}.", category="InvalidData",
                      error_id=f"ParameterArgumentTransformationError,Microsoft.PowerShell.Commands.{command}Command",
                      exception_type="System.Management.Automation.ParameterBindingArgumentTransformationException")
    password = secret.decrypt() if hasattr(secret, "decrypt") else str(secret)
    return str(user), str(password)


def logon_reaches(host: Any, target: Any) -> bool:
    """Whether the logon running on ``host`` now can act on ``target`` with its own identity."""
    logon = host.logon
    if not logon.network_credentials:
        return False
    return logon.password is None or bool(target.accepts(logon.user, logon.password))


def reaches_by_wmi(host: Any, target: Any, credential: tuple[str, str] | None) -> bool:
    """WMI (DCOM) from ``host`` to another computer ``target``: the call's credentials, or the logon's."""
    if credential is not None:
        return bool(target.accepts(*credential))
    return logon_reaches(host, target)


def reaches_by_smb(host: Any, target: Any) -> bool:
    """SMB (a share, the remote service control manager) from ``host`` to ``target``: a ``net use``
    connection of this logon session, or the logon's own credentials."""
    if target is host:
        return True
    connections = host.net_uses.get(host.logon.shell, {})
    return target.name.lower() in connections or logon_reaches(host, target)


def access_denied(command: str, computer: str) -> ErrorInfo:
    """E_ACCESSDENIED of a WMI cmdlet whose -ComputerName the call may not reach."""
    return ErrorInfo("Access is denied. (Exception from HRESULT: 0x80070005 (E_ACCESSDENIED))",
                     category="NotSpecified",
                     fully_qualified_error_id=f"System.UnauthorizedAccessException,Microsoft.PowerShell.Commands."
                                              f"{command}Command",
                     exception_type="System.UnauthorizedAccessException", target=computer)


def local_credentials(command: str, computer: str) -> ErrorInfo:
    """WBEM_E_LOCAL_CREDENTIALS: -Credential given for the computer the cmdlet runs on."""
    wmi_command = command.replace("WmiObject", "WMI").replace("WmiMethod", "WMI")
    return ErrorInfo("User credentials cannot be used for local connections ", category="InvalidOperation",
                     fully_qualified_error_id=f"{wmi_command}ManagementException,Microsoft.PowerShell.Commands."
                                              f"{command}Command",
                     exception_type="System.Management.ManagementException", target=computer)


def wmi_connection_error(host: Any, target: Any, credential: tuple[str, str] | None, command: str,
                         computer: str) -> ErrorInfo | None:
    """Why a WMI cmdlet on ``host`` cannot work on ``target`` (None: it can)."""
    if target is host:
        return local_credentials(command, computer) if credential is not None else None
    if not reaches_by_wmi(host, target, credential):
        return access_denied(command, computer)
    return None
