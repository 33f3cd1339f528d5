"""File, registry and process steps of the cleanup appendix, and programs qrdr starts on a host.

``remove_paths_step`` deletes registry keys or folders that exist (the two
Uninstall keys, the Exchsrvr folder, Outlook profiles); ``locked_files_step``
stops the processes that hold the three Exchange DLLs open (the appendix's
"use procexp.exe ... and kill them"). Long programs (setup.exe and the like)
run through :mod:`.programs`.
"""

from __future__ import annotations

import ntpath
from typing import Any, Callable

from qrdr.remote import Command, RemoteHost
from qrdr.steps import Check, Step, StepContext

from . import catalog, hosts

PathsFn = Callable[[Any], list[str]]


def remove_paths_step(*, id: str, title: str, key: str, paths: list[str] | PathsFn, what: str = "delete",
                      **options: Any) -> Step:
    """Delete each path (folder or ``HKLM:\\``/``HKCU:\\`` key) of ``paths`` that exists (destructive)."""

    def resolve(ctx: StepContext) -> list[str]:
        return paths(ctx) if callable(paths) else list(paths)

    def check(ctx: StepContext) -> Check:
        session = hosts.remote(ctx, key)
        present = [p for p in resolve(ctx) if hosts.path_exists(session, p)]
        if not present:
            return Check.no_change(f"{session.name}: none of {', '.join(resolve(ctx)) or 'the paths'} exists")
        return Check.will_change(*(f"{session.name}: {what} {path}" for path in present))

    def apply(ctx: StepContext) -> dict[str, Any]:
        session = hosts.remote(ctx, key)
        removed = []
        for path in resolve(ctx):
            if hosts.path_exists(session, path):
                session.run(Command("Remove-Item", {"Path": path, "Recurse": True, "Force": True}))
                removed.append(path)
        return {"removed": removed}

    options.setdefault("destructive", True)
    return Step(id=id, title=title, target=key, check=check, apply=apply, **options)


def children(session: RemoteHost, path: str) -> list[str]:
    """Full paths of the items directly below ``path`` (none when it does not exist)."""
    if not hosts.path_exists(session, path):
        return []
    found = session.run(Command("Get-ChildItem", {"Path": path}), read_only=True)
    result = []
    for item in found:
        name = item.get("PSChildName") or item.get("Name") if isinstance(item, dict) else str(item)
        if name:
            result.append(ntpath.join(path, str(name).rsplit("\\", 1)[-1]))
    return result


def locked_files_step(*, id: str, title: str, key: str, folder: Callable[[Any], str], **options: Any) -> Step:
    """Stop the processes that hold the three Exchange DLLs of ``folder`` open (destructive). The
    uninstall leaves them held open: give it as ``rechecked_after``, as it comes first."""

    def holders(ctx: StepContext) -> list[tuple[str, dict[str, Any]]]:
        session = hosts.remote(ctx, key)
        found = []
        for dll in catalog.LOCKED_DLLS:
            path = ntpath.join(folder(ctx), dll)
            if not hosts.path_exists(session, path):
                continue
            for process in session.run(hosts.script("find_locking_process.ps1", Path=path), read_only=True):
                found.append((path, dict(process)))
        return found

    def check(ctx: StepContext) -> Check:
        label = hosts.current_name(ctx, key)
        found = holders(ctx)
        if not found:
            return Check.no_change(f"{label}: no process holds {', '.join(catalog.LOCKED_DLLS)} open")
        return Check.will_change(*(f"{label}: stop process {p.get('ProcessName')} (Id {p.get('Id')}) that holds "
                                   f"{path} open" for path, p in found))

    def apply(ctx: StepContext) -> dict[str, Any]:
        session = hosts.remote(ctx, key)
        stopped = set()
        for _path, process in holders(ctx):
            if process.get("Id") not in stopped:
                session.run(Command("Stop-Process", {"Id": process["Id"], "Force": True}))
                stopped.add(process.get("Id"))
        return {"stopped": sorted(stopped)}

    options.setdefault("destructive", True)
    return Step(id=id, title=title, target=key, check=check, apply=apply, **options)


def write_file(session: RemoteHost, path: str, text: str) -> None:
    """Write ``text`` to ``path`` on the host, creating its folder first (New-Item -Force is idempotent)."""
    session.run(Command("New-Item", {"Path": ntpath.dirname(path), "ItemType": "Directory", "Force": True}))
    session.run(Command("Set-Content", {"Path": path, "Value": text}))
