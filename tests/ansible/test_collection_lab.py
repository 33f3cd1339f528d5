"""The qrdr.site collection over two lab sites, run by ``ansible-playbook`` as an operator runs it.

Each lab site runs in its own ``qrdr lab up`` process (as two customers' sites are apart: their own
domain, hosts and passwords; one process could not hold two sites' NTLM accounts). The inventory has
one host per site with its config and its secrets; the playbooks are the collection's own
(``qrdr.site.configure``, ``qrdr.site.promote``, ``qrdr.site.readiness``). What each run did is read
from outside qrdr (tests/e2e/outside.py: plain pypsrp), and every run is ``-vvv``: none of the lab's
passwords may appear in anything Ansible printed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qrdr.config import load_site
from qrdr.lab.daemon import request

from ..e2e.outside import Outside
from ..e2e.story import production_services
from .conftest import run_ansible, start_ansible, task_results

pytestmark = pytest.mark.lab

#: Two different lab sites (two site names, so a promote's confirmation tells them apart).
SITES = ("e2003-w2003-vss", "e2003-w2003-qsnap")


class LabProcess:
    """A lab site started with ``qrdr lab up --dir DIR``: what :class:`Outside` needs of a lab
    (``bound_site``, ``environment()``), and its faults through the lab daemon's socket."""

    def __init__(self, workdir: Path, described: dict):
        self.workdir = workdir
        self.bound_site = load_site(described["config"])
        exports = Path(described["env_file"]).read_text().splitlines()
        self.passwords = dict(re.fullmatch(r"export (\w+)='(.*)'", line).groups() for line in exports if line)

    def environment(self) -> dict[str, str]:
        return dict(self.passwords)

    def fault(self, kind: str, *args: str) -> str:
        answer = request(self.workdir, {"op": "fault", "kind": kind, "args": list(args)})
        assert answer["ok"], answer
        return answer["done"]


@pytest.fixture
def two_lab_sites(tmp_path_factory):
    started: list[LabProcess] = []

    def qrdr_lab(*args: str) -> subprocess.CompletedProcess:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("QRDR_")}
        return subprocess.run([sys.executable, "-m", "qrdr.cli", "lab", *args], capture_output=True, text=True,
                              timeout=240, env=environment)

    try:
        for name in SITES:
            workdir = tmp_path_factory.mktemp("lab")  # short: Samba's socket paths have a limit
            up = qrdr_lab("up", "--site", name, "--reboot-seconds", "0.5", "--dir", str(workdir), "--json")
            assert up.returncode == 0, up.stderr
            started.append(LabProcess(workdir, json.loads(up.stdout)))
        yield started
    finally:
        for lab in started:
            qrdr_lab("down", "--dir", str(lab.workdir))


def write_inventory(path: Path, labs: list[LabProcess]) -> Path:
    """One host per site: its config, its secrets (what a vault-encrypted host_vars file holds)."""
    hosts = {lab.bound_site.name: {"qrdr_config": lab.bound_site.source, "qrdr_secrets": lab.environment()}
             for lab in labs}
    inventory = {"qrdr_sites": {"hosts": hosts, "vars": {"ansible_connection": "local",
                                                         "ansible_python_interpreter": sys.executable}}}
    path.write_text(json.dumps(inventory, indent=2))  # JSON is YAML
    return path


class Operator:
    """Runs the collection's playbooks with ``-vvv`` and the json callback; keeps all they printed."""

    def __init__(self, home: Path, inventory: Path):
        self.home = home
        self.inventory = inventory
        self.printed: list[str] = []
        self.runs = 0

    def _arguments(self, playbook: str, args: tuple[str, ...]) -> tuple[list[str], Path]:
        self.runs += 1
        results = self.home / f"results-{self.runs}.jsonl"
        results.touch()
        return ["-vvv", "-i", str(self.inventory), f"qrdr.site.{playbook}", *args], results

    def play(self, playbook: str, *args: str) -> tuple[subprocess.CompletedProcess, Path]:
        """``ansible-playbook -vvv qrdr.site.PLAYBOOK``: what it printed, and the file of its task results."""
        arguments, results = self._arguments(playbook, args)
        started = time.monotonic()
        shown = run_ansible("ansible-playbook", *arguments, home=self.home,
                            extra_env={"QRDR_TEST_RESULTS_FILE": str(results), "ANSIBLE_FORKS": "2"})
        print(f"ansible-playbook qrdr.site.{playbook} {' '.join(args)}: {time.monotonic() - started:.1f} s")
        self.printed += [shown.stdout, shown.stderr]
        assert "Traceback" not in shown.stdout + shown.stderr, shown.stdout[-6000:] + shown.stderr[-6000:]
        return shown, results

    def cancel_while_running(self, config: str, playbook: str, *args: str) -> None:
        """Start the playbook and, once a step of qrdr's run is done (``qrdr history``), send
        SIGTERM to all its processes, as AWX does when a job is cancelled; wait until the run stopped."""
        arguments, _ = self._arguments(playbook, args)
        output = self.home / f"output-{self.runs}.txt"
        process = start_ansible("ansible-playbook", *arguments, home=self.home, output=output)
        try:
            deadline = time.monotonic() + 120
            while not first_step_done(config):
                assert process.poll() is None, f"ended before a step of qrdr's run was done: {output.read_text()[-4000:]}"
                assert time.monotonic() < deadline
                time.sleep(0.3)
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 120
        while qrdr_status(config)["busy"] is not None:  # the module stops after its current step
            assert time.monotonic() < deadline, "qrdr's run did not stop after SIGTERM"
            time.sleep(0.5)
        self.printed.append(output.read_text())


def qrdr(config: str, *args: str) -> dict:
    """``qrdr ARGS --json`` on the site, as an operator would ask between runs."""
    shown = subprocess.run([sys.executable, "-m", "qrdr.cli", *args, "--json", "--config", config],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    return json.loads(shown.stdout)


def qrdr_status(config: str) -> dict:
    return qrdr(config, "status")


def first_step_done(config: str) -> bool:
    """Whether the run under way has done a step (it has changed something: stopping it now leaves
    a run to resume, not one stopped while planning)."""
    runs = qrdr_status(config)["last_runs"]
    if not runs or runs[0]["state"] != "running":
        return False
    return any(step["state"] == "done" for step in qrdr(config, "history", "--run", str(runs[0]["run_id"]))["steps"])


def standby_untouched(outside: Outside) -> None:
    site = outside.site
    assert outside.computer("production")["Name"] == site.production.name
    assert outside.computer("standby")["Name"] == site.standby.name
    running = outside.services("production", production_services(site.exchange.version.value))
    assert running and all(state == ("Running", "Auto") for state in running.values()), running
    assert outside.services("standby", ["MSExchangeSA", "MSExchangeIS"]) == {}


def test_configure_promote_and_readiness_of_two_sites_with_ansible_playbook(two_lab_sites, ansible_home, tmp_path):
    labs = two_lab_sites
    outsides = {lab.bound_site.name: Outside(lab) for lab in labs}
    first, second = (lab.bound_site.name for lab in labs)
    operator = Operator(ansible_home, write_inventory(tmp_path / "sites.yml", labs))

    # Check mode: qrdr's plan for both sites, what would change reported (and as a diff), nothing changed.
    shown, results = operator.play("configure", "--check", "--diff")
    assert shown.returncode == 0, shown.stdout[-6000:]
    planned = task_results(results, "Configure the standby (qrdr configure)")
    assert set(planned) == {first, second}
    for name, result in planned.items():
        assert result["changed"] is True and "run_id" not in result
        assert any("exchange2003.setup-dr" in line for line in result["changes"]), result["changes"]
        assert "exchange2003.rename-standby" in result["diff"]["prepared"]
        standby_untouched(outsides[name])

    # The real run configures both sites, standby then QR volumes.
    shown, results = operator.play("configure", "--diff")
    assert shown.returncode == 0, shown.stdout[-6000:]
    for task in ("Configure the standby (qrdr configure)", "Create the QR volumes (qrdr create-qr-volumes)"):
        for name, result in task_results(results, task).items():
            assert result["state"] == "succeeded" and result["changed"] is True, result
            assert result["resumed"] is False and Path(result["report"]).is_file()
    for outside in outsides.values():
        site = outside.site
        assert outside.computer("production")["Name"] == site.production.name
        assert outside.computer("standby")["Name"] == site.standby.name
        standby = outside.services("standby", production_services(site.exchange.version.value))
        assert standby and all(state == ("Stopped", "Manual") for state in standby.values()), standby

    # The first site's production fails; a promote naming the wrong site is refused, nothing changes.
    failed, kept = labs
    failed.fault("qr-update")
    kept.fault("qr-update")
    failed.fault("power-off", "production")
    shown, results = operator.play("promote", "--limit", first, "-e", f"qrdr_confirm='promote {second}'")
    assert shown.returncode != 0
    refused = task_results(results, "Promote (qrdr promote)")[first]
    assert refused["outcome"] == "failed" and f'confirm: "promote {first}"' in refused["msg"], refused["msg"]
    assert outsides[first].computer("standby")["Name"] == outsides[first].site.standby.name

    shown, results = operator.play("promote", "--limit", first, "-e", f"qrdr_confirm='promote {first}'")
    assert shown.returncode == 0, shown.stdout[-6000:]
    promoted = task_results(results, "Promote (qrdr promote)")
    assert set(promoted) == {first}
    result = promoted[first]
    assert result["state"] == "succeeded" and result["resumed"] is False
    assert result["rto_seconds"] > 0 and result["rpo"]["recovery_point"], result
    assert Path(result["report"]).is_file()
    site = outsides[first].site
    assert outsides[first].computer("standby")["Name"] == site.production.name
    running = outsides[first].services("standby", production_services(site.exchange.version.value))
    assert all(state == ("Running", "Auto") for state in running.values()), running
    # The other site was not touched by the promote.
    assert outsides[second].computer("standby")["Name"] == outsides[second].site.standby.name

    # Readiness of both: read-only, each site where it stands.
    shown, results = operator.play("readiness")
    assert shown.returncode == 0, shown.stdout[-6000:]
    readiness = task_results(results, "Check the site (qrdr check and qrdr status)")
    assert readiness[second]["ready"] is True and readiness[second]["rpo"]["recovery_point"], readiness[second]
    assert readiness[second]["state"] == "qr-ready" and readiness[second]["changed"] is False
    assert readiness[first]["state"] == "promoted" and readiness[first]["changed"] is False

    # The second site's production fails too, and its promote is cancelled while it runs (AWX's
    # cancel: SIGTERM to every process of the job). qrdr stops after the step under way.
    kept.fault("power-off", "production")
    confirm = f"qrdr_confirm='promote {second}'"
    operator.cancel_while_running(kept.bound_site.source, "promote", "--limit", second, "-e", confirm)
    stopped = qrdr_status(kept.bound_site.source)
    assert stopped["resumable"] and stopped["resumable"]["command"] == "promote", stopped
    # Another command is refused, naming qrdr's next safe command; it changes nothing.
    shown, results = operator.play("configure", "--limit", second)
    assert shown.returncode != 0
    other = task_results(results, "Configure the standby (qrdr configure)")[second]
    assert other["outcome"] == "failed" and f"run {stopped['resumable']['run_id']} (promote)" in other["msg"], other
    assert stopped["next"] in other["msg"] and other["next_command"] == stopped["next"]
    assert qrdr_status(kept.bound_site.source)["last_runs"] == stopped["last_runs"]
    # The same promote again resumes the run and finishes it.
    shown, results = operator.play("promote", "--limit", second, "-e", confirm)
    assert shown.returncode == 0, shown.stdout[-6000:]
    result = task_results(results, "Promote (qrdr promote)")[second]
    assert result["state"] == "succeeded" and result["resumed"] is True, result
    assert result["resumed_from"] == stopped["resumable"]["run_id"]
    site = outsides[second].site
    assert outsides[second].computer("standby")["Name"] == site.production.name

    # -vvv printed the module arguments and results of every run: no password of either lab among them.
    printed = "\n".join(operator.printed)
    assert "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER" in printed  # the secrets were passed, and hidden
    for lab in labs:
        for name, password in lab.passwords.items():
            assert printed.count(password) == 0, f"{name} of {lab.bound_site.name} printed"
