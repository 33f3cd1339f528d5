"""Interrupted, refused, or run at the wrong moment, qrdr leaves the site safe and says where it stands
(site e2003-w2003-vss; the state checked from outside with plain pypsrp and ldap3)."""

from __future__ import annotations

import attrs
import pytest

from qrdr.api import Runbook
from qrdr.errors import Refused
from qrdr.hookspecs import hookimpl

SITE = "e2003-w2003-vss"


class InterruptAfter:
    """A plugin that presses Ctrl-C twice right after the step ``step_id`` finished (the second
    press interrupts the run where it is)."""

    def __init__(self, step_id: str):
        self.step_id = step_id

    @hookimpl
    def qrdr_step_finished(self, run_id, step, result):
        if step.id == self.step_id:
            raise KeyboardInterrupt


def production_as_before(outside) -> None:
    assert outside.computer("production")["Name"] == "EXCH01"
    running = outside.services("production", ["MSExchangeSA", "MSExchangeIS", "MSExchangeMTA", "RESvc"])
    assert running and all(state == ("Running", "Auto") for state in running.values()), running
    assert all(s["Mounted"] for s in outside.stores("production"))


def test_an_interrupted_configure_says_production_is_down_refuses_the_rest_and_rolls_back(start_site):
    lab, runbook, outside = start_site(SITE)
    interrupting = Runbook(runbook.site, extra_plugins=[("interrupt", InterruptAfter(
        "exchange2003.rename-production-temp"))])
    result = interrupting.run("configure", yes=True)
    assert result.status == "interrupted", result.message
    assert outside.computer("production")["Name"] == "EXCH01-TEMP"  # production is down, as the journal says

    status = runbook.status()
    assert status["state"] == "configuring" and status["resumable"]["id"] == result.run_id
    assert any("production is DOWN since" in line for line in status["known"]), status["known"]
    assert "qrdr resume --rollback" in status["next"]
    for command in ("promote", "configure", "create-qr-volumes"):
        with pytest.raises(Refused) as refused:
            runbook.run(command, yes=True)
        assert any("production is down" in reason for reason in refused.value.reasons), refused.value
        assert any("qrdr resume --rollback" in reason for reason in refused.value.reasons)
    assert runbook.status()["resumable"]["id"] == result.run_id  # the refused runs hide nothing

    rolled = runbook.rollback(yes=True)
    assert rolled.status == "rolled back", rolled.message
    assert set(rolled.undone) == {"exchange2003.rename-production-temp", "exchange2003.stop-production-services"}
    production_as_before(outside)
    assert runbook.state().name == "unknown" and runbook.status()["resumable"] is None


def test_an_interrupted_configure_resumes_to_the_end(start_site):
    lab, runbook, outside = start_site(SITE)
    interrupting = Runbook(runbook.site, extra_plugins=[("interrupt", InterruptAfter(
        "exchange2003.stop-production-services"))])
    assert interrupting.run("configure", yes=True).status == "interrupted"
    result = runbook.resume(yes=True)
    assert result.status == "succeeded", result.message
    production_as_before(outside)
    assert outside.computer("standby")["Name"] == "EXCH02"
    assert runbook.state().name == "configured"


class SecondAdmin:
    """Another admin, with a copy of the site config and a state_dir of their own, runs qrdr in the
    middle of the first admin's run (at the step ``step_id``)."""

    def __init__(self, site, step_id: str):
        self.runbook = Runbook(site)
        self.step_id = step_id
        self.answers: list[BaseException] = []

    @hookimpl
    def qrdr_step_started(self, run_id, step):
        if step.id == self.step_id:
            for command in ("promote", "configure"):
                try:
                    self.runbook.run(command, yes=True)
                except Exception as exc:  # the refusal is what is wanted
                    self.answers.append(exc)


def test_a_second_qrdr_with_its_own_state_dir_is_refused_naming_the_first(start_site, tmp_path):
    from qrdr.errors import RunLocked

    lab, runbook, outside = start_site(SITE)
    other = SecondAdmin(attrs.evolve(runbook.site, state_dir=str(tmp_path / "other-laptop")),
                        "exchange2003.stop-production-services")
    first = Runbook(runbook.site, extra_plugins=[("second-admin", other)])
    result = first.run("prepare-production", yes=True)
    assert result.status == "succeeded", result.message
    assert len(other.answers) == 2 and all(isinstance(answer, RunLocked) for answer in other.answers), other.answers
    for answer in other.answers:
        assert "busy on another machine" in str(answer) and f"run {result.run_id} (prepare-production)" in str(answer)
    assert other.runbook.history() == []  # refused before it wrote anything: its journal is empty
    # The first run released the site's lock in AD: nobody holds it now.
    assert first.connector.site_lock().holder() is None
