"""Proving PowerShell text well-formed without PowerShell: the tree-sitter grammar.

No Windows runs here, so the scripts qrdr ships and the text it shows
(``Command.render``) cannot be executed; they can at least be parsed.
:func:`powershell_syntax_errors` lists every ERROR or MISSING node of the
tree-sitter PowerShell parse with its line and column; :func:`assert_powershell_parses`
raises ``AssertionError`` with that list (for tests, plugin authors' too).

tree-sitter and tree-sitter-powershell are a test extra (``pip install qrdr[test]``):
they are imported on first use, and their absence is reported by name.

Known limit of the grammar (0.26): an empty script block (``& { }``) is reported
as missing a ``;`` although PowerShell accepts it.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=1)
def _parser() -> Any:
    try:
        import tree_sitter
        import tree_sitter_powershell
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "checking PowerShell syntax needs the test extra: pip install 'qrdr[test]' "
            f"(tree-sitter, tree-sitter-powershell): {error}"
        ) from error
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))


def powershell_syntax_errors(text: str) -> list[str]:
    """Every syntax problem in ``text`` as ``"line L, column C: ..."`` (empty when it parses)."""
    source = text.encode("utf-8")
    tree = _parser().parse(source)
    problems: list[tuple[int, int, str]] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_missing:
            row, column = node.start_point
            problems.append((row, column, f"missing {node.type!r}"))
        elif node.type == "ERROR":
            row, column = node.start_point
            snippet = source[node.start_byte:node.end_byte].decode("utf-8", "replace")[:60]
            problems.append((row, column, f"cannot parse {snippet!r}"))
        if node.has_error:
            stack.extend(reversed(node.children))
    return [f"line {row + 1}, column {column + 1}: {what}" for row, column, what in sorted(problems)]


def assert_powershell_parses(text: str, what: str = "PowerShell text") -> None:
    """Raise ``AssertionError`` naming ``what`` and each syntax problem unless ``text`` parses cleanly."""
    problems = powershell_syntax_errors(text)
    if problems:
        raise AssertionError(f"{what} does not parse as PowerShell:\n  " + "\n  ".join(problems)
                             + "\n--- text ---\n" + text)
