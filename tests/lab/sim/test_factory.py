"""Hosts built from the site model."""

from __future__ import annotations

import pytest

from qrdr.lab.sim.factory import SiteOptions, build_site_hosts
from qrdr.model import (Domain, DomainController, Exchange, ExchangeVersion, Host, Role, SecretRef, Site, Volume,
                        VolumeContent, WindowsVersion, WinRM)

from .conftest import call


def _site(version="2003", snap="qsnap", production_windows="2003"):
    winrm = WinRM(user="Administrator", password=SecretRef(env="X"))
    hosts = {
        "production": Host("EXCH01", Role.PRODUCTION, "10.0.0.21", WindowsVersion(production_windows),
                           winrm=winrm if production_windows == "2003" else None,
                           via="management" if production_windows == "2000" else None),
        "standby": Host("EXCH02", Role.STANDBY, "10.0.0.22", WindowsVersion.W2003, winrm=winrm),
        "commserve": Host("CS01", Role.COMMSERVE, "10.0.0.30", WindowsVersion.W2003, winrm=winrm),
    }
    if production_windows == "2000":
        hosts["management"] = Host("MGMT01", Role.MANAGEMENT, "10.0.0.40", WindowsVersion.W2003, winrm=winrm)
    return Site(
        name="lab",
        domain=Domain("qrdr.lab", "QRDR", (DomainController("DC1", "127.0.0.1"),), "admin", SecretRef(env="Y")),
        exchange=Exchange(ExchangeVersion(version), "First Organization"),
        hosts=hosts,
        volumes=(Volume("E", 100, (VolumeContent.DATABASES,)), Volume("F", 40, (VolumeContent.LOGS,),
                                                                     standby_letter="G")),
        snap_engine=snap,
    )


def test_production_has_exchange_running_and_its_volumes():
    hosts = build_site_hosts(_site(), options=SiteOptions(local_users={"production": {"Administrator": "pw"}}))
    production = hosts["production"]
    services = call(production, ("Get-Service", {"Name": ["MSExchangeSA", "MSExchangeIS", "MSExchangeMGMT"]}))
    assert [s.Status for s in services.output] == ["Running"] * 3
    disks = {d.DeviceID: d.Size for d in call(production, ("Get-WmiObject", {"Class": "Win32_LogicalDisk"})).output}
    assert disks == {"C:": 40 * 1024 ** 3, "E:": 100 * 1024 ** 3, "F:": 40 * 1024 ** 3}
    assert call(production, ("Test-Path", {"Path": "HKLM:\\SOFTWARE\\Microsoft\\ASP.NET"})).output == [True]
    assert call(production, ("Test-Path", {
        "Path": "HKLM:\\SOFTWARE\\CommVault Systems\\Galaxy\\Instance001\\QSnap"})).output == [True]
    assert production.accepts("Administrator", "pw") and not production.accepts("Administrator", "nope")
    config = call(production, ("Get-WmiObject", {"Class": "Win32_NetworkAdapterConfiguration"})).output[0]
    assert list(config.IPAddress) == ["10.0.0.21"]


def test_standby_and_commserve_components():
    hosts = build_site_hosts(_site(snap="vss"))
    standby = hosts["standby"]
    assert standby.service("MSExchangeSA") is None and standby.service("SMTPSVC") is None
    assert standby.service("W3SVC").running
    assert {"MediaAgent", "QuickRecoveryAgent", "VSSEnabler"} <= standby.components
    assert "QSnap" not in standby.components
    assert sorted(standby.volumes) == ["C", "E", "G"]
    assert "CommServe" in hosts["commserve"].components
    raw = build_site_hosts(_site(), options=SiteOptions(standby_volumes="raw"))["standby"]
    assert sorted(raw.volumes) == ["C"] and [d.partitions for d in raw.disks[1:]] == [[], []]


def test_windows_2000_production_is_reached_through_the_management_host():
    hosts = build_site_hosts(_site(version="2000", production_windows="2000"))
    assert hosts["production"].windows == "2000" and hosts["production"].service("WinRM") is None
    assert hosts["production"].service("MSExchangeMGMT") is None
    result = call(hosts["management"], ("Get-Service", {"Name": "MSExchangeIS", "ComputerName": "EXCH01"}))
    assert result.output[0].Status == "Running"


def test_faults_and_bad_options_are_named():
    hosts = build_site_hosts(_site(), options=SiteOptions(service_faults={"production": {"MSExchangeSA": "boom"}}))
    assert hosts["production"].service("MSExchangeSA").state == "Stopped"
    assert hosts["production"].service("MSExchangeIS").state == "Stopped"
    with pytest.raises(ValueError, match="service_faults\\['production'\\]: host EXCH01 has no service 'Nope'"):
        build_site_hosts(_site(), options=SiteOptions(service_faults={"production": {"Nope": "x"}}))
    with pytest.raises(ValueError, match="standby_volumes"):
        SiteOptions(standby_volumes="sometimes")


def test_hooks_see_every_host():
    seen = []
    build_site_hosts(_site(), hooks=[lambda site, key, model, host: seen.append((key, model.name, host.name))])
    assert sorted(seen) == [("commserve", "CS01", "CS01"), ("production", "EXCH01", "EXCH01"),
                            ("standby", "EXCH02", "EXCH02")]
