"""Which config file is used: --config, else $QRDR_CONFIG, else ./qrdr.toml; and where state goes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qrdr.config import CONFIG_ENV, find_config, load_site
from qrdr.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"
EXAMPLE_CA = EXAMPLE.with_name("contoso-ca.pem")


def site_file(directory: Path, name: str, site_name: str) -> Path:
    """The example site as ``directory/name``, with the CA file its relative ca_file names."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE_CA, directory)
    path = directory / name
    path.write_text(EXAMPLE.read_text(encoding="utf-8").replace('name = "contoso"', f'name = "{site_name}"', 1))
    return path


@pytest.fixture
def three_configs(tmp_path, monkeypatch):
    explicit = site_file(tmp_path / "explicit", "site.toml", "explicit")
    from_env = site_file(tmp_path / "env", "site.toml", "fromenv")
    site_file(tmp_path / "cwd", "qrdr.toml", "cwd")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv(CONFIG_ENV, str(from_env))
    return explicit, from_env


def test_explicit_config_wins_over_the_environment_and_the_default(three_configs):
    explicit, _ = three_configs
    assert find_config(explicit) == explicit
    assert load_site(explicit).name == "explicit"


def test_environment_wins_over_the_default(three_configs):
    _, from_env = three_configs
    assert find_config(None) == from_env
    assert load_site().name == "fromenv"


def test_default_is_qrdr_toml_in_the_current_directory(three_configs, monkeypatch):
    monkeypatch.delenv(CONFIG_ENV)
    assert find_config(None) == Path("qrdr.toml")
    assert load_site().name == "cwd"


def test_an_empty_environment_variable_counts_as_unset(three_configs, monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, "")
    assert load_site().name == "cwd"


def test_a_missing_file_says_what_chose_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError) as by_env:
        load_site()
    assert f"{tmp_path / 'gone.toml'}: " in str(by_env.value) and f"${CONFIG_ENV}" in str(by_env.value)
    monkeypatch.delenv(CONFIG_ENV)
    with pytest.raises(ConfigError) as by_default:
        load_site()
    assert str(by_default.value).startswith("qrdr.toml: ") and "the default" in str(by_default.value)


def test_state_dir_defaults_to_next_to_the_config_file(tmp_path, monkeypatch):
    config = site_file(tmp_path / "site", "qrdr.toml", "here")
    monkeypatch.chdir(tmp_path)
    assert load_site(config).state_dir == str((tmp_path / "site" / ".qrdr").resolve())
    shutil.rmtree(tmp_path / "site")
