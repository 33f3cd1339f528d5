"""The site config: one TOML file -> :class:`qrdr.model.Site`, through cattrs.

Where the file is: ``--config FILE``, else ``$QRDR_CONFIG``, else ``./qrdr.toml``
(:func:`find_config`). :func:`load_site` reads it (a regular file of at most
1 MiB: nothing else is even opened for reading), structures it into the model
and checks what the model alone cannot say (exactly one production, standby
and CommServe; Windows 2000 hosts reached through a management host; the
runbook's version matrix; every volume letter valid). Every problem of a file
is reported at once, each with its field path (``hosts.standby.winrm.port``),
in one :class:`qrdr.errors.ConfigError` that names the file; a broken file
never ends in a traceback.

Secrets are never values in the file: a password field takes a reference,
``{ env = "VAR" }``, ``{ keyring = "service/user" }`` or ``{ prompt = true }``.
A string where a secret belongs is refused.

docs/config.md is the reference of every field; examples/site.toml is a
complete example.
"""

from __future__ import annotations

import enum
import functools
import os
import re
import stat
import tomllib
from pathlib import Path
from typing import IO, Any, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory, mapping_structure_factory
from cattrs.v import format_exception as cattrs_format_exception

from .errors import ConfigError
from .model import (
    Domain, Exchange, ExchangeVersion, Host, Role, SecretRef, Site, Transport, Volume, WindowsVersion,
)

DEFAULT_CONFIG = "qrdr.toml"
CONFIG_ENV = "QRDR_CONFIG"
#: A site's config is a few kilobytes: anything larger is the wrong file (a log, a disk image) and is not read.
MAX_CONFIG_BYTES = 1024 * 1024
NESTED_TOO_DEEPLY = "nested too deeply (arrays or tables hundreds of levels deep); a site config is a few levels deep"

#: Which Exchange runs on which Windows, and which snap engines each Windows has (DOMAIN.md).
SUPPORTED_PAIRS = {
    (ExchangeVersion.E2000, WindowsVersion.W2000),
    (ExchangeVersion.E2003, WindowsVersion.W2000),
    (ExchangeVersion.E2003, WindowsVersion.W2003),
}
SNAP_ENGINES = {
    "qsnap": {WindowsVersion.W2000, WindowsVersion.W2003},
    "vss": {WindowsVersion.W2003},
}


def find_config(explicit: str | os.PathLike | None = None) -> Path:
    """The config file to use: the explicit one, else $QRDR_CONFIG, else ./qrdr.toml."""
    if explicit:
        return Path(explicit)
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return Path(DEFAULT_CONFIG)


class FieldProblem(ValueError):
    """Raised by this module's structure hooks; its text is the message shown for the field.

    cattrs' own formatter would replace any ValueError by "invalid value for
    type, expected <type>", losing what the hook knows (the allowed values, why
    an inline secret is refused).
    """


def _toml_kind(value: Any) -> str:
    """What a TOML value is, in the words of the TOML spec (never the value itself)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return f"a {type(value).__name__}"


def _strict(kind: type, name: str):
    def structure(value: Any, _type: Any) -> Any:
        # TOML already gives typed values; a string where a number belongs is a mistake
        # in the file, not something to coerce silently.
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            shown = f" {value!r}" if isinstance(value, (str, int, float, bool)) else ""
            raise FieldProblem(f"expected {name}, got {_toml_kind(value)}{shown}")
        return value
    return structure


def _structure_enum(value: Any, enum_type: type[enum.Enum]) -> enum.Enum:
    allowed = [member.value for member in enum_type]
    try:
        return enum_type(value)
    except ValueError:
        raise FieldProblem(f"expected one of {', '.join(map(repr, allowed))}, got {value!r}") from None


def _checked_container(factory: Any, kind: type, name: str) -> Any:
    """A cattrs hook factory that refuses a value of the wrong TOML kind before structuring it.

    Without it a string where an array belongs is structured character by
    character, and a string where a table belongs ends in "unknown error".
    """
    def make(type_: Any, converter: cattrs.Converter) -> Any:
        inner = factory(type_, converter)

        def structure(value: Any, target: Any) -> Any:
            if not isinstance(value, kind):
                raise FieldProblem(f"expected {name}, got {_toml_kind(value)}")
            return inner(value, target)
        return structure
    return make


def _is_homogenous_tuple(type_: Any) -> bool:
    return get_origin(type_) is tuple and len(get_args(type_)) == 2 and get_args(type_)[1] is Ellipsis


def _model_enums() -> list[type[enum.Enum]]:
    from . import model

    return [value for value in vars(model).values()
            if isinstance(value, type) and issubclass(value, enum.Enum) and value is not enum.Enum]


def _structure_secret(value: Any, _type: Any) -> SecretRef:
    # Never echo a value here: a string where a secret belongs may be the password itself.
    if isinstance(value, str):
        raise FieldProblem(
            "looks like an inline secret; secrets are never written in the file: "
            'use { env = "VARIABLE" }, { keyring = "service/user" } or { prompt = true }'
        )
    if not isinstance(value, dict):
        raise FieldProblem(f"expected a secret reference table, got {_toml_kind(value)}")
    unknown = set(value) - {"env", "keyring", "prompt"}
    if unknown:
        raise FieldProblem(f"unknown keys {sorted(unknown)} in a secret reference (env, keyring or prompt)")
    chosen = [key for key in ("env", "keyring", "prompt") if value.get(key)]
    if len(chosen) != 1:
        raise FieldProblem("a secret reference names exactly one of env, keyring, prompt")
    if "env" in value and not (isinstance(value["env"], str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value["env"])):
        raise FieldProblem("env must be an environment variable name (letters, digits, '_')")
    if "keyring" in value and not (isinstance(value["keyring"], str) and "/" in value["keyring"]):
        raise FieldProblem("keyring must be 'service/user'")
    if "prompt" in value and not isinstance(value["prompt"], bool):
        raise FieldProblem("prompt must be true or false")
    return SecretRef(env=value.get("env"), keyring=value.get("keyring"), prompt=bool(value.get("prompt")))


def make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    converter.register_structure_hook(str, _strict(str, "a string"))
    converter.register_structure_hook(int, _strict(int, "an integer"))
    converter.register_structure_hook(float, _strict(float, "a number"))
    converter.register_structure_hook(bool, _strict(bool, "true or false"))
    # Registered class by class: the model's enums are str subclasses, and the
    # strict str hook above would otherwise take them (singledispatch follows the MRO).
    for enum_type in _model_enums():
        converter.register_structure_hook(enum_type, _structure_enum)
    converter.register_structure_hook(SecretRef, _structure_secret)
    converter.register_structure_hook_factory(
        _is_homogenous_tuple, _checked_container(homogenous_tuple_structure_factory, list, "an array"))
    converter.register_structure_hook_factory(
        lambda type_: get_origin(type_) is list, _checked_container(list_structure_factory, list, "an array"))
    converter.register_structure_hook_factory(
        lambda type_: get_origin(type_) is dict, _checked_container(mapping_structure_factory, dict, "a table"))
    converter.register_structure_hook_factory(
        lambda type_: attrs.has(type_) and type_ is not Site,
        _checked_container(lambda type_, conv: conv.gen_structure_attrs_fromdict(type_), dict, "a table"))
    # The TOML table is [plugin.<name>]; the model calls it plugin_config.
    converter.register_structure_hook(
        Site,
        cattrs.gen.make_dict_structure_fn(
            Site, converter, _cattrs_forbid_extra_keys=True,
            plugin_config=cattrs.gen.override(rename="plugin"),
            source=cattrs.gen.override(omit=True),
        ),
    )
    return converter


_PATH_PIECE = re.compile(r"\['([^']*)'\]|\[(\d+)\]|\.([A-Za-z_][A-Za-z0-9_]*)")


def _field_path(cattrs_path: str) -> str:
    """``$.hosts['standby'].winrm.port`` -> ``hosts.standby.winrm.port``; ``$.volumes[0]`` -> ``volumes[0]``."""
    out = ""
    for key, index, attr in _PATH_PIECE.findall(cattrs_path.removeprefix("$")):
        if index:
            out += f"[{index}]"
        else:
            out += ("." if out else "") + (key or attr)
    return out.replace(".plugin_config", ".plugin").removeprefix("plugin_config").strip(".") or "(top level)"


def _describe_problem(exc: BaseException, type_: Any) -> str:
    """The message for one field: our hooks' own words, else cattrs' in plainer terms."""
    if isinstance(exc, FieldProblem):
        return str(exc)
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        known = [field.name for field in attrs.fields(exc.cl)] if attrs.has(exc.cl) else []
        if exc.cl is Site:
            known = ["plugin" if name == "plugin_config" else name for name in known if name != "source"]
        unknown = ", ".join(sorted(exc.extra_fields))
        return f"unknown key{'s' if len(exc.extra_fields) > 1 else ''} {unknown}" + (
            f" (known keys: {', '.join(known)})" if known else "")
    return cattrs_format_exception(exc, type_).removeprefix("invalid value for type, ")


def _cattrs_problems(exc: Exception) -> list[tuple[str, str]]:
    problems = []
    for line in cattrs.transform_error(exc, path="$", format_exception=_describe_problem):
        message, _, where = line.rpartition(" @ ")
        problems.append((_field_path(where), message))
    return problems


@functools.lru_cache(maxsize=1)
def _site_converter() -> cattrs.Converter:
    # Building a converter generates its structuring code (about 10 ms); the
    # converter holds no state about any one site, so one is reused.
    return make_converter()


# --------------------------------------------------------------------------- reading the file

REGULAR_FILE = "a regular file"
FOLDER = "a folder"


def _file_kind(mode: int) -> str:
    """What a file system object is, from its ``st_mode``, in words for a message."""
    for test, words in ((stat.S_ISREG, REGULAR_FILE), (stat.S_ISDIR, FOLDER), (stat.S_ISFIFO, "a named pipe (FIFO)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return words
    return "not a regular file"


class _Unreadable(Exception):
    """A file qrdr must read cannot be: the text says why (never how it was called)."""


def _open_regular_file(path: str | os.PathLike) -> IO[bytes]:
    """``path`` opened for reading, if it is a regular file; FileNotFoundError if it does not exist.

    Anything else raises :class:`_Unreadable` before a byte is read: reading a FIFO
    waits for a writer for ever, a device may never end. The file is opened
    non-blocking and checked again once open, so it cannot have been swapped
    for a FIFO in between.
    """
    try:
        kind = _file_kind(os.stat(path).st_mode)
        if kind != REGULAR_FILE:
            raise _Unreadable(f"it is {kind}, not a regular file")
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise _Unreadable(exc.strerror or str(exc)) from None
    except ValueError as exc:  # a NUL in the name
        raise _Unreadable(str(exc)) from None
    file = open(descriptor, "rb")
    kind = _file_kind(os.fstat(descriptor).st_mode)
    if kind != REGULAR_FILE:
        file.close()
        raise _Unreadable(f"it is {kind}, not a regular file")
    return file


def _read_config_text(config_path: Path, source: str, chosen_by: str) -> str:
    """The config file's text: a regular file of at most MAX_CONFIG_BYTES of UTF-8; else ConfigError."""
    def refuse(message: str) -> ConfigError:
        return ConfigError(source, [("", message)])

    try:
        with _open_regular_file(config_path) as file:
            size = os.fstat(file.fileno()).st_size
            raw = file.read(MAX_CONFIG_BYTES + 1) if size <= MAX_CONFIG_BYTES else b""
            size = max(size, len(raw))
    except FileNotFoundError:
        raise refuse(f"no such file (chosen by {chosen_by}); write one like examples/site.toml") from None
    except (_Unreadable, OSError) as exc:
        raise refuse(f"cannot be read: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    if size > MAX_CONFIG_BYTES:
        raise refuse(f"is larger than 1 MiB ({size} bytes); a site config is a few kilobytes: is it the right file?")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise refuse(f"cannot be read: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


# --------------------------------------------------------------------------- loading

def structure_site(data: dict[str, Any], source: str) -> Site:
    """Structure parsed TOML into a Site and validate it; raise ConfigError with every problem."""
    try:
        return _structured_and_checked(data, source)
    except RecursionError:
        # tomllib parses documents a few hundred levels deep; cattrs and the checks recurse with them.
        raise ConfigError(source, [("", NESTED_TOO_DEEPLY)]) from None


def _structured_and_checked(data: dict[str, Any], source: str) -> Site:
    try:
        site = _site_converter().structure(data, Site)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise ConfigError(source, _cattrs_problems(exc) + _problems_of_parts(data)) from None
    site = attrs.evolve(site, source=source)
    problems = validate_site(site)
    if problems:
        raise ConfigError(source, problems)
    return site


def load_site(path: str | os.PathLike | None = None) -> Site:
    """Read, structure and validate the site config (see module docstring)."""
    config_path = find_config(path)
    source = str(config_path)
    chosen_by = f"${CONFIG_ENV}" if (not path and os.environ.get(CONFIG_ENV)) else ("--config" if path else "the default")
    text = _read_config_text(config_path, source, chosen_by)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [("", f"not valid TOML: {exc}")]) from None
    except RecursionError:
        raise ConfigError(source, [("", NESTED_TOO_DEEPLY)]) from None
    site = structure_site(data, source)
    if site.state_dir is None:
        site = attrs.evolve(site, state_dir=str(config_path.resolve().parent / ".qrdr"))
    return site


# --------------------------------------------------------------------------- checks across fields

def validate_site(site: Site) -> list[tuple[str, str]]:
    """What the model's types cannot say; every problem, each with its field path."""
    return _cross_field_problems(hosts=site.hosts, exchange=site.exchange, snap_engine=site.snap_engine,
                                 volumes=site.volumes, domain=site.domain)


def _cross_field_problems(*, hosts: dict[str, Host] | None, exchange: Exchange | None, snap_engine: str | None,
                          volumes: tuple[Volume, ...] | None, domain: Domain | None) -> list[tuple[str, str]]:
    """The checks across fields, each run when the parts it needs are there (None: not structured)."""
    problems: list[tuple[str, str]] = []
    if hosts is not None:
        problems += _check_roles(hosts)
        problems += _check_hosts(hosts)
        if exchange is not None and snap_engine is not None:
            problems += _check_versions(hosts, exchange.version, snap_engine)
    if snap_engine is not None and snap_engine not in SNAP_ENGINES:
        problems.append(("snap_engine", f"expected one of {', '.join(map(repr, SNAP_ENGINES))}, got {snap_engine!r}"))
    if volumes is not None:
        problems += _check_volumes(volumes)
    if domain is not None:
        problems += _check_domain(domain)
    return problems


def _problems_of_parts(data: dict[str, Any]) -> list[tuple[str, str]]:
    """When the file as a whole does not structure: the checks across fields of the parts that do.

    So that a file with a mistyped port *and* two productions reports both at
    once; a part that does not structure is left to the structural errors.
    """
    converter = _site_converter()
    parts: dict[str, Any] = {}
    for name, type_ in (("hosts", dict[str, Host]), ("exchange", Exchange), ("volumes", tuple[Volume, ...]),
                        ("domain", Domain)):
        try:
            parts[name] = converter.structure(data[name], type_)
        except (KeyError, cattrs.BaseValidationError, ValueError, TypeError):
            parts[name] = None
    snap_engine = data.get("snap_engine")
    return _cross_field_problems(snap_engine=snap_engine if isinstance(snap_engine, str) else None, **parts)


def _check_domain(domain: Domain) -> list[tuple[str, str]]:
    problems = []
    if not domain.controllers:
        problems.append(("domain.controllers", "at least one domain controller is needed"))
    if domain.tls not in ("ldaps", "starttls"):
        problems.append(("domain.tls", f"expected 'ldaps' or 'starttls', got {domain.tls!r}"))
    return problems


def _check_roles(hosts: dict[str, Host]) -> list[tuple[str, str]]:
    problems = []
    for role in (Role.PRODUCTION, Role.STANDBY, Role.COMMSERVE):
        keys = [key for key, host in hosts.items() if host.role is role]
        if len(keys) != 1:
            found = ", ".join(keys) or "none"
            problems.append(("hosts", f"exactly one host must have role {role.value!r} (found: {found})"))
    names = {}
    for key, host in hosts.items():
        upper = host.name.upper()
        if upper in names:
            problems.append((f"hosts.{key}.name", f"{host.name!r} is also the name of hosts.{names[upper]}"))
        names[upper] = key
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,14}", host.name):
            problems.append((f"hosts.{key}.name", f"{host.name!r} is not a NetBIOS computer name (1-15 letters, digits, '-')"))
    return problems


def _check_hosts(hosts: dict[str, Host]) -> list[tuple[str, str]]:
    problems = []
    for key, host in hosts.items():
        where = f"hosts.{key}"
        if host.windows is WindowsVersion.W2000:
            if host.winrm is not None:
                problems.append((f"{where}.winrm", "Windows 2000 has no WinRM: remove it and set via = <management host key>"))
            if host.via is None:
                problems.append((f"{where}.via", "a Windows 2000 host is reached through a management host: name its key here"))
            elif host.via not in hosts:
                problems.append((f"{where}.via", f"no host with key {host.via!r}"))
            elif hosts[host.via].role is not Role.MANAGEMENT:
                problems.append((f"{where}.via", f"hosts.{host.via} must have role 'management'"))
        else:
            if host.winrm is None:
                problems.append((f"{where}.winrm", "missing: how to reach this host's PowerShell remoting endpoint"))
            if host.via is not None:
                problems.append((f"{where}.via", "only Windows 2000 hosts are reached through a management host"))
        if host.role is Role.MANAGEMENT and host.windows is not WindowsVersion.W2003:
            problems.append((f"{where}.windows", "a management host needs Windows 2003 with PowerShell 2.0"))
        if host.winrm and host.winrm.transport is Transport.HTTP and host.winrm.auth.value == "basic":
            problems.append((f"{where}.winrm.auth", "Basic over HTTP would send the password in clear: use https or ntlm"))
    return problems


def _check_versions(hosts: dict[str, Host], exchange: ExchangeVersion, snap_engine: str) -> list[tuple[str, str]]:
    problems = []
    by_role: dict[Role, tuple[str, Host]] = {}
    for key, host in hosts.items():
        by_role.setdefault(host.role, (key, host))  # the first of each role; duplicates are _check_roles'
    for role in (Role.PRODUCTION, Role.STANDBY):
        if role not in by_role:
            continue
        key, host = by_role[role]
        if (exchange, host.windows) not in SUPPORTED_PAIRS:
            problems.append((
                f"hosts.{key}.windows",
                f"Exchange {exchange.value} on Windows {host.windows.value} is not a supported combination "
                "(supported: Exchange 2000 on Windows 2000; Exchange 2003 on Windows 2000 or 2003)",
            ))
        engines = SNAP_ENGINES.get(snap_engine)
        if engines is not None and host.windows not in engines:
            problems.append((
                "snap_engine",
                f"{snap_engine!r} does not exist on Windows {host.windows.value} "
                f"({role.value} {host.name}); use 'qsnap'",
            ))
    if Role.PRODUCTION in by_role and Role.STANDBY in by_role:
        (_, prod), (standby_key, standby) = by_role[Role.PRODUCTION], by_role[Role.STANDBY]
        if prod.windows is not standby.windows:
            problems.append((
                f"hosts.{standby_key}.windows",
                f"the standby runs Windows {standby.windows.value} but production runs Windows {prod.windows.value}: "
                "the runbook installs Exchange identically on both",
            ))
    return problems


def _check_volumes(volumes: tuple[Volume, ...]) -> list[tuple[str, str]]:
    problems = []
    if not volumes:
        problems.append(("volumes", "list production's Exchange volumes (at least one)"))
    seen = set()
    holders: dict[str, str] = {}
    for index, volume in enumerate(volumes):
        where = f"volumes[{index}]"
        for field, letter in (("letter", volume.letter), ("standby_letter", volume.standby_letter)):
            if letter is not None and not re.fullmatch(r"[D-Zd-z]", letter):
                problems.append((f"{where}.{field}", f"expected a drive letter D-Z, got {letter!r}"))
        if volume.letter.upper() in seen:
            problems.append((f"{where}.letter", f"drive {volume.letter}: is listed twice"))
        seen.add(volume.letter.upper())
        if volume.size_gb <= 0:
            problems.append((f"{where}.size_gb", f"expected a size above 0, got {volume.size_gb}"))
        for content in volume.holds:
            holders.setdefault(content.value, volume.letter.upper())
    logs, system = holders.get("logs"), holders.get("system-path")
    if logs and system and logs != system:
        problems.append((
            "volumes",
            f"transaction logs (on {logs}:) and the system path (on {system}:) must be on the same volume "
            "so the checkpoint file is copied at the same point in time (runbook, Prepare the Production Server, step 1)",
        ))
    return problems


def site_to_toml(site: Site) -> str:
    """The site as a config file :func:`load_site` reads back to an equal Site (secrets stay references)."""
    import tomli_w

    data = make_converter().unstructure(site)
    data["plugin"] = data.pop("plugin_config")
    data.pop("source", None)
    return tomli_w.dumps(_drop_none(data))


def _drop_none(value: Any) -> Any:
    # TOML has no null: a field left out takes its default, which is what None means here.
    if isinstance(value, dict):
        return {key: _drop_none(item) for key, item in value.items() if item is not None}
    if isinstance(value, (list, tuple)):
        return [_drop_none(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value
