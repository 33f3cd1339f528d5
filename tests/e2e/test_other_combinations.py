"""The whole runbook on the other supported combinations (Exchange 2003/Windows 2003/VSS has its own module)."""

from __future__ import annotations

import pytest

from .story import cleanup_and_check, configure_and_check, create_qr_volumes_and_check, promote_and_check

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("site", ["e2003-w2003-qsnap", "e2003-w2000-qsnap", "e2000-w2000-qsnap"])
def test_configure_create_qr_volumes_fail_promote_cleanup(start_site, site):
    lab, runbook, outside = start_site(site)
    configure_and_check(lab, runbook, outside)
    create_qr_volumes_and_check(lab, runbook, outside)
    promote_and_check(lab, runbook, outside)
    cleanup_and_check(lab, runbook, outside)


@pytest.mark.parametrize("site", ["e2003-w2000-qsnap", "e2000-w2000-qsnap"])
def test_windows_2000_prepare_production_through_the_management_host(start_site, site):
    """Windows 2000 from the management host, with the account in every call: services through
    Win32_Service with -Credential, renames through netdom, restarts through Restart-Computer
    -ComputerName -Credential. The partitions are a prerequisite a person meets first."""
    lab, runbook, outside = start_site(site)
    lab.fault("partition", "standby")
    result = runbook.run("prepare-production", yes=True)
    assert result.status == "succeeded", result.message
    assert outside.computer("production")["Name"] == "EXCH01-TEMP"
    assert outside.computer("standby")["Name"] == "EXCH01"
    stopped = outside.services("production", ["MSExchangeSA", "MSExchangeIS", "MSExchangeMTA", "RESvc"])
    assert stopped and all(state == ("Stopped", "Manual") for state in stopped.values()), stopped
    assert outside.account("EXCH01-temp") is not None and outside.account("EXCH02") is None
