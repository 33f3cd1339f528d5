"""What qrdr's modules import, read from their source (AST), including imports inside
functions; imports under ``if TYPE_CHECKING:`` are left out (they never run).

* No import cycles among qrdr's modules (core/ and plugins/): a module that can only
  import another from inside a function, because that one imports it back, is a
  cycle too, just one that fails later (at the first call, or when someone moves the
  import to the top).
* Every import of a qrdr module names one that exists.
* The directory layer imports neither the steps nor the engine.
* The product runs without the lab's extra (``qrdr[lab]``): no module outside
  core/lab imports psrpcore, and one that imports the lab does so under ``try: ...
  except ImportError`` (the CLI's ``qrdr lab`` command, absent without the extra);
  ``qrdr --help`` and ``qrdr plan promote`` work in a Python where psrpcore cannot
  be imported.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import attrs

REPO = Path(__file__).resolve().parents[1]
#: Source directory -> the import package it installs as (pyproject's package-dir).
ROOTS = {"core": "qrdr", "plugins": "qrdr.plugins"}
#: Distributions of the ``lab`` extra that only core/lab may import (their import names).
LAB_ONLY = ("psrpcore",)
LAB = "qrdr.lab"


@attrs.frozen
class Import:
    importer: str
    #: The module imported, as written once resolved (``qrdr.directory.acl``, ``ldap3.core``).
    target: str
    line: int
    #: Inside ``try:`` with an ``except ImportError`` (or ModuleNotFoundError) handler.
    guarded: bool

    def where(self, modules: dict[str, Path]) -> str:
        return f"{modules[self.importer].relative_to(REPO)}:{self.line}"


def qrdr_modules() -> dict[str, Path]:
    """Every module of qrdr's source (import name -> file)."""
    found = {}
    for directory, package in ROOTS.items():
        for path in (REPO / directory).rglob("*.py"):
            parts = list(path.relative_to(REPO / directory).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _catches_import_error(node: ast.Try) -> bool:
    names = set()
    for handler in node.handlers:
        kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names |= {kind.id for kind in kinds if isinstance(kind, ast.Name)}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The imports of one module, each resolved to an absolute module name."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: list[Import] = []

    def resolve(level: int, module: str | None) -> str:
        base = package.split(".")[:len(package.split(".")) - (level - 1)] if level else []
        return ".".join([*base, *([module] if module else [])])

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child, guarded)
            return
        if isinstance(node, ast.Import):
            found.extend(Import(name, alias.name, node.lineno, guarded) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = resolve(node.level, node.module)
            found.append(Import(name, base, node.lineno, guarded))
            # ``from package import submodule`` imports the submodule too.
            found.extend(Import(name, f"{base}.{alias.name}", node.lineno, guarded)
                         for alias in node.names if f"{base}.{alias.name}" in modules)
        if isinstance(node, ast.Try) and _catches_import_error(node):
            for child in node.body:
                visit(child, True)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


def all_imports() -> tuple[dict[str, Path], list[Import]]:
    modules = qrdr_modules()
    return modules, [found for name, path in sorted(modules.items()) for found in imports_of(name, path, modules)]


def import_graph() -> tuple[dict[str, Path], dict[str, dict[str, Import]]]:
    """Module -> the qrdr modules its import runs first -> the import that does it.

    Importing ``a.b.c`` runs ``a`` and ``a.b`` before ``a.b.c``: those packages count as
    imported too, except the packages the importer is itself inside (they are under way).
    """
    modules, imports = all_imports()
    graph: dict[str, dict[str, Import]] = {name: {} for name in modules}
    for found in imports:
        parts = found.target.split(".")
        for end in range(1, len(parts) + 1):
            target = ".".join(parts[:end])
            if target in modules and target != found.importer and not found.importer.startswith(target + "."):
                graph[found.importer].setdefault(target, found)
    return modules, graph


def cycles(graph: dict[str, dict[str, Import]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in graph[node]:
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return components


def test_the_cycle_finder_finds_a_cycle_through_an_import_inside_a_function(tmp_path):
    """The finder itself: two modules that import each other, one of them inside a function."""
    (tmp_path / "one.py").write_text("from .two import helper\n")
    (tmp_path / "two.py").write_text("def helper():\n    from .one import x\n")
    (tmp_path / "three.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .one import x\n")
    modules = {f"pkg.{path.stem}": path for path in tmp_path.glob("*.py")}
    graph = {name: {} for name in modules}
    for name, path in modules.items():
        for found in imports_of(name, path, modules):
            if found.target in modules:
                graph[name][found.target] = found
    assert cycles(graph) == [["pkg.one", "pkg.two"]]
    assert graph["pkg.three"] == {}


def test_qrdr_has_no_import_cycles():
    modules, graph = import_graph()
    found = cycles(graph)
    described = []
    for component in found:
        edges = [f"    {importer} -> {target} ({graph[importer][target].where(modules)})"
                 for importer in component for target in graph[importer] if target in component]
        described.append("  cycle among " + ", ".join(component) + ":\n" + "\n".join(edges))
    assert not found, "import cycles (break them: a module both import, or pass the object in):\n" + "\n".join(described)


def test_every_import_of_a_qrdr_module_names_one_that_exists():
    """A module moved or renamed leaves no import behind, not even one inside a function
    that only runs on the lab or on a rare path."""
    modules, imports = all_imports()
    stale = [found.where(modules) + f" imports {found.target}" for found in imports
             if found.target.split(".")[0] == "qrdr" and found.target not in modules]
    assert not stale, stale


def test_the_directory_layer_knows_nothing_of_steps_or_the_engine():
    """qrdr.directory reads and writes AD; judging that as a step's Check is the plugins' part."""
    modules, imports = all_imports()
    wrong = [found.where(modules) + f" imports {found.target}" for found in imports
             if found.importer.startswith("qrdr.directory")
             and found.target.split(".")[:2] in (["qrdr", "steps"], ["qrdr", "engine"])]
    assert not wrong, wrong


def test_only_the_lab_imports_the_lab_extra():
    modules, imports = all_imports()
    outside = [found for found in imports if not (found.importer == LAB or found.importer.startswith(LAB + "."))]
    lab_only = [found.where(modules) + f" imports {found.target}" for found in outside
                if found.target.split(".")[0] in LAB_ONLY]
    unguarded = [found.where(modules) + f" imports {found.target}" for found in outside
                 if (found.target == LAB or found.target.startswith(LAB + ".")) and not found.guarded]
    assert not lab_only, f"only core/lab may import the lab extra's {LAB_ONLY}: {lab_only}"
    assert not unguarded, f"outside core/lab, import the lab under try/except ImportError (it is an extra): {unguarded}"


#: Run in a fresh interpreter: psrpcore made unimportable, as where qrdr is installed without its lab extra.
WITHOUT_THE_LAB = textwrap.dedent('''
    import importlib, importlib.abc, sys

    class NoLabExtra(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {blocked!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}} (blocked: qrdr without its lab extra)", name=name)
            return None

    sys.meta_path.insert(0, NoLabExtra())
    for name in {modules!r}:
        importlib.import_module(name)
    from qrdr import cli
    try:
        cli.main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0, exc.code
    code = cli.main(["--plugin", "exchange2003", "--snap", "vss", "plan", "promote", "--config", {config!r}])
    print("plan exit code", code)
''')


def test_the_product_imports_and_plans_without_the_lab_extra(tmp_path):
    product = sorted(name for name in qrdr_modules() if not (name == LAB or name.startswith(LAB + ".")))
    script = WITHOUT_THE_LAB.format(blocked=set(LAB_ONLY), modules=product,
                                    config=str(REPO / "examples" / "site.toml"))
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert "usage: qrdr" in shown.stdout
    assert "Plan: promote (phases: promote)" in shown.stdout
    assert "plan exit code" in shown.stdout
