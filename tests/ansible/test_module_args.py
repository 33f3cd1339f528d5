"""The qrdr.site modules' argument checks, without the lab: each module run as Ansible runs a module
when debugging it, ``python MODULE.py ARGS.json`` with ``{"ANSIBLE_MODULE_ARGS": {...}}``; and their
documentation as ``ansible-doc`` reads it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import COLLECTION, COLLECTIONS, run_ansible

MODULES = ("readiness_info", "standby", "qr_volumes", "promote", "cleanup")
RUN_MODULES = ("standby", "qr_volumes", "promote", "cleanup")
LAB_CONFIG = Path(__file__).resolve().parents[2] / "core" / "lab" / "sites" / "e2003-w2003-vss.toml"
SITE_NAME = "lab-e2003-w2003-vss"
SECRET = "not-a-real-password-4711"


def run_module(tmp_path: Path, module: str, **arguments) -> tuple[int, dict, str]:
    """Run ``module`` with ``arguments``: its exit code, its JSON answer, what it printed besides."""
    args_file = tmp_path / "args.json"
    # The module's temporary folder under tmp_path (Ansible's default is ~/.ansible/tmp).
    internal = {"_ansible_remote_tmp": str(tmp_path / "module-tmp"), "_ansible_keep_remote_files": False}
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**arguments, **internal}}))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("QRDR_")}
    environment["PYTHONPATH"] = str(COLLECTIONS)
    shown = subprocess.run([sys.executable, str(COLLECTION / "plugins" / "modules" / f"{module}.py"), str(args_file)],
                           capture_output=True, text=True, timeout=120, env=environment, cwd=tmp_path)
    assert "Traceback" not in shown.stdout + shown.stderr, shown.stdout + shown.stderr
    answer = json.loads(shown.stdout[shown.stdout.index("{"):])
    return shown.returncode, answer, shown.stdout + shown.stderr


def test_promote_without_confirm_is_refused_by_argument_validation(tmp_path):
    code, answer, _ = run_module(tmp_path, "promote", config=str(LAB_CONFIG), state_dir=str(tmp_path / "state"))
    assert code == 1 and answer["failed"]
    assert answer["msg"] == "missing required arguments: confirm"
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("confirm", [f"promote {SITE_NAME}-b", SITE_NAME, "promote", f"PROMOTE {SITE_NAME}", "yes"])
def test_promote_with_a_confirmation_not_naming_this_site_changes_nothing(tmp_path, confirm):
    code, answer, printed = run_module(tmp_path, "promote", config=str(LAB_CONFIG), confirm=confirm,
                                       state_dir=str(tmp_path / "state"), secrets={"QRDR_LAB_AD_PASSWORD": SECRET})
    assert code == 1 and answer["failed"]
    assert answer["msg"] == (f'confirm: a promote of site {SITE_NAME} needs confirm: "promote {SITE_NAME}" exactly; '
                             "nothing was done")
    assert not (tmp_path / "state").exists()  # no journal, no lock: nothing was planned or run
    assert SECRET not in printed
    assert answer["invocation"]["module_args"]["secrets"] == {"QRDR_LAB_AD_PASSWORD": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"}


@pytest.mark.parametrize("module", MODULES)
def test_a_config_path_that_is_no_file_is_named(tmp_path, module):
    missing = tmp_path / "nowhere" / "qrdr.toml"
    extra = {"confirm": f"promote {SITE_NAME}"} if module == "promote" else {}
    code, answer, _ = run_module(tmp_path, module, config=str(missing), **extra)
    assert code == 1 and answer["msg"] == f"config: {missing} is not a file (the site config, a qrdr.toml)"


def test_a_bad_site_config_fails_with_qrdrs_message(tmp_path):
    config = tmp_path / "qrdr.toml"
    config.write_text(LAB_CONFIG.read_text().replace('netbios_name = "QRDR"', 'netbios_name = "NOT A NETBIOS NAME!"'))
    code, answer, _ = run_module(tmp_path, "standby", config=str(config))
    assert code == 1 and answer["error"] == "ConfigError"
    assert answer["msg"].startswith(f"{config}: 1 problem in the site config:") and "domain.netbios_name" in answer["msg"]


def test_secrets_must_be_qrdr_environment_variables(tmp_path):
    code, answer, printed = run_module(tmp_path, "readiness_info", config=str(LAB_CONFIG),
                                       secrets={"PATH": SECRET, "QRDR_LAB_AD_PASSWORD": SECRET})
    assert code == 1 and answer["msg"].startswith("secrets: names must start with QRDR_") and "PATH" in answer["msg"]
    assert SECRET not in printed


def test_cleanup_scope_is_recovery_or_source(tmp_path):
    code, answer, _ = run_module(tmp_path, "cleanup", config=str(LAB_CONFIG), scope="everything")
    assert code == 1 and "scope" in answer["msg"] and "recovery, source" in answer["msg"]


def test_ansible_doc_reads_every_module(tmp_path):
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    (home / "ansible.cfg").write_text("[defaults]\n")
    shown = run_ansible("ansible-doc", "-t", "module", "qrdr.site.promote", home=home)
    assert shown.returncode == 0, shown.stderr
    assert "confirm" in shown.stdout and "promote <site name>" in shown.stdout and "EXAMPLES" in shown.stdout
    shown = run_ansible("ansible-doc", "--json", "-t", "module", *(f"qrdr.site.{m}" for m in MODULES), home=home)
    assert shown.returncode == 0, shown.stderr
    docs = json.loads(shown.stdout)
    assert set(docs) == {f"qrdr.site.{m}" for m in MODULES}
    for name, doc in docs.items():
        options = doc["doc"]["options"]
        assert options["config"]["required"] is True and options["secrets"]["type"] == "dict", name
        assert doc["examples"].strip() and doc["return"]
    for module in RUN_MODULES:
        returned = docs[f"qrdr.site.{module}"]["return"]
        assert {"run_id", "report", "rto_seconds", "rpo", "resumed", "changes", "next_command"} <= set(returned)
        assert docs[f"qrdr.site.{module}"]["doc"]["options"]["retry"]["elements"] == "str", module
    assert {"ready", "reasons", "rpo", "state", "next_command"} <= set(docs["qrdr.site.readiness_info"]["return"])


def test_every_secret_option_is_no_log():
    """Each module's argument spec, as the module builds it: every option that carries a secret is no_log."""
    sys.path.insert(0, str(COLLECTIONS))
    try:
        from ansible_collections.qrdr.site.plugins.module_utils import runbook
    finally:
        sys.path.remove(str(COLLECTIONS))
    assert runbook.SITE_ARGUMENT_SPEC["secrets"]["no_log"] is True
    assert runbook.RUN_ARGUMENT_SPEC["secrets"]["no_log"] is True


@pytest.mark.lab
def test_retry_without_an_unfinished_run_to_resume_changes_nothing(tmp_path, lab_site_factory):
    """``retry`` is for a task that resumes a run (qrdr's ``resume --retry``): on a site with no
    unfinished run the task fails naming it, before anything is planned or run."""
    lab = lab_site_factory("e2003-w2003-vss")
    config = lab.workdir / "qrdr.toml"
    state = tmp_path / "state"
    code, answer, printed = run_module(tmp_path, "standby", config=str(config), state_dir=str(state),
                                       retry=["exchange2003.setup-dr"], secrets=lab.environment())
    assert code == 1 and answer["failed"], answer
    assert answer["msg"] == ("site lab-e2003-w2003-vss: retry (exchange2003.setup-dr) applies when the task resumes "
                             "an unfinished run, and there is none; nothing was done"), answer["msg"]
    assert not (state / "lab-e2003-w2003-vss.journal.sqlite").exists()  # nothing was planned or run
