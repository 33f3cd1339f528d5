"""``qrdr check`` asks several paths of a host in one ``Test-Path`` (the Commvault packages, the
copied logs) and still names exactly the ones that are missing."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab

SITE = "e2003-w2003-vss"


def test_check_names_the_one_commvault_package_missing_on_each_host(start_site):
    from qrdr.plugins.common import catalog

    lab, runbook, _outside = start_site(SITE)
    # Someone uninstalled QSnap from the standby and the VSS enabler from production.
    lab.hosts["standby"].registry.delete(f"{catalog.COMMVAULT_PACKAGES_KEY}\\QSnap")
    lab.hosts["production"].registry.delete(f"{catalog.COMMVAULT_PACKAGES_KEY}\\VSSEnabler")
    blockers = runbook.check().blockers
    agents = [reason for reason in blockers if "-agents " in reason]
    assert agents == ["vss.ready-standby-agents (standby): EXCH02: QSnap not installed: install it (runbook: "
                      "Prepare the Standby Server); qrdr does not install Commvault software",
                      "vss.ready-production-agents (production): EXCH01: VSSEnabler not installed: install it "
                      "(runbook: Prepare the Production Server 2); qrdr does not install Commvault software"]


def test_check_finds_the_logs_a_dirty_copy_needs_and_names_those_lost(start_site):
    lab, runbook, outside = start_site(SITE)
    assert runbook.run("configure", yes=True).status == "succeeded"
    assert runbook.run("create-qr-volumes", yes=True).status == "succeeded"
    lab.fault("qr-update")
    lab.fault("power-off", "production")  # the copies are in Dirty Shutdown, their logs on the standby's F:
    lines = [line for probe in runbook.check().probes if probe.step.id == "exchange2003.ready-databases"
             for line in probe.lines]
    assert lines and all("Dirty Shutdown" in line and "present in F:\\Exchsrvr\\mdbdata" in line for line in lines), lines
    logs = [item["FullName"] for item in outside.run(
        "standby", lambda shell, _c: shell.add_cmdlet("Get-ChildItem").add_parameter("Path", r"F:\Exchsrvr\mdbdata"))
        if str(item.get("Name", "")).lower().endswith(".log")]
    for path in logs:
        outside.run("standby", lambda shell, _c, path=path: shell.add_cmdlet("Remove-Item").add_parameter("Path", path))
    reasons = [reason for reason in runbook.check().blockers if reason.startswith("exchange2003.ready-databases")]
    assert len(reasons) == 2 and all("are not in F:\\Exchsrvr\\mdbdata" in reason for reason in reasons), reasons
