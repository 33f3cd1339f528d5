"""Kill matrix, promote part (issue 10, partial): a promote killed with SIGKILL at every step
boundary (just after the step is journaled done) and resumed ends as an uninterrupted promote,
checked from outside qrdr, with the account reset (the non-idempotent step) applied once.
Exchange 2003 / Windows 2003 / VSS (test_promote_resume.SITE). Kills while applying, SIGINT, and the other commands are not
covered yet (see tests/e2e/test_promote_resume.py for kills while applying three promote steps).
"""

from __future__ import annotations

import pytest

from qrdr.api import Runbook
from qrdr.config import load_site

from .test_promote_resume import applied_counts, assert_promoted, kill_promote_at, ready_to_promote

pytestmark = [pytest.mark.lab, pytest.mark.kill_matrix]
# The promote plan's steps, in order; each case checks the journaled plan still has exactly these,
# so a step added to promote makes the matrix fail instead of going untested.
PROMOTE_STEPS = ["begin-promote", "soft-recovery", "shut-down-production", "reset-production-account",
                 "rename-standby-to-production", "standby-join-domain", "standby-services", "standby-stores",
                 "take-over-ip", "mail-flowing"]


@pytest.mark.parametrize("killed_after", PROMOTE_STEPS[:-1])
def test_promote_killed_at_step_boundary_and_resumed(lab_site_factory, killed_after):
    lab, config, site, journal = ready_to_promote(lab_site_factory)
    # A step with nothing to do (production already down) ends "no change": its boundary as well.
    # The standby slowed so that the next step has not finished when the kill lands.
    kill_promote_at(lab, config, journal, f"exchange2003.{killed_after}", ("done", "no change"), latency_ms=300)
    assert sorted(applied_counts(journal)) == sorted(f"exchange2003.{s}" for s in PROMOTE_STEPS)

    result = Runbook(load_site(config)).resume(yes=True)
    assert result.status == "succeeded", result.message
    assert_promoted(lab, site, journal)
