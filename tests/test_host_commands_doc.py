"""docs/design/host-commands.md is the audit of every command qrdr sends to a host: each command the
plugins send has a row (its first cell names it), each row cites a source or says NOT DOCUMENTED,
and every lab test a row names exists. Read from the code, so a new command without its row fails."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "design" / "host-commands.md"
PLUGIN_CODE = [*(REPO / "plugins").rglob("*.py"), *(REPO / "core" / "remote").rglob("*.py")]
SCRIPTS = REPO / "plugins" / "common" / "scripts"
#: Functions whose first (constant) argument after ctx is a q-command of the CommServe.
Q_COMMAND_RUNNERS = {"q"}
#: Functions that run a program as a scheduled task: the program is the first word of their list argument.
PROGRAM_RUNNERS = {"run_long_program", "run_installer"}
#: Site fields that hold a program's path, and the program they name.
PROGRAM_PATH_FIELDS = {"setup_path": "setup.exe", "update_path": "update.exe"}
#: Functions that give a program's path on the host, and the program they name.
PROGRAM_PATH_FUNCTIONS = {"eseutil": "eseutil"}


def rows() -> list[list[str]]:
    """The table rows of the page that describe a command (first cell starts with a backtick)."""
    found = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
            found.append(cells)
    return found


def _constant(node: ast.AST) -> str | None:
    """A string literal, or the program a path helper call names (``eseutil(site)``)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        return PROGRAM_PATH_FUNCTIONS.get(node.func.id)
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def commands_sent() -> dict[str, str]:
    """Each command the plugins send, by name (lower case) -> where in the code it is sent."""
    sent: dict[str, str] = {}
    for path in PLUGIN_CODE:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            where = f"{path.relative_to(REPO)}:{node.lineno}"
            arguments = node.args
            if name in ("Command", "Script") and arguments and _constant(arguments[0]):
                sent.setdefault(_constant(arguments[0]).lower(), where)
            elif name in Q_COMMAND_RUNNERS and len(arguments) > 1 and _constant(arguments[1]):
                sent.setdefault(_constant(arguments[1]).lower(), where)
            elif name in PROGRAM_RUNNERS and len(arguments) > 2 and isinstance(arguments[2], ast.List):
                first = arguments[2].elts[0]
                program = _constant(first) or PROGRAM_PATH_FIELDS.get(getattr(first, "attr", ""))
                if program:
                    sent.setdefault(program.lower(), where)
    for script in SCRIPTS.glob("*.ps1"):
        marker = script.read_text(encoding="utf-8").splitlines()[0]
        if "qrdr-fragment:" in marker:
            continue  # text included into the scripts that name it, never sent alone
        sent.setdefault(marker.split("qrdr-script:", 1)[1].strip().lower(), str(script.relative_to(REPO)))
    return sent


def test_every_command_qrdr_sends_has_its_row():
    first_cells = [row[0].lower() for row in rows()]
    missing = {name: where for name, where in commands_sent().items()
               if not any(f"`{name}" in cell or f" {name} " in cell for cell in first_cells)}
    assert not missing, f"commands sent without a row in {DOC.name}: {missing}"


def test_the_commands_read_from_the_code_are_the_ones_expected():
    """The reading above is not vacuous: it finds the commands every runbook phase needs."""
    sent = commands_sent()
    for name in ("get-wmiobject", "invoke-wmimethod", "netdom", "schtasks", "net", "diskpart", "format",
                 "qlogin", "qlist", "qoperation", "setup.exe", "update.exe", "sysocmgr", "eseutil", "$lastexitcode",
                 "qrdr:mount-exchangestore", "qrdr:find-lockingprocess"):
        assert name in sent, name


def test_every_row_has_its_four_cells_and_a_source():
    for row in rows():
        assert len(row) == 4, row[0]
        command, behaviour, source, tests = row
        assert behaviour, command
        assert re.search(r"https?://|MicrosoftDocs/|KB\s?\d+|NOT DOCUMENTED|\.md|\.h\b|/", source), (command, source)
        assert tests, command


def test_every_lab_test_the_page_names_exists():
    named = set(re.findall(r"(tests/[\w/]+\.py)::(\w+)", DOC.read_text(encoding="utf-8")))
    assert len(named) > 50
    missing = [f"{path}::{test}" for path, test in sorted(named)
               if not (REPO / path).exists() or not re.search(rf"def {test}\(", (REPO / path).read_text())]
    assert not missing, missing
