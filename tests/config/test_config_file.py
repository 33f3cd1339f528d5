"""The config file as a file: only a regular file of at most 1 MiB is read, a document nested
too deeply is refused, and relative paths in it are relative to its folder."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import tomllib
from pathlib import Path

import attrs
import pytest

from qrdr.config import FIELD_RULES, MAX_CONFIG_BYTES, load_site, structure_site
from qrdr.errors import ConfigError
from qrdr.model import Domain, SecretRef

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "site.toml"
EXAMPLE_CA = EXAMPLE.with_name("contoso-ca.pem")


def problems_of(path) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_site(path)
    assert str(caught.value).startswith(f"{path}: ")
    return caught.value.problems


def example_in(folder: Path, text: str | None = None) -> Path:
    """The example site (or ``text``) as ``folder/site.toml``, with its CA file next to it."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLE_CA, folder)
    config = folder / "site.toml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8") if text is None else text, encoding="utf-8")
    return config


# --------------------------------------------------------------------------- what is read at all

@pytest.mark.timeout(10)
def test_a_named_pipe_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "site.toml"
    os.mkfifo(fifo)
    assert problems_of(fifo) == [("", "cannot be read: it is a named pipe (FIFO), not a regular file")]


@pytest.mark.timeout(10)
def test_a_symbolic_link_to_a_named_pipe_is_refused_too(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "site.toml").symlink_to(tmp_path / "pipe")
    assert "named pipe" in problems_of(tmp_path / "site.toml")[0][1]


@pytest.mark.timeout(10)
def test_a_device_that_never_ends_is_refused_unread():
    assert problems_of("/dev/zero") == [("", "cannot be read: it is a character device, not a regular file")]


def test_a_socket_is_refused(tmp_path):
    path = tmp_path / "site.sock"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))
        assert problems_of(path) == [("", "cannot be read: it is a socket, not a regular file")]


def test_a_file_over_1_mib_is_refused(tmp_path):
    config = tmp_path / "site.toml"
    config.write_text("#" * MAX_CONFIG_BYTES + "\n")
    ((field, message),) = problems_of(config)
    assert field == "" and message.startswith("is larger than 1 MiB")


def test_a_file_of_exactly_1_mib_is_read(tmp_path):
    text = EXAMPLE.read_text(encoding="utf-8")
    config = example_in(tmp_path, text + "#" * (MAX_CONFIG_BYTES - len(text.encode()) - 1) + "\n")
    assert config.stat().st_size == MAX_CONFIG_BYTES
    assert load_site(config).name == "contoso"


@pytest.mark.parametrize("document", [
    "a = " + "[" * 100_000 + "]" * 100_000,
    "a = " + "{ b = " * 5_000 + "1" + " }" * 5_000,
], ids=["arrays-100000-deep", "inline-tables-5000-deep"])
def test_a_document_nested_too_deeply_is_a_config_error_not_a_recursion_error(tmp_path, document):
    config = tmp_path / "site.toml"
    config.write_text(document)
    ((field, message),) = problems_of(config)
    assert field == "" and "nested too deeply" in message


def _nested_lists(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize("field", ["name", "plugins", "volumes", "hosts", "takeover"])
def test_structuring_data_nested_far_deeper_than_python_recurses_names_the_field(field):
    """structure_site takes data from anywhere, not only tomllib: 100,000 levels where a field belongs."""
    data = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    data[field] = _nested_lists(100_000)
    with pytest.raises(ConfigError) as caught:
        structure_site(data, str(EXAMPLE))
    assert field in {where.partition("[")[0] for where, _ in caught.value.problems}


# --------------------------------------------------------------------------- relative paths

def test_the_example_names_a_ca_file_that_ssl_accepts():
    site = load_site(EXAMPLE)
    assert site.domain.ca_file == str(EXAMPLE_CA)
    assert {host.winrm.ca_file for host in site.hosts.values()} == {str(EXAMPLE_CA)}
    assert ssl.create_default_context(cafile=site.domain.ca_file).get_ca_certs()


def test_relative_paths_are_relative_to_the_config_file_not_the_current_directory(tmp_path, monkeypatch):
    text = EXAMPLE.read_text(encoding="utf-8").replace('snap_engine = "vss"', 'snap_engine = "vss"\nstate_dir = "state"')
    config = example_in(tmp_path / "site", text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    site = load_site(Path("..") / "site" / "site.toml")
    folder = (tmp_path / "site").resolve()
    assert site.state_dir == str(folder / "state")
    assert site.domain.ca_file == str(folder / "contoso-ca.pem")
    assert site.hosts["production"].winrm.ca_file == str(folder / "contoso-ca.pem")
    assert config.exists()


def test_absolute_paths_stay_as_they_are(tmp_path):
    ca = tmp_path / "ca" / "bundle.pem"
    ca.parent.mkdir()
    shutil.copy(EXAMPLE_CA, ca)
    text = (EXAMPLE.read_text(encoding="utf-8").replace('"contoso-ca.pem"', f'"{ca}"')
            .replace('snap_engine = "vss"', f'snap_engine = "vss"\nstate_dir = "{tmp_path / "state"}"'))
    site = load_site(example_in(tmp_path / "site", text))
    assert site.domain.ca_file == str(ca) and site.state_dir == str(tmp_path / "state")


def test_a_config_found_through_a_symbolic_link_reads_paths_next_to_the_real_file(tmp_path):
    real = example_in(tmp_path / "real")
    (tmp_path / "link.toml").symlink_to(real)
    site = load_site(tmp_path / "link.toml")
    assert site.domain.ca_file == str((tmp_path / "real" / "contoso-ca.pem").resolve())
    assert site.state_dir == str((tmp_path / "real" / ".qrdr").resolve())


# --------------------------------------------------------------------------- the rules' table and the model

def test_every_field_rule_names_a_field_of_its_class():
    for cls, field in FIELD_RULES:
        assert field in attrs.fields_dict(cls), f"FIELD_RULES names {cls.__name__}.{field}, which does not exist"


def test_the_base_dn_escapes_each_label():
    def domain(dns_name: str) -> Domain:
        return Domain(dns_name=dns_name, netbios_name="QRDR", controllers=(), bind_user="u",
                      bind_password=SecretRef(env="X"))

    assert domain("contoso.local").base_dn == "DC=contoso,DC=local"
    assert domain("qrdr.lab,CN=evil").base_dn == "DC=qrdr,DC=lab\\,CN\\=evil"
    assert domain("a+b.c").base_dn == "DC=a\\+b,DC=c"
    with pytest.raises(ValueError):
        domain("contoso..local").base_dn
