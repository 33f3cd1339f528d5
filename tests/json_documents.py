"""The check every test of a ``--json`` document makes: the text on stdout is one JSON document
of the expected kind that validates against the schema qrdr ships for it (docs/cli.md, "JSON
documents"). Needs the test extra's ``jsonschema``."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator

from qrdr import documents


def validator(kind: str) -> Draft202012Validator:
    """The validator of the shipped schema of ``kind`` (date-time formats checked too)."""
    return Draft202012Validator(json.loads(documents.schema_text(kind)),
                                format_checker=Draft202012Validator.FORMAT_CHECKER)


def validated(out: str, kind: str) -> dict[str, Any]:
    """``out`` parsed; it must be one document of ``kind`` valid against its schema (else the test fails
    naming every violation)."""
    document = json.loads(out)
    assert isinstance(document, dict) and document.get("kind") == kind, (kind, document)
    errors = sorted(validator(kind).iter_errors(document), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)
    return document
