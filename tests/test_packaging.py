"""Packaging: every package directory is in pyproject's explicit list, and a
non-editable ``pip install`` in a fresh venv gives a working ``qrdr``, without the
lab's extra and without turning on a pytest plugin."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Source directory -> the import package it installs as (pyproject's package-dir).
ROOTS = {"core": "qrdr", "plugins": "qrdr.plugins"}


def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))


def package_directories() -> set[str]:
    """Import packages (folders with __init__.py) and data folders (any other folder with files)
    under core/ and plugins/: setuptools wants both in the packages list."""
    found = set()
    for directory, package in ROOTS.items():
        for folder in [REPO / directory, *(REPO / directory).rglob("*")]:
            if not folder.is_dir() or "__pycache__" in folder.parts:
                continue
            if not any(child.is_file() for child in folder.iterdir()):
                continue
            relative = folder.relative_to(REPO / directory)
            found.add(".".join([package, *relative.parts]))
    return found


def test_package_dir_maps_core_and_plugins():
    assert pyproject()["tool"]["setuptools"]["package-dir"] == {package: directory for directory, package in ROOTS.items()}


def test_every_package_directory_is_listed_in_pyproject():
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    missing = package_directories() - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"


def test_every_listed_package_exists():
    stale = set(pyproject()["tool"]["setuptools"]["packages"]) - package_directories()
    assert not stale, f"pyproject.toml lists packages with no directory (or no __init__.py): {sorted(stale)}"


def directory_of(package: str) -> Path:
    """The source folder of an import package name (pyproject's package-dir, longest root first)."""
    for directory, root in sorted(ROOTS.items(), key=lambda item: -len(item[1])):
        if package == root or package.startswith(root + "."):
            rest = package[len(root):].strip(".")
            return REPO / directory / Path(*rest.split(".")) if rest else REPO / directory
    raise AssertionError(f"{package} is under none of {sorted(ROOTS.values())}")


def test_every_data_folder_ships_its_files():
    """A data folder (no __init__.py) listed as a package installs nothing unless package-data names its files."""
    data = pyproject()["tool"]["setuptools"]["package-data"]
    for package in pyproject()["tool"]["setuptools"]["packages"]:
        if not (directory_of(package) / "__init__.py").exists():
            assert package in data, f"{package} ({directory_of(package)}) has no __init__.py and no package-data entry"


@pytest.mark.slow
def test_installing_gives_no_setuptools_warning(installed_venv):
    assert installed_venv.build_log, "the fixture kept no build output"
    warnings = [line for line in installed_venv.build_log.splitlines() if "Warning" in line or "!!" in line]
    assert not warnings, "\n".join(warnings)


def test_entry_points_name_listed_packages():
    project = pyproject()["project"]
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    targets = [value.split(":")[0] for group in project["entry-points"].values() for value in group.values()]
    targets += [value.split(":")[0].rpartition(".")[0] for value in project["scripts"].values()]
    for target in targets:
        assert target in listed or target.rpartition(".")[0] in listed, target


def test_installing_qrdr_turns_on_no_pytest_plugin():
    """A pytest11 entry point would load the lab's plugin into every pytest session on the machine."""
    assert "pytest11" not in pyproject()["project"]["entry-points"]


def test_the_lab_extra_holds_what_only_the_lab_imports():
    project = pyproject()["project"]
    assert "psrpcore" in " ".join(project["optional-dependencies"]["lab"])
    assert not [dependency for dependency in project["dependencies"] if dependency.startswith("psrpcore")]


@pytest.mark.slow
def test_pip_install_in_a_fresh_venv_gives_a_working_qrdr(installed_venv, tmp_path):
    version = installed_venv.run("qrdr", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"qrdr {pyproject()['project']['version']}"

    # Non-data files shipped in packages (scripts) and the built-in plugins' entry points are installed.
    probe = installed_venv.run("python", "-c", (
        "import qrdr, importlib.metadata as m; "
        "print(qrdr.__file__); "
        "print(sorted(e.name for e in m.entry_points(group='qrdr.exchange'))); "
        "print(sorted(e.name for e in m.entry_points(group='qrdr.snap'))); "
        "print([e.value for e in m.entry_points(group='pytest11') if 'qrdr' in e.value]); "
        "import importlib.util as u; print(u.find_spec('psrpcore'))"), cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    module_file, exchange, snap, pytest_plugins, psrpcore = probe.stdout.splitlines()
    # Installed without the lab extra: no lab dependency, no pytest plugin switched on.
    assert pytest_plugins == "[]" and psrpcore == "None"
    assert str(installed_venv.root) in module_file and str(REPO) not in module_file
    assert exchange == "['exchange2000', 'exchange2003']" and snap == "['qsnap', 'vss']"


@pytest.mark.slow
def test_installed_qrdr_plans_a_promote_of_the_example_site(installed_venv, tmp_path):
    shown = installed_venv.run("qrdr", "--plugin", "exchange2003", "--snap", "vss", "plan", "promote",
                               "--config", str(REPO / "examples" / "site.toml"), cwd=tmp_path)
    assert "Traceback" not in shown.stderr, shown.stderr
    assert shown.stdout.startswith("Plan: promote (phases: promote)")
    refused = installed_venv.run("qrdr", "--plugin", "exchange2000", "--snap", "vss", "plan", "promote",
                                 "--config", str(REPO / "examples" / "site.toml"), cwd=tmp_path)
    assert refused.returncode == 3
    assert "exchange2000: the site runs Exchange 2003; this plugin is for Exchange 2000" in refused.stderr


@pytest.mark.slow
def test_installed_qrdr_renders_a_report_from_its_shipped_template(installed_venv, tmp_path):
    """The report template is package data: a non-editable install must carry it (no checkout to fall back on)."""
    script = (
        "from qrdr.engine.journal import Journal; from qrdr.report import build_report, render_html; "
        f"j = Journal({str(tmp_path / 's.journal.sqlite')!r}); run = j.start_run('s', 'promote', ['promote'], []); "
        "j.end_run(run, 'succeeded'); j.close(); "
        f"print(render_html(build_report({str(tmp_path / 's.journal.sqlite')!r}))[:15])")
    shown = installed_venv.run("python", "-c", script, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == "<!DOCTYPE html>"


def test_installed_qrdr_ships_the_schema_of_every_json_document(installed_venv, tmp_path):
    """The --json documents' schemas are package data: each kind's schema reads from a non-editable install."""
    script = ("import json; from qrdr import documents; "
              "print(sorted({json.loads(documents.schema_text(kind))['title'] for kind in documents.SCHEMAS}))")
    shown = installed_venv.run("python", "-c", script, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "'qrdr plan document'" in shown.stdout and "'qrdr error document'" in shown.stdout
    code = installed_venv.run("qrdr", "--json", "promot", cwd=tmp_path)
    assert code.returncode == 2 and json.loads(code.stdout)["kind"] == "qrdr error"
