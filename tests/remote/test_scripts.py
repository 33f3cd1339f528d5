"""Shipped .ps1 scripts: loaded by their marker, with parameters, and proved well-formed."""

from pathlib import Path

import pytest

from qrdr.errors import PluginError
from qrdr.remote.pscheck import assert_powershell_parses
from qrdr.remote.scripts import load_script, marker_name, with_parameters

GOOD = """# qrdr-script: qrdr:Find-LockingProcess
# Processes that hold a file open.
param([string]$Path)
Get-Process | Where-Object { $_.Modules | Where-Object { $_.FileName -eq $Path } }
"""


@pytest.fixture
def package(tmp_path, monkeypatch):
    root = tmp_path / "qrdr_test_scripts_pkg"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "find.ps1").write_text(GOOD)
    (root / "nomarker.ps1").write_text("param($X)\n$X\n")
    (root / "noparam.ps1").write_text("# qrdr-script: qrdr:Bad\nGet-Process\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return "qrdr_test_scripts_pkg"


def test_a_script_is_loaded_by_its_marker_with_parameters(package):
    script = load_script(package, "find.ps1", Path="C:\\x.dll")
    assert script.name == "qrdr:Find-LockingProcess"
    assert script.text == GOOD
    assert script.parameters == {"Path": "C:\\x.dll"}
    assert with_parameters(script, Path="D:\\y.dll").parameters == {"Path": "D:\\y.dll"}
    assert_powershell_parses(script.text, what=script.name)


@pytest.mark.parametrize("filename, problem", [
    ("nomarker.ps1", "qrdr-script"), ("noparam.ps1", "param"), ("missing.ps1", "not found")])
def test_bad_scripts_are_named(package, filename, problem):
    with pytest.raises(PluginError, match=problem) as caught:
        load_script(package, filename)
    assert filename in str(caught.value)


def test_a_fragment_is_included_where_a_script_names_it(package):
    import importlib

    root = Path(importlib.import_module(package).__path__[0])  # the package imported first, in this session
    (root / "shared.ps1").write_text("# qrdr-fragment: Get-Answer\nfunction Get-Answer { 42 }\n")
    (root / "user.ps1").write_text("# qrdr-script: qrdr:Use\nparam()\n# qrdr-include: shared.ps1\nGet-Answer\n")
    (root / "wrong.ps1").write_text("# qrdr-script: qrdr:Wrong\nparam()\n# qrdr-include: find.ps1\n")
    (root / "lost.ps1").write_text("# qrdr-script: qrdr:Lost\nparam()\n# qrdr-include: nowhere.ps1\n")
    text = load_script(package, "user.ps1").text
    assert text == "# qrdr-script: qrdr:Use\nparam()\n# qrdr-fragment: Get-Answer\nfunction Get-Answer { 42 }\nGet-Answer\n"
    with pytest.raises(PluginError, match="find.ps1, which is a script"):
        load_script(package, "wrong.ps1")
    with pytest.raises(PluginError, match="nowhere.ps1 not found"):
        load_script(package, "lost.ps1")


def test_fragments_nest_and_each_goes_in_once(package):
    import importlib

    root = Path(importlib.import_module(package).__path__[0])
    (root / "params.ps1").write_text("# qrdr-fragment: parameters\nparam($Name)\n")
    (root / "inner.ps1").write_text("# qrdr-fragment: Get-Inner\nfunction Get-Inner { 1 }\n")
    (root / "outer.ps1").write_text("# qrdr-fragment: Get-Outer\n# qrdr-include: inner.ps1\nfunction Get-Outer { Get-Inner }\n")
    (root / "both.ps1").write_text("# qrdr-script: qrdr:Both\n# qrdr-include: params.ps1\n# qrdr-include: outer.ps1\n"
                                   "# qrdr-include: inner.ps1\nGet-Outer\n")
    (root / "late.ps1").write_text("# qrdr-script: qrdr:Late\nGet-Outer\n# qrdr-include: params.ps1\n")
    text = load_script(package, "both.ps1").text
    assert text == ("# qrdr-script: qrdr:Both\n# qrdr-fragment: parameters\nparam($Name)\n# qrdr-fragment: Get-Outer\n"
                    "# qrdr-fragment: Get-Inner\nfunction Get-Inner { 1 }\nfunction Get-Outer { Get-Inner }\nGet-Outer\n")
    with pytest.raises(PluginError, match="must begin with a param"):  # the param block comes from a fragment, but late
        load_script(package, "late.ps1")


STORE_SCRIPTS = ("mount_exchange_store", "dismount_exchange_store", "remove_exchange_store", "set_exchange_store",
                 "get_exchange_store", "remove_storage_group")


@pytest.mark.parametrize("name", STORE_SCRIPTS)
def test_the_store_scripts_share_one_find_store_and_one_storage_group_walk(name):
    text = load_script("qrdr.plugins.common", f"scripts/{name}.ps1").text
    assert text.count("function Get-StorageGroup(") == 1
    assert text.count("New-Object -ComObject CDOEXM.ExchangeServer") == 1  # only inside Get-StorageGroup
    assert text.count("function Find-Store(") == (0 if name in ("get_exchange_store", "remove_storage_group") else 1)
    assert text.count("param(") == 1
    assert not any(line.startswith("# qrdr-include:") for line in text.splitlines())


def test_the_marker_must_be_among_the_leading_comments():
    assert marker_name("# a\n# qrdr-script: qrdr:X\nparam()") == "qrdr:X"
    assert marker_name("param()\n# qrdr-script: qrdr:X") is None


PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
SHIPPED = sorted(path for path in PLUGINS.glob("**/*.ps1") if "qrdr-fragment:" not in path.read_text().splitlines()[0])


def package_of(path: Path) -> tuple[str, str]:
    """(import package, file name relative to it) of a shipped script under plugins/."""
    folder = path.parent
    while not (folder / "__init__.py").exists():
        folder = folder.parent
    dotted = ".".join(folder.relative_to(PLUGINS).parts)
    return "qrdr.plugins" + (f".{dotted}" if dotted else ""), path.relative_to(folder).as_posix()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_script_loads_and_parses(path):
    package, filename = package_of(path)
    script = load_script(package, filename)
    assert script.name.lower().startswith("qrdr:"), f"{path}: script names start with 'qrdr:'"
    assert_powershell_parses(script.text, what=str(path))
