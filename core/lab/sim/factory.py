"""Build the simulated hosts of a site from the site model (``qrdr.model.Site``).

:func:`build_site_hosts` gives one :class:`~qrdr.lab.sim.host.WindowsHost` per
``Site.hosts`` entry, all in one :class:`~qrdr.lab.sim.host.Lab`:

- every host: Windows 2003 SP2 or 2000 SP4 as the model says, the base Windows
  services (WinRM on 2003 hosts only), a 40 GB system volume C: on disk 0, one
  network adapter with the host's address, the local users given in the
  options, and domain membership when a directory backend is given (without
  one the hosts are workgroup machines, as the brief of the lab wants);
- production: IIS (IISADMIN, W3SVC, SMTPSVC, NNTPSVC, ASP.NET) and Exchange's
  services, Automatic and Running (Exchange "installed"); the volumes of
  ``Site.volumes`` at their letters; Commvault's QR agent and the snap engine
  package (QSnap or VSS Enabler);
- standby: IIS without SMTP/NNTP/ASP.NET (the runbook installs them), the
  volumes at their target letters (formatted, or as unpartitioned disks of the
  same size with ``SiteOptions.standby_volumes = "raw"``), QR agent, snap
  engine package and MediaAgent;
- commserve: the CommServe package; management: Windows 2003 with netdom.

Exchange's own state (setup registry key, Exchsrvr folder, stores) and the
Commvault state belong to their simulations: pass their builders as
``hooks``; each is called as ``hook(site, key, model_host, host)`` after the
host is built.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Mapping

import attrs

from qrdr.model import Role, Site
from qrdr.model import Host as ModelHost

from .host import Lab, NetworkAdapter, RawDisk, ServiceError, WindowsHost
from .services import add_iis_service, add_windows_services, install_exchange_services
from .storage import GB, add_volume

Hook = Callable[[Site, str, ModelHost, WindowsHost], None]

GALAXY_KEY = "HKLM:\\SOFTWARE\\CommVault Systems\\Galaxy\\Instance001"
#: snap engine name in the site config -> Commvault package key name
SNAP_PACKAGES = {"qsnap": "QSnap", "vss": "VSSEnabler"}
SYSTEM_VOLUME_BYTES = 40 * GB
SYSTEM_USED_BYTES = 8 * GB


@attrs.define
class SiteOptions:
    """What the site model does not say but a lab host needs.

    ``local_users``: host key -> {user: password} (the local Administrator qrdr logs on with);
    ``service_faults``: host key -> {service: message}: that service fails to start;
    ``standby_volumes``: "formatted" or "raw" (unpartitioned disks for diskpart to use).
    """

    local_users: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    service_faults: Mapping[str, Mapping[str, str]] = attrs.field(factory=dict)
    standby_volumes: str = attrs.field(default="formatted")
    production_exchange_running: bool = True

    @standby_volumes.validator
    def _check(self, attribute: Any, value: str) -> None:
        if value not in ("formatted", "raw"):
            raise ValueError(f"SiteOptions.standby_volumes: {value!r} is neither 'formatted' nor 'raw'")


def galaxy_package(host: WindowsHost, package: str) -> None:
    """Install a Commvault package marker (``HKLM:\\...\\Galaxy\\Instance001\\<package>``)."""
    host.registry.set_value(f"{GALAXY_KEY}\\{package}", "Installed", 1)
    host.components.add(package)


def _base_host(site: Site, key: str, model: ModelHost, directory: Any, lab: Lab, options: SiteOptions) -> WindowsHost:
    host = lab.add(WindowsHost(model.name, windows=model.windows.value))
    if directory is not None:
        host.domain, host.domain_netbios, host.directory = site.domain.dns_name, site.domain.netbios_name, directory
    else:
        host.workgroup = "WORKGROUP"
    host.local_users.update(options.local_users.get(key, {}))
    add_windows_services(host, winrm=model.windows.value == "2003" and model.winrm is not None)
    system_disk = RawDisk(index=0, size=SYSTEM_VOLUME_BYTES + 8 * 1024 ** 2)
    host.disks.append(system_disk)
    add_volume(host, "C", SYSTEM_VOLUME_BYTES, disk=system_disk, used=SYSTEM_USED_BYTES)
    windows_dir = "C:\\WINNT" if host.windows == "2000" else "C:\\WINDOWS"
    host.files.mkdir(f"{windows_dir}\\system32")
    host.files.mkdir("C:\\Program Files")
    host.adapters.append(NetworkAdapter(index=1, ip_addresses=[model.address], subnet_masks=["255.255.255.0"],
                                        mac_address=f"00:0C:29:{len(lab.hosts):02X}:00:01"))
    return host


def _volume_bytes(size_gb: float) -> int:
    return int(size_gb * GB)


def build_site_hosts(site: Site, *, directory_backend: Any = None, options: SiteOptions | None = None,
                     lab: Lab | None = None, hooks: Iterable[Hook] = ()) -> dict[str, WindowsHost]:
    """One simulated host per ``site.hosts`` key (see the module docstring)."""
    options = options or SiteOptions()
    lab = lab or Lab()
    snap_package = SNAP_PACKAGES.get(site.snap_engine.lower())
    hosts: dict[str, WindowsHost] = {}
    for key, model in site.hosts.items():
        host = _base_host(site, key, model, directory_backend, lab, options)
        if model.role in (Role.PRODUCTION, Role.STANDBY):
            for name in ("IISADMIN", "W3SVC"):
                add_iis_service(host, name)
            host.components.update({"iis_common", "iis_www"})
        if model.role is Role.PRODUCTION:
            for name in ("SMTPSVC", "NNTPSVC"):
                add_iis_service(host, name)
            host.components.update({"iis_smtp", "iis_nntp", "aspnet"})
            host.registry.create("HKLM:\\SOFTWARE\\Microsoft\\ASP.NET")
            install_exchange_services(host, site.exchange.version.value, running=False)
            for volume in site.volumes:
                add_volume(host, volume.letter, _volume_bytes(volume.size_gb), label=f"Exchange {volume.letter}")
        if model.role is Role.STANDBY:
            for volume in site.volumes:
                if options.standby_volumes == "raw":
                    host.disks.append(RawDisk(index=len(host.disks), size=_volume_bytes(volume.size_gb) + 8 * 1024 ** 2))
                else:
                    add_volume(host, volume.target_letter, _volume_bytes(volume.size_gb),
                               label=f"QR {volume.target_letter}")
            galaxy_package(host, "MediaAgent")
        if model.role in (Role.PRODUCTION, Role.STANDBY):
            galaxy_package(host, "QuickRecoveryAgent")
            if snap_package:
                galaxy_package(host, snap_package)
        if model.role is Role.COMMSERVE:
            galaxy_package(host, "CommServe")
        if model.role is Role.MANAGEMENT:
            host.files.write("C:\\Program Files\\Support Tools\\netdom.exe", b"MZ", make_parents=True)
        for service_name, message in options.service_faults.get(key, {}).items():
            service = host.service(service_name)
            if service is None:
                raise ValueError(f"SiteOptions.service_faults[{key!r}]: host {model.name} has no service "
                                 f"{service_name!r}")
            service.fail_to_start = message
        hosts[key] = host
    for key, host in hosts.items():
        for hook in hooks:
            hook(site, key, site.hosts[key], host)
    production = [host for key, host in hosts.items() if site.hosts[key].role is Role.PRODUCTION]
    if options.production_exchange_running:
        for host in production:
            for service in list(host.services.values()):
                if service.start_mode == "Auto" and not service.running:
                    try:
                        host.start_service(service.name)
                    except ServiceError:
                        pass  # a fault the options asked for: the service stays Stopped

    return hosts
