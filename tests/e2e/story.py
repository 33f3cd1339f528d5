"""The runbook's whole story on one lab site, with what a person checks after each act."""

from __future__ import annotations

import time

import pytest

from qrdr.errors import Refused
from qrdr.plugins.common import catalog

from .outside import FULL_CONTROL_SDDL


def member_of_domain(system: dict) -> bool:
    """Win32_ComputerSystem read from outside: PartOfDomain (Windows 2003), or DomainRole on Windows 2000,
    which has no PartOfDomain (1/3 member, 4/5 domain controller)."""
    if "PartOfDomain" in system:
        return bool(system["PartOfDomain"])
    return int(system["DomainRole"]) in (1, 3, 4, 5)


def insert_setup_media(lab, key: str) -> None:
    """The admin puts the Exchange CD into the source server (the lab seeds it on the standby only)."""
    import ntpath

    path = lab.site.exchange.setup_path
    files = lab.hosts[key].files
    drive = ntpath.splitdrive(path)[0]
    if not files.exists(drive + "\\"):
        files.add_drive(drive)
    files.write_text(path, "lab Exchange media setup.exe")


def production_services(version: str) -> list[str]:
    names = ["MSExchangeSA", "MSExchangeIS", "MSExchangeMTA", "RESvc"]
    return names + (["MSExchangeMGMT"] if version == "2003" else [])


def partition_by_hand_if_windows_2000(lab, runbook, outside) -> None:
    """Windows 2000 has no diskpart: configure refuses, naming Disk Management, until a person
    created the standby's partitions (runbook 2.3) before anything was changed."""
    if outside.site.standby.windows.value != "2000":
        return
    with pytest.raises(Refused) as refused:
        runbook.run("configure", yes=True)
    assert "Disk Management" in str(refused.value) and "ready-standby-partitions" in str(refused.value)
    assert outside.computer("production")["Name"] == outside.site.production.name  # nothing changed
    lab.fault("partition", "standby")


def wait_until_answers(outside, key: str, deadline: float = 60.0) -> None:
    """A host a person restarted is back: its WMI answers from outside."""
    started = time.monotonic()
    while True:
        try:
            outside.computer(key)
            return
        except Exception:  # noqa: BLE001 - down or coming up: any failure means not yet
            assert time.monotonic() - started < deadline, f"{key} did not come back within {deadline} s"
            time.sleep(0.5)


def configure_and_check(lab, runbook, outside) -> None:
    site = outside.site
    production, standby = site.production.name, site.standby.name
    partition_by_hand_if_windows_2000(lab, runbook, outside)
    result = runbook.run("configure", yes=True)
    assert result.status == "succeeded", result.message
    assert result.windows["production outage"] > 0
    # Both servers run under their own names again; production's Exchange is back.
    assert outside.computer("production")["Name"] == production
    assert outside.computer("standby")["Name"] == standby
    running = outside.services("production", production_services(site.exchange.version.value))
    assert all(state == ("Running", "Auto") for state in running.values()), running
    stores = outside.stores("production")
    assert stores and all(s["Mounted"] and s["MountAtStartup"] for s in stores)
    # The standby holds Exchange installed in DR mode, its services stopped and Manual (runbook 2.6-2.7, 6).
    standby_services = outside.services("standby", production_services(site.exchange.version.value))
    assert standby_services and all(state == ("Stopped", "Manual") for state in standby_services.values())
    # The rights went to the account that carried production's name during the configuration: the standby's.
    sid = outside.account(standby)["sid"]
    assert f"(A;;CCDC;;;{sid})" in outside.sddl(outside.exchange_dn("organization"))
    assert f"(A;;{FULL_CONTROL_SDDL};;;{sid})" in outside.sddl(outside.exchange_dn("servers"))
    assert f"(A;;{FULL_CONTROL_SDDL};;;{sid})" in outside.sddl(outside.exchange_dn("server"))
    assert outside.account(catalog.temp_name(production)) is None


def promote_and_check(lab, runbook, outside) -> None:
    site = outside.site
    production = site.production.name
    reset_before = outside.account(production)["pwdLastSet"]
    lab.fault("qr-update")
    # `qrdr check` on an ordinary day: ready, with the recovery point named.
    ready = runbook.check()
    assert not ready.blockers, ready.blockers
    assert any("recovery point" in line for probe in ready.probes for line in probe.lines)
    lab.fault("qr-update-stuck")
    assert any("copy phase" in reason for reason in runbook.check().blockers)
    lab.commserve.finish_stuck_copy(lab.commserve.jobs[-1])
    lab.fault("qr-update")
    lab.fault("power-off", "production")
    result = runbook.run("promote", yes=True)
    assert result.status == "succeeded", result.message
    assert result.windows["mail flowing"] > 0
    system = outside.computer("standby")
    assert system["Name"] == production and member_of_domain(system)
    assert outside.account(production)["pwdLastSet"] > reset_before  # reset, then the standby's own join
    running = outside.services("standby", production_services(site.exchange.version.value))
    assert all(state == ("Running", "Auto") for state in running.values()), running
    stores = outside.stores("standby")
    assert stores and all(s["Mounted"] for s in stores)
    if site.takeover.ip_address:
        assert site.takeover.ip_address in outside.ip_addresses("standby")
    # Promoting again changes nothing: production's address now answers with the standby itself,
    # which must not be shut down, reset or taken out of the domain.
    again = runbook.plan("promote")
    assert [(p.step.id, p.status) for p in again.steps if p.status != "no change"] == []


def cleanup_and_check(lab, runbook, outside) -> None:
    site = outside.site
    # Right after a promote the recovery server is the one serving mail: its cleanup is refused,
    # naming the override, before anything is planned or changed.
    with pytest.raises(Refused) as refused:
        runbook.run("cleanup", yes=True, scope="recovery")
    assert any("--override promoted-standby" in reason for reason in refused.value.reasons), refused.value
    assert outside.computer("standby")["Name"] == site.production.name
    assert runbook.state().name == "promoted"
    result = runbook.run("cleanup", yes=True, scope="recovery", overrides=["promoted-standby"])
    assert result.status == "succeeded", result.message
    system = outside.computer("standby")
    assert system["Name"] == site.standby.name and member_of_domain(system)
    assert not outside.services("standby", ["MSExchangeSA", "MSExchangeIS"])
    assert_exchange_removed(outside, "standby", registry_keys=True)
    lab.fault("power-on", "production")
    insert_setup_media(lab, "production")
    result = runbook.run("cleanup", yes=True, scope="source")
    if site.production.windows.value == "2003":
        # Appendix 2.1-2.2: safe mode has no network, so a person does it; the run waits for them.
        safe_mode = f"exchange{site.exchange.version.value}.source-safe-mode-services"
        assert result.status == "waiting" and safe_mode in result.message, result.message
        lab.fault("safe-mode-services", "production")
        wait_until_answers(outside, "production")
        result = runbook.resume(yes=True, done=[safe_mode])
    assert result.status == "succeeded", result.message
    system = outside.computer("production")
    assert system["Name"] == site.production.name and member_of_domain(system)
    assert not outside.services("production", ["MSExchangeSA", "MSExchangeIS"])
    assert_exchange_removed(outside, "production", registry_keys=site.production.windows.value == "2000")


def assert_exchange_removed(outside, key: str, *, registry_keys: bool) -> None:
    """The appendix's leftovers are gone: the Exchsrvr folder and (where qrdr deletes them) the Uninstall keys."""
    site = outside.site
    assert not outside.path_exists(key, site.exchange.install_path), site.exchange.install_path
    if registry_keys:
        for name in catalog.UNINSTALL_KEYS:
            assert not outside.registry_key_exists(key, f"{catalog.UNINSTALL_ROOT}\\{name}"), name


def create_qr_volumes_and_check(lab, runbook, outside) -> None:
    """Runbook "Configure the Quick Recovery Agent" 1-6, read back on the CommServe with its own qlist."""
    result = runbook.run("create-qr-volumes", yes=True)
    assert result.status == "succeeded", result.message
    assert_qr_volumes_created(outside)


def assert_qr_volumes_created(outside) -> None:
    """What an admin reads back on the CommServe with its own qlist after "Configure the Quick
    Recovery Agent" 1-6: one QR policy of the site's snap engine, the subclient's volumes created
    and mapped, one incremental schedule."""
    import os
    import xml.etree.ElementTree as ET

    site = outside.site

    def q(*arguments):
        def build(shell, _computer):
            shell.add_cmdlet(arguments[0])
            for argument in arguments[1:]:
                shell.add_argument(argument)
        return "\n".join(str(line) for line in outside.run("commserve", build))

    login = q("qlogin", "-cs", site.commserve.name, "-u", site.quick_recovery.commcell_user,
              "-clp", os.environ["QRDR_LAB_COMMCELL_PASSWORD"])
    assert "logged in successfully" in login
    policies = ET.fromstring(q("qlist", "qrpolicy", "-format", "xml")).findall("qrPolicy")
    assert len(policies) == 1, [p.attrib for p in policies]
    policy = policies[0]
    assert policy.get("snapEngine") == {"vss": "VSS", "qsnap": "QSnap"}[site.snap_engine]
    assert policy.get("copyManager") == site.standby.name
    subclient = ET.fromstring(q("qlist", "subclient", "-c", site.production.name, "-a", "Q_QR", "-format", "xml"))
    nodes = subclient.findall("subclient")
    assert len(nodes) == 1, [n.attrib for n in nodes]
    node = nodes[0]
    assert node.findtext("qrVolumesCreated") == "true"
    mapped = {(m.get("sourceVolume"), m.get("destinationVolume")) for m in node.findall("volumeMap")}
    assert mapped == {(f"{v.letter}:", f"{v.target_letter}:") for v in site.volumes}
    assert [s.get("updateType") for s in node.findall("schedule")] == ["Incremental"]
