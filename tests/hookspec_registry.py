"""The hooks of qrdr.hookspecs, read from its source, for the documentation and coverage tests."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import attrs

from qrdr import hookspecs

REPO = Path(__file__).resolve().parents[1]


@attrs.frozen
class HookSpec:
    name: str
    #: The ``def`` line exactly as written in hookspecs.py, e.g. ``def qrdr_preflight(site, phase: str) -> list:``.
    signature: str
    docstring: str


def _is_hookspec(decorator: ast.expr) -> bool:
    return isinstance(decorator, ast.Name) and decorator.id == "hookspec" or (
        isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Name) and decorator.func.id == "hookspec")


def hook_specs() -> list[HookSpec]:
    source = inspect.getsource(hookspecs)
    lines = source.splitlines()
    specs = []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and any(_is_hookspec(d) for d in node.decorator_list):
            # The signature runs from the def line to the line that ends with the colon before the body.
            end = node.body[0].lineno - 1
            signature = " ".join(line.strip() for line in lines[node.lineno - 1:end])
            specs.append(HookSpec(node.name, signature, ast.get_docstring(node) or ""))
    return specs
