"""The shipped store scripts are well-formed PowerShell, start with their marker and a param()
block, and each has its simulation in the lab."""

from __future__ import annotations

from importlib import resources

import pytest
import tree_sitter
import tree_sitter_powershell

from qrdr.lab.sim import exchange  # noqa: F401  (registers the script handlers)
from qrdr.lab.sim import registry
from qrdr.remote.scripts import load_script

SCRIPTS = {
    "get_exchange_store.ps1": "qrdr:Get-ExchangeStore",
    "mount_exchange_store.ps1": "qrdr:Mount-ExchangeStore",
    "dismount_exchange_store.ps1": "qrdr:Dismount-ExchangeStore",
    "set_exchange_store.ps1": "qrdr:Set-ExchangeStore",
    "remove_exchange_store.ps1": "qrdr:Remove-ExchangeStore",
    "remove_storage_group.ps1": "qrdr:Remove-StorageGroup",
}

PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def broken_nodes(node) -> list[str]:
    found = []
    if node.type == "ERROR" or node.is_missing:
        found.append(f"{node.type} at {node.start_point}")
    for child in node.children:
        found.extend(broken_nodes(child))
    return found


@pytest.mark.parametrize("filename, name", sorted(SCRIPTS.items()))
def test_script_parses_and_is_simulated(filename, name):
    shipped = resources.files("qrdr.plugins.common").joinpath("scripts", filename).read_text(encoding="utf-8")
    assert shipped.splitlines()[0] == f"# qrdr-script: {name}"
    script = load_script("qrdr.plugins.common", f"scripts/{filename}")  # checks the param() block
    text = script.text  # as sent: with its fragments
    tree = PARSER.parse(text.encode("utf-8"))
    assert broken_nodes(tree.root_node) == []
    assert script.name == name
    assert registry.script_name(text) in registry.SCRIPTS


def test_a_broken_script_is_caught_by_the_parser_check():
    tree = PARSER.parse(b"param([string]$Name)\nforeach ($x in @(1,2) { $x ")
    assert broken_nodes(tree.root_node)


def declared_parameters(text: str) -> set[str]:
    """Names of the script's parameters, read from the syntax tree (param_block / script_parameter)."""
    tree = PARSER.parse(text.encode("utf-8"))
    names: set[str] = set()

    def walk(node) -> None:
        if node.type == "script_parameter":
            names.update(child.text.decode().lstrip("$") for child in node.children if child.type == "variable")
            return
        for child in node.children:
            walk(child)

    for block in (child for child in tree.root_node.children if child.type == "param_block"):
        walk(block)
    return names


@pytest.mark.parametrize("filename, name", sorted(SCRIPTS.items()))
def test_the_lab_binds_the_parameters_the_script_declares(filename, name):
    text = load_script("qrdr.plugins.common", f"scripts/{filename}").text
    params, _mandatory = exchange._SCRIPT_PARAMS[name]
    assert declared_parameters(text) == {param.name for param in params}
