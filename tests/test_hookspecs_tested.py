"""Every hook is exercised by a test: some test plugin implements it.

The mechanism (documented in docs/plugins.md, "Testing a plugin"): every
``tests/**/*.py`` file is parsed, and a hook counts as tested when a function
named after it is decorated with ``@hookimpl`` (bare or as ``hookspecs.hookimpl``)
there, i.e. a test plugin implements it the way a real plugin does and the
engine calls it in that test. A hook whose only implementation is commented
out, or not decorated, does not count.
"""

from __future__ import annotations

import ast
import functools

import pytest

from .hookspec_registry import REPO, hook_specs

TESTS = REPO / "tests"


def _is_hookimpl(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return (isinstance(target, ast.Name) and target.id == "hookimpl") or (
        isinstance(target, ast.Attribute) and target.attr == "hookimpl")


@functools.lru_cache(maxsize=1)
def implemented_in_tests() -> dict[str, list[str]]:
    """Hook name -> the test files that implement it with @hookimpl."""
    found: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and any(map(_is_hookimpl, node.decorator_list)):
                found.setdefault(node.name, []).append(str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize("spec", hook_specs(), ids=lambda spec: spec.name)
def test_hook_is_implemented_by_a_test_plugin(spec):
    assert implemented_in_tests().get(spec.name), (
        f"no test implements {spec.name} with @hookimpl: add a test plugin that does (see docs/plugins.md)")


def test_the_scan_sees_decorated_functions_only(tmp_path):
    """The mechanism itself: an undecorated or misspelt function does not count."""
    import textwrap

    source = textwrap.dedent('''
        from qrdr.hookspecs import hookimpl
        from qrdr import hookspecs

        class P:
            @hookimpl
            def qrdr_cleanup(self): ...
            def qrdr_preflight(self): ...

        @hookspecs.hookimpl
        def qrdr_step_started(run_id): ...
    ''')
    tree = ast.parse(source)
    names = {node.name for node in ast.walk(tree)
             if isinstance(node, ast.FunctionDef) and any(map(_is_hookimpl, node.decorator_list))}
    assert names == {"qrdr_cleanup", "qrdr_step_started"}
