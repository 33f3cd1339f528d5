"""Exchange stores and databases: mount, mount at startup, paths, eseutil state and soft recovery.

Stores are read and changed through the scripts qrdr ships (CDOEXM on the
host: ``qrdr:Get-ExchangeStore``, ``qrdr:Mount-ExchangeStore``,
``qrdr:Set-ExchangeStore``); database state through ``eseutil /mh`` and soft
recovery through ``eseutil /r`` (docs/design/host-commands.md).
"""

from __future__ import annotations

import ntpath
import re
from typing import Any, Callable

from qrdr.remote import Command
from qrdr.steps import Check, Step, StepContext, guarded

from . import hosts, programs
from .facts import run_facts

def _mount_lines(label: str, stores: list[dict[str, Any]], *, at_startup: bool) -> list[str]:
    lines = []
    for store in stores:
        if not store.get("Mounted"):
            lines.append(f"{label}: mount {store['Type']} store {store['Name']!r} ({store['StorageGroup']})")
        if at_startup and not store.get("MountAtStartup", True):
            lines.append(f"{label}: clear \"Do not mount this store at startup\" on {store['Name']!r}")
    return lines


def mount_stores_step(*, id: str, title: str, key: str, at_startup: bool = True,
                      guard: Callable[[Any], Check | None] | None = None, **options: Any) -> Step:
    """Mount every store of ``site.hosts[key]`` and (``at_startup``) make them mount at startup.

    CDOEXM mounts only an enabled store (Mount(): "the store must be enabled"), so a store marked
    "Do not mount this store at start-up" is enabled to be mounted; without ``at_startup`` the mark
    is put back afterwards (an undo leaves the setting as it found it)."""

    def look(ctx: StepContext) -> Check:
        session = hosts.remote(ctx, key)
        found = hosts.stores(ctx, key)
        if not found:
            return Check.blocked(f"{session.name}: Exchange reports no store")
        lines = _mount_lines(session.name, found, at_startup=at_startup)
        facts = {"stores": [{k: s.get(k) for k in ("Name", "Mounted", "MountAtStartup")} for s in found]}
        if lines:
            return Check.will_change(*lines, **facts)
        return Check.no_change(f"{session.name}: {len(found)} store(s) mounted"
                               + (", all mount at startup" if at_startup else ""), **facts)

    def apply(ctx: StepContext) -> dict[str, Any]:
        session = hosts.remote(ctx, key)
        done = []
        for store in hosts.stores(ctx, key):
            disabled = not store.get("MountAtStartup", True)
            if disabled and (at_startup or not store.get("Mounted")):
                hosts.run_store_script(ctx, key, "set_exchange_store.ps1", Name=store["Name"], MountAtStartup=True)
                done.append(f"{store['Name']}: mount at startup")
            if not store.get("Mounted"):
                ctx.progress(f"{session.name}: mounting {store['Name']}")
                hosts.run_store_script(ctx, key, "mount_exchange_store.ps1", Name=store["Name"])
                done.append(f"{store['Name']}: mounted")
                if disabled and not at_startup:
                    hosts.run_store_script(ctx, key, "set_exchange_store.ps1", Name=store["Name"],
                                           MountAtStartup=False)
                    done.append(f"{store['Name']}: do not mount at startup, as before")
        return {"host": session.name, "done": done}

    return Step(id=id, title=title, target=key, check=guarded(guard, look), apply=apply, verify=look, **options)


def path_differences(label: str, recorded: list[dict[str, Any]], found: list[dict[str, Any]]) -> list[tuple[str, str, dict]]:
    """(line, store name, Set-ExchangeStore parameters) for each store whose .edb/.stm path differs from production's."""
    by_name = {s["Name"]: s for s in found}
    result = []
    for wanted in recorded:
        store = by_name.get(wanted["Name"])
        if store is None:
            continue
        change = {}
        for key in ("EdbPath", "StmPath"):
            if wanted.get(key) and str(store.get(key) or "").lower() != str(wanted[key]).lower():
                change[key] = wanted[key]
        if change:
            words = ", ".join(f"{k} {store.get(k)} -> {v}" for k, v in change.items())
            result.append((f"{label}: store {wanted['Name']!r}: {words}", wanted["Name"], change))
    return result


def store_paths_step(*, id: str, title: str, key: str, missing_means: str,
                     guard: Callable[[Any], Check | None] | None = None, **options: Any) -> Step:
    """Runbook "Configure" 5: the standby's .edb/.stm paths equal production's (recorded earlier), else redirect them.
    ``guard(ctx)`` may answer for the check first, as for :func:`mount_stores_step`."""

    def look(ctx: StepContext) -> Check:
        recorded = run_facts(ctx).production_stores
        if not recorded:
            return Check.depends(f"production's store paths are recorded by an earlier step; {missing_means}")
        session = hosts.remote(ctx, key)
        found = hosts.stores(ctx, key)
        if not found:
            return Check.depends(f"{session.name}: no store yet; {missing_means}")
        differences = path_differences(session.name, recorded, found)
        if differences:
            return Check.will_change(*(line for line, _name, _change in differences))
        return Check.no_change(f"{session.name}: the .edb and .stm paths of {len(found)} store(s) equal production's")

    def apply(ctx: StepContext) -> dict[str, Any]:
        session = hosts.remote(ctx, key)
        changed = []
        for line, name, change in path_differences(session.name, run_facts(ctx).production_stores, hosts.stores(ctx, key)):
            hosts.run_store_script(ctx, key, "set_exchange_store.ps1", Name=name, **change)
            changed.append(line)
        return {"changed": changed}

    return Step(id=id, title=title, target=key, check=guarded(guard, look), apply=apply, verify=look, **options)


# --------------------------------------------------------------------------- eseutil

_STATE = re.compile(r"State:\s*(Clean Shutdown|Dirty Shutdown)", re.IGNORECASE)
_LOGS = re.compile(r"Log Required:\s*(\d+)-(\d+)")


def parse_header(lines: list[str]) -> dict[str, Any]:
    """``eseutil /mh`` output: {"state": "Clean Shutdown"|"Dirty Shutdown"|None, "logs_required": (low, high)|None}."""
    text = "\n".join(lines)
    state = _STATE.search(text)
    logs = _LOGS.search(text)
    return {"state": state.group(1).title() if state else None,
            "logs_required": (int(logs.group(1)), int(logs.group(2))) if logs else None}


def eseutil(site: Any) -> str:
    return ntpath.join(site.exchange.install_path, "bin", "eseutil.exe")


def database_files(ctx: StepContext) -> list[dict[str, Any]]:
    """Production's databases as recorded (EdbPath, LogPath, SystemPath), from the facts or the site config."""
    return [s for s in run_facts(ctx).production_stores or [] if s.get("EdbPath")]


def header(session: Any, site: Any, path: str) -> dict[str, Any]:
    output = session.run(Command(eseutil(site), arguments=("/mh", path)), read_only=True, allow_errors=True)
    return parse_header(hosts.native_lines(output))


def log_prefix(store: dict[str, Any]) -> str:
    """The storage group's log prefix (E00 for the first storage group)."""
    return str(store.get("LogPrefix") or "E00")


def database_check(ctx: StepContext, key: str) -> tuple[list[str], list[str], list[dict[str, Any]]]:
    """(blocking reasons, soft recoveries needed, per-database evidence) for the copies on ``site.hosts[key]``."""
    session = hosts.remote(ctx, key)
    reasons, recoveries, evidence = [], [], []
    for store in database_files(ctx):
        found = header(session, ctx.site, store["EdbPath"])
        evidence.append({"path": store["EdbPath"], **found})
        if found["state"] == "Clean Shutdown":
            continue
        if found["state"] is None:
            reasons.append(f"{session.name}: eseutil /mh cannot read {store['EdbPath']}: the copy is damaged or "
                           f"missing (an incomplete QR update?); run a fresh QR incremental update")
            continue
        low, high = found["logs_required"] or (0, 0)
        logs = [f"{log_prefix(store)}{generation:05X}.log" for generation in range(low, high + 1)]
        # The newest generation may still be the current log, E00.log (renamed when it fills up).
        current = ntpath.join(store["LogPath"], f"{log_prefix(store)}.log")
        missing = [name for generation, name in zip(range(low, high + 1), logs)
                   if not hosts.path_exists(session, ntpath.join(store["LogPath"], name))
                   and not (generation == high and hosts.path_exists(session, current))]
        if missing:
            reasons.append(f"{session.name}: {store['EdbPath']} is in Dirty Shutdown and needs logs "
                           f"{low}-{high}, but {', '.join(missing)} are not in {store['LogPath']}: soft recovery "
                           f"cannot make it clean; run a fresh QR incremental update")
        else:
            recoveries.append(f"{session.name}: soft recovery of {store['EdbPath']} (Dirty Shutdown, logs {low}-{high} "
                              f"present in {store['LogPath']}): eseutil /r {log_prefix(store)}")
    return reasons, recoveries, evidence


def soft_recovery_step(*, id: str, title: str, key: str, guard: Callable[[Any], Check | None] | None = None,
                       **options: Any) -> Step:
    """Runbook (implicit, DOMAIN.md): run ``eseutil /r`` on copies in Dirty Shutdown whose logs are present."""

    def check(ctx: StepContext) -> Check:
        if not database_files(ctx):
            return Check.blocked("production's database paths were never recorded (run configure first)")
        still = programs.still_running(ctx, key, eseutil(ctx.site))
        if still is not None:
            return still
        reasons, recoveries, evidence = database_check(ctx, key)
        if reasons:
            return Check.blocked(*reasons, databases=evidence)
        if recoveries:
            return Check.will_change(*recoveries, databases=evidence)
        return Check.no_change("every copied database is in Clean Shutdown", databases=evidence)

    def apply(ctx: StepContext) -> dict[str, Any]:
        session = hosts.remote(ctx, key)
        done = []
        for store in database_files(ctx):
            if header(session, ctx.site, store["EdbPath"])["state"] != "Dirty Shutdown":
                continue
            ctx.progress(f"{session.name}: soft recovery of {store['EdbPath']}")
            # Each path joined to its switch (Exchange Server 2003, "How to Run Eseutil /R in Recovery Mode":
            # ESEUTIL /R E00 /Ld:\exchsrvr\logfiles); on a large database this runs long: a scheduled task.
            run = programs.run_long_program(ctx, key, [
                eseutil(ctx.site), "/r", log_prefix(store), f"/l{store['LogPath']}",
                f"/s{store.get('SystemPath') or store['LogPath']}"], what=f"production's store {store['Name']!r}")
            if run.exit_code != 0:
                raise programs.ProgramFailed(f"{session.name}: eseutil /r of {store['EdbPath']} ended with "
                                             f"{run.exit_code}: " + " ".join(run.output[-3:]))
            done.append({"database": store["EdbPath"], **run.evidence()})
        return {"recovered": done}

    return Step(id=id, title=title, target=key, check=guarded(guard, check), apply=apply, **options)
