"""Fixtures shared across test folders.

``run_cli``: runs ``qrdr.cli.main`` in-process and gives ``(exit code, stdout,
stderr)``; afterwards it puts loguru back as the library leaves it (the CLI
enables qrdr's log and replaces the sinks, which must not leak into later tests).

``fake_distributions``: "installs" a distribution by writing its ``.dist-info``
(METADATA, entry_points.txt) and its module into a temporary directory put
first on sys.path: what pip leaves behind, found by importlib.metadata the same
way, in a millisecond instead of a pip run. Removed again afterwards.

``installed_venv``: qrdr and the contrib example add-on ``pip install``-ed
(not editable) into a fresh virtual environment, built once per test session
and shared by tests/test_packaging.py and tests/contrib/. It copies the
sources to a temporary directory first, so pip's in-tree build never writes
into the working tree (nor races another test run building there). pip's cache
is used, so the second build on a machine takes a few seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import textwrap

import attrs
import pytest
from loguru import logger

# The lab's fixtures (lab_site, samba_dc ...): qrdr registers no pytest11 entry point,
# so every test session that wants them opts in, as a plugin author's conftest does.
pytest_plugins = ["qrdr.lab.pytest_plugin"]

REPO = Path(__file__).resolve().parents[1]
ADDON = REPO / "contrib" / "qrdr-example-addon"
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "dist", "*.egg-info", ".qrdr", "lab-state")


@attrs.frozen
class Venv:
    root: Path
    #: What ``pip install -v`` printed while building and installing (setuptools' warnings among it).
    build_log: str = ""

    @property
    def bin(self) -> Path:
        return self.root / "bin"

    def run(self, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        """Run a program of the venv (``qrdr``, ``python``) with a clean environment."""
        clean = {key: value for key, value in os.environ.items()
                 if key not in ("PYTHONPATH", "VIRTUAL_ENV", "QRDR_CONFIG", "PYTHONHOME")}
        clean["PATH"] = f"{self.bin}{os.pathsep}{clean.get('PATH', '')}"
        return subprocess.run([str(self.bin / args[0]), *args[1:]], capture_output=True, text=True,
                              cwd=cwd, env={**clean, **(env or {})}, timeout=timeout)


def _copy_sources(target: Path) -> tuple[Path, Path]:
    qrdr_src = target / "qrdr-src"
    qrdr_src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, qrdr_src / name)
    for name in ("core", "plugins"):
        shutil.copytree(REPO / name, qrdr_src / name, ignore=_JUNK)
    addon_src = target / "addon-src"
    shutil.copytree(ADDON, addon_src, ignore=_JUNK)
    return qrdr_src, addon_src


@pytest.fixture(scope="session")
def installed_venv(tmp_path_factory) -> Venv:
    base = tmp_path_factory.mktemp("installed-venv")
    qrdr_src, addon_src = _copy_sources(base)
    venv = Venv(base / "venv")
    # A fresh venv without system site packages: only what pip installs is importable.
    subprocess.run([sys.executable, "-m", "venv", str(venv.root)], check=True)
    # -v: the build's own output (setuptools' warnings) is kept for tests/test_packaging.py.
    installed = venv.run("python", "-m", "pip", "install", "-v", "--disable-pip-version-check",
                         str(qrdr_src), str(addon_src), timeout=600)
    assert installed.returncode == 0, f"pip install failed:\n{installed.stdout}\n{installed.stderr}"
    return attrs.evolve(venv, build_log=installed.stdout + installed.stderr)


def _state_files_in_repository() -> set[Path]:
    """Journals and run locks under the repository (the virtual environment and the demo's lab aside)."""
    found = set()
    for folder, subfolders, files in os.walk(REPO):
        subfolders[:] = [name for name in subfolders if name not in (".venv", ".qrdr-lab", ".git")]
        found |= {Path(folder, name) for name in files if name.endswith((".journal.sqlite", ".run.lock"))}
    return found


@pytest.fixture(scope="session", autouse=True)
def no_state_written_into_the_repository():
    """Tests write journals and locks only to temporary directories: one appearing in the
    repository (say next to examples/site.toml) fails the session."""
    before = _state_files_in_repository()
    yield
    written = _state_files_in_repository() - before
    assert not written, f"tests wrote run state into the repository: {sorted(map(str, written))}"


@pytest.fixture
def run_cli(capsys):
    from qrdr import cli

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            code = cli.main(list(argv))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        out, err = capsys.readouterr()
        return code, out, err

    yield run
    logger.remove()
    logger.configure(patcher=None)
    logger.add(sys.__stderr__)  # not sys.stderr: during teardown that is still capsys's buffer, closed next
    logger.disable("qrdr")


class FakeDistributions:
    def __init__(self, root: Path):
        self.root = root
        self.modules: list[str] = []

    def install(self, distribution: str, group: str, name: str, module: str, source: str) -> None:
        """Install ``distribution`` providing entry point ``name`` in ``group`` -> ``module`` with ``source``."""
        info = self.root / f"{distribution.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[{group}]\n{name} = {module}\n")
        (self.root / f"{module}.py").write_text(textwrap.dedent(source))
        self.modules.append(module)


@pytest.fixture
def fake_distributions(tmp_path, monkeypatch):
    root = tmp_path / "site-packages"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    fakes = FakeDistributions(root)
    yield fakes
    for module in fakes.modules:
        sys.modules.pop(module, None)
