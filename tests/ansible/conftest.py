"""Running the qrdr.site collection as Ansible runs it: ``ansible-playbook`` and ``ansible-doc`` as
programs, offline, with the collection found through ANSIBLE_COLLECTIONS_PATH (contrib/ansible holds
the ``ansible_collections/qrdr/site`` layout, so no ``ansible-galaxy install`` is needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "contrib" / "ansible"
COLLECTION = COLLECTIONS / "ansible_collections" / "qrdr" / "site"
BIN = Path(sys.executable).parent
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"


def ansible_environment(home: Path) -> dict[str, str]:
    """The environment of an Ansible program: the collection's path, a private ANSIBLE_HOME (nothing
    written to ~/.ansible, no galaxy server asked), and none of the QRDR_* secrets of this process:
    each site's secrets reach its modules only through the inventory's ``qrdr_secrets``."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("QRDR_", "ANSIBLE_"))}
    environment.update(
        ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"), ANSIBLE_REMOTE_TEMP=str(home / "tmp"),
        ANSIBLE_NOCOLOR="1", ANSIBLE_HOST_KEY_CHECKING="0", ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_CONFIG=str(home / "ansible.cfg"), ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
        ANSIBLE_CALLBACKS_ENABLED="task_results", PATH=f"{BIN}{os.pathsep}{environment.get('PATH', '')}")
    return environment


@pytest.fixture
def ansible_home(tmp_path: Path) -> Path:
    home = tmp_path / "ansible-home"
    (home / "tmp").mkdir(parents=True)
    (home / "ansible.cfg").write_text("[defaults]\n")  # no /etc/ansible or ~/.ansible.cfg of the machine
    return home


def run_ansible(program: str, *args: str, home: Path, timeout: float = 900, extra_env: dict[str, str] | None = None,
                cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / program), *args], capture_output=True, text=True, timeout=timeout,
                          env={**ansible_environment(home), **(extra_env or {})}, cwd=cwd or home)


def start_ansible(program: str, *args: str, home: Path, output: Path,
                  extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """:func:`run_ansible` in the background, in a session of its own (a signal reaches all its
    processes, as when AWX cancels a job), stdout and stderr to ``output``."""
    with output.open("w") as out:
        return subprocess.Popen([str(BIN / program), *args], stdout=out, stderr=subprocess.STDOUT, text=True,
                                env={**ansible_environment(home), **(extra_env or {})}, cwd=home,
                                start_new_session=True)


def task_results(results_file: Path, task_name: str) -> dict[str, dict]:
    """host -> the result of the last run of the task named ``task_name`` (callback_plugins/task_results.py),
    with ``outcome``: ok, failed or skipped."""
    found = {}
    for line in results_file.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry["task"] == task_name:
            found[entry["host"]] = {**entry["result"], "outcome": entry["outcome"]}
    assert found, f"no task {task_name!r} ran"
    return found
