"""A whole site on one machine: :class:`LabSite`.

Given a site config (the same kind a user writes for a real site), the lab
brings up:

- a real Samba AD DC (:mod:`qrdr.lab.samba`) for the site's domain, on a
  loopback address of its own, with the Exchange configuration tree and the
  computer accounts of the site's hosts (optionally a second, replicating DC);
- one simulated Windows host per site host (:mod:`qrdr.lab.sim`) with the
  Exchange and Commvault state the runbook starts from (production running
  Exchange with mounted stores, the standby with the agents and the setup
  media, a CommServe);
- one real WinRM endpoint (HTTPS, NTLM, checked certificates from a lab CA;
  or HTTP with NTLM message encryption: ``LabOptions(winrm_transport="http")``)
  per host that has one; Windows 2000 hosts have none and are reached
  through the management host, as on a real site;

and writes ``<workdir>/qrdr.toml``: the site config pointing qrdr at the lab
(addresses, ports, CA files), whose secrets are references to environment
variables listed, with their values, in ``<workdir>/lab.env``.

A reboot asked of a host (``Restart-Computer``) takes its endpoint away for
``reboot_seconds`` and brings it back under its pending name with a new boot
time; ``Stop-Computer`` and the ``power-off`` fault take it away until
``power-on``.

Used in-process by the tests (``qrdr.lab.pytest_plugin``) and, inside a
background process, by ``qrdr lab up`` (:mod:`qrdr.lab.daemon`).
"""

from __future__ import annotations

import json
import secrets as random_secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import attrs
from loguru import logger

from ..model import Site
from . import addresses
from .faults import FAULTS
from .relay import TcpRelay
from .samba import SambaDC, add_computer, populate_exchange
from .tls import make_ca, make_server_cert
from .winrm import Faults, WinRMEndpoint

#: Environment variables of the lab's secrets (what ``qrdr.toml`` in the lab dir refers to).
ENV_AD_PASSWORD = "QRDR_LAB_AD_PASSWORD"
ENV_LOCAL_PASSWORD = "QRDR_LAB_LOCAL_PASSWORD"
ENV_COMMCELL_PASSWORD = "QRDR_LAB_COMMCELL_PASSWORD"

BUILTIN_SITES_DIR = Path(__file__).parent / "sites"


def builtin_site(name: str) -> Path:
    """A built-in lab site config by name (``e2003-w2003-vss`` ...)."""
    path = BUILTIN_SITES_DIR / f"{name}.toml"
    if not path.exists():
        names = ", ".join(sorted(p.stem for p in BUILTIN_SITES_DIR.glob("*.toml")))
        raise ValueError(f"no built-in lab site {name!r} (built-in: {names})")
    return path


def _password() -> str:
    # AD complexity: upper, lower, digit and symbol.
    return random_secrets.token_urlsafe(12) + "Aa1!"


@attrs.define
class LabOptions:
    """How the lab behaves; every fault can also be set while it runs (:meth:`LabSite.fault`)."""

    reboot_seconds: float = 1.0
    second_dc: bool = False
    #: KB Q280432: setup.exe hangs at System Attendant start on the standby.
    setup_hangs: bool = False
    #: The newest QR incremental update stays in its copy phase.
    qr_update_stuck: bool = False
    #: The standby's Exchange volumes: "raw" disks that install-dr partitions, or "formatted".
    standby_volumes: str = "raw"
    #: Where golden provisioned domains are kept (SambaDC.provision's cache_dir); None provisions afresh.
    samba_cache_dir: str | None = None
    #: WinRM transport of every endpoint: "https" (NTLM with channel binding, lab CA) or "http"
    #: (NTLM with message encryption, WinRM's default listener on Windows 2003).
    winrm_transport: str = attrs.field(default="https", validator=attrs.validators.in_(("https", "http")))
    #: qrdr reaches each DC through a relay (qrdr.lab.relay) that the faults "directory-latency",
    #: "directory-cut" and "directory-down"/"directory-up" slow, cut or silence; off: qrdr
    #: connects to the DCs directly.
    directory_link: bool = False


class LabSite:
    """The lab for one site (see the module docstring). ``start()`` then ``stop()``; a context manager."""

    def __init__(self, site: Site, workdir: str | Path, options: LabOptions | None = None):
        self.site = site
        self.workdir = Path(workdir).absolute()
        self.options = options or LabOptions()
        self.passwords = {ENV_AD_PASSWORD: _password(), ENV_LOCAL_PASSWORD: _password(),
                          ENV_COMMCELL_PASSWORD: _password()}
        self.dcs: list[SambaDC] = []
        self.hosts: dict[str, Any] = {}
        self.endpoints: dict[str, WinRMEndpoint] = {}
        self.host_addresses: dict[str, str] = {}
        self.lab: Any = None
        self.commserve: Any = None
        self.organization: Any = None
        self.bound_site: Site | None = None
        self.ca: Any = None
        self._timers: list[threading.Timer] = []
        self._lock = threading.RLock()
        self.started_seconds: dict[str, float] = {}
        #: DC name -> the relay between qrdr and it (LabOptions.directory_link)
        self.directory_links: dict[str, TcpRelay] = {}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> "LabSite":
        started = self._started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._start_directory()
            if self.options.directory_link:
                for dc in self.dcs:
                    self.directory_links[dc.name] = link = TcpRelay(dc.address, (dc.address, 636), f"to {dc.name}")
                    link.start()
            self.started_seconds["directory"] = time.monotonic() - started
            self._build_hosts()
            self._start_endpoints()
            self.bound_site = self._bind_site()
            self.started_seconds["total"] = time.monotonic() - started
            self._write_files()
        except BaseException:
            self.stop()
            raise
        logger.info("lab for site {} up in {:.1f}s", self.site.name, self.started_seconds["total"])
        return self

    def stop(self) -> None:
        """Stop everything this lab started; remove its addresses and its work directory's runtime files."""
        for timer in self._timers:
            timer.cancel()
        for endpoint in self.endpoints.values():
            try:
                endpoint.stop()
            except Exception as exc:  # keep stopping the rest
                logger.warning("stopping endpoint {}: {}", endpoint, exc)
        self.endpoints.clear()
        for address in self.host_addresses.values():
            addresses.release(address)
        self.host_addresses.clear()
        for link in self.directory_links.values():
            link.stop()
        self.directory_links.clear()
        for dc in reversed(self.dcs):
            try:
                dc.stop()
            except Exception as exc:
                logger.warning("stopping {}: {}", dc.name, exc)
        self.dcs.clear()

    def destroy(self) -> None:
        """Stop, then remove the work directory (journal included)."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "LabSite":
        return self.start()

    def __exit__(self, *_: Any) -> None:
        self.stop()

    # -- the directory ---------------------------------------------------------------------

    @property
    def dc(self) -> SambaDC:
        return self.dcs[0]

    def _start_directory(self) -> None:
        domain = self.site.domain
        dc = SambaDC.provision(self.workdir / "dc1", realm=domain.dns_name, netbios=domain.netbios_name,
                               admin_password=self.passwords[ENV_AD_PASSWORD], name="DC1",
                               cache_dir=self.options.samba_cache_dir)
        self.dcs.append(dc)
        dc.start(exit_with_parent=False)
        dc.wait_ready(60)
        self.started_seconds["directory ready"] = time.monotonic() - self._started
        exchange = self.site.exchange
        populate_exchange(dc, exchange.organization, exchange.administrative_group, [self.site.production.name])
        for host in self.site.hosts.values():
            add_computer(dc, host.name, password=_password())
        if self.options.second_dc:
            self.dcs.append(dc.join_second_dc(self.workdir / "dc2", name="DC2", timeout=60))

    # -- the hosts -------------------------------------------------------------------------

    def _build_hosts(self) -> None:
        from .sim import commvault, exchange
        from .sim.factory import SiteOptions, build_site_hosts
        from .sim.host import Lab

        self.lab = Lab(on_restart=self._on_restart, on_power_off=self._on_power_off)
        local_users = {key: {"Administrator": self.passwords[ENV_LOCAL_PASSWORD]} for key in self.site.hosts}
        # The standby gets unpartitioned disks: install-dr partitions them (runbook 2.3).
        options = SiteOptions(local_users=local_users, standby_volumes=self.options.standby_volumes)
        self.hosts = build_site_hosts(self.site, directory_backend=self._domain_backend(), options=options,
                                      lab=self.lab)
        options = exchange.LabOptions(setup_hangs_at_system_attendant=self.options.setup_hangs)
        self.organization = exchange.seed_site(self.site, self.hosts, options=options,
                                               directory_has_server=self._server_object_exists)
        self.commserve = commvault.seed_site(self.site, self.hosts, password=self.passwords[ENV_COMMCELL_PASSWORD],
                                             stuck_in_copy=self.options.qr_update_stuck)

    def _domain_backend(self) -> Any:
        from .sim.domain import DomainBackend

        return DomainBackend.for_samba(self.dc)

    def _server_object_exists(self, server: str) -> bool:
        from .samba import exchange_dns

        dns = exchange_dns(self.dc, self.site.exchange.organization, self.site.exchange.administrative_group, server)
        connection = self.dc.connect()
        try:
            return connection.search(dns["server"], "(objectClass=*)", search_scope="BASE")
        finally:
            connection.unbind()

    def _start_endpoints(self) -> None:
        self.ca = make_ca(self.workdir / "tls")
        users = {f"{self.site.domain.netbios_name}\\Administrator": self.passwords[ENV_AD_PASSWORD],
                 "Administrator": self.passwords[ENV_LOCAL_PASSWORD]}
        for key, host in self.site.hosts.items():
            if host.winrm is None:
                continue  # Windows 2000: reached through the management host
            address = addresses.allocate(purpose=f"lab host {host.name} {self.workdir}")
            self.host_addresses[key] = address
            names = [host.name.lower(), f"{host.name.lower()}.{self.site.domain.dns_name}", address]
            https = self.options.winrm_transport == "https"
            certificate = make_server_cert(self.ca, names=names) if https else None
            endpoint = WinRMEndpoint(self.hosts[key], users=users, address=address, port=5986 if https else 5985,
                                     transport=self.options.winrm_transport, tls=certificate, faults=Faults(),
                                     name=host.name.lower(),
                                     # hosts act on each other (-ComputerName, QR copies): one at a time
                                     invoke_lock=self.lab.lock)
            self.endpoints[key] = endpoint.start()

    # -- reboots and power -----------------------------------------------------------------

    def _key_of(self, sim_host: Any) -> str | None:
        return next((key for key, host in self.hosts.items() if host is sim_host), None)

    #: Windows answers Restart-Computer/Stop-Computer before it goes down; so does the lab.
    GOING_DOWN_SECONDS = 0.3

    def _later(self, seconds: float, action: Any) -> None:
        timer = threading.Timer(seconds, action)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    def _on_restart(self, sim_host: Any) -> None:
        key = self._key_of(sim_host)
        endpoint = self.endpoints.get(key) if key else None

        def go_down() -> None:
            if endpoint is not None:
                endpoint.go_down()
            self._later(self.options.reboot_seconds, come_back)

        def come_back() -> None:
            with self.lab.lock:
                sim_host.complete_boot()
                # Safe mode has no network: WinRM stays away until a normal boot.
                if endpoint is not None and sim_host.reachable and not endpoint.faults.never_return:
                    endpoint.come_up()

        self._later(self.GOING_DOWN_SECONDS, go_down)

    def _on_power_off(self, sim_host: Any) -> None:
        key = self._key_of(sim_host)
        if key in self.endpoints:
            self._later(self.GOING_DOWN_SECONDS, self.endpoints[key].go_down)

    # -- faults ----------------------------------------------------------------------------

    FAULTS = FAULTS

    def fault(self, kind: str, *args: str) -> str:
        """Inject a fault (see :data:`FAULTS`); returns what was done, in words."""
        with self._lock:
            if kind not in self.FAULTS:
                raise ValueError(f"unknown fault {kind!r}; faults: {', '.join(self.FAULTS)}")
            if kind in ("partition", "safe-mode-services"):
                if not args:
                    raise ValueError(f"{kind} needs a host ({self.FAULTS[kind]})")
                return self._by_hand(kind, self._host_key(args[0]))
            if kind in ("power-off", "power-on", "drop-connection", "latency", "never-return", "service-fails", "clear"):
                if not args:
                    raise ValueError(f"fault {kind} needs a host ({self.FAULTS[kind]})")
                key = self._host_key(args[0])
                host, endpoint = self.hosts[key], self.endpoints.get(key)
                if kind == "power-off":
                    host.power_off()
                    if endpoint:
                        endpoint.go_down()  # at once: a dead host does not finish its answers
                    return f"{host.name} is powered off"
                if kind == "power-on":
                    host.power_on()
                    if endpoint and host.reachable:
                        endpoint.come_up()
                    return f"{host.name} is powered on"
                if endpoint is None:
                    raise ValueError(f"{key} has no WinRM endpoint of its own (Windows 2000)")
                if kind == "drop-connection":
                    endpoint.faults.drop_at_request = int(args[1])
                    return f"{host.name}: connection dropped at request {args[1]} from now"
                if kind == "latency":
                    endpoint.faults.latency_ms = float(args[1])
                    return f"{host.name}: {args[1]} ms added to every request"
                if kind == "never-return":
                    endpoint.faults.never_return = True
                    return f"{host.name}: endpoint will not come back after its next reboot"
                if kind == "service-fails":
                    service = host.services[args[1]] if args[1] in host.services else _service(host, args[1])
                    service.fail_to_start = f"The {service.display_name} service failed to start (lab fault)."
                    return f"{host.name}: {service.name} will fail to start"
                endpoint.faults.latency_ms = 0
                endpoint.faults.drop_at_request = None
                endpoint.faults.never_return = False
                return f"{host.name}: endpoint faults cleared"
            if kind in ("directory-latency", "directory-cut", "directory-down", "directory-up"):
                if not self.directory_links:
                    raise ValueError(f"{kind}: qrdr reaches the DCs directly; start the lab with directory_link")
                if kind == "directory-cut":
                    cut = sum(link.cut() for link in self.directory_links.values())
                    return f"{cut} connection(s) to the DCs cut"
                if kind == "directory-down":
                    cut = sum(link.go_down() for link in self.directory_links.values())
                    return f"the DCs stop answering ({cut} connection(s) cut)"
                if kind == "directory-up":
                    for link in self.directory_links.values():
                        link.come_up()
                    return "the DCs answer again"
                if not args:
                    raise ValueError(f"{kind} needs milliseconds ({self.FAULTS[kind]})")
                for link in self.directory_links.values():
                    link.latency_ms = float(args[0])
                return f"every byte between qrdr and the DCs waits {args[0]} ms more"
            if kind in ("pause-replication", "resume-replication"):
                if len(self.dcs) < 2:
                    raise ValueError("the lab has one DC: start it with a second DC (--second-dc)")
                if kind == "pause-replication":
                    self.dcs[1].pause_inbound_replication()
                    return "inbound replication paused on DC2"
                self.dcs[1].resume_inbound_replication(from_dcs=[self.dcs[0]])
                return "inbound replication resumed on DC2"
            if kind in ("qr-update", "qr-update-stuck"):
                job = self.commserve.run_incremental_update(stuck_in_copy=(kind == "qr-update-stuck"))
                return f"QR incremental update job {job.job_id}: {job.phase}"
            self.organization.options.setup_hangs_at_system_attendant = True
            return "setup.exe will hang at System Attendant start"

    def _by_hand(self, kind: str, key: str) -> str:
        """What a person does at the host's console (see FAULTS), done to the simulated host directly."""
        from .sim.storage import GB, format_new_volume

        host = self.hosts[key]
        if kind == "partition":
            made = []
            for volume in self.site.volumes:
                letter = volume.target_letter.rstrip(":").upper()
                if letter not in host.volumes:
                    format_new_volume(host, letter, int(volume.size_gb * GB))
                    made.append(f"{letter}: {volume.size_gb:g} GB")
            return f"{host.name}: partitioned and formatted by hand: {', '.join(made) or 'nothing was missing'}"
        names = [s.name for s in host.services.values() if s.name.lower().startswith("msexchange")
                 or s.name in ("RESvc", "IMAP4Svc", "POP3Svc")]
        for name in names:
            host.services[name].start_mode = "Manual"
        host.restart()  # ... and the normal boot after safe mode: Manual services stay stopped
        endpoint = self.endpoints.get(key)
        if endpoint is not None:
            # A restart from the console has no answer to send first: WinRM is gone when the
            # person turns round, so "it answers again" means the normal boot is over.
            endpoint.go_down()
        return f"{host.name}: in safe mode, {', '.join(sorted(names))} set to Manual; booted normally"

    def _host_key(self, name: str) -> str:
        if name in self.hosts:
            return name
        for key, host in self.hosts.items():
            if host.name.lower() == name.lower() or self.site.hosts[key].name.lower() == name.lower():
                return key
        raise ValueError(f"no lab host {name!r} (hosts: {', '.join(self.hosts)})")

    # -- what the lab tells qrdr and people -----------------------------------------------

    def _bind_site(self) -> Site:
        """The site config, pointing at the lab (see the module docstring)."""
        return _bound_site(self)

    def environment(self) -> dict[str, str]:
        """The environment variables the lab's qrdr.toml refers to (with their values)."""
        return dict(self.passwords)

    def describe(self) -> dict[str, Any]:
        hosts = {}
        for key, host in self.site.hosts.items():
            endpoint = self.endpoints.get(key)
            hosts[key] = {
                "name": host.name, "role": host.role.value, "windows": host.windows.value,
                "winrm_url": endpoint.url if endpoint else None,
                "via": host.via,
                "user": f"{self.site.domain.netbios_name}\\Administrator" if endpoint else None,
                "password": self.passwords[ENV_AD_PASSWORD] if endpoint else None,
                "ca_file": str(self.ca.cert_path) if endpoint and endpoint.transport == "https" else None,
            }
        return {
            "site": self.site.name,
            "config": str(self.workdir / "qrdr.toml"),
            "env_file": str(self.workdir / "lab.env"),
            "hosts": hosts,
            "directory": [{"name": dc.name, "ldaps_url": dc.ldaps_url, "bind_user": dc.admin_user,
                           "password": self.passwords[ENV_AD_PASSWORD], "ca_file": str(dc.ca_file),
                           "tls_server_name": dc.tls_server_name} for dc in self.dcs],
            "start_seconds": {k: round(v, 2) for k, v in self.started_seconds.items()},
        }

    def _write_files(self) -> None:
        from ..config import site_to_toml

        assert self.bound_site is not None
        (self.workdir / "qrdr.toml").write_text(site_to_toml(self.bound_site))
        env_lines = [f"export {name}='{value}'" for name, value in self.passwords.items()]
        env_file = self.workdir / "lab.env"
        env_file.write_text("\n".join(env_lines) + "\n")
        env_file.chmod(0o600)
        (self.workdir / "lab.json").write_text(json.dumps(self.describe(), indent=2))
        (self.workdir / "lab.json").chmod(0o600)


def _service(host: Any, name: str) -> Any:
    for service in host.services.values():
        if service.name.lower() == name.lower():
            return service
    raise ValueError(f"{host.name} has no service {name!r}")


def _ldaps_url_of(lab: LabSite, dc: SambaDC) -> str | None:
    """The DC's URL for qrdr: through its relay when the lab has one (LabOptions.directory_link),
    else None (ldaps://<address>)."""
    link = lab.directory_links.get(dc.name)
    return f"ldaps://{dc.address}:{link.port}" if link else None


def _bound_site(lab: LabSite) -> Site:
    from ..model import DomainController, SecretRef, Transport, WinRM

    site = lab.site
    ad_password = SecretRef(env=ENV_AD_PASSWORD)
    # Each lab DC makes its own CA: qrdr trusts a bundle of all of them (and nothing else).
    bundle = lab.workdir / "dc-ca-bundle.pem"
    bundle.write_text("".join(Path(dc.ca_file).read_text() for dc in lab.dcs))
    domain = attrs.evolve(
        site.domain,
        controllers=tuple(DomainController(name=dc.name, address=dc.address, url=_ldaps_url_of(lab, dc)) for dc in lab.dcs),
        bind_user=lab.dc.admin_user, bind_password=ad_password, tls="ldaps", ca_file=str(bundle),
        verify_tls=True, replication_deadline=min(site.domain.replication_deadline, 60),
        join_user=f"{site.domain.netbios_name}\\Administrator", join_password=ad_password,
    )
    hosts = {}
    for key, host in site.hosts.items():
        winrm = None
        if key in lab.endpoints:
            https = lab.endpoints[key].transport == "https"
            winrm = WinRM(user=f"{site.domain.netbios_name}\\Administrator", password=ad_password,
                          transport=Transport.HTTPS if https else Transport.HTTP, port=lab.endpoints[key].port,
                          ca_file=str(lab.ca.cert_path) if https else None,
                          operation_timeout=20, connection_timeout=10)
        hosts[key] = attrs.evolve(host, address=lab.host_addresses.get(key, host.address), winrm=winrm,
                                  local_user="Administrator", local_password=SecretRef(env=ENV_LOCAL_PASSWORD))
    quick_recovery = attrs.evolve(site.quick_recovery, commcell_password=SecretRef(env=ENV_COMMCELL_PASSWORD))
    return attrs.evolve(site, domain=domain, hosts=hosts, quick_recovery=quick_recovery,
                        state_dir=str(lab.workdir / "state"), source=str(lab.workdir / "qrdr.toml"))
