"""A host is who the site config says: a config pointing one host's address at another computer is
refused before anything changes, naming both identities (site e2003-w2003-vss, the lab's WinRM)."""

from __future__ import annotations

import attrs
import pytest

from qrdr.api import Runbook

pytestmark = pytest.mark.lab

SITE = "e2003-w2003-vss"


def pointing(site, key: str, at: str):
    """The site config with hosts[key]'s address (and port) those of hosts[at]: a typo in the config."""
    target = site.hosts[at]
    wrong = attrs.evolve(site.hosts[key], address=target.address,
                         winrm=attrs.evolve(site.hosts[key].winrm, port=target.winrm.port))
    return attrs.evolve(site, hosts={**site.hosts, key: wrong})


def test_production_pointed_at_the_standby_is_refused_before_configure(start_site):
    lab, runbook, outside = start_site(SITE)
    wrong = Runbook(pointing(runbook.site, "production", "standby"))
    plan = wrong.plan("configure")
    reasons = " ".join(plan.blockers)
    assert "hosts.production" in reasons and "answers as EXCH02" in reasons, plan.blockers
    assert "reach the same computer" in reasons, plan.blockers
    assert outside.computer("production")["Name"] == "EXCH01" and outside.computer("standby")["Name"] == "EXCH02"


def test_a_computer_other_than_the_configured_one_is_refused_naming_both(start_site):
    lab, runbook, outside = start_site(SITE)
    assert runbook.run("configure", yes=True).status == "succeeded"
    recorded = runbook.status()["facts"]["qrdr.builtin"]["host_identities"]
    assert {key: value["name"] for key, value in recorded.items()} == {"production": "EXCH01", "standby": "EXCH02",
                                                                        "commserve": "CS01"}
    assert recorded["production"]["sid"] != recorded["standby"]["sid"]
    # The CommServe's address now leads to the standby: another computer than the one configured.
    wrong = Runbook(pointing(runbook.site, "commserve", "standby"))
    plan = wrong.plan("create-qr-volumes")
    reasons = " ".join(plan.blockers)
    assert f"but when the site was configured it reached CS01 (machine SID {recorded['commserve']['sid']})" in reasons
    assert f"machine SID {recorded['standby']['sid']}" in reasons, plan.blockers
    # The right config plans as before.
    assert not runbook.plan("create-qr-volumes").blockers
