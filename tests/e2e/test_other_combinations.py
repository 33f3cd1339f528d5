"""The whole runbook on the other supported combinations (Exchange 2003/Windows 2003/VSS has its own module)."""

from __future__ import annotations

import pytest

from .story import cleanup_and_check, configure_and_check, promote_and_check

pytestmark = pytest.mark.lab


@pytest.mark.parametrize("site", ["e2003-w2003-qsnap", "e2003-w2000-qsnap", "e2000-w2000-qsnap"])
def test_configure_create_qr_volumes_fail_promote_cleanup(start_site, site):
    lab, runbook, outside = start_site(site)
    configure_and_check(lab, runbook, outside)
    result = runbook.run("create-qr-volumes", yes=True)
    assert result.status == "succeeded", result.message
    promote_and_check(lab, runbook, outside)
    cleanup_and_check(lab, runbook, outside)
