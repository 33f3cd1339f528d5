"""Runbook 3, "Replicate these changes throughout the domain": with two domain controllers, grant-acls
ends only when the second one shows the rights too (read there with samba-tool, not through qrdr)."""

from __future__ import annotations

import pytest

from .outside import FULL_CONTROL_SDDL

pytestmark = pytest.mark.lab


def test_grant_acls_waits_for_every_domain_controller(start_site):
    lab, runbook, outside = start_site("e2003-w2003-vss", second_dc=True)
    for phase in ("prepare-production", "install-dr", "grant-acls"):
        result = runbook.run(phase, yes=True)
        assert result.status == "succeeded", result.message
    sid = outside.account("EXCH01")["sid"]  # the standby carries production's name until finish-configuration
    second = lab.dcs[1]
    for which, rights in (("organization", "CCDC"), ("servers", FULL_CONTROL_SDDL), ("server", FULL_CONTROL_SDDL)):
        out = second.samba_tool("dsacl", "get", f"--objectdn={outside.exchange_dn(which)}", "-H", second.ldap_url).stdout
        assert f"(A;;{rights};;;{sid})" in out, which
