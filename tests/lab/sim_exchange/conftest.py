"""A small site for the Exchange and Commvault simulation tests: production EXCH01, standby
EXCH02, CommServe CS01, production volumes E: (databases) and F: (logs and system path), the
standby with the same drive letters (seed step 2.3); hosts built by qrdr.lab.sim.factory."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qrdr import model
from qrdr.lab.sim import commvault, exchange
from qrdr.lab.sim.factory import build_site_hosts
from qrdr.lab.sim.host import Lab, WindowsHost
from qrdr.lab.sim.protocol import Invocation

COMMCELL_PASSWORD = "cv-lab-Secret1"

#: The Commvault request shapes, as documented (the tests run the documented examples).
COMMVAULT_REQUESTS_DOC = Path(__file__).resolve().parents[3] / "docs" / "design" / "commvault-requests.md"


def documented_requests() -> list[str]:
    """The XML requests of docs/design/commvault-requests.md, in the order of the page."""
    blocks = re.findall(r"```xml\n(.*?)```", COMMVAULT_REQUESTS_DOC.read_text(), flags=re.S)
    return [block for block in blocks if re.match(r"\s*<App_\w+Request>", block)]


NNTP_SMTP_ASPNET = "[Components]\r\niis_nntp = on\r\niis_smtp = on\r\naspnet = on\r\n"


def make_site(exchange_version: str = "2003", windows: str = "2003", snap_engine: str = "qsnap",
              volumes: tuple[model.Volume, ...] | None = None) -> model.Site:
    secret = model.SecretRef(env="UNUSED")
    winrm = model.WinRM(user="LAB\\qrdr", password=secret)

    def host(name: str, role: model.Role) -> model.Host:
        return model.Host(name=name, role=role, address="127.0.0.1", windows=model.WindowsVersion(windows),
                          winrm=winrm)

    return model.Site(
        name="lab",
        domain=model.Domain(dns_name="lab.test", netbios_name="LAB",
                            controllers=(model.DomainController("DC1", "127.0.0.1"),),
                            bind_user="admin@lab.test", bind_password=secret),
        exchange=model.Exchange(version=model.ExchangeVersion(exchange_version), organization="Lab",
                                update_path=r"Z:\sp2\setup\i386\update.exe", service_pack="SP2"),
        hosts={"production": host("EXCH01", model.Role.PRODUCTION), "standby": host("EXCH02", model.Role.STANDBY),
               "commserve": host("CS01", model.Role.COMMSERVE)},
        volumes=volumes if volumes is not None else (
            model.Volume("E", 100, (model.VolumeContent.DATABASES,)),
            model.Volume("F", 40, (model.VolumeContent.LOGS, model.VolumeContent.SYSTEM_PATH)),
        ),
        snap_engine=snap_engine,
    )


class SiteLab:
    """The lab hosts of a site, seeded, plus helpers to run commands on them."""

    def __init__(self, site: model.Site, *, options: exchange.LabOptions | None = None):
        self.site = site
        self.lab = Lab()
        # The lab's own host builder (as qrdr.lab.site uses it), then the Exchange and Commvault seeds.
        self.hosts: dict[str, WindowsHost] = build_site_hosts(site, lab=self.lab)
        self.organization = exchange.seed_site(site, self.hosts, options=options or exchange.LabOptions(setup_seconds=0))
        self.commserve = commvault.seed_site(site, self.hosts, password=COMMCELL_PASSWORD)

    @property
    def production(self) -> WindowsHost:
        return self.hosts["production"]

    @property
    def standby(self) -> WindowsHost:
        return self.hosts["standby"]

    @property
    def cs(self) -> WindowsHost:
        return self.hosts["commserve"]


def run(host: WindowsHost, name: str, *positional, **named):
    """Invoke one command the way the WinRM endpoint does; returns the InvocationResult."""
    parameters = tuple((key, value) for key, value in named.items()) + tuple((None, value) for value in positional)
    return host.invoke([Invocation(name=name, parameters=parameters)], [])


#: What qrdr gives every CDOEXM store script to bind to the directory with (these hosts have no directory).
DOMAIN_ACCOUNT = {"UserName": "LAB\\qrdr", "Password": "Lab-Passw0rd!"}


def run_script(host: WindowsHost, script_file: str, **named):
    from qrdr.remote.scripts import load_script

    text = load_script("qrdr.plugins.common", f"scripts/{script_file}").text  # as qrdr sends it
    if "$UserName" in text:
        named = {**DOMAIN_ACCOUNT, **named}
    return host.invoke([Invocation(name=text, is_script=True, parameters=tuple(named.items()))], [])


def native(host: WindowsHost, program: str, *arguments: str) -> tuple[list[str], int]:
    result = run(host, program, *arguments)
    assert result.failed is None, result.failed
    return [str(line) for line in result.output], host.last_exit_code


def prepare_standby_for_setup(lab: SiteLab) -> None:
    """Seed steps 2.1 and 2.3's note: the standby runs under production's name and has
    NNTP, SMTP and ASP.NET (installed with sysocmgr and an answer file)."""
    standby = lab.standby
    standby.name = lab.production.name
    lab.production.name = lab.production.name + "-TEMP"
    set_content(standby, r"C:\qrdr\sysoc.txt", NNTP_SMTP_ASPNET)
    lines, code = native(standby, "sysocmgr", r"/i:C:\WINDOWS\inf\sysoc.inf", r"/u:C:\qrdr\sysoc.txt", "/q")
    assert code == 0, lines


def set_content(host: WindowsHost, path: str, text: str) -> None:
    """Write a file the way qrdr does: ``New-Item -ItemType Directory`` then ``Set-Content``."""
    folder = path.rsplit("\\", 1)[0]
    assert run(host, "New-Item", Path=folder, ItemType="Directory", Force=True).failed is None
    result = run(host, "Set-Content", Path=path, Value=text.splitlines())
    assert result.failed is None and not result.errors, result


def write_unattend(host: WindowsHost, components, action: str = "Install", path: str = r"C:\qrdr\exchange.ini") -> str:
    set_content(host, path, exchange.render_unattend(components, action))
    return path


@pytest.fixture
def site_lab() -> SiteLab:
    return SiteLab(make_site())
