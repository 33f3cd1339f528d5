"""Acting on a Windows 2000 host from its management host (``Host.via``).

Windows 2000 has no PowerShell and no WinRM. qrdr reaches it through the
management host's runspace pool with the PowerShell 2.0 cmdlets that take
``-ComputerName`` and talk to the target over DCOM/RPC (WMI, the service
control manager). This module is the one place that knows which those are:

* :data:`COMPUTERNAME_CMDLETS`: cmdlets to which :func:`redirect` adds
  ``-ComputerName <target>``;
* :data:`PIPED_WMI_CMDLETS`: WMI cmdlets that, when they receive a WMI object
  from the pipeline, act on that object's computer (their ``-InputObject``
  parameter set has no ``-ComputerName``): they get it only when first;
* :data:`MANAGEMENT_PROGRAMS`: native programs that run on the management host
  and name the target in their own arguments (``netdom renamecomputer W2K01 ...``):
  passed through unchanged.
* :data:`ADMIN_SHARE_CMDLETS`: file cmdlets that reach the target through its
  administrative share: passed through unchanged when every path they name is
  ``\\\\<target>\\X$\\...`` (``Set-Content -Path \\\\W2K01\\C$\\qrdr\\a.txt``).

Anything else (``Start-Service``, ``Test-Path C:\\...``, scripts, ``eseutil``) would
silently act on the management host instead of the target, so
:func:`redirect` refuses it with :class:`NotRedirectable` rather than guess.
(``Start-Service``/``Stop-Service`` have no ``-ComputerName`` in 2.0: use
``Set-Service -Status Running|Stopped -ComputerName``.)
"""

from __future__ import annotations

import re
from typing import Sequence

import attrs

from qrdr.errors import QrdrError

from .commands import Command, Script, render_pipeline

#: Cmdlets that take ``-ComputerName`` in Windows PowerShell 2.0 and reach the target without WinRM.
COMPUTERNAME_CMDLETS = frozenset(
    name.lower()
    for name in (
        "Get-Service", "Set-Service", "Get-Process",
        "Get-WmiObject", "Invoke-WmiMethod", "Set-WmiInstance", "Remove-WmiObject",
        "Restart-Computer", "Stop-Computer",
        "Get-HotFix", "Get-EventLog",
    )
)

#: WMI cmdlets that act on the object they are piped (its own computer); -ComputerName only when first.
PIPED_WMI_CMDLETS = frozenset(name.lower() for name in ("Invoke-WmiMethod", "Set-WmiInstance", "Remove-WmiObject"))

#: Native programs run on the management host that name the Windows 2000 target in their arguments.
MANAGEMENT_PROGRAMS = frozenset({"netdom"})

#: File cmdlets that act on the target when their paths are its administrative share (\\TARGET\C$\...).
ADMIN_SHARE_CMDLETS = frozenset(name.lower() for name in (
    "Test-Path", "Get-Content", "Set-Content", "Remove-Item", "New-Item", "Get-ChildItem"))


def admin_share_host(path: object) -> str | None:
    """The computer of an administrative-share path ``\\\\HOST\\X$\\...``, else None."""
    match = re.match(r"^\\\\([^\\]+)\\[A-Za-z]\$(?:\\|$)", str(path))
    return match.group(1) if match else None


class NotRedirectable(QrdrError):
    """A command cannot reach a Windows 2000 host from its management host."""


def _program_key(name: str) -> str:
    base = name.replace("/", "\\").rsplit("\\", 1)[-1].lower()
    return base[:-4] if base.endswith(".exe") else base


def redirect(commands: Sequence[Command | Script], target: str, management: str) -> list[Command]:
    """The pipeline to run on ``management`` so that it acts on Windows 2000 host ``target``.

    Adds ``ComputerName=target`` where PowerShell 2.0 takes it (see the module
    docstring). A command that already names a computer keeps it if it is
    ``target`` (any case) and is refused otherwise; a command that cannot be
    redirected raises :class:`NotRedirectable` naming it and both hosts.
    """
    result: list[Command] = []
    for position, command in enumerate(commands):
        if isinstance(command, Script):
            raise NotRedirectable(
                f"cannot run script {command.name} on Windows 2000 host {target}: it has no PowerShell; "
                f"scripts run on the management host {management} only"
            )
        key = command.name.lower()
        if key in COMPUTERNAME_CMDLETS:
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
                result.append(command)
                continue
            result.append(attrs.evolve(command, parameters={**command.parameters, "ComputerName": target}))
        elif _program_key(command.name) in MANAGEMENT_PROGRAMS:
            result.append(command)
        elif key in ADMIN_SHARE_CMDLETS:
            paths = [value for name, value in command.parameters.items() if name.lower() in ("path", "literalpath")]
            paths = [item for value in paths for item in (value if isinstance(value, (list, tuple)) else [value])]
            if not paths or any((admin_share_host(p) or "").lower() != target.lower() for p in paths):
                raise NotRedirectable(
                    f"`{render_pipeline([command])}` cannot act on Windows 2000 host {target} from management "
                    f"host {management}: its paths must be {target}'s administrative share (\\\\{target}\\C$\\...)")
            result.append(command)
        else:
            raise NotRedirectable(
                f"`{render_pipeline([command])}` cannot act on Windows 2000 host {target} from management "
                f"host {management}: {command.name} has no -ComputerName in PowerShell 2.0 "
                f"(see qrdr.remote.targeting.COMPUTERNAME_CMDLETS)"
            )
    return result
