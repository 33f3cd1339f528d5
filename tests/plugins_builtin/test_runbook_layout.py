"""The plugin side reads like the runbook: one step, one place (issue 11).

Each builder of plugins/common/runbook quotes its runbook step and names, on its ``Code:`` line,
the files that hold its check, apply and verify; those files exist and include the builder's own.
"""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import attrs
import pytest

from qrdr.plugins.exchange2003 import PLUGIN as EXCHANGE
from qrdr.plugins.snap_vss import PLUGIN as SNAP

from .conftest import site_named

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ["prepare", "install_dr", "acls", "finish", "promote", "cleanup", "qr_volumes"]


def builders():
    """Every step builder of the runbook modules: public functions taking (book|engine, site, ...)."""
    found = []
    for section in SECTIONS:
        module = importlib.import_module(f"qrdr.plugins.common.runbook.{section}")
        for name, function in vars(module).items():
            if (inspect.isfunction(function) and function.__module__ == module.__name__ and not name.startswith("_")
                    and list(inspect.signature(function).parameters)[:2] in (["book", "site"], ["engine", "site"])
                    and not name.endswith("steps") and name != "removal"):
                found.append((section, name, function))
    return found


def code_files(function) -> list[str]:
    doc = inspect.getdoc(function) or ""
    match = re.search(r"^Code: (.+?)\.$", doc, re.M)
    assert match, f"{function.__module__}.{function.__name__}: no 'Code:' line in its docstring"
    return [part.strip() for part in match.group(1).split(",")]


def test_there_are_builders_for_every_section():
    sections = {section for section, _name, _function in builders()}
    assert sections == set(SECTIONS)
    assert len(builders()) >= 45


@pytest.mark.parametrize("section,name,function", builders(), ids=lambda v: v if isinstance(v, str) else "")
def test_each_builder_quotes_its_runbook_step_and_names_its_files(section, name, function):
    doc = inspect.getdoc(function)
    assert doc and re.match(r'^(Runbook|Appendix|Step|Steps|Before|The |"|")', doc), f"{name}: {doc!r}"
    files = code_files(function)
    assert f"plugins/common/runbook/{section}.py" in files
    for file in files:
        assert (REPO / file).is_file(), f"{name}: {file} does not exist"


def defined_in(function) -> set[str]:
    """The repository files of ``function`` and of the step functions it wraps (steps.guarded's
    check, a builder's closure over another step's check): where its code really is."""
    files, seen, todo = set(), set(), [function]
    while todo:
        current = todo.pop()
        if id(current) in seen or not callable(current):
            continue
        seen.add(id(current))
        current = getattr(current, "__func__", current)
        code = getattr(current, "__code__", None)
        if code is None:
            continue
        path = Path(code.co_filename).resolve()
        if REPO in path.parents:
            files.add(str(path.relative_to(REPO)))
        for cell in getattr(current, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:
                continue
            if inspect.isfunction(value) and value.__name__ in ("check", "apply", "verify", "look", "guarded_check"):
                todo.append(value)
    return files


@pytest.mark.parametrize("section,name,function", builders(), ids=lambda v: v if isinstance(v, str) else "")
def test_the_files_a_builder_names_hold_its_steps_check_apply_and_verify(section, name, function):
    """Built for the lab's Windows 2003 site (Windows 2000 paths go through the same builders)."""
    site = site_named("e2003-w2003-vss")
    # The optional steps' settings: production's service pack, an address to take over.
    site = attrs.evolve(site, exchange=attrs.evolve(site.exchange, update_path=r"D:\\update.exe"),
                        takeover=attrs.evolve(site.takeover, ip_address="192.0.2.10", subnet_mask="255.255.255.0"))
    parameters = list(inspect.signature(function).parameters)
    extra = (site.host_key(site.standby), "recovery") if parameters[2:] == ["key", "scope"] else ()
    step = function(SNAP if section == "qr_volumes" else EXCHANGE.book, site, *extra)
    assert step is not None, f"{name} builds no step for a site with every option set"
    # Shared by every builder: steps.guarded and manual_step's wrappers, base.never (a probe's apply).
    named = set(code_files(function)) | {"core/steps.py", "plugins/common/runbook/base.py"}
    for role in ("check", "apply", "verify"):
        where = defined_in(getattr(step, role))
        assert where <= named, f"{name}: its {role} is in {sorted(where - named)}, not named on its Code: line"


@pytest.mark.parametrize("section,name", [("prepare", "rename_production_temp"), ("acls", "grant_servers"),
                                          ("promote", "reset_production_account")])
def test_the_issues_three_steps_are_each_in_at_most_three_files(section, name):
    function = getattr(importlib.import_module(f"qrdr.plugins.common.runbook.{section}"), name)
    assert len(code_files(function)) <= 3


def test_no_plugin_module_is_over_400_lines():
    long = {str(path.relative_to(REPO)): n for path in (REPO / "plugins").rglob("*.py")
            if (n := len(path.read_text().splitlines())) > 400}
    assert long == {}


def built_ids() -> list[dict[str, list[str]]]:
    """For each of the four lab sites, every option set: phase -> the built-in step ids
    (``<exchange>.x``/``<snap>.x``) in their order; probes of all phases together."""
    from qrdr.engine.runner import collect_probes, collect_steps
    from qrdr.pluginmanager import make_plugin_manager

    from .conftest import COMBINATIONS

    sites = []

    def add(phase: str, steps) -> None:
        for step in steps:
            name = f"<{'snap' if step.plugin in ('qsnap', 'vss') else 'exchange'}>.{step.id.split('.', 1)[1]}"
            if name not in phases.setdefault(phase, []):
                phases[phase].append(name)

    for site_name, (exchange, snap) in sorted(COMBINATIONS.items()):
        site = site_named(site_name)
        site = attrs.evolve(site, exchange=attrs.evolve(site.exchange, update_path=r"D:\\update.exe"),
                            takeover=attrs.evolve(site.takeover, ip_address="192.0.2.10",
                                                  subnet_mask="255.255.255.0"))
        manager, _loaded = make_plugin_manager(exchange=exchange, snap=snap)
        phases: dict[str, list[str]] = {}
        sites.append(phases)
        for phase in ("prepare-production", "install-dr", "grant-acls", "finish-configuration", "create-qr-volumes",
                      "promote"):
            add(phase, collect_steps(manager, site, [phase], {}))
        for scope in ("recovery", "source"):
            add(f"cleanup --scope {scope}", collect_steps(manager, site, ["cleanup"], {}, cleanup_scope=scope))
        for phase in ("prepare-production", "install-dr", "grant-acls", "finish-configuration", "create-qr-volumes",
                      "promote", "check", "cleanup"):
            add("probes", collect_probes(manager, site, phase))
    return sites


def documented_ids() -> dict[str, list[str]]:
    """phase -> the ids of docs/plugins.md's table of built-in steps, in its order."""
    text = (REPO / "docs" / "plugins.md").read_text()
    table = text.split("## The built-in steps and their ids", 1)[1].split("\n## ", 1)[0]
    phases: dict[str, list[str]] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and "`<" in cells[1]:
            phase = "probes" if cells[0].startswith("probes") else cells[0]
            phases.setdefault(phase, []).extend(re.findall(r"`(<[a-z]+>\.[a-z0-9-]+)`", cells[1]))
    return phases


def test_the_documented_step_ids_are_the_built_in_ones_in_their_order():
    documented = documented_ids()
    sites = built_ids()
    for phase, ids in documented.items():
        assert set(ids) == {i for site in sites for i in site.get(phase, [])}, phase
        if phase != "probes":
            for site in sites:  # each site's steps, in the documented order (optional ones left out)
                assert [i for i in ids if i in site[phase]] == site[phase], phase
    assert set(documented) == {phase for site in sites for phase in site}
