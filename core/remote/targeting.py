"""Acting on a Windows 2000 host from its management host (``Host.via``).

Windows 2000 has no PowerShell and no WinRM. qrdr reaches it through the
management host's runspace pool with the PowerShell 2.0 cmdlets that take
``-ComputerName`` and talk to the target over DCOM. That session holds no
credentials for a second hop (docs/design/host-commands.md, "Who may reach which
computer"), so every call carries the account to act with: ``-Credential`` on
WMI, ``/UserO``-style switches on the programs that take them, a ``net use`` of
the target's IPC$ before its administrative share is touched. This module is
the one place that knows which commands those are:

* :data:`WMI_CMDLETS`: cmdlets to which :func:`redirect` adds
  ``-ComputerName <target> -Credential <account>`` (WMI over DCOM, and
  Restart-/Stop-Computer, which use WMI's Win32Shutdown);
* :data:`PIPED_WMI_CMDLETS`: WMI cmdlets that, when they receive a WMI object
  from the pipeline, act on that object's computer through the connection it
  came over (their ``-InputObject`` parameter set has neither parameter): they
  get them only when first;
* :data:`MANAGEMENT_PROGRAMS`: native programs that run on the management host
  and name the target in their own arguments (``netdom renamecomputer W2K01 ...``
  with ``/UserO``, ``schtasks /s W2K01 /u ... /p ...``): passed through;
* :data:`ADMIN_SHARE_CMDLETS`: file cmdlets that reach the target through its
  administrative share: passed through when every path they name is
  ``\\\\<target>\\X$\\...``, after a ``net use \\\\<target>\\IPC$`` with the account.

Anything else (``Get-Service``/``Set-Service -ComputerName``, which have no
``-Credential`` in PowerShell 2.0; ``Start-Service``; ``Test-Path C:\\...``;
scripts; ``eseutil``) would act with the session's own identity (refused by
the target) or on the management host itself: :func:`redirect` refuses it
with :class:`NotRedirectable` rather than guess. Services of a Windows 2000
host are read and controlled through ``Win32_Service``.
"""

from __future__ import annotations

import re
from typing import Sequence

import attrs

from qrdr.errors import QrdrError

from .commands import Command, Credential, Script, render_pipeline

#: Cmdlets that take ``-ComputerName`` and ``-Credential`` in Windows PowerShell 2.0 and reach the target over DCOM.
WMI_CMDLETS = frozenset(
    name.lower()
    for name in (
        "Get-WmiObject", "Invoke-WmiMethod", "Set-WmiInstance", "Remove-WmiObject",
        "Restart-Computer", "Stop-Computer",
    )
)

#: WMI cmdlets that act on the object they are piped (its own computer); -ComputerName only when first.
PIPED_WMI_CMDLETS = frozenset(name.lower() for name in ("Invoke-WmiMethod", "Set-WmiInstance", "Remove-WmiObject"))

#: Native programs run on the management host that name the Windows 2000 target in their arguments
#: (with the account to act with: netdom's /UserO and /PasswordO, schtasks' /s, /u and /p).
MANAGEMENT_PROGRAMS = frozenset({"netdom", "schtasks"})

#: File cmdlets that act on the target when their paths are its administrative share (\\TARGET\C$\...).
ADMIN_SHARE_CMDLETS = frozenset(name.lower() for name in (
    "Test-Path", "Get-Content", "Set-Content", "Remove-Item", "New-Item", "Get-ChildItem"))


def admin_share_host(path: object) -> str | None:
    """The computer of an administrative-share path ``\\\\HOST\\X$\\...``, else None."""
    match = re.match(r"^\\\\([^\\]+)\\[A-Za-z]\$(?:\\|$)", str(path))
    return match.group(1) if match else None


class NotRedirectable(QrdrError):
    """A command cannot reach a Windows 2000 host from its management host."""


def program_key(name: str) -> str:
    base = name.replace("/", "\\").rsplit("\\", 1)[-1].lower()
    return base[:-4] if base.endswith(".exe") else base


def redirect(commands: Sequence[Command | Script], target: str, management: str,
             credential: Credential) -> tuple[list[Command], list[Command]]:
    """The pipeline to run on ``management`` so that it acts on Windows 2000 host ``target`` as
    ``credential``, and the statements to run before it in the same runspace.

    Adds ``ComputerName=target`` and ``Credential=credential`` to the WMI cmdlets (see the module
    docstring); a ``net use`` of ``\\\\target\\IPC$`` comes before a pipeline that touches the
    target's administrative share. A command that already names a computer keeps it if it is
    ``target`` (any case) and is refused otherwise; a command that cannot be redirected raises
    :class:`NotRedirectable` naming it and both hosts.
    """
    result: list[Command] = []
    before: list[Command] = []
    for position, command in enumerate(commands):
        if isinstance(command, Script):
            raise NotRedirectable(
                f"cannot run script {command.name} on Windows 2000 host {target}: it has no PowerShell; "
                f"scripts run on the management host {management} only"
            )
        key = command.name.lower()
        if key in WMI_CMDLETS:
            if position > 0 and key in PIPED_WMI_CMDLETS:
                result.append(command)
                continue
            named = {name.lower(): (name, value) for name, value in command.parameters.items()}
            if "computername" in named:
                name, value = named["computername"]
                if not (isinstance(value, str) and value.lower() == target.lower()):
                    raise NotRedirectable(
                        f"`{render_pipeline([command])}` names computer {value!r} but is sent to {target}"
                    )
            parameters = {**command.parameters, "ComputerName": target}
            if "credential" not in named:
                parameters["Credential"] = credential
            result.append(attrs.evolve(command, parameters=parameters))
        elif program_key(command.name) in MANAGEMENT_PROGRAMS:
            result.append(command)
        elif key in ADMIN_SHARE_CMDLETS:
            paths = [value for name, value in command.parameters.items() if name.lower() in ("path", "literalpath")]
            paths = [item for value in paths for item in (value if isinstance(value, (list, tuple)) else [value])]
            if not paths or any((admin_share_host(p) or "").lower() != target.lower() for p in paths):
                raise NotRedirectable(
                    f"`{render_pipeline([command])}` cannot act on Windows 2000 host {target} from management "
                    f"host {management}: its paths must be {target}'s administrative share (\\\\{target}\\C$\\...)")
            if not before:
                before.append(net_use(target, credential))
            result.append(command)
        else:
            raise NotRedirectable(
                f"`{render_pipeline([command])}` cannot act on Windows 2000 host {target} from management "
                f"host {management}: {command.name} has no -ComputerName and -Credential in PowerShell 2.0 "
                f"(see qrdr.remote.targeting.WMI_CMDLETS)"
            )
    return result, before


def net_use(target: str, credential: Credential) -> Command:
    """``net use \\\\TARGET\\IPC$ PASSWORD /user:USER``: an SMB session with the account, which the
    administrative share and the remote service control manager then use ("net use", gg651155)."""
    return Command("net", arguments=("use", f"\\\\{target}\\IPC$", credential.password, f"/user:{credential.user}"))
