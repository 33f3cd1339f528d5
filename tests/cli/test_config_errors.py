"""A wrong site config: exit 2, the file and every field on stderr, no traceback, no secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

BROKEN = Path(__file__).resolve().parents[1] / "config" / "broken"


@pytest.mark.parametrize("name, fields", [
    ("inline_secret_winrm.toml", ["hosts.production.winrm.password"]),
    ("several_problems.toml", ["hosts.production.winrm.password", "volumes[0].size_gb", "hosts.commserve.role",
                               "(top level)"]),
    ("standby_windows_differs.toml", ["hosts.standby.windows"]),
    ("invalid_toml.toml", []),
])
def test_config_error_exits_2_naming_file_and_fields(run_cli, name, fields, monkeypatch):
    monkeypatch.delenv("QRDR_CONFIG", raising=False)
    path = BROKEN / name
    code, out, err = run_cli("plan", "promote", "--config", str(path))

    assert code == 2
    assert out == ""
    assert err.startswith(f"qrdr: {path}: ")
    for field in fields:
        assert f"\n  {field}: " in err
    assert "Traceback" not in err
    assert "hunter2" not in err


def test_config_error_as_json(run_cli, monkeypatch):
    monkeypatch.delenv("QRDR_CONFIG", raising=False)
    path = BROKEN / "inline_secret_winrm.toml"
    code, out, err = run_cli("--json", "status", "--config", str(path))
    document = json.loads(out)
    assert code == document["exit"] == 2
    assert document["error"] == "ConfigError"
    assert str(path) in document["message"] and "hosts.production.winrm.password" in document["message"]
    assert "hunter2" not in out + err


def test_config_named_by_the_environment(run_cli, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QRDR_CONFIG", str(BROKEN / "two_productions.toml"))
    code, _, err = run_cli("status")
    assert code == 2 and str(BROKEN / "two_productions.toml") in err and "exactly one host must have role" in err


def test_no_config_at_all(run_cli, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QRDR_CONFIG", raising=False)
    code, _, err = run_cli("status")
    assert code == 2
    assert err.startswith("qrdr: qrdr.toml: ") and "no such file (chosen by the default)" in err
