"""Runbook "Configure the Production and Standby Servers" 2.3-2.7: Exchange in DisasterRecovery mode.

Phase ``install-dr``, on the standby (running under production's name): ``setup.exe
/DisasterRecovery``, production's service pack with ``update.exe /DisasterRecovery``, then its
Exchange services stopped and set to Manual. Runbook 2.3's partitions and Windows components are
built here too, and run in phase ``prepare-production`` before production's outage starts
(:data:`.prepare.STEPS`): they need neither production down nor the standby renamed.
"""

from __future__ import annotations

import ntpath
from typing import Any

import attrs

from qrdr.model import ExchangeVersion, Site, WindowsVersion
from qrdr.remote import Command
from qrdr.steps import SETUP, Check, Step, StepContext

from .. import catalog, files, hosts, programs, services
from ..facts import run_facts
from .base import Book, in_order, keys, never

#: Runbook 2.3 on Windows 2000, which has no diskpart (it came with XP and Server 2003; XP Resource Kit,
#: "Enhancements and Changes Since Windows 2000"): Disk Management is the tool, by hand, before configure.
PARTITIONS_BY_HAND = ("create them before configuring, in Disk Management (diskmgmt.msc) on the standby: each a "
                      "primary partition at least as large as production's, with that drive letter, formatted NTFS "
                      "(runbook 2.3; Windows 2000 has no diskpart)")


def standby_volumes(book: Book, site: Site) -> Step:
    """Runbook 2.3: "Create partitions and assign drive letters on the Standby Server to match
    those of the Production Server ... equal to, or greater than, the partition sizes of the
    Production Server." Sizes are production's as record-production found them.

    Code: plugins/common/runbook/install_dr.py, plugins/common/files.py, plugins/common/hosts.py.
    """
    _pk, sk = keys(site)
    return attrs.evolve(volume_step(book.id("standby-volumes"), sk,
                                    windows_2000=site.standby.windows is WindowsVersion.W2000),
                        rechecked_after=(book.id("record-production"),))


def volume_step(step_id: str, key: str, *, windows_2000: bool = False) -> Step:
    """Runbook 2.3: the standby has production's Exchange drive letters, each at least as large.

    On Windows 2003 qrdr creates what is missing with diskpart and format. On Windows 2000 they
    are a prerequisite checked before configure changes anything (:func:`partitions_ready`): a
    missing one blocks, with :data:`PARTITIONS_BY_HAND`, rather than wait for a person while
    production is down.
    """

    def wanted(ctx: StepContext) -> list[tuple[str, int]]:
        recorded = (run_facts(ctx).production or {}).get("volumes", {})
        return [(catalog.letter(v.target_letter),
                 max(int(v.size_gb * 1024 ** 3), int(recorded.get(catalog.letter(v.letter), 0))))
                for v in ctx.site.volumes]

    def check(ctx: StepContext) -> Check:
        session = hosts.remote(ctx, key)
        disks = hosts.logical_disks(session)
        free = unpartitioned_space(session)
        create, small = [], []
        for letter, size in wanted(ctx):
            disk = disks.get(letter)
            if disk is None:
                index = pick_disk(free, size)
                if index is None:
                    small.append(f"{session.name}: no disk has {size / 1024 ** 3:.1f} GB unpartitioned for {letter} "
                                 f"(production's size; the standby's partition must be at least as large)")
                    continue
                free[index] -= -(-size // 1024 ** 2) * 1024 ** 2
                create.append(f"{session.name}: create {letter} ({size / 1024 ** 3:.1f} GB) on disk {index}")
            elif int(disk.get("Size") or 0) < size:
                small.append(f"{session.name}: {letter} has {int(disk['Size']) / 1024 ** 3:.1f} GB, production's is "
                             f"{size / 1024 ** 3:.1f} GB: the standby's partition must be at least as large")
        if small:
            return Check.blocked(*small)
        if create:
            return Check.will_change(*create)
        return Check.no_change(f"{session.name}: " + ", ".join(f"{letter} >= {size / 1024 ** 3:.1f} GB"
                                                               for letter, size in wanted(ctx)))

    def apply(ctx: StepContext) -> dict[str, Any]:
        session = hosts.remote(ctx, key)
        disks = hosts.logical_disks(session)
        free = unpartitioned_space(session)
        created = []
        for letter, size in wanted(ctx):
            if letter in disks:
                continue
            megabytes = -(-size // 1024 ** 2)
            index = pick_disk(free, size)
            if index is None:
                raise RuntimeError(f"{session.name}: no disk has {megabytes} MB unpartitioned for {letter} "
                                   f"(free: {', '.join(f'disk {i}: {s // 1024 ** 2} MB' for i, s in free.items())})")
            space = free[index]
            script = ntpath.join(catalog.WORK_FOLDER, f"qrdr-diskpart-{letter[0]}.txt")
            files.write_file(session, script, "\r\n".join([
                f"select disk {index}", f"create partition primary size={megabytes}", f"assign letter={letter[0]}"]))
            output = session.run(Command("diskpart", arguments=("/s", script)))
            if not any("successfully assigned" in line for line in hosts.native_lines(output)):
                raise RuntimeError(f"{session.name}: diskpart did not assign {letter}: "
                                   + " ".join(hosts.native_lines(output)[-2:]))
            # /y answers "Proceed with Format (Y/N)?"; /v: the volume label, which format asks for otherwise.
            formatted = hosts.native_lines(session.run(Command(
                "format", arguments=(letter, "/fs:ntfs", "/q", "/y", f"/v:{catalog.volume_label(letter)}"))))
            if "Format complete." not in formatted:
                raise RuntimeError(f"{session.name}: format {letter} did not complete: " + " ".join(formatted[-2:]))
            free[index] = space - megabytes * 1024 ** 2
            created.append(f"{letter} {megabytes} MB on disk {index}")
        return {"created": created}

    title = "Partitions and drive letters matching production's (2.3)"
    if windows_2000:
        return Step(id=step_id, title=title, target=key, check=lambda ctx: partitions_ready(check(ctx)), apply=never)
    return Step(id=step_id, title=title, target=key, check=check, apply=apply, destructive=True)


def partitions_ready(found: Check) -> Check:
    """The partitions check of a Windows 2000 standby: what would be created is missing, by hand."""
    if found.needed:
        return Check.blocked(*(line.replace(": create ", ": no ") for line in found.changes),
                             f"create them {PARTITIONS_BY_HAND.removeprefix('create them ')}")
    return found


def pick_disk(free: dict[int, int], size: int) -> int | None:
    """The disk with the least unpartitioned space that still holds ``size`` bytes (whole MB), or None."""
    needed = -(-size // 1024 ** 2) * 1024 ** 2
    fitting = sorted((space, index) for index, space in free.items() if space >= needed)
    return fitting[0][1] if fitting else None


def unpartitioned_space(session: Any) -> dict[int, int]:
    """Bytes not in any partition, per disk index (Win32_DiskDrive.Size minus its Win32_DiskPartition sizes)."""
    drives = session.run(Command("Get-WmiObject", {"Class": "Win32_DiskDrive"}), read_only=True)
    partitions = session.run(Command("Get-WmiObject", {"Class": "Win32_DiskPartition"}), read_only=True)
    free = {int(d["Index"]): int(d.get("Size") or 0) for d in drives}
    for partition in partitions:
        index = int(partition.get("DiskIndex", -1))
        if index in free:
            free[index] -= int(partition.get("Size") or 0)
    return free


def windows_components(book: Book, site: Site) -> Step:
    """Runbook 2.3, note: "The following components must be installed before installing
    Exchange: NNTP Services, and SMTP Services. Exchange 2003 also requires ASP .NET."

    Checks the SMTPSVC/NNTPSVC services and the ASP.NET key; applies with sysocmgr and an answer
    file, run as a long program (:mod:`..programs`), its exit code read back.

    Code: plugins/common/runbook/install_dr.py, plugins/common/programs.py, plugins/common/catalog.py.
    """
    _pk, sk = keys(site)
    aspnet = book.version is ExchangeVersion.E2003

    def missing(ctx: StepContext) -> list[str]:
        session = hosts.remote(ctx, sk)
        present = hosts.services(session, ["SMTPSVC", "NNTPSVC"])
        wanted = [("iis_smtp", "SMTPSVC" in present), ("iis_nntp", "NNTPSVC" in present)]
        if aspnet:
            wanted.append(("aspnet", hosts.path_exists(session, catalog.ASPNET_KEY)))
        return [name for name, ok in wanted if not ok]

    def check(ctx: StepContext) -> Check:
        still = programs.still_running(ctx, sk, "sysocmgr")
        if still is not None:
            return still
        label = hosts.current_name(ctx, sk)
        lacking = missing(ctx)
        if lacking:
            return Check.will_change(f"{label}: install the Windows components {', '.join(lacking)} (sysocmgr)")
        return Check.no_change(f"{label}: SMTP, NNTP" + (" and ASP.NET" if aspnet else "") + " are installed")

    def apply(ctx: StepContext) -> dict[str, Any]:
        session = hosts.remote(ctx, sk)
        lacking = missing(ctx)
        answers = ntpath.join(catalog.WORK_FOLDER, "qrdr-sysoc.txt")
        files.write_file(session, answers, catalog.sysoc_answers(tuple(lacking)))
        # %windir% is C:\WINNT on Windows 2000 and C:\WINDOWS on Windows 2003.
        windir = r"C:\WINNT" if ctx.site.hosts[sk].windows is WindowsVersion.W2000 else r"C:\WINDOWS"
        run = programs.run_long_program(ctx, sk, ["sysocmgr", rf"/i:{windir}\inf\sysoc.inf", f"/u:{answers}", "/q"],
                                        what="the Windows components", wait_kind=SETUP)
        if run.exit_code != 0:
            raise programs.ProgramFailed(f"{session.name}: sysocmgr ended with exit code {run.exit_code}: "
                                         + " ".join(run.output[-3:]))
        return {"installed": lacking, **run.evidence()}

    return Step(id=book.id("windows-components"),
                title="NNTP, SMTP" + (" and ASP.NET" if aspnet else "") + " installed (2.3 note)",
                target=sk, check=check, apply=apply, waits=(SETUP,))


def needs_production_name(ctx: StepContext, key: str, by: str) -> Check | None:
    """"depends" while the standby does not run under production's name yet (DisasterRecovery
    setup finds the server object by the computer's name), else None."""
    name = hosts.computer_system(hosts.remote(ctx, key))["Name"]
    if str(name).lower() != ctx.site.production.name.lower():
        return Check.depends(f"the standby runs as {name}; DisasterRecovery setup needs it named "
                             f"{ctx.site.production.name} ({by})")
    return None


def setup_dr(book: Book, site: Site) -> Step:
    """Runbook 2.4: "Install Exchange on the Standby Server from the command line using the
    /DisasterRecovery switch. Select the same components ... that were installed on the
    Production server." (with KB Q280432's hang while starting the System Attendant).

    Checks Exchange's setup key; applies ``setup.exe /DisasterRecovery /UnattendFile`` as a long
    program outside the shell, done once Exchange is installed and MSExchangeSA runs
    (:func:`..programs.run_installer`). Not idempotent: a completed setup is never run again.

    Code: plugins/common/runbook/install_dr.py, plugins/common/programs.py, plugins/common/catalog.py.
    """
    _pk, sk = keys(site)

    def check(ctx: StepContext) -> Check:
        session = hosts.remote(ctx, sk)
        installed = hosts.exchange_setup(session)
        still = programs.still_running(ctx, sk, ctx.site.exchange.setup_path)
        if still is not None:
            return still
        if installed is not None:
            return Check.no_change(f"{session.name}: Exchange is installed (build "
                                   f"{installed.get('NewestBuild') or installed.get('MsiBuildMajor')})")
        early = needs_production_name(ctx, sk, book.id("rename-standby"))
        if early is not None:
            return early
        return Check.will_change(f"{session.name}: setup.exe /DisasterRecovery with "
                                 f"{', '.join(ctx.site.exchange.components)} into {ctx.site.exchange.install_path}")

    def apply(ctx: StepContext) -> dict[str, Any]:
        session = hosts.remote(ctx, sk)
        answers = ntpath.join(catalog.WORK_FOLDER, "qrdr-exchange-dr.ini")
        files.write_file(session, answers, catalog.exchange_unattend(
            ctx.site.exchange.components, "Install", ctx.site.exchange.install_path))

        def installed(s: Any) -> bool:
            return hosts.exchange_setup(s) is not None and \
                hosts.services(s, ["MSExchangeSA"]).get("MSExchangeSA", hosts.ServiceState("", "", "")).state == "Running"

        return programs.run_installer(ctx, sk, [ctx.site.exchange.setup_path, "/DisasterRecovery",
                                                "/UnattendFile", answers],
                                      what="exchange.setup_path", done=installed)

    return Step(id=book.id("setup-dr"), title="Install Exchange with setup.exe /DisasterRecovery (2.4)", target=sk,
                check=check, apply=apply, idempotent=False, waits=(SETUP,))


def update_dr(book: Book, site: Site) -> Step | None:
    """Runbook 2.5: "Apply the Service Packs and Patches that are on the Production server.
    Example: Z:> update.exe /DisasterRecovery". Only when the site names an update_path.

    Checks the installed build against production's service pack; applies update.exe as a long
    program (:func:`..programs.run_installer`), done once the build is reached. Not idempotent.

    Code: plugins/common/runbook/install_dr.py, plugins/common/programs.py.
    """
    if not site.exchange.update_path:
        return None
    _pk, sk = keys(site)
    setup = book.id("setup-dr")
    wanted_build = catalog.expected_build(book.version, site.exchange.service_pack)

    def build_of(found: dict[str, Any] | None) -> int:
        found = found or {}
        return int(found.get("ServicePackBuild") or found.get("NewestBuild") or 0)

    def check(ctx: StepContext) -> Check:
        session = hosts.remote(ctx, sk)
        installed = hosts.exchange_setup(session)
        if installed is None:
            return Check.depends(f"{session.name}: Exchange is installed by {setup} first")
        still = programs.still_running(ctx, sk, ctx.site.exchange.update_path)
        if still is not None:
            return still
        build = build_of(installed)
        if build >= wanted_build:
            return Check.no_change(f"{session.name}: Exchange build {build} (production's "
                                   f"{ctx.site.exchange.service_pack}: {wanted_build})")
        return Check.will_change(f"{session.name}: update.exe /DisasterRecovery: build {build} -> {wanted_build} "
                                 f"({ctx.site.exchange.service_pack})")

    def apply(ctx: StepContext) -> dict[str, Any]:
        return programs.run_installer(ctx, sk, [ctx.site.exchange.update_path, "/DisasterRecovery"],
                                      what="exchange.update_path",
                                      done=lambda s: build_of(hosts.exchange_setup(s)) >= wanted_build)

    return Step(id=book.id("update-dr"), title="Apply production's service pack with update.exe /DisasterRecovery (2.5)",
                target=sk, check=check, apply=apply, idempotent=False, rechecked_after=(setup,), waits=(SETUP,))


def stop_standby_services(book: Book, site: Site) -> Step:
    """Runbook 2.6-2.7: "On the Standby Server, stop the Exchange Services. Set all of the
    Exchange Services to manual startup." Setup and update install them and leave them running.

    Code: plugins/common/runbook/install_dr.py, plugins/common/services.py.
    """
    _pk, sk = keys(site)
    setup = book.id("setup-dr")
    installers = (setup, book.id("update-dr")) if site.exchange.update_path else (setup,)
    return services.service_step(
        id=book.id("stop-standby-services"),
        title="Stop the standby's Exchange services and set them to Manual (2.6-2.7)", key=sk,
        wanted=services.all_in(book.all_services(), "Stopped", "Manual"),
        missing_means=f"Exchange is installed by {setup} first", rechecked_after=installers)


STEPS = (setup_dr, update_dr, stop_standby_services)


def steps(book: Book, site: Site) -> list[Step]:
    """The steps of phase ``install-dr``, in the runbook's order."""
    return in_order(book, site, STEPS)
