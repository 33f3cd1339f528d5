"""Plans on the lab: a step whose check reads what an earlier step changes is never planned "no change"."""

from __future__ import annotations

import pytest

from .story import member_of_domain

SITE = "e2003-w2003-vss"
pytestmark = pytest.mark.lab


def promoted(start_site):
    """A site after its production failed and the standby took its place."""
    lab, runbook, outside = start_site(SITE)
    assert runbook.run("configure", yes=True).status == "succeeded"
    assert runbook.run("create-qr-volumes", yes=True).status == "succeeded"
    lab.fault("qr-update")
    lab.fault("power-off", "production")
    assert runbook.run("promote", yes=True).status == "succeeded"
    return lab, runbook, outside


def test_cleanup_plan_names_the_join_and_the_locked_dlls_as_depending_on_earlier_steps(start_site):
    lab, runbook, outside = promoted(start_site)
    site = outside.site
    plan = runbook.plan("cleanup", scope="recovery")
    assert not plan.blockers, plan.blockers
    steps = {p.step.id: p for p in plan.steps}
    join, dlls = steps["exchange2003.recovery-join-domain"], steps["exchange2003.recovery-locked-dlls"]
    # The recovery server is a member now; the step before the join takes it out of the domain.
    assert join.status == "depends on an earlier step"
    assert join.lines == ("checked after exchange2003.recovery-rename-back (Take the recovery server out of the "
                          f"domain, rename it back to {site.standby.name} and restart it (1.7))",
                          f"now: {site.production.name} is a member of {site.domain.dns_name}")
    # No process holds the DLLs open while Exchange is installed; the uninstall leaves them held.
    assert dlls.status == "depends on an earlier step"
    assert dlls.lines[0] == "checked after exchange2003.recovery-uninstall-exchange (Uninstall Microsoft Exchange)"
    assert {"exchange2003.recovery-join-domain", "exchange2003.recovery-locked-dlls"} <= {s.id for s in plan.destructive}
    # Planning changed nothing: the recovery server still serves under production's name.
    system = outside.computer("standby")
    assert system["Name"] == site.production.name and member_of_domain(system)

    # Run, each step is checked right before it is applied: the join joins.
    result = runbook.run("cleanup", yes=True, scope="recovery", overrides=["promoted-standby"])
    assert result.status == "succeeded", result.message
    assert {r.step_id: r.status for r in result.steps}["exchange2003.recovery-join-domain"] == "done"
    system = outside.computer("standby")
    assert system["Name"] == site.standby.name and member_of_domain(system)


def test_configure_planned_on_a_configured_site_shows_production_brought_back(start_site):
    """Configuring again (production got a service pack, say): the steps that bring production back
    find it back now, but the configuration about to start takes it down first."""
    lab, runbook, outside = start_site(SITE)
    assert runbook.run("configure", yes=True).status == "succeeded"
    plan = runbook.plan("configure")
    assert not plan.blockers, plan.blockers
    steps = {p.step.id.split(".", 1)[1]: p for p in plan.steps}
    for name in ("start-standby-services", "standby-store-paths", "stop-standby-services-again", "rename-standby-back",
                 "rename-production-back", "start-production-services", "mount-production-stores",
                 "configuration-finished"):
        assert steps[name].status == "depends on an earlier step", (name, steps[name].lines)
        assert steps[name].lines[0] == ("checked after exchange2003.record-production "
                                        "(Record production as it is before the configuration)"), name
    assert {"rename-standby-back", "rename-production-back"} <= {s.id.split(".", 1)[1] for s in plan.destructive}

    result = runbook.run("configure", yes=True)
    assert result.status == "succeeded", result.message
    status = {r.step_id.split(".", 1)[1]: r.status for r in result.steps}
    assert status["rename-production-back"] == status["start-production-services"] == "done"
    assert outside.computer("production")["Name"] == outside.site.production.name
    assert outside.computer("standby")["Name"] == outside.site.standby.name
    running = outside.services("production", ["MSExchangeSA", "MSExchangeIS", "MSExchangeMTA", "RESvc"])
    assert all(state == ("Running", "Auto") for state in running.values()), running
