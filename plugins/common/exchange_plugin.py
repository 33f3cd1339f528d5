"""The runbook's Exchange steps, shared by exchange2000 and exchange2003.

:class:`ExchangeRunbook` builds every phase's steps for one Exchange version;
the two plugin modules create one and expose its methods as hooks. What
differs by version is data (:mod:`.catalog`: MSExchangeMGMT only in 2003,
ASP.NET only for 2003, builds) and what differs by Windows version is decided
per host (Windows 2000: services through ``Set-Service -Status`` from the
management host, renames through netdom; the source server's cleanup starts in
safe mode on Windows 2003 only).

Facts kept in the journal (``ctx.facts``), because later phases need them:

``configuration``       "started" (first configure step) / "finished" (last one)
``production``          production's name, IP addresses, services and volumes before qrdr touched it
``production_stores``   its stores with their .edb/.stm/log/system paths
``names``/``workgroup`` each host's current name and whether it is out of the domain
``standby_account_sid`` the account that got the Exchange rights
"""

from __future__ import annotations

import ntpath
from typing import Any

from qrdr import hookspecs
from qrdr.model import ExchangeVersion, Site, VolumeContent, WindowsVersion
from qrdr.remote import Command
from qrdr.steps import PRODUCTION_OUTAGE, Check, Step, manual_step

from . import acl, catalog, files, hosts, names, programs, services, stores
from .identity import identify, identity_check, record_identities

CONFIG_FACT = "configuration"
PRODUCTION_FACT = "production"
OUTAGE = PRODUCTION_OUTAGE
MAIL_FLOWING = "mail flowing"


def never(ctx: Any) -> dict[str, Any]:
    """The apply of a read-only step: its check never says "will change"."""
    raise RuntimeError("this step only checks; it changes nothing")


def configuration_guard(ctx: Any) -> Check | None:
    """For the steps that bring production back: judge the state only while a configuration is under way.

    Before ``configure`` has started, production runs under its name with its
    services: a state check would say "no change" although the run's earlier
    steps are about to rename it and stop them.
    """
    state = ctx.facts.get(CONFIG_FACT)
    if state == "started":
        return None
    if state == "finished":
        return Check.no_change("the last configuration finished: production runs under its own name")
    return Check.depends("judged once prepare-production has started the configuration in this run")


class ExchangeRunbook:
    """The steps of every phase for Exchange ``version``, with ids prefixed by ``plugin`` (its entry point name)."""

    def __init__(self, plugin: str, version: ExchangeVersion):
        self.plugin = plugin
        self.version = version

    def id(self, what: str) -> str:
        return f"{self.plugin}.{what}"

    # ------------------------------------------------------------------ shared data

    def production_services(self) -> list[str]:
        """Runbook "Configure" 1.2 / 9, as this version has them."""
        return catalog.services_of(self.version, catalog.PRODUCTION_SERVICES)

    def all_services(self) -> list[str]:
        return catalog.services_of(self.version)

    @staticmethod
    def keys(site: Site) -> tuple[str, str]:
        return site.host_key(site.production), site.host_key(site.standby)

    def restore_wanted(self, ctx: Any) -> dict[str, tuple[str, str]]:
        """What production's services were before configure stopped them (Running/Auto if not recorded)."""
        recorded = ctx.facts.get(PRODUCTION_FACT, {}).get("services", {})
        return {name: tuple(recorded.get(name, ("Running", "Auto"))) for name in self.production_services()}

    # ------------------------------------------------------------------ validate

    def validate_site(self, site: Site) -> list[str]:
        """What the runbook itself refuses, whatever the version (the version matrix is the
        plugin's :class:`~.support.ExchangeSupport`): logs and checkpoint file apart, a temp name
        too long for NetBIOS."""
        reasons = []
        holders = {v.letter: set(v.holds) for v in site.volumes}
        logs = [letter for letter, holds in holders.items() if VolumeContent.LOGS in holds]
        system = [letter for letter, holds in holders.items() if VolumeContent.SYSTEM_PATH in holds]
        if logs and system and set(logs) != set(system):
            reasons.append(f"the transaction logs ({', '.join(logs)}) and the system path ({', '.join(system)}) "
                           f"are on different volumes: runbook step 1 wants them on one, so that the checkpoint "
                           f"file is copied at the same point in time as the databases and logs")
        if len(catalog.temp_name(site.production.name)) > 15:
            reasons.append(f"{catalog.temp_name(site.production.name)} is longer than 15 characters")
        return reasons

    # ------------------------------------------------------------------ prepare-production

    def record_production(self, ctx: Any) -> dict[str, Any]:
        site = ctx.site
        pk, _sk = self.keys(site)
        session, system = identify(ctx, pk)
        record = {
            "name": str(system["Name"]),
            "ip_addresses": hosts.ip_addresses(session),
            "services": {n: [s.state, s.mode] for n, s in hosts.services(session, self.all_services()).items()},
            "volumes": {letter: int(d.get("Size") or 0) for letter, d in hosts.logical_disks(session).items()},
        }
        ctx.facts[PRODUCTION_FACT] = record
        ctx.facts[stores.STORES_FACT] = [
            {k: s.get(k) for k in ("Name", "StorageGroup", "Type", "EdbPath", "StmPath", "LogPath", "SystemPath",
                                   "MountAtStartup")}
            for s in hosts.stores(ctx, pk)]
        ctx.facts[CONFIG_FACT] = "started"
        # A new standby is being built: storage groups a cleanup deleted before belong to the last one.
        ctx.facts[GROUPS_REMOVED_FACT] = {}
        # Which computers the site is built on: later runs refuse to act on another one.
        identities = record_identities(ctx, tuple(site.hosts))
        return {"recorded": record, "stores": len(ctx.facts[stores.STORES_FACT]), "identities": identities}

    def prepare_production(self, site: Site) -> list[Step]:
        pk, sk = self.keys(site)
        production, standby = site.production.name, site.standby.name
        temp = catalog.temp_name(production)
        begin, logs, event = self.id("record-production"), self.id("logs-with-system-path"), self.id("production-event-srs")
        stop, rename_p, rename_s = (self.id("stop-production-services"), self.id("rename-production-temp"),
                                    self.id("rename-standby"))

        def begin_check(ctx: Any) -> Check:
            if ctx.facts.get(CONFIG_FACT) == "started" and ctx.facts.get(PRODUCTION_FACT):
                return Check.no_change(f"configuration under way; production recorded as "
                                       f"{ctx.facts[PRODUCTION_FACT]['name']}")
            return Check.will_change(f"{production}: record its name, IP addresses, services, volumes and store "
                                     f"paths (to bring it back and to promote later); configuration starts")

        def logs_check(ctx: Any) -> Check:
            recorded = ctx.facts.get(stores.STORES_FACT)
            if not recorded:
                return Check.depends(f"production's store paths are read by {begin}")
            apart = [f"{s['StorageGroup']}: logs on {catalog.drive(s['LogPath'])}, system path on "
                     f"{catalog.drive(s['SystemPath'])}" for s in recorded
                     if catalog.drive(s.get("LogPath")) != catalog.drive(s.get("SystemPath"))]
            if apart:
                return Check.blocked(*(f"{production}: {line}: move them to one volume with Exchange System Manager "
                                       f"before configuring (runbook step 1)" for line in apart))
            return Check.no_change(f"{production}: transaction logs and system path share a volume")

        def undo_services(ctx: Any) -> dict[str, Any]:
            done = services.apply_services(ctx, pk, self.restore_wanted(ctx))
            mounted = stores.mount_stores_step(id="undo", title="", key=pk, at_startup=False).apply(ctx)
            return {"services": done, "stores": mounted}

        candidates_p = lambda ctx: (production, temp)  # noqa: E731 - names the production host may run under
        candidates_s = lambda ctx: (standby, production)  # noqa: E731
        return [
            Step(id=begin, title="Record production as it is before the configuration", target=pk,
                 check=begin_check, apply=self.record_production),
            Step(id=logs, title="Transaction logs and system path on the same volume (runbook 1)", target=pk,
                 check=logs_check, apply=never, after=(begin,), rechecked_after=(begin,)),
            services.service_step(
                id=event, title="Event stopped + Manual, Site Replication Service stopped + Disabled (1.1)", key=pk,
                wanted={catalog.EVENT_SERVICE: ("Stopped", "Manual"), catalog.SRS_SERVICE: ("Stopped", "Disabled")},
                after=(logs,)),
            services.service_step(
                id=stop, title="Stop production's Exchange services and set them to Manual (1.2)", key=pk,
                wanted=services.all_in(self.production_services(), "Stopped", "Manual"), after=(event,),
                destructive=True, opens_window=OUTAGE, undo=undo_services),
            names.rename_step(
                id=rename_p, title=f"Rename production to {temp} and restart it (1.3-1.4)", key=pk, new_name=temp,
                candidates=candidates_p, after=(stop,), undo=names.undo_rename(pk, production, candidates_p)),
            names.rename_step(
                id=rename_s, title=f"Rename the standby to {production} and restart it (2.1-2.2)", key=sk,
                new_name=production, freed_by=rename_p, candidates=candidates_s, after=(rename_p,),
                undo=names.undo_rename(sk, standby, candidates_s)),
        ]

    # ------------------------------------------------------------------ install-dr

    def needs_production_name(self, ctx: Any, key: str, by: str) -> Check | None:
        name = hosts.computer_system(hosts.remote(ctx, key))["Name"]
        if str(name).lower() != ctx.site.production.name.lower():
            return Check.depends(f"the standby runs as {name}; DisasterRecovery setup needs it named "
                                 f"{ctx.site.production.name} ({by})")
        return None

    def install_dr_mode(self, site: Site) -> list[Step]:
        _pk, sk = self.keys(site)
        volumes, components, setup, update, stop = (
            self.id("standby-volumes"), self.id("windows-components"), self.id("setup-dr"), self.id("update-dr"),
            self.id("stop-standby-services"))
        rename_s, record = self.id("rename-standby"), self.id("record-production")
        version = self.version
        # The sizes wanted are production's as record-production finds them.
        steps = [attrs_evolve(volume_step(volumes, sk, windows_2000=site.standby.windows is WindowsVersion.W2000),
                              rechecked_after=(record,)),
                 components_step(components, sk, aspnet=version is ExchangeVersion.E2003)]

        def setup_check(ctx: Any) -> Check:
            session = hosts.remote(ctx, sk)
            installed = hosts.exchange_setup(session)
            if installed is not None:
                return Check.no_change(f"{session.name}: Exchange is installed (build "
                                       f"{installed.get('NewestBuild') or installed.get('MsiBuildMajor')})")
            early = self.needs_production_name(ctx, sk, rename_s)
            if early is not None:
                return early
            return Check.will_change(f"{session.name}: setup.exe /DisasterRecovery with "
                                     f"{', '.join(ctx.site.exchange.components)} into {ctx.site.exchange.install_path}")

        def setup_apply(ctx: Any) -> dict[str, Any]:
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

        steps.append(Step(id=setup, title="Install Exchange with setup.exe /DisasterRecovery (2.4)", target=sk,
                          check=setup_check, apply=setup_apply, idempotent=False, after=(volumes, components)))
        last = setup
        if site.exchange.update_path:
            wanted_build = catalog.expected_build(version, site.exchange.service_pack)

            def update_check(ctx: Any) -> Check:
                session = hosts.remote(ctx, sk)
                installed = hosts.exchange_setup(session)
                if installed is None:
                    return Check.depends(f"{session.name}: Exchange is installed by {setup} first")
                build = int(installed.get("ServicePackBuild") or installed.get("NewestBuild") or 0)
                if build >= wanted_build:
                    return Check.no_change(f"{session.name}: Exchange build {build} (production's "
                                           f"{ctx.site.exchange.service_pack}: {wanted_build})")
                return Check.will_change(f"{session.name}: update.exe /DisasterRecovery: build {build} -> {wanted_build} "
                                         f"({ctx.site.exchange.service_pack})")

            def update_apply(ctx: Any) -> dict[str, Any]:
                def updated(s: Any) -> bool:
                    found = hosts.exchange_setup(s) or {}
                    return int(found.get("ServicePackBuild") or found.get("NewestBuild") or 0) >= wanted_build
                return programs.run_installer(ctx, sk, [ctx.site.exchange.update_path, "/DisasterRecovery"],
                                              what="exchange.update_path", done=updated)

            steps.append(Step(id=update, title="Apply production's service pack with update.exe /DisasterRecovery (2.5)",
                              target=sk, check=update_check, apply=update_apply, idempotent=False, after=(setup,),
                              rechecked_after=(setup,)))
            last = update
        # Setup and update install the services and leave them running.
        steps.append(services.service_step(
            id=stop, title="Stop the standby's Exchange services and set them to Manual (2.6-2.7)", key=sk,
            wanted=services.all_in(self.all_services(), "Stopped", "Manual"),
            missing_means=f"Exchange is installed by {setup} first", after=(last,),
            rechecked_after=tuple(dict.fromkeys((setup, last)))))
        return steps

    # ------------------------------------------------------------------ grant-acls

    def grant_ad_acls(self, site: Site) -> list[Step]:
        from qrdr.directory import CREATE_DELETE_CHILD, FULL_CONTROL

        renamed_by = self.id("rename-standby")
        grants = [(acl.ORGANIZATION, CREATE_DELETE_CHILD, "grant-organization",
                   "Allow the standby Create + Delete all child objects on the organization (3.2)"),
                  (acl.SERVERS, FULL_CONTROL, "grant-servers", "Allow the standby Full Control on CN=Servers (3.4)"),
                  (acl.SERVER, FULL_CONTROL, "grant-server",
                   f"Allow the standby Full Control on the server object {site.production.name} (3.5)")]
        steps: list[Step] = []
        for which, mask, what, title in grants:  # in the runbook's order: organization, Servers, the server
            steps.append(acl.grant_step(id=self.id(what), title=title, which=which, mask=mask, renamed_by=renamed_by,
                                        after=(steps[-1].id,) if steps else ()))
        steps.append(acl.replication_step(id=self.id("wait-acl-replication"),
                                          title="Wait until every domain controller shows the rights (3)",
                                          grants=[(which, mask) for which, mask, _w, _t in grants],
                                          renamed_by=renamed_by, after=tuple(s.id for s in steps),
                                          rechecked_after=tuple(s.id for s in steps)))
        return steps

    # ------------------------------------------------------------------ finish-configuration

    def finish_configuration(self, site: Site) -> list[Step]:
        pk, sk = self.keys(site)
        production, standby = site.production.name, site.standby.name
        temp = catalog.temp_name(production)
        ids = {what: self.id(what) for what in (
            "start-standby-services", "standby-store-paths", "stop-standby-services-again", "rename-standby-back",
            "rename-production-back", "start-production-services", "mount-production-stores",
            "configuration-finished")}
        installed_by = f"Exchange is installed on the standby by {self.id('setup-dr')}"
        record = self.id("record-production")

        def stale_after(*steps: str) -> tuple[str, ...]:
            """``rechecked_after`` of a step here: its check reads whether record-production started a
            configuration (the guard, the facts), and what ``steps``, of this run's earlier phases, change."""
            return (record, *steps)

        def back_check(ctx: Any) -> Check:
            if ctx.facts.get(CONFIG_FACT) == "finished":
                return Check.no_change("configuration finished")
            return Check.will_change("configuration finished: production runs again under its own name")

        def back_apply(ctx: Any) -> dict[str, Any]:
            ctx.facts[CONFIG_FACT] = "finished"
            return {"configuration": "finished"}

        def registered(ctx: Any) -> Check:
            """Runbook 7's note: the standby rebooted completely and its name is registered in AD."""
            renamed = names.check_rename(ctx, sk, standby, freed_by=None, candidates=(production, standby))
            if renamed.outcome.value != "no change":
                return renamed
            from qrdr.directory import lookup_computer

            account = lookup_computer(ctx.directory, standby)
            if account is None or not account.dns_host_name:
                return Check.depends(f"the computer account {standby}$ is not (fully) registered in AD yet")
            return Check.no_change(f"{standby} runs under its own name and {account.dns_host_name} is registered in AD")

        return [
            services.service_step(
                id=ids["start-standby-services"], title="Start the standby's Exchange services (4)", key=sk,
                wanted=services.all_in(self.production_services(), "Running", "Manual"), missing_means=installed_by,
                guard=configuration_guard, rechecked_after=stale_after(self.id("stop-standby-services"))),
            stores.store_paths_step(
                id=ids["standby-store-paths"], title="The standby's .edb/.stm paths equal production's (5)", key=sk,
                missing_means=installed_by, guard=configuration_guard, after=(ids["start-standby-services"],),
                rechecked_after=stale_after(self.id("setup-dr"))),
            services.service_step(
                id=ids["stop-standby-services-again"], title="Stop all of the standby's Exchange services (6)", key=sk,
                wanted=services.all_in(self.all_services(), "Stopped", "Manual"), missing_means=installed_by,
                guard=configuration_guard, after=(ids["standby-store-paths"],),
                rechecked_after=stale_after(ids["start-standby-services"])),
            attrs_evolve(names.rename_step(
                id=ids["rename-standby-back"], title=f"Rename the standby back to {standby} and restart it (7)",
                key=sk, new_name=standby, candidates=lambda ctx: (production, standby), guard=configuration_guard,
                after=(ids["stop-standby-services-again"],), rechecked_after=stale_after(self.id("rename-standby"))),
                verify=registered),
            names.rename_step(
                id=ids["rename-production-back"], title=f"Rename production back to {production} and restart it (8)",
                key=pk, new_name=production, freed_by=ids["rename-standby-back"], candidates=lambda ctx: (temp, production),
                guard=configuration_guard, after=(ids["rename-standby-back"],),
                rechecked_after=stale_after(self.id("rename-production-temp"))),
            services.service_step(
                id=ids["start-production-services"],
                title="Production's Exchange services back to Automatic and started (9)", key=pk,
                wanted=self.restore_wanted, guard=configuration_guard, after=(ids["rename-production-back"],),
                rechecked_after=stale_after(self.id("stop-production-services"))),
            stores.mount_stores_step(
                id=ids["mount-production-stores"],
                title="Mount production's stores and have them mount at startup (10-11)", key=pk,
                guard=configuration_guard, after=(ids["start-production-services"],), closes_window=OUTAGE,
                rechecked_after=stale_after(self.id("stop-production-services"), ids["start-production-services"])),
            Step(id=ids["configuration-finished"], title="Configuration finished", target=pk, check=back_check,
                 apply=back_apply, after=(ids["mount-production-stores"],), rechecked_after=stale_after()),
        ]

    # ------------------------------------------------------------------ preflight: promote and check

    def identity_probe(self, site: Site, phase: str) -> Step:
        """Every host key reaches the computer the site config names, under a name it may have in
        this phase, no two the same computer, each the one recorded at configure (issue: a host is
        who it claims to be)."""
        pk, sk = self.keys(site)
        production, standby = site.production.name, site.standby.name
        configuring = phase in hookspecs.CONFIGURE_PHASES
        expected = {key: (host.name,) for key, host in site.hosts.items()}
        expected[pk] = (production, catalog.temp_name(production)) if configuring else (production,)
        expected[sk] = (standby, production)
        # The standby first: production's key may lead to it after a promote (see identity_check).
        expected = {sk: expected[sk], **{key: names for key, names in expected.items() if key != sk}}
        # A failed production does not answer in a promote or a cleanup; when it does, it must be itself.
        may_be_down = () if configuring or phase == "create-qr-volumes" else (pk,)
        return Step(id=self.id("hosts-are-the-configured-computers"),
                    title="Each host is the computer the site config names", target=pk,
                    check=lambda ctx: identity_check(ctx, expected, may_be_down=may_be_down,
                                                     compare_recorded=not configuring,
                                                     taken_place=None if configuring else (pk, sk, production)),
                    apply=never)

    def preflight(self, site: Site, phase: str) -> list[Step]:
        pk, sk = self.keys(site)
        identity = [self.identity_probe(site, phase)]
        if phase == "prepare-production" and site.standby.windows is WindowsVersion.W2000:
            # Checked before configure stops production: no partition can be made remotely there.
            return identity + [attrs_evolve(volume_step(self.id("ready-standby-partitions"), sk, windows_2000=True),
                                            title="The standby's partitions exist, as large as production's "
                                                  "(runbook 2.3, by hand on Windows 2000)")]
        if phase not in ("promote", "check"):
            return identity
        probes = identity + [
            Step(id=self.id("ready-standby"), title="The standby answers, as configured", target=sk,
                 check=lambda ctx: standby_ready(ctx, sk), apply=never),
            Step(id=self.id("ready-volumes"), title="The standby's volumes match production's (letters, sizes)",
                 target=sk, check=lambda ctx: volumes_ready(ctx, sk), apply=never),
            Step(id=self.id("ready-databases"), title="The copied databases are clean or soft-recoverable",
                 target=sk, check=lambda ctx: databases_ready(ctx, sk), apply=never),
        ]
        if phase == "check":
            probes.append(Step(id=self.id("ready-acls"), title="The standby's rights on the Exchange objects are in place",
                               target="directory", check=acls_ready, apply=never))
            probes.append(Step(id=self.id("ready-production"), title="Production answers under its own name",
                               target=pk, check=lambda ctx: production_ready(ctx, pk), apply=never))
        return probes

    # ------------------------------------------------------------------ promote

    def promote_standby(self, site: Site) -> list[Step]:
        pk, sk = self.keys(site)
        production, standby = site.production.name, site.standby.name
        i = {what: self.id(what) for what in (
            "begin-promote", "soft-recovery", "shut-down-production", "reset-production-account", "standby-leave-domain",
            "rename-standby-to-production", "standby-join-domain", "standby-services", "standby-stores",
            "take-over-ip", "mail-flowing")}
        candidates = lambda ctx: (standby, production)  # noqa: E731
        services_wanted = services.all_in(self.production_services(), "Running", "Auto")

        def named_as_production(ctx: Any) -> Check | None:
            """Exchange sees production's stores only on a host named like production (the server object)."""
            _session, system = identify(ctx, sk, (standby, production))
            if str(system["Name"]).lower() != production.lower():
                return Check.depends(f"the standby runs as {system['Name']}; its stores are production's once it "
                                     f"runs as {production} (step {i['rename-standby-to-production']})")
            return None

        def promoted(ctx: Any) -> Check | None:
            """Safety for a promote run again after it succeeded: the standby already is production. Then
            production's address may answer with the standby itself: nothing is shut down, reset or left."""
            _session, system = identify(ctx, sk, (standby, production))
            if str(system["Name"]).lower() == production.lower() and hosts.part_of_domain(system):
                return Check.no_change(f"the standby already runs as {production} in {system.get('Domain')}: "
                                       f"promoted; production and its account are left alone")
            return None

        steps = [
            names.begin_step(id=i["begin-promote"], title="Promote starts", target=sk, what="promote",
                             accounts=lambda ctx: [production], guard=promoted),
            stores.soft_recovery_step(id=i["soft-recovery"], title="Soft recovery of the copied databases", key=sk,
                                      guard=promoted, after=(i["begin-promote"],)),
            Step(id=i["shut-down-production"], title="Shut production down if it still answers (B1)", target=pk,
                 check=lambda ctx: promoted(ctx) or production_down_check(ctx, pk),
                 verify=lambda ctx: production_down_check(ctx, pk), apply=lambda ctx: shut_down(ctx, pk),
                 destructive=True, after=(i["soft-recovery"],)),
            names.reset_account_step(id=i["reset-production-account"],
                                     title=f"Reset production's computer account {production}$ (B2)",
                                     name=production, during="promote", guard=promoted,
                                     after=(i["shut-down-production"],), rechecked_after=(i["begin-promote"],)),
            names.leave_domain_step(id=i["standby-leave-domain"], title="Take the standby out of the domain (B3)",
                                    key=sk, candidates=candidates, guard=promoted,
                                    after=(i["reset-production-account"],)),
            names.rename_step(id=i["rename-standby-to-production"],
                              title=f"Rename the standby to {production} and restart it (B3)", key=sk,
                              new_name=production, candidates=candidates, out_of_domain_by=i["standby-leave-domain"],
                              after=(i["standby-leave-domain"],), idempotent=True),
            names.join_domain_step(id=i["standby-join-domain"],
                                   title=f"Put the standby back into the domain as {production} and restart it (B3)",
                                   key=sk, name=production, candidates=candidates,
                                   after=(i["rename-standby-to-production"],),
                                   rechecked_after=(i["standby-leave-domain"], i["rename-standby-to-production"])),
            services.service_step(id=i["standby-services"],
                                  title="The standby's Exchange services Automatic and started (B4)", key=sk,
                                  wanted=services_wanted, after=(i["standby-join-domain"],)),
            # Exchange sees the stores under production's name, and mounts them with its services started.
            stores.mount_stores_step(id=i["standby-stores"], title="Mount the stores on the standby (B5)", key=sk,
                                     guard=named_as_production, after=(i["standby-services"],),
                                     rechecked_after=(i["rename-standby-to-production"], i["standby-services"])),
        ]
        last = i["standby-stores"]
        if site.takeover.ip_address:
            steps.append(Step(id=i["take-over-ip"], title=f"Take over production's IP address {site.takeover.ip_address} (B6)",
                              target=sk, check=lambda ctx: ip_check(ctx, sk), apply=lambda ctx: take_over_ip(ctx, sk),
                              after=(last,)))
            last = i["take-over-ip"]

        def flowing(ctx: Any) -> Check:
            early = named_as_production(ctx)
            if early is not None:
                return early
            check = services.check_services(ctx, sk, services_wanted)
            mounted = stores.mount_stores_step(id="probe", title="", key=sk).verify(ctx)
            if check.outcome.value == "no change" and mounted.outcome.value == "no change":
                return Check.no_change(f"mail flows through {production}: services running, stores mounted")
            return Check.depends(*(check.changes if check.outcome.value != "no change" else ()),
                                 *(mounted.changes if mounted.outcome.value != "no change" else ()))

        steps.append(Step(id=i["mail-flowing"], title="Mail flows: services running and stores mounted", target=sk,
                          check=flowing, apply=never, after=(last,), closes_window=MAIL_FLOWING,
                          rechecked_after=(i["rename-standby-to-production"], i["standby-services"],
                                           i["standby-stores"])))
        return steps

    # ------------------------------------------------------------------ cleanup

    def cleanup(self, site: Site, scope: str) -> list[Step]:
        pk, sk = self.keys(site)
        if scope == "recovery":
            return self.cleanup_recovery(site, sk)
        if scope == "source":
            return self.cleanup_source(site, pk, sk)
        raise ValueError(f"cleanup scope {scope!r}: expected 'recovery' or 'source'")

    def _removal(self, site: Site, key: str, prefix: str, *, registry_keys: bool) -> list[Step]:
        """Appendix: Outlook profiles, uninstall Exchange, (the two Uninstall keys), locked DLLs, Exchsrvr."""
        install = site.exchange.install_path
        ids = [self.id(f"{prefix}-{what}") for what in ("outlook-profiles", "uninstall-exchange", "uninstall-keys",
                                                         "locked-dlls", "exchsrvr-folder")]
        steps = [
            profiles_step(ids[0], key),
            uninstall_step(ids[1], key, self.version, after=(ids[0],)),
        ]
        previous = ids[1]
        # The uninstall deletes or leaves the keys and the folder, and leaves the DLLs held open.
        uninstalled = (ids[1],)
        if registry_keys:
            steps.append(files.remove_paths_step(
                id=ids[2], title="Delete the two Exchange Uninstall registry keys", key=key,
                paths=[ntpath.join(catalog.UNINSTALL_ROOT, k) for k in catalog.UNINSTALL_KEYS], after=(previous,),
                rechecked_after=uninstalled))
            previous = ids[2]
        steps.append(files.locked_files_step(id=ids[3], title="Stop the processes holding exchmem/exsp/pttrace.dll",
                                             key=key, folder=lambda ctx: ntpath.join(install, "bin"), after=(previous,),
                                             rechecked_after=uninstalled))
        steps.append(files.remove_paths_step(id=ids[4], title=f"Delete the Exchsrvr folder {install}", key=key,
                                             paths=[install], after=(ids[3],), rechecked_after=uninstalled))
        return steps

    def cleanup_recovery(self, site: Site, sk: str) -> list[Step]:
        production, standby = site.production.name, site.standby.name
        candidates = lambda ctx: (production, standby)  # noqa: E731
        stores_id, groups_id = self.id("recovery-stores"), self.id("recovery-storage-groups")
        begin = self.id("begin-cleanup-recovery")
        steps = [
            names.begin_step(id=begin, title="Cleanup of the recovery server starts", target=sk,
                             what="cleanup-recovery", accounts=lambda ctx: [standby]),
            remove_stores_step(stores_id, sk, after=(begin,)),
            remove_groups_step(groups_id, sk, after=(stores_id,)),
        ]
        removal = self._removal(site, sk, "recovery", registry_keys=True)
        removal[0] = attrs_evolve(removal[0], after=(groups_id,))
        steps += removal
        # "Rename the Recovery Server back to the original name and reboot." Its own account (standby$)
        # still exists from before the promote, so a domain rename would collide with it: it leaves the
        # domain, takes its name back and rejoins reusing its reset account.
        reset, leave, rename, join = (self.id("recovery-reset-own-account"), self.id("recovery-leave-domain"),
                                      self.id("recovery-rename-back"), self.id("recovery-join-domain"))
        steps += [
            names.reset_account_step(id=reset, title=f"Reset the recovery server's own account {standby}$",
                                     name=standby, during="cleanup-recovery", after=(removal[-1].id,),
                                     rechecked_after=(begin,)),
            names.leave_domain_step(id=leave, title="Take the recovery server out of the domain", key=sk,
                                    candidates=candidates, after=(reset,)),
            names.rename_step(id=rename, title=f"Rename the recovery server back to {standby} and restart it (1.7)",
                              key=sk, new_name=standby, candidates=candidates, out_of_domain_by=leave, after=(leave,)),
            names.join_domain_step(id=join, title=f"Put {standby} back into the domain", key=sk, name=standby,
                                   candidates=candidates, after=(rename,), rechecked_after=(leave, rename)),
        ]
        return steps

    def cleanup_source(self, site: Site, pk: str, sk: str) -> list[Step]:
        production = site.production.name
        begin = self.id("begin-cleanup-source")
        steps: list[Step] = [names.begin_step(id=begin, title="Cleanup of the source server starts", target=pk,
                                              what="cleanup-source", accounts=lambda ctx: [production])]
        previous: tuple[str, ...] = (begin,)
        if site.production.windows is WindowsVersion.W2003:
            safe = self.id("source-safe-mode-services")
            steps.append(attrs_evolve(safe_mode_services_step(safe, pk, self.all_services()), after=previous))
            previous = (safe,)
        reset, leave, join = (self.id("source-reset-account"), self.id("source-leave-domain"),
                              self.id("source-join-domain"))

        def nobody_else(ctx: Any) -> Check | None:
            name = hosts.current_name(ctx, sk)
            if name.lower() == production.lower():
                return Check.blocked(f"the recovery server still runs as {production}: clean up the recovery server "
                                     f"first (qrdr cleanup --scope recovery), or its account would be reset")
            return None

        reset_step = names.reset_account_step(id=reset, title=f"Reset the account {production}$ for the source "
                                                           f"server to rejoin", name=production,
                                              during="cleanup-source", after=previous, rechecked_after=(begin,))
        original_check = reset_step.check
        steps += [
            attrs_evolve(reset_step, check=lambda ctx: nobody_else(ctx) or original_check(ctx)),
            names.leave_domain_step(id=leave, title="Take the source server out of the domain and restart it", key=pk,
                                    after=(reset,)),
            names.join_domain_step(id=join, title="Log the source server into the domain and restart it", key=pk,
                                   name=production, after=(leave,), rechecked_after=(leave,)),
        ]
        removal = self._removal(site, pk, "source", registry_keys=site.production.windows is WindowsVersion.W2000)
        removal[0] = attrs_evolve(removal[0], after=(join,))
        return steps + removal


def attrs_evolve(step: Step, **changes: Any) -> Step:
    import attrs

    return attrs.evolve(step, **changes)


# --------------------------------------------------------------------------- install-dr step builders


#: Runbook 2.3 on Windows 2000, which has no diskpart (it came with XP and Server 2003; XP Resource Kit,
#: "Enhancements and Changes Since Windows 2000"): Disk Management is the tool, by hand, before configure.
PARTITIONS_BY_HAND = ("create them before configuring, in Disk Management (diskmgmt.msc) on the standby: each a "
                      "primary partition at least as large as production's, with that drive letter, formatted NTFS "
                      "(runbook 2.3; Windows 2000 has no diskpart)")


def volume_step(step_id: str, key: str, *, windows_2000: bool = False) -> Step:
    """Runbook 2.3: the standby has production's Exchange drive letters, each at least as large.

    On Windows 2003 qrdr creates what is missing with diskpart and format. On Windows 2000 they
    are a prerequisite checked before configure changes anything (:func:`partitions_ready`): a
    missing one blocks, with :data:`PARTITIONS_BY_HAND`, rather than wait for a person while
    production is down.
    """

    def wanted(ctx: Any) -> list[tuple[str, int]]:
        recorded = ctx.facts.get(PRODUCTION_FACT, {}).get("volumes", {})
        return [(catalog.letter(v.target_letter), max(int(v.size_gb * 1024 ** 3), int(recorded.get(catalog.letter(v.letter), 0))))
                for v in ctx.site.volumes]

    def check(ctx: Any) -> Check:
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

    def apply(ctx: Any) -> dict[str, Any]:
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


def components_step(step_id: str, key: str, *, aspnet: bool) -> Step:
    """Runbook 2.3 note: NNTP and SMTP (and ASP.NET for Exchange 2003) before setup."""

    def missing(ctx: Any) -> list[str]:
        session = hosts.remote(ctx, key)
        present = hosts.services(session, ["SMTPSVC", "NNTPSVC"])
        wanted = [("iis_smtp", "SMTPSVC" in present), ("iis_nntp", "NNTPSVC" in present)]
        if aspnet:
            wanted.append(("aspnet", hosts.path_exists(session, catalog.ASPNET_KEY)))
        return [name for name, ok in wanted if not ok]

    def check(ctx: Any) -> Check:
        label = hosts.current_name(ctx, key)
        lacking = missing(ctx)
        if lacking:
            return Check.will_change(f"{label}: install the Windows components {', '.join(lacking)} (sysocmgr)")
        return Check.no_change(f"{label}: SMTP, NNTP" + (" and ASP.NET" if aspnet else "") + " are installed")

    def apply(ctx: Any) -> dict[str, Any]:
        session = hosts.remote(ctx, key)
        lacking = missing(ctx)
        answers = ntpath.join(catalog.WORK_FOLDER, "qrdr-sysoc.txt")
        files.write_file(session, answers, catalog.sysoc_answers(tuple(lacking)))
        # %windir% is C:\WINNT on Windows 2000 and C:\WINDOWS on Windows 2003.
        windir = r"C:\WINNT" if ctx.site.hosts[key].windows is WindowsVersion.W2000 else r"C:\WINDOWS"
        run = programs.run_long_program(ctx, key, ["sysocmgr", rf"/i:{windir}\inf\sysoc.inf", f"/u:{answers}", "/q"],
                                        what="the Windows components")
        if run.exit_code != 0:
            raise programs.ProgramFailed(f"{session.name}: sysocmgr ended with exit code {run.exit_code}: "
                                         + " ".join(run.output[-3:]))
        return {"installed": lacking, **run.evidence()}

    return Step(id=step_id, title="NNTP, SMTP" + (" and ASP.NET" if aspnet else "") + " installed (2.3 note)",
                target=key, check=check, apply=apply)


# --------------------------------------------------------------------------- readiness probes


def standby_ready(ctx: Any, key: str) -> Check:
    session, system = identify(ctx, key, (ctx.site.standby.name, ctx.site.production.name))
    installed = hosts.exchange_installed(ctx, key)
    if installed is None:
        return Check.blocked(f"{system['Name']}: Exchange is not installed in DisasterRecovery mode: run qrdr configure")
    build = installed.get("NewestBuild") or installed.get("ServicePackBuild")
    return Check.no_change(f"{system['Name']} answers (domain {system.get('Domain')}), Exchange "
                           + (f"build {build} installed" if build else "installed (its services exist)"),
                           name=system["Name"])


def production_ready(ctx: Any, key: str) -> Check:
    session, system = identify(ctx, key, (ctx.site.production.name, catalog.temp_name(ctx.site.production.name)))
    if str(system["Name"]).lower() != ctx.site.production.name.lower():
        return Check.blocked(f"production runs as {system['Name']}, not {ctx.site.production.name}: a configuration "
                             f"did not finish (qrdr resume)")
    return Check.no_change(f"{system['Name']} answers under its own name")


def volumes_ready(ctx: Any, key: str) -> Check:
    session = hosts.remote(ctx, key)
    disks = hosts.logical_disks(session)
    recorded = ctx.facts.get(PRODUCTION_FACT, {}).get("volumes", {})
    problems, fine = [], []
    for volume in ctx.site.volumes:
        letter = catalog.letter(volume.target_letter)
        size = max(int(volume.size_gb * 1024 ** 3), int(recorded.get(catalog.letter(volume.letter), 0)))
        disk = disks.get(letter)
        if disk is None:
            problems.append(f"{session.name}: no volume {letter} (production's {volume.letter})")
        elif int(disk.get("Size") or 0) < size:
            problems.append(f"{session.name}: {letter} has {int(disk['Size']) / 1024 ** 3:.1f} GB, smaller than "
                            f"production's {volume.letter} ({size / 1024 ** 3:.1f} GB)")
        else:
            fine.append(f"{letter} {int(disk['Size']) / 1024 ** 3:.1f} GB")
    if problems:
        return Check.blocked(*problems)
    return Check.no_change(f"{session.name}: " + ", ".join(fine))


def databases_ready(ctx: Any, key: str) -> Check:
    if not stores.database_files(ctx):
        return Check.blocked("production's database paths were never recorded: run qrdr configure first")
    reasons, recoveries, evidence = stores.database_check(ctx, key)
    if reasons:
        return Check.blocked(*reasons, databases=evidence)
    if recoveries:
        return Check.no_change(*recoveries, databases=evidence)
    return Check.no_change("every copied database is in Clean Shutdown", databases=evidence)


def acls_ready(ctx: Any) -> Check:
    from qrdr.directory import CREATE_DELETE_CHILD, FULL_CONTROL, plan_grant

    sid = ctx.facts.get(acl.STANDBY_SID_FACT)
    if not sid:
        return Check.blocked("no rights were granted to the standby yet: run qrdr configure")
    missing = []
    for which, mask in ((acl.ORGANIZATION, CREATE_DELETE_CHILD), (acl.SERVERS, FULL_CONTROL), (acl.SERVER, FULL_CONTROL)):
        plan = plan_grant(ctx.directory, acl.exchange_dn(ctx, which), sid, mask)
        if plan is not None:
            missing.append(f"missing: {plan.describe()}")
    if missing:
        return Check.blocked(*missing)
    return Check.no_change(f"the standby's account {sid} has its rights on the organization, Servers and server objects")


# --------------------------------------------------------------------------- promote step functions


def production_down_check(ctx: Any, key: str) -> Check:
    session = hosts.remote(ctx, key)
    if session.is_reachable():
        return Check.will_change(f"{session.name} still answers at {ctx.site.hosts[key].address}: shut it down "
                                 f"(Stop-Computer -Force) before its name is taken over")
    return Check.no_change(f"{session.name} does not answer at {ctx.site.hosts[key].address}: it is down")


def shut_down(ctx: Any, key: str) -> dict[str, Any]:
    from qrdr.remote import ConnectionLostDuringChange
    from qrdr.remote.session import DOWN_PROBES

    session = hosts.remote(ctx, key)
    try:
        session.run(Command("Stop-Computer", {"Force": True}))
    except ConnectionLostDuringChange:
        pass  # it went down under the command
    seconds = session.wait_until_down(300, progress=ctx.progress, after=" after Stop-Computer", probes=DOWN_PROBES)
    return {"down_after_s": round(seconds, 1)}


def ip_check(ctx: Any, key: str) -> Check:
    wanted = ctx.site.takeover.ip_address
    session = hosts.remote(ctx, key)
    addresses = hosts.ip_addresses(session)
    if wanted in addresses:
        return Check.no_change(f"{session.name} has {wanted}")
    return Check.will_change(f"{session.name}: IP address {', '.join(addresses) or 'none'} -> {wanted}/"
                             f"{ctx.site.takeover.subnet_mask}")


def take_over_ip(ctx: Any, key: str) -> dict[str, Any]:
    from qrdr.remote import ConnectionLostDuringChange

    takeover = ctx.site.takeover
    session = hosts.remote(ctx, key)
    try:
        output = session.run(
            Command("Get-WmiObject", {"Class": "Win32_NetworkAdapterConfiguration", "Filter": "IPEnabled=TRUE"}),
            Command("Invoke-WmiMethod", {"Name": "EnableStatic",
                                         "ArgumentList": [[takeover.ip_address], [takeover.subnet_mask]]}))
    except ConnectionLostDuringChange:
        # The address qrdr reached it by may be the one replaced: continue on the new one.
        session.reconnect_as(session.name, takeover.ip_address)
        return {"address": takeover.ip_address, "reconnected": True}
    code = int((output[0] or {}).get("ReturnValue", -1)) if output else -1
    # 1: done, restart required; 81: done on an adapter that was static already (the method's Remarks).
    if code not in (0, 1, 81):
        raise RuntimeError(f"{session.name}: EnableStatic {takeover.ip_address} returned {code}")
    return {"address": takeover.ip_address, "return": code}


# --------------------------------------------------------------------------- cleanup step builders


def profiles_step(step_id: str, key: str, **options: Any) -> Step:
    """Appendix: "Delete the Outlook profile of the Exchange user": every key under the profiles key of
    the account qrdr acts as (HKCU; through StdRegProv from the management host for Windows 2000)."""
    return files.remove_paths_step(
        id=step_id, title="Delete the Outlook profile of the Exchange user", key=key,
        paths=lambda ctx: files.children(hosts.remote(ctx, key), catalog.OUTLOOK_PROFILES_KEY),
        what="delete the Outlook profile", **options)


def remove_stores_step(step_id: str, key: str, **options: Any) -> Step:
    def check(ctx: Any) -> Check:
        label = hosts.current_name(ctx, key)
        if hosts.exchange_installed(ctx, key) is None:
            return Check.no_change(f"{label}: Exchange is not installed")
        found = hosts.stores(ctx, key)
        if not found:
            return Check.no_change(f"{label}: no store left")
        return Check.will_change(*(f"{label}: dismount and delete the {s['Type']} store {s['Name']!r}" for s in found))

    def apply(ctx: Any) -> dict[str, Any]:
        removed = []
        for store in hosts.stores(ctx, key):
            if store.get("Mounted"):
                hosts.run_store_script(ctx, key, "dismount_exchange_store.ps1", Name=store["Name"])
            hosts.run_store_script(ctx, key, "remove_exchange_store.ps1", Name=store["Name"])
            removed.append(store["Name"])
        return {"removed": removed}

    return Step(id=step_id, title="Delete the public and mailbox stores (appendix 1.3)", target=key, check=check,
                apply=apply, destructive=True, **options)


GROUPS_REMOVED_FACT = "storage_groups_removed"


def remove_groups_step(step_id: str, key: str, **options: Any) -> Step:
    """Appendix 1.4. An empty storage group is invisible to ``qrdr:Get-ExchangeStore``, so the groups
    are production's recorded ones, and each one deleted (or found gone) is remembered in the facts."""

    def pending(ctx: Any) -> list[str]:
        removed = set(ctx.facts.get(GROUPS_REMOVED_FACT, {}).get(key, []))
        recorded = {s["StorageGroup"] for s in ctx.facts.get(stores.STORES_FACT, [])}
        return sorted(recorded - removed)

    def check(ctx: Any) -> Check:
        label = hosts.current_name(ctx, key)
        found = pending(ctx)
        if not found:
            return Check.no_change(f"{label}: no storage group left to delete")
        return Check.will_change(*(f"{label}: delete the storage group {g!r}" for g in found))

    def apply(ctx: Any) -> dict[str, Any]:
        from qrdr.remote import RemoteCommandError

        done = ctx.facts.setdefault(GROUPS_REMOVED_FACT, {}).setdefault(key, [])
        removed = []
        for group in pending(ctx):
            try:
                hosts.run_store_script(ctx, key, "remove_storage_group.ps1", Name=group)
                removed.append(group)
            except RemoteCommandError as error:
                if "No storage group named" not in str(error):
                    raise
            done.append(group)
        return {"removed": removed}

    return Step(id=step_id, title="Delete the storage group (appendix 1.4)", target=key, check=check, apply=apply,
                destructive=True, **options)


def uninstall_step(step_id: str, key: str, version: ExchangeVersion, **options: Any) -> Step:
    def check(ctx: Any) -> Check:
        session = hosts.remote(ctx, key)
        if hosts.exchange_setup(session) is None:
            return Check.no_change(f"{session.name}: Exchange is not installed")
        setup = ctx.site.exchange.setup_path
        if not hosts.path_exists(session, setup):
            return Check.blocked(f"{session.name}: the Exchange {version.value} setup media is not at {setup}: "
                                 f"insert the CD (or copy it there) to uninstall Exchange")
        return Check.will_change(f"{session.name}: uninstall Exchange {version.value} ({setup}, every component Remove)")

    def apply(ctx: Any) -> dict[str, Any]:
        session = hosts.remote(ctx, key)
        answers = ntpath.join(catalog.WORK_FOLDER, "qrdr-exchange-remove.ini")
        files.write_file(session, answers, catalog.exchange_unattend(ctx.site.exchange.components, "Remove", None))
        return programs.run_installer(ctx, key, [ctx.site.exchange.setup_path, "/UnattendFile", answers],
                                      what="exchange.setup_path", done=lambda s: hosts.exchange_setup(s) is None)

    return Step(id=step_id, title="Uninstall Microsoft Exchange", target=key, check=check, apply=apply,
                destructive=True, **options)


#: Appendix 2.1-2.2 (Windows 2003): safe mode has no network (no WinRM; KB 202485), so no remote way exists.
SAFE_MODE_BY_HAND = ("at the source server's console: boot it into Safe Mode (F8 at start-up), set every Exchange "
                     "service to Manual (services.msc), then boot it normally (appendix 2.1-2.2: so that Exchange "
                     "does not start under the name the recovery server now carries)")


def safe_mode_services_step(step_id: str, key: str, all_services: list[str]) -> Step:
    """Appendix 2.1-2.2 (Windows 2003): in safe mode, the source server's Exchange services set to
    Manual, then a normal boot. A manual step: qrdr checks afterwards that every Exchange service
    is Manual (and not running)."""
    wanted = services.all_in(all_services, "Stopped", "Manual")
    return manual_step(id=step_id, target=key, instructions=SAFE_MODE_BY_HAND, destructive=True,
                       check=lambda ctx: services.check_services(ctx, key, wanted),
                       title="In safe mode, the source server's Exchange services set to Manual (appendix 2.1-2.2)")
