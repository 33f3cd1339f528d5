"""Runbook appendices: clean up the recovery server (1) and the source server (2).

Phase ``cleanup``, scope ``recovery`` (appendix 1: the standby that held production's name gives
it back: its stores and storage groups deleted, Exchange uninstalled with what it leaves behind,
then renamed back to its own name) or ``source`` (appendix 2: the old production server, in safe
mode on Windows 2003 first, rejoins the domain and has Exchange removed). The engine refuses a
recovery cleanup while the standby is the only server holding production's name (site state).
"""

from __future__ import annotations

import functools
import ntpath
from typing import Any, Callable

import attrs

from qrdr.model import Site, WindowsVersion
from qrdr.remote import RemoteCommandError
from qrdr.steps import SETUP, Check, Step, StepContext, manual_step

from .. import catalog, files, hosts, names, programs, services
from ..facts import run_facts
from .base import Book, in_order, keys

Removal = Callable[[Book, Site, str, str], Step]


# --------------------------------------------------------------------------- the removal both scopes share


def outlook_profiles(book: Book, site: Site, key: str, scope: str) -> Step:
    """Appendix: "Delete the Outlook profile of the Exchange user": every key under the profiles
    key of the account qrdr acts as (HKCU; StdRegProv from the management host on Windows 2000).

    Code: plugins/common/runbook/cleanup.py, plugins/common/files.py.
    """
    return files.remove_paths_step(
        id=book.id(f"{scope}-outlook-profiles"), title="Delete the Outlook profile of the Exchange user", key=key,
        paths=lambda ctx: files.children(hosts.remote(ctx, key), catalog.OUTLOOK_PROFILES_KEY),
        what="delete the Outlook profile")


def uninstall_exchange(book: Book, site: Site, key: str, scope: str) -> Step:
    """Appendix: "Uninstall Microsoft Exchange" with the setup media (every component Remove in
    an unattend file), run as a long program and done once Exchange's setup key is gone.

    Code: plugins/common/runbook/cleanup.py, plugins/common/programs.py, plugins/common/catalog.py.
    """
    version = book.version

    def check(ctx: StepContext) -> Check:
        session = hosts.remote(ctx, key)
        still = programs.still_running(ctx, key, ctx.site.exchange.setup_path)
        if still is not None:
            return still
        if hosts.exchange_setup(session) is None:
            return Check.no_change(f"{session.name}: Exchange is not installed")
        setup = ctx.site.exchange.setup_path
        if not hosts.path_exists(session, setup):
            return Check.blocked(f"{session.name}: the Exchange {version.value} setup media is not at {setup}: "
                                 f"insert the CD (or copy it there) to uninstall Exchange")
        return Check.will_change(f"{session.name}: uninstall Exchange {version.value} ({setup}, every component Remove)")

    def apply(ctx: StepContext) -> dict[str, Any]:
        session = hosts.remote(ctx, key)
        answers = ntpath.join(catalog.WORK_FOLDER, "qrdr-exchange-remove.ini")
        files.write_file(session, answers, catalog.exchange_unattend(ctx.site.exchange.components, "Remove", None))
        return programs.run_installer(ctx, key, [ctx.site.exchange.setup_path, "/UnattendFile", answers],
                                      what="exchange.setup_path", done=lambda s: hosts.exchange_setup(s) is None)

    return Step(id=book.id(f"{scope}-uninstall-exchange"), title="Uninstall Microsoft Exchange", target=key,
                check=check, apply=apply, destructive=True, waits=(SETUP,))


def uninstall_keys(book: Book, site: Site, key: str, scope: str) -> Step:
    """Appendix: delete the two Exchange Uninstall registry keys the uninstall may leave.

    Code: plugins/common/runbook/cleanup.py, plugins/common/files.py.
    """
    return files.remove_paths_step(
        id=book.id(f"{scope}-uninstall-keys"), title="Delete the two Exchange Uninstall registry keys", key=key,
        paths=[ntpath.join(catalog.UNINSTALL_ROOT, k) for k in catalog.UNINSTALL_KEYS],
        rechecked_after=(book.id(f"{scope}-uninstall-exchange"),))


def locked_dlls(book: Book, site: Site, key: str, scope: str) -> Step:
    """Appendix: stop the processes that hold exchmem.dll, exsp.dll and pttrace.dll open (they
    keep the Exchsrvr folder from being deleted).

    Code: plugins/common/runbook/cleanup.py, plugins/common/files.py, plugins/common/scripts/find_locking_process.ps1.
    """
    install = site.exchange.install_path
    return files.locked_files_step(id=book.id(f"{scope}-locked-dlls"),
                                   title="Stop the processes holding exchmem/exsp/pttrace.dll", key=key,
                                   folder=lambda ctx: ntpath.join(install, "bin"),
                                   rechecked_after=(book.id(f"{scope}-uninstall-exchange"),))


def exchsrvr_folder(book: Book, site: Site, key: str, scope: str) -> Step:
    """Appendix: delete the Exchsrvr folder (the install path).

    Code: plugins/common/runbook/cleanup.py, plugins/common/files.py.
    """
    install = site.exchange.install_path
    return files.remove_paths_step(id=book.id(f"{scope}-exchsrvr-folder"), title=f"Delete the Exchsrvr folder {install}",
                                   key=key, paths=[install], rechecked_after=(book.id(f"{scope}-uninstall-exchange"),))


def removal(book: Book, site: Site, key: str, scope: str, *, registry_keys: bool) -> list:
    """The appendix's removal of Exchange from ``key``, as builders for :func:`.base.in_order`."""
    parts: list[Removal] = [outlook_profiles, uninstall_exchange]
    if registry_keys:
        parts.append(uninstall_keys)
    parts += [locked_dlls, exchsrvr_folder]
    return [functools.partial(part, key=key, scope=scope) for part in parts]


# --------------------------------------------------------------------------- appendix 1: the recovery server


def begin_cleanup_recovery(book: Book, site: Site) -> Step:
    """The recovery cleanup starts; the account it will reset is noted (see :func:`..names.begin_step`).

    Code: plugins/common/runbook/cleanup.py, plugins/common/names.py.
    """
    _pk, sk = keys(site)
    return names.begin_step(id=book.id("begin-cleanup-recovery"), title="Cleanup of the recovery server starts",
                            target=sk, what="cleanup-recovery", accounts=lambda ctx: [site.standby.name])


def recovery_stores(book: Book, site: Site) -> Step:
    """Appendix 1.3: dismount and delete the public and mailbox stores (CDOEXM store scripts).

    Code: plugins/common/runbook/cleanup.py, plugins/common/hosts.py, plugins/common/scripts/remove_exchange_store.ps1.
    """
    _pk, sk = keys(site)

    def check(ctx: StepContext) -> Check:
        label = hosts.current_name(ctx, sk)
        if hosts.exchange_installed(ctx, sk) is None:
            return Check.no_change(f"{label}: Exchange is not installed")
        found = hosts.stores(ctx, sk)
        if not found:
            return Check.no_change(f"{label}: no store left")
        return Check.will_change(*(f"{label}: dismount and delete the {s['Type']} store {s['Name']!r}" for s in found))

    def apply(ctx: StepContext) -> dict[str, Any]:
        removed = []
        for store in hosts.stores(ctx, sk):
            if store.get("Mounted"):
                hosts.run_store_script(ctx, sk, "dismount_exchange_store.ps1", Name=store["Name"])
            hosts.run_store_script(ctx, sk, "remove_exchange_store.ps1", Name=store["Name"])
            removed.append(store["Name"])
        return {"removed": removed}

    return Step(id=book.id("recovery-stores"), title="Delete the public and mailbox stores (appendix 1.3)",
                target=sk, check=check, apply=apply, destructive=True)


def recovery_storage_groups(book: Book, site: Site) -> Step:
    """Appendix 1.4: delete the storage groups. An empty storage group is invisible to
    ``qrdr:Get-ExchangeStore``, so the groups are production's recorded ones, and each one deleted
    (or found gone) is remembered in the facts (``RunFacts.storage_groups_removed``).

    Code: plugins/common/runbook/cleanup.py, plugins/common/hosts.py, plugins/common/scripts/remove_storage_group.ps1.
    """
    _pk, sk = keys(site)

    def pending(ctx: StepContext) -> list[str]:
        facts = run_facts(ctx)
        removed = set(facts.storage_groups_removed.get(sk, []))
        recorded = {s["StorageGroup"] for s in facts.production_stores or []}
        return sorted(recorded - removed)

    def check(ctx: StepContext) -> Check:
        label = hosts.current_name(ctx, sk)
        found = pending(ctx)
        if not found:
            return Check.no_change(f"{label}: no storage group left to delete")
        return Check.will_change(*(f"{label}: delete the storage group {g!r}" for g in found))

    def apply(ctx: StepContext) -> dict[str, Any]:
        done = run_facts(ctx).storage_groups_removed.setdefault(sk, [])
        removed = []
        for group in pending(ctx):
            try:
                hosts.run_store_script(ctx, sk, "remove_storage_group.ps1", Name=group)
                removed.append(group)
            except RemoteCommandError as error:
                if "No storage group named" not in str(error):
                    raise
            done.append(group)
        return {"removed": removed}

    return Step(id=book.id("recovery-storage-groups"), title="Delete the storage group (appendix 1.4)", target=sk,
                check=check, apply=apply, destructive=True)


def _recovery_names(site: Site):
    return lambda ctx: (site.production.name, site.standby.name)


def recovery_reset_own_account(book: Book, site: Site) -> Step:
    """Appendix 1.7, first half: "Rename the Recovery Server back to the original name and
    reboot." Its own account (standby$) still exists from before the promote, so a domain rename
    would collide with it: the account is reset, the server leaves the domain and takes its name
    back (one restart), and rejoins reusing it.

    Code: plugins/common/runbook/cleanup.py, plugins/common/names.py, core/directory/computers.py.
    """
    return names.reset_account_step(id=book.id("recovery-reset-own-account"),
                                    title=f"Reset the recovery server's own account {site.standby.name}$",
                                    name=site.standby.name, during="cleanup-recovery",
                                    rechecked_after=(book.id("begin-cleanup-recovery"),))


def recovery_rename_back(book: Book, site: Site) -> Step:
    """Appendix 1.7: "Rename the Recovery Server back to the original name and reboot." Out of
    the domain first (its own account still exists, so a domain rename would collide with it),
    renamed locally, one restart (see :func:`..names.leave_and_rename_step`).

    Code: plugins/common/runbook/cleanup.py, plugins/common/names.py, core/remote/session.py.
    """
    _pk, sk = keys(site)
    return names.leave_and_rename_step(id=book.id("recovery-rename-back"),
                                       title=f"Take the recovery server out of the domain, rename it back to "
                                             f"{site.standby.name} and restart it (1.7)",
                                       key=sk, new_name=site.standby.name, candidates=_recovery_names(site))


def recovery_join_domain(book: Book, site: Site) -> Step:
    """Appendix 1.7: the recovery server back into the domain under its own name.

    Code: plugins/common/runbook/cleanup.py, plugins/common/names.py, core/remote/session.py.
    """
    _pk, sk = keys(site)
    return names.join_domain_step(id=book.id("recovery-join-domain"), title=f"Put {site.standby.name} back into the domain",
                                  key=sk, name=site.standby.name, candidates=_recovery_names(site),
                                  rechecked_after=(book.id("recovery-rename-back"),))


def recovery_steps(book: Book, site: Site) -> list[Step]:
    """Appendix 1, in its order."""
    _pk, sk = keys(site)
    return in_order(book, site, [
        begin_cleanup_recovery, recovery_stores, recovery_storage_groups,
        *removal(book, site, sk, "recovery", registry_keys=True),
        recovery_reset_own_account, recovery_rename_back, recovery_join_domain])


# --------------------------------------------------------------------------- appendix 2: the source server

#: Appendix 2.1-2.2 (Windows 2003): safe mode has no network (no WinRM; KB 202485), so no remote way exists.
SAFE_MODE_BY_HAND = ("at the source server's console: boot it into Safe Mode (F8 at start-up), set every Exchange "
                     "service to Manual (services.msc), then boot it normally (appendix 2.1-2.2: so that Exchange "
                     "does not start under the name the recovery server now carries)")


def begin_cleanup_source(book: Book, site: Site) -> Step:
    """The source cleanup starts; the account it will reset is noted (see :func:`..names.begin_step`).

    Code: plugins/common/runbook/cleanup.py, plugins/common/names.py.
    """
    pk, _sk = keys(site)
    return names.begin_step(id=book.id("begin-cleanup-source"), title="Cleanup of the source server starts", target=pk,
                            what="cleanup-source", accounts=lambda ctx: [site.production.name])


def source_safe_mode_services(book: Book, site: Site) -> Step | None:
    """Appendix 2.1-2.2 (Windows 2003 only): in safe mode, the source server's Exchange services
    set to Manual, then a normal boot. A manual step (:data:`SAFE_MODE_BY_HAND`): qrdr checks
    afterwards that every Exchange service is Manual (and not running).

    Code: plugins/common/runbook/cleanup.py, plugins/common/services.py.
    """
    if site.production.windows is not WindowsVersion.W2003:
        return None
    pk, _sk = keys(site)
    wanted = services.all_in(book.all_services(), "Stopped", "Manual")
    return manual_step(id=book.id("source-safe-mode-services"), target=pk, instructions=SAFE_MODE_BY_HAND,
                       destructive=True, check=lambda ctx: services.check_services(ctx, pk, wanted),
                       title="In safe mode, the source server's Exchange services set to Manual (appendix 2.1-2.2)")


def source_reset_account(book: Book, site: Site) -> Step:
    """Appendix 2: reset the account production$ so that the source server can rejoin. Blocked
    while the recovery server still runs as production (its account would be reset).

    Code: plugins/common/runbook/cleanup.py, plugins/common/names.py, core/directory/computers.py.
    """
    _pk, sk = keys(site)
    production = site.production.name
    step = names.reset_account_step(id=book.id("source-reset-account"),
                                    title=f"Reset the account {production}$ for the source server to rejoin",
                                    name=production, during="cleanup-source",
                                    rechecked_after=(book.id("begin-cleanup-source"),))

    def check(ctx: StepContext) -> Check:
        if hosts.current_name(ctx, sk).lower() == production.lower():
            return Check.blocked(f"the recovery server still runs as {production}: clean up the recovery server "
                                 f"first (qrdr cleanup --scope recovery), or its account would be reset")
        return step.check(ctx)

    return attrs.evolve(step, check=check)


def source_leave_domain(book: Book, site: Site) -> Step:
    """Appendix 2: take the source server out of the domain and restart it.

    Code: plugins/common/runbook/cleanup.py, plugins/common/names.py, core/remote/session.py.
    """
    pk, _sk = keys(site)
    return names.leave_domain_step(id=book.id("source-leave-domain"),
                                   title="Take the source server out of the domain and restart it", key=pk)


def source_join_domain(book: Book, site: Site) -> Step:
    """Appendix 2: "Log the source server into the domain" and restart it.

    Code: plugins/common/runbook/cleanup.py, plugins/common/names.py, core/remote/session.py.
    """
    pk, _sk = keys(site)
    return names.join_domain_step(id=book.id("source-join-domain"),
                                  title="Log the source server into the domain and restart it", key=pk,
                                  name=site.production.name, rechecked_after=(book.id("source-leave-domain"),))


def source_steps(book: Book, site: Site) -> list[Step]:
    """Appendix 2, in its order."""
    pk, _sk = keys(site)
    return in_order(book, site, [
        begin_cleanup_source, source_safe_mode_services, source_reset_account, source_leave_domain,
        source_join_domain,
        *removal(book, site, pk, "source", registry_keys=site.production.windows is WindowsVersion.W2000)])


def steps(book: Book, site: Site, scope: str) -> list[Step]:
    """The steps of phase ``cleanup`` for ``scope`` ("recovery" or "source")."""
    if scope == "recovery":
        return recovery_steps(book, site)
    if scope == "source":
        return source_steps(book, site)
    raise ValueError(f"cleanup scope {scope!r}: expected 'recovery' or 'source'")
