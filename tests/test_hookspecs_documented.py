"""Every hook has a section in docs/plugins.md with its exact signature, and a docstring with an example."""

from __future__ import annotations

import re

import pytest

from qrdr import hookspecs

from .hookspec_registry import REPO, hook_specs

DOCS = REPO / "docs" / "plugins.md"


def sections(text: str) -> dict[str, str]:
    """``### name`` heading -> the text up to the next heading of level 1-3."""
    found = {}
    parts = re.split(r"(?m)^(#{1,3}) (.+)$", text)
    for index in range(1, len(parts) - 2, 3):
        found[parts[index + 1].strip().strip("`")] = parts[index + 2]
    return found


def test_the_registry_finds_every_hook_pluggy_sees():
    import pluggy

    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    assert {spec.name for spec in hook_specs()} == {name for name in dir(manager.hook) if name.startswith("qrdr_")}


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda spec: spec.name)
def test_hook_has_a_documented_section_with_its_exact_signature(spec):
    documented = sections(DOCS.read_text(encoding="utf-8"))
    assert spec.name in documented, f"docs/plugins.md has no '### {spec.name}' section"
    assert spec.signature in documented[spec.name], (
        f"the section {spec.name} of docs/plugins.md does not show the signature {spec.signature!r}")
    assert "```python" in documented[spec.name].split(spec.signature, 1)[1], "no example after the signature"


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda spec: spec.name)
def test_hook_docstring_states_the_contract_with_an_example(spec):
    assert "Example" in spec.docstring, f"{spec.name} has no Example in its docstring"
    assert "Called" in spec.docstring, f"{spec.name} does not say when it is called"
