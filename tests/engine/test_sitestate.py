"""The site's state read from its journal, and the refusals it makes: pure logic on a real journal file."""

from __future__ import annotations

import pytest

from qrdr.engine.journal import Journal
from qrdr.engine.sitestate import read_state, refusal
from qrdr.steps import PRODUCTION_OUTAGE


@pytest.fixture
def journal(tmp_path):
    opened = Journal(tmp_path / "site.journal.sqlite")
    yield opened
    opened.close()


def add_run(journal: Journal, command: str, status: str, *, scope: str | None = None, applied: int = 1,
            undone: bool = False, outage_open: bool = False) -> int:
    """A run as the engine leaves it: its steps (``applied`` of them changed something) and its end."""
    run_id = journal.start_run("contoso", command, [command], ["exchange:exchange2003"], scope=scope)
    journal.add_steps(run_id, [{"id": f"s{n}", "phase": command, "plugin": "p", "title": f"step {n}", "target": "x",
                                "idempotent": True, "destructive": False, "planned": "will change", "changes": []}
                               for n in range(2)])
    for n in range(applied):
        journal.set_step(run_id, f"s{n}", "applying", applying=True)
        journal.set_step(run_id, f"s{n}", "undone" if undone else "done")
    if outage_open:
        journal.save_facts({"_window": {str(run_id): {PRODUCTION_OUTAGE: {"start": 1_800_000_000.0}}}}, run_id)
    if status != "running":
        journal.end_run(run_id, status)
    return run_id


def test_no_journal_is_unknown_and_refuses_nothing_but_the_source_cleanup():
    state = read_state(None, "contoso")
    assert state.name == "unknown" and state.next_command == "qrdr check"
    for command in ("configure", "create-qr-volumes", "promote", "cleanup"):
        assert refusal(state, command) is None, command
    refused = refusal(state, "cleanup", "source")
    assert refused.override == "source-in-service" and "production runs on" in refused.reason


def test_an_interrupted_configure_with_production_down_refuses_everything_but_resume(journal):
    add_run(journal, "configure", "succeeded")
    run_id = add_run(journal, "configure", "interrupted", outage_open=True)
    state = read_state(journal, "contoso")
    assert (state.name, state.run_id, state.unfinished.id) == ("configuring", run_id, run_id)
    assert any("production is DOWN since" in line for line in state.facts)
    assert "qrdr resume --rollback" in state.next_command
    for command in ("configure", "promote", "create-qr-volumes", "cleanup"):
        refused = refusal(state, command)
        assert refused is not None and "production is down" in refused.reason, command
        assert "qrdr resume --rollback" in refused.instead and refused.override == "unfinished-run"
    assert refusal(state, "promote", overrides=frozenset({"unfinished-run"})) is None


def test_a_failed_configure_whose_undos_brought_production_back_does_not_say_it_is_down(journal):
    run_id = add_run(journal, "configure", "failed", applied=2)
    journal.set_step(run_id, "s0", "undone")
    journal.save_facts({"_window": {str(run_id): {PRODUCTION_OUTAGE: {"start": 1_800_000_000.0,
                                                                       "end": 1_800_000_060.0}}}}, run_id)
    state = read_state(journal, "contoso")
    assert state.name == "configuring" and not any("DOWN" in line for line in state.facts), state.facts
    assert "undone after its failure: s0" in state.facts
    assert any(" is back since " in line for line in state.facts), state.facts
    refused = refusal(state, "promote")
    assert refused is not None and "production is down" not in refused.reason, refused


def test_runs_that_changed_nothing_are_passed_over(journal):
    add_run(journal, "configure", "succeeded")
    add_run(journal, "promote", "refused", applied=0)
    add_run(journal, "promote", "not confirmed", applied=0)
    add_run(journal, "promote", "failed", applied=0)  # stopped at its first step's check
    failed = add_run(journal, "configure", "failed", undone=True)  # its rollback brought production back
    add_run(journal, "configure", "rolled back")
    state = read_state(journal, "contoso")
    assert (state.name, state.unfinished) == ("configured", None)
    assert journal.last_unfinished_run().id == failed  # the failed configure can still be resumed...
    assert state.next_command.startswith(f"qrdr resume (retries run {failed}, configure"), state.next_command
    add_run(journal, "promote", "refused", applied=0)
    assert journal.last_unfinished_run() is not None  # ... and a refused run does not hide it


def test_after_a_promote_the_standby_is_never_wiped_without_an_override(journal):
    add_run(journal, "configure", "succeeded")
    add_run(journal, "create-qr-volumes", "succeeded")
    add_run(journal, "promote", "succeeded")
    state = read_state(journal, "contoso")
    assert (state.name, state.failed_over) == ("promoted", True)
    refused = refusal(state, "cleanup", "recovery")
    assert refused.override == "promoted-standby" and "serves mail" in refused.reason
    assert "configuring would rename it" in refusal(state, "configure").reason
    assert "copy the failed production server" in refusal(state, "create-qr-volumes").reason
    # The source server rejoins the domain under production's name: not while the standby holds it.
    refused = refusal(state, "cleanup", "source", overrides=frozenset({"source-in-service"}))
    assert refused.override is None and "take the live server's computer account" in refused.reason
    assert refusal(state, "promote") is None  # promoting again changes nothing
    assert refusal(state, "cleanup", "recovery", overrides=frozenset({"promoted-standby"})) is None

    add_run(journal, "cleanup", "succeeded", scope="recovery")
    state = read_state(journal, "contoso")
    assert (state.name, state.cleaned, state.failed_over) == ("cleaned", ("recovery",), True)
    assert refusal(state, "cleanup", "source") is None

    add_run(journal, "cleanup", "succeeded", scope="source")
    state = read_state(journal, "contoso")
    assert (state.name, state.cleaned, state.next_command) == ("cleaned", ("recovery", "source"), "qrdr configure")
    assert refusal(state, "configure") is None


def test_the_source_of_a_site_that_never_failed_over_is_not_cleaned(journal):
    add_run(journal, "configure", "succeeded")
    add_run(journal, "cleanup", "succeeded", scope="recovery")  # the standby taken out of service
    state = read_state(journal, "contoso")
    assert (state.name, state.failed_over) == ("cleaned", False)
    assert refusal(state, "cleanup", "source").override == "source-in-service"


def test_an_unfinished_promote_and_cleanup_are_named(journal):
    add_run(journal, "configure", "succeeded")
    add_run(journal, "promote", "running")
    state = read_state(journal, "contoso")
    assert state.name == "promoting" and state.next_command == "qrdr resume"
    assert refusal(state, "promote").override == "unfinished-run"
    add_run(journal, "promote", "succeeded")  # the person overrode and promoted again
    add_run(journal, "cleanup", "succeeded", scope="recovery")
    add_run(journal, "cleanup", "waiting", scope="source")
    state = read_state(journal, "contoso")
    assert (state.name, state.failed_over) == ("cleaning", True)
