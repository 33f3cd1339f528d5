"""Secrets never reach a journal or a --json document, whatever characters they hold: values are
masked before they are serialised, and their serialised forms after."""

from __future__ import annotations

import json

import pytest

from qrdr.engine.journal import Journal
from qrdr.secrets import MASK, SECRETS, mask, mask_value

#: Secrets whose JSON form differs from the text: quote, backslash, control character, non-ASCII
#: (as \uXXXX with ensure_ascii, and as itself without), a PowerShell quote, and astral plane.
AWKWARD = ['Pa"ss\\w0rd!', "tab\there-Pw1", "Pässwörd-Ω1", "it's-Secret-9", "emoji-😀-Pw7"]


@pytest.fixture(autouse=True)
def known_secrets():
    for secret in AWKWARD:
        SECRETS.add(secret)


@pytest.mark.parametrize("secret", AWKWARD)
def test_a_journal_entry_holds_no_form_of_the_secret(tmp_path, secret):
    journal = Journal(tmp_path / "site.journal.sqlite")
    run_id = journal.start_run("contoso", "promote", ["promote"], ["exchange:exchange2003"])
    journal.add_steps(run_id, [{"id": "s", "phase": "promote", "plugin": "p", "title": "t", "target": "x",
                                "idempotent": True, "destructive": False, "planned": "will change",
                                "changes": [f"password is {secret}"]}])
    journal.set_step(run_id, "s", "done", evidence={"nested": [{"secret": secret}], secret: "as a key"})
    journal.save_facts({"fact": {"value": secret}}, run_id)
    journal.close()
    raw = (tmp_path / "site.journal.sqlite").read_bytes() + b"".join(
        path.read_bytes() for path in tmp_path.glob("site.journal.sqlite-*"))
    for form in {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}:
        assert form.encode("utf-8") not in raw, form
    reread = Journal(tmp_path / "site.journal.sqlite")
    (step,) = reread.steps(run_id)
    assert step.evidence == {"nested": [{"secret": MASK}], MASK: "as a key"}
    reread.close()


@pytest.mark.parametrize("secret", AWKWARD)
def test_text_already_serialised_is_masked_too(secret):
    for form in (json.dumps({"p": secret}), json.dumps({"p": secret}, ensure_ascii=False),
                 f"-Password '{secret.replace(chr(39), chr(39) * 2)}'"):
        assert secret not in mask(form) and json.dumps(secret)[1:-1] not in mask(form), form


def test_mask_value_keeps_the_shape_and_other_values():
    value = {"a": [AWKWARD[0], 1, None, ("x", AWKWARD[2])], "b": True}
    assert mask_value(value) == {"a": [MASK, 1, None, ("x", MASK)], "b": True}
