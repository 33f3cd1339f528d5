"""docs/config.md documents every field of the site model (core/model.py) under its class's section."""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import pytest

from qrdr import model

DOCS = Path(__file__).resolve().parents[1] / "docs" / "config.md"
#: Model fields that are not TOML keys, and TOML keys named differently from the field.
NOT_IN_THE_FILE = {("Site", "source")}
TOML_KEY = {("Site", "plugin_config"): "plugin"}


def model_classes() -> list[type]:
    return [value for value in vars(model).values()
            if isinstance(value, type) and attrs.has(value) and value.__module__ == model.__name__]


def documented_fields() -> list[tuple[str, str]]:
    return [(cls.__name__, TOML_KEY.get((cls.__name__, field.name), field.name))
            for cls in model_classes() for field in attrs.fields(cls)
            if (cls.__name__, field.name) not in NOT_IN_THE_FILE]


def section_of(class_name: str) -> str:
    text = DOCS.read_text(encoding="utf-8")
    match = re.search(rf"(?ms)^## [^\n]*\({class_name}\)\n(.*?)(?=^## |\Z)", text)
    assert match, f"docs/config.md has no '## ... ({class_name})' section"
    return match.group(1)


def test_every_model_class_is_covered():
    names = {cls.__name__ for cls in model_classes()}
    assert {"Site", "Domain", "DomainController", "Exchange", "Host", "WinRM", "Volume", "QuickRecovery",
            "Takeover", "SecretRef"} <= names


@pytest.mark.parametrize("class_name, key", documented_fields(), ids=lambda value: str(value))
def test_every_field_has_a_row_with_type_default_and_meaning(class_name, key):
    rows = [row for row in section_of(class_name).splitlines() if row.startswith(f"| `{key}` |")]
    assert rows, f"docs/config.md's ({class_name}) section has no row for `{key}`"
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert len(cells) == 4 and all(cells), f"the row for {class_name}.{key} needs type, default and meaning: {rows[0]}"


@pytest.mark.parametrize("class_name", [cls.__name__ for cls in model_classes()])
def test_no_stale_rows(class_name):
    cls = getattr(model, class_name)
    known = {TOML_KEY.get((class_name, field.name), field.name) for field in attrs.fields(cls)}
    rows = re.findall(r"(?m)^\| `([a-z_]+)` \|", section_of(class_name))
    assert set(rows) <= known, f"docs/config.md documents fields {set(rows) - known} that {class_name} does not have"


def test_every_required_field_is_documented_as_required():
    for cls in model_classes():
        for field in attrs.fields(cls):
            if field.default is attrs.NOTHING and (cls.__name__, field.name) not in NOT_IN_THE_FILE:
                key = TOML_KEY.get((cls.__name__, field.name), field.name)
                row = next(r for r in section_of(cls.__name__).splitlines() if r.startswith(f"| `{key}` |"))
                assert "| required |" in row, f"{cls.__name__}.{key} is required but documented with a default"
