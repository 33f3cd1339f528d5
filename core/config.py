"""The site config: one TOML file -> :class:`qrdr.model.Site`, through cattrs.

Where the file is: ``--config FILE``, else ``$QRDR_CONFIG``, else ``./qrdr.toml``
(:func:`find_config`). :func:`load_site` reads it (a regular file of at most
1 MiB, nothing else is even opened for reading), structures it into the model
and checks it:

* while structuring, each field's type, then its value by its rule in
  :data:`FIELD_RULES` (an IPv4 address, a NetBIOS name, a port from 1 to
  65535 ...);
* after, what no single field can say (exactly one production, standby and
  CommServe; Windows 2000 hosts reached through a management host; the
  standby on production's Windows; a DC's URL agreeing with ``domain.tls``; the
  files and folders named, ``ca_file`` and ``state_dir``).

Not here: the version matrix (which Exchange runs on which Windows, which snap
engine exists on which Windows). The plugins decide it, each in its
``qrdr_validate_site``, so that a third-party plugin brings its own row; a site
no loaded plugin serves is refused before anything runs (``qrdr.api.Runbook``).

Every problem of a file is reported at once, each with its field path
(``hosts.standby.winrm.port``), in one :class:`qrdr.errors.ConfigError` that
names the file; a broken file never ends in a traceback.

Relative paths in the file (``state_dir``, every ``ca_file``) are relative to
the config file's folder; the loaded Site holds them absolute.

Secrets are never values in the file: a password field takes a reference,
``{ env = "VAR" }``, ``{ keyring = "service/user" }`` or ``{ prompt = true }``.
A string where a secret belongs is refused, and no message ever repeats it.

docs/config.md is the reference of every field; examples/site.toml is a
complete example.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import math
import os
import re
import stat
import tomllib
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, get_args, get_origin

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory, list_structure_factory, mapping_structure_factory
from cattrs.v import format_exception as cattrs_format_exception

from .errors import ConfigError
from .model import (
    Domain, DomainController, Exchange, Host, QuickRecovery, Role, SecretRef, Site, Takeover, Targets,
    Transport, Volume, WindowsVersion, WinRM,
)

DEFAULT_CONFIG = "qrdr.toml"
CONFIG_ENV = "QRDR_CONFIG"
#: Where the journal and the run lock go when the file names no state_dir (relative to the file's folder).
DEFAULT_STATE_DIR = ".qrdr"
#: A site's config is a few kilobytes: anything larger is the wrong file (a log, a disk image) and is not read.
MAX_CONFIG_BYTES = 1024 * 1024
#: How much of a ca_file is read to find a certificate in it (a bundle's first one is at its start).
CA_FILE_HEAD_BYTES = 1024 * 1024
NESTED_TOO_DEEPLY = "nested too deeply (arrays or tables hundreds of levels deep); a site config is a few levels deep"

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
    except ValueError as exc:
        if "_missing_" in vars(enum_type):  # an open enum (ExchangeVersion) says itself what it takes
            raise FieldProblem(str(exc)) from None
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


# --------------------------------------------------------------------------- value rules
#
# A rule takes a field's value, already structured to its type, and raises
# FieldProblem saying what is wrong and what is expected. Rules never echo a value
# that could be a secret, and cut long values short (a mistaken value may be a
# whole file). FIELD_RULES says which field follows which rule.

Rule = Callable[[Any], None]


def _shown(value: str, limit: int = 60) -> str:
    """``value`` quoted for a message, cut short past ``limit`` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 4] + "...'"


def _is_control(char: str) -> bool:
    """A control character or a line/paragraph separator: never meant inside a config value."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp")


def _char(char: str) -> str:
    """One character for a message: ``'/'``, or ``U+0000`` when it cannot be shown."""
    return repr(char) if char.isprintable() else f"U+{ord(char):04X}"


def _problem_of(rule: Rule, value: Any) -> str | None:
    """What ``rule`` says of ``value``, or None when the value follows it."""
    try:
        rule(value)
    except FieldProblem as problem:
        return str(problem)
    return None


def _expect_text(text: str) -> None:
    """One line of text: not empty or blank, no control character, no blank at either end.

    These values go into commands, LDAP names and file names, where a stray newline
    or blank is never meant. The value is not shown: this rule also guards user
    names, which sit next to secrets.
    """
    if not text.strip():
        raise FieldProblem("is empty; expected a value")
    for position, char in enumerate(text, start=1):
        if _is_control(char):
            raise FieldProblem(f"contains a control character ({_char(char)}) at position {position}; "
                               "expected one line of text")
    if text != text.strip():
        raise FieldProblem("starts or ends with a blank; expected the value without it")


_SITE_NAME_CHARACTERS = re.compile(r"[A-Za-z0-9._-]")


def _expect_site_name(text: str) -> None:
    """The site's name: letters, digits, '-', '_', '.', starting with a letter or digit, at most 64
    characters, no '..'.

    It is a file name (``<state_dir>/<name>.journal.sqlite``, the run lock) and appears
    in reports: nothing in it may lead out of state_dir or break a file name.
    """
    expected = ("expected a plain name: letters, digits, '-', '_' and '.', starting with a letter or digit, "
                "at most 64 characters (it names the journal <state_dir>/<name>.journal.sqlite)")
    if not text:
        raise FieldProblem(f"is empty; {expected}")
    bad = next((char for char in text if not _SITE_NAME_CHARACTERS.fullmatch(char)), None)
    if bad is not None:
        raise FieldProblem(f"{_shown(text)} contains {_char(bad)}; {expected}")
    if not text[0].isalnum():
        raise FieldProblem(f"{_shown(text)} does not start with a letter or digit; {expected}")
    if len(text) > 64:
        raise FieldProblem(f"{_shown(text)} has {len(text)} characters; {expected}")
    if ".." in text:
        raise FieldProblem(f"{_shown(text)} contains '..'; {expected}")


def site_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a site's name (it becomes file names in state_dir), or None."""
    try:
        _expect_site_name(name)
    except FieldProblem as problem:
        return str(problem)
    return None


#: Microsoft, "Naming conventions in Active Directory": what a NetBIOS computer name cannot contain.
NETBIOS_FORBIDDEN = frozenset('\\/:*?"<>|,~!@#$%^&\'.(){}_ ')


def _expect_netbios_name(text: str) -> None:
    """A NetBIOS name by Microsoft's rules: 1-15 characters, none of
    ``\\ / : * ? " < > | , ~ ! @ # $ % ^ & ' . ( ) { } _``, no blank or control character,
    not all digits. Computer names (hosts, DCs) and the domain's NetBIOS name follow it.
    """
    what = f"{_shown(text)} is not a NetBIOS name"
    if not 1 <= len(text) <= 15:
        raise FieldProblem(f"{what}: expected 1 to 15 characters, it has {len(text)}")
    bad = next((char for char in text if char in NETBIOS_FORBIDDEN or char.isspace() or _is_control(char)), None)
    if bad is not None:
        raise FieldProblem(f"{what}: {_char(bad)} is not allowed "
                           "(none of \\ / : * ? \" < > | , ~ ! @ # $ % ^ & ' . ( ) { } _, blanks or control characters)")
    if text.isdigit():
        raise FieldProblem(f"{what}: it cannot be all digits")


_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _dns_name_problem(text: str) -> str | None:
    """Why ``text`` is not a DNS name by RFC 1123, or None when it is.

    Labels of 1-63 letters, digits and '-' (not at a label's start or end), joined by
    dots, 253 characters at most; no empty label (so no dot at the start or end).
    A last label of digits only is refused: only an IPv4 address ends so (RFC 1123 2.1).
    """
    if not text:
        return "it is empty"
    if any(char.isspace() or _is_control(char) for char in text):
        return "it contains a blank or a control character"
    if len(text) > 253:
        return f"it has {len(text)} characters (at most 253)"
    labels = text.split(".")
    if "" in labels:
        return "it has an empty label (two dots in a row, or a dot at the start or end)"
    for label in labels:
        if len(label) > 63:
            return f"the label {_shown(label, 30)} has {len(label)} characters (at most 63)"
        if not _DNS_LABEL.fullmatch(label):
            return f"the label {_shown(label)} is not letters, digits and '-' (with no '-' at its start or end)"
    if labels[-1].isdigit():
        return "its last label is all digits, which only an IPv4 address has"
    return None


def _expect_dns_domain_name(text: str) -> None:
    """The domain's DNS name (RFC 1123, see :func:`_dns_name_problem`), e.g. ``contoso.local``.

    It gives the base DN (``DC=contoso,DC=local``): a comma or '=' in it would add RDNs.
    """
    problem = _dns_name_problem(text)
    if problem:
        raise FieldProblem(f"{_shown(text)} is not a DNS domain name: {problem}; expected labels of letters, "
                           "digits and '-' joined by dots, e.g. 'contoso.local'")


def _unusable_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address, *, on_adapter: bool) -> str | None:
    """What kind of address no host can be reached at or given, or None when it is usable.

    ``on_adapter``: the address is to be set on a network adapter, which excludes
    loopback and link-local addresses too (a host *reached* at 127.0.0.1 is fine: the lab).
    """
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.version == 4 and address.is_reserved:
        return "a reserved address (240.0.0.0/4, or the broadcast address)"
    if on_adapter and address.is_loopback:
        return "a loopback address"
    if on_adapter and address.is_link_local:
        return "a link-local address"
    return None


def _expect_host_address(text: str) -> None:
    """Where a host is reached: an IPv4 or IPv6 address, or a DNS host name (RFC 1123)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        address = None
    if address is not None:
        unusable = _unusable_address(address, on_adapter=False)
        if unusable:
            raise FieldProblem(f"{text} is {unusable}: no host can be reached there")
        return
    if re.fullmatch(r"[0-9.]+", text):
        raise FieldProblem(f"{_shown(text)} is not a valid IPv4 address: expected four numbers from 0 to 255 "
                           "without leading zeros, e.g. '10.0.0.21'")
    problem = _dns_name_problem(text)
    if problem:
        raise FieldProblem(f"{_shown(text)} is neither an IP address nor a DNS host name: {problem}")


def _parsed_ipv4(text: str, expected: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        raise FieldProblem(f"expected {expected}, got {_shown(text)}") from None


def _expect_ipv4_address(text: str) -> None:
    """An IPv4 address a network adapter can be given: not 0.0.0.0, loopback, link-local,
    multicast, reserved or broadcast (what the promote sets on the standby)."""
    address = _parsed_ipv4(text, "an IPv4 address such as '10.0.0.21'")
    unusable = _unusable_address(address, on_adapter=True)
    if unusable:
        raise FieldProblem(f"{text} is {unusable}: a network adapter cannot be given it")


def _expect_ipv4_netmask(text: str) -> None:
    """An IPv4 subnet mask: ones then zeros, from 128.0.0.0 to 255.255.255.255."""
    mask = int(_parsed_ipv4(text, "a subnet mask such as '255.255.255.0'"))
    host_bits = ~mask & 0xFFFFFFFF
    if mask == 0 or host_bits & (host_bits + 1):
        raise FieldProblem(f"{text} is not a subnet mask: expected ones then zeros, from 128.0.0.0 to "
                           "255.255.255.255, e.g. '255.255.255.0'")


def _expect_in_range(low: int, high: int, unit: str) -> Rule:
    """The rule "an integer from ``low`` to ``high``"; ``unit`` says what it counts, for the message."""
    def in_range(number: int) -> None:
        if not low <= number <= high:
            raise FieldProblem(f"expected {unit} from {low} to {high}, got {number}")
    in_range.__doc__ = f"{unit} from {low} to {high}"
    return in_range


def _expect_positive_number(number: float) -> None:
    """A finite number above 0 (TOML's nan and inf would make every comparison with it meaningless)."""
    if not (math.isfinite(number) and number > 0):
        raise FieldProblem(f"expected a finite number above 0, got {number}")


_DRIVE_LETTER = re.compile(r"[D-Zd-z]")


def _expect_drive_letter(text: str) -> None:
    """A drive letter for an Exchange volume, D-Z (A-C are floppies and the system drive)."""
    if not _DRIVE_LETTER.fullmatch(text):
        raise FieldProblem(f"expected a drive letter D-Z, got {_shown(text)}")


_WINDOWS_ABSOLUTE = re.compile(r"[A-Za-z]:\\")
_WINDOWS_FILE_NAME_FORBIDDEN = frozenset('<>:"/|?*')


def _windows_path_problem(text: str) -> str | None:
    """Why ``text`` is not an absolute path on a Windows host (``X:\\...``), or None when it is."""
    if not _WINDOWS_ABSOLUTE.match(text):
        return "it does not start with a drive letter, ':' and '\\'"
    bad = next((char for char in text[3:] if char in _WINDOWS_FILE_NAME_FORBIDDEN or _is_control(char)), None)
    if bad is not None:
        return f"{_char(bad)} cannot be in a Windows file name"
    return None


def _expect_windows_path(text: str) -> None:
    """An absolute path on the Windows host, e.g. ``C:\\Program Files\\Exchsrvr`` (qrdr runs it there)."""
    problem = _windows_path_problem(text)
    if problem:
        raise FieldProblem(f"{_shown(text)} is not an absolute Windows path: {problem}; "
                           "expected e.g. 'C:\\Program Files\\Exchsrvr'")


_DRIVE = re.compile(r"[A-Za-z](?::\\?)?")


def _expect_windows_mount_point(text: str) -> None:
    """Where QR copies a volume on the standby: a drive (``S``, ``S:``, ``S:\\``) or an absolute folder path."""
    if _DRIVE.fullmatch(text):
        return
    problem = _windows_path_problem(text)
    if problem:
        raise FieldProblem(f"{_shown(text)} is neither a drive nor an absolute Windows path: {problem}; "
                           "expected e.g. 'S:' or 'C:\\QR\\E'")


_URL_PATH = re.compile(r"[A-Za-z0-9._~-]+(?:/[A-Za-z0-9._~-]+)*")


def _expect_url_path(text: str) -> None:
    """The path of a URL after ``https://host:port/``: names of letters, digits and ``- . _ ~``
    joined by '/', with no '/' at the start or end (qrdr puts the first), no query or fragment."""
    if not _URL_PATH.fullmatch(text):
        raise FieldProblem(f"expected a URL path such as 'wsman' (letters, digits, '-', '.', '_', '~' joined by '/'; "
                           f"no '/' at its start or end, no '?', '#' or blank), got {_shown(text)}")


def _expect_component_name(text: str) -> None:
    """An Exchange component as setup's unattend file names it (the key of a ``NAME = Install`` line):
    one line of text, without '=' and not starting with '[' or ';' (a section, a comment)."""
    _expect_text(text)
    if "=" in text or text[:1] in ("[", ";"):
        raise FieldProblem(f"{_shown(text)} cannot name a component in setup's answer file: it holds '=' or "
                           "starts with '[' or ';'; expected e.g. 'Microsoft Exchange Messaging and "
                           "Collaboration Services'")


def _each(rule: Rule, *, at_least_one: bool = False) -> Rule:
    """The rule "every item of the array follows ``rule``" (and, with ``at_least_one``, there is one)."""
    def each(items: tuple[Any, ...]) -> None:
        if at_least_one and not items:
            raise FieldProblem("is empty; expected at least one")
        for number, item in enumerate(items, start=1):
            problem = _problem_of(rule, item)
            if problem:
                raise FieldProblem(f"item {number}: {problem}")
    return each


_SECONDS = "a number of seconds"

#: The rule of each field whose value its type alone does not check: (model class, field) -> rule.
#: A path field (state_dir, ca_file) is a text here; the file or folder it names is checked
#: after structuring, against the config file's folder (see _ca_file_problem, _state_dir_problem).
FIELD_RULES: dict[tuple[type, str], Rule] = {
    (Site, "name"): _expect_site_name,
    (Site, "plugins"): _each(_expect_text),
    (Site, "state_dir"): _expect_text,
    (Domain, "dns_name"): _expect_dns_domain_name,
    (Domain, "netbios_name"): _expect_netbios_name,
    (Domain, "bind_user"): _expect_text,
    (Domain, "ca_file"): _expect_text,
    # A day: replication across sites takes hours at worst.
    (Domain, "replication_deadline"): _expect_in_range(1, 86_400, _SECONDS),
    (Domain, "join_user"): _expect_text,
    (DomainController, "name"): _expect_netbios_name,
    (DomainController, "address"): _expect_host_address,
    (DomainController, "url"): _expect_text,
    (Host, "name"): _expect_netbios_name,
    (Host, "address"): _expect_host_address,
    (Host, "via"): _expect_text,
    (Host, "local_user"): _expect_text,
    (WinRM, "user"): _expect_text,
    (WinRM, "port"): _expect_in_range(1, 65_535, "a TCP port"),
    (WinRM, "path"): _expect_url_path,
    (WinRM, "ca_file"): _expect_text,
    (WinRM, "operation_timeout"): _expect_in_range(1, 3_600, _SECONDS),
    (WinRM, "connection_timeout"): _expect_in_range(1, 600, _SECONDS),
    (Volume, "letter"): _expect_drive_letter,
    (Volume, "size_gb"): _expect_positive_number,
    (Volume, "standby_letter"): _expect_drive_letter,
    (Volume, "standby_mount_point"): _expect_windows_mount_point,
    (Exchange, "organization"): _expect_text,
    (Exchange, "administrative_group"): _expect_text,
    (Exchange, "install_path"): _expect_windows_path,
    (Exchange, "setup_path"): _expect_windows_path,
    (Exchange, "update_path"): _expect_windows_path,
    (Exchange, "components"): _each(_expect_component_name, at_least_one=True),
    (Exchange, "service_pack"): _expect_text,
    (QuickRecovery, "commserve_host"): _expect_text,
    (QuickRecovery, "production_client"): _expect_text,
    (QuickRecovery, "standby_client"): _expect_text,
    (QuickRecovery, "scratch_pool"): _expect_text,
    (QuickRecovery, "policy"): _expect_text,
    (QuickRecovery, "subclient"): _expect_text,
    (QuickRecovery, "incremental_schedule"): _expect_text,
    (QuickRecovery, "commcell_user"): _expect_text,
    (QuickRecovery, "max_recovery_point_age_hours"): _expect_positive_number,
    (Takeover, "ip_address"): _expect_ipv4_address,
    (Takeover, "subnet_mask"): _expect_ipv4_netmask,
    (Takeover, "gateway"): _expect_ipv4_address,
    (Targets, "rto_minutes"): _expect_positive_number,
    (Targets, "rpo_minutes"): _expect_positive_number,
}


def _then_checked(structure: Callable[[Any, Any], Any], rule: Rule) -> Callable[[Any, Any], Any]:
    """A structure hook: ``structure`` (the type's own hook), then ``rule`` on what it gave."""
    def structure_and_check(value: Any, type_: Any) -> Any:
        result = structure(value, type_)
        if result is not None:
            rule(result)
        return result
    return structure_and_check


def _attrs_structure_fn(cls: type, converter: cattrs.Converter, rules: dict[tuple[type, str], Rule],
                        **overrides: Any) -> Callable[[Any, Any], Any]:
    """cattrs' structuring function for a model class, each field with a rule in ``rules`` checked by it.

    The rules run inside cattrs' per-field error collection, so a wrong value is
    reported with its field path, together with every other problem of the file.
    """
    for field in attrs.fields(attrs.resolve_types(cls)):
        rule = rules.get((cls, field.name))
        if rule is not None:
            hook = _then_checked(converter.get_structure_hook(field.type), rule)
            overrides[field.name] = attrs.evolve(overrides.get(field.name, cattrs.gen.override()), struct_hook=hook)
    return cattrs.gen.make_dict_structure_fn(cls, converter, **overrides)


def make_converter(*, value_rules: bool = True) -> cattrs.Converter:
    """The converter from parsed TOML to the model: strict types, unknown keys refused.

    ``value_rules``: also check every field by its rule in :data:`FIELD_RULES`.
    Without them only the shapes are checked, which is how the checks across
    fields still see the parts of a file where some value is wrong
    (:func:`_problems_of_parts`).
    """
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
    rules = FIELD_RULES if value_rules else {}
    converter.register_structure_hook_factory(
        lambda type_: attrs.has(type_) and type_ is not Site,
        _checked_container(lambda type_, conv: _attrs_structure_fn(type_, conv, rules), dict, "a table"))
    # The TOML table is [plugin.<name>]; the model calls it plugin_config.
    converter.register_structure_hook(
        Site,
        _attrs_structure_fn(
            Site, converter, rules,
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


# Building a converter generates its structuring code (about 10 ms); a converter
# holds no state about any one site, so each kind is built once.

@functools.lru_cache(maxsize=1)
def _site_converter() -> cattrs.Converter:
    return make_converter()


@functools.lru_cache(maxsize=1)
def _shape_converter() -> cattrs.Converter:
    return make_converter(value_rules=False)


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

def structure_site(data: dict[str, Any], source: str, folder: str | os.PathLike | None = None) -> Site:
    """Structure parsed TOML into a Site and validate it; raise ConfigError with every problem.

    Relative paths (state_dir, ca_file) are made absolute against ``folder``, the
    config file's folder (default: the folder of ``source``); state_dir defaults to
    ``<folder>/.qrdr``.
    """
    folder = Path(folder) if folder is not None else Path(source).resolve().parent
    try:
        return _structured_and_checked(data, source, folder)
    except RecursionError:
        # tomllib parses documents a few hundred levels deep; cattrs and the checks recurse with them.
        raise ConfigError(source, [("", NESTED_TOO_DEEPLY)]) from None


def _structured_and_checked(data: dict[str, Any], source: str, folder: Path) -> Site:
    try:
        site = _site_converter().structure(data, Site)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise ConfigError(source, _cattrs_problems(exc) + _problems_of_parts(data, folder)) from None
    site = attrs.evolve(_with_paths_resolved(site, folder), source=source)
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
    # The folder of the file itself, symbolic links followed: where state_dir has always defaulted to.
    return structure_site(data, source, folder=config_path.resolve().parent)


# --------------------------------------------------------------------------- paths

def _resolved(path_text: str, folder: Path) -> str:
    """``path_text`` made absolute against ``folder`` (an absolute path stays as it is)."""
    return str(folder / path_text)


def _domain_with_paths_resolved(domain: Domain, folder: Path) -> Domain:
    if domain.ca_file is None:
        return domain
    return attrs.evolve(domain, ca_file=_resolved(domain.ca_file, folder))


def _host_with_paths_resolved(host: Host, folder: Path) -> Host:
    if host.winrm is None or host.winrm.ca_file is None:
        return host
    return attrs.evolve(host, winrm=attrs.evolve(host.winrm, ca_file=_resolved(host.winrm.ca_file, folder)))


def _with_paths_resolved(site: Site, folder: Path) -> Site:
    """The site with state_dir (default ``.qrdr``) and every ca_file absolute, relative ones against ``folder``."""
    return attrs.evolve(
        site,
        state_dir=_resolved(site.state_dir if site.state_dir is not None else DEFAULT_STATE_DIR, folder),
        domain=_domain_with_paths_resolved(site.domain, folder),
        hosts={key: _host_with_paths_resolved(host, folder) for key, host in site.hosts.items()},
    )


def _ca_file_problem(path_text: str | None) -> str | None:
    """Why ``ca_file`` cannot be the CA qrdr trusts, or None when it can.

    It must be a readable regular file with a PEM certificate in it: ssl and
    requests read nothing else, and fail only when the first connection opens.
    """
    if path_text is None or _problem_of(_expect_text, path_text):
        return None  # none given, or reported by the field's own rule
    try:
        with _open_regular_file(path_text) as file:
            head = file.read(CA_FILE_HEAD_BYTES)
    except FileNotFoundError:
        return f"no such file: {path_text} (a relative ca_file is read from the config file's folder)"
    except _Unreadable as exc:
        return f"{path_text} cannot be used: {exc}; expected a PEM file of CA certificates"
    except OSError as exc:
        return f"{path_text} cannot be read: {exc.strerror or exc}"
    if b"-----BEGIN CERTIFICATE-----" not in head:
        return f"{path_text} holds no PEM certificate ('-----BEGIN CERTIFICATE-----'); expected the CA's certificate"
    return None


def _state_dir_problem(path_text: str | None) -> str | None:
    """Why ``state_dir`` cannot hold the journal and the run lock, or None when it can.

    It need not exist (it is created), but it, or the first of its parents that
    exists, must be a folder.
    """
    if path_text is None or _problem_of(_expect_text, path_text):
        return None
    path = Path(path_text)
    for candidate in (path, *path.parents):
        try:
            kind = _file_kind(os.stat(candidate).st_mode)
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, ValueError) as exc:
            return f"{candidate} cannot be checked: {getattr(exc, 'strerror', None) or exc}"
        if kind == FOLDER:
            return None
        on_the_way = "" if candidate == path else f" (on the way to {path})"
        return f"{candidate}{on_the_way} is {kind}, not a folder: state_dir holds the journal and the run lock"
    return None


# --------------------------------------------------------------------------- checks across fields

def validate_site(site: Site) -> list[tuple[str, str]]:
    """What neither the model's types nor the field rules can say; every problem, each with its field path.

    Paths are checked as they are: :func:`structure_site` has made them absolute.
    """
    return _cross_field_problems(hosts=site.hosts, exchange=site.exchange,
                                 volumes=site.volumes, domain=site.domain, quick_recovery=site.quick_recovery,
                                 takeover=site.takeover, state_dir=site.state_dir)


def _cross_field_problems(*, hosts: dict[str, Host] | None, exchange: Exchange | None,
                          volumes: tuple[Volume, ...] | None, domain: Domain | None,
                          quick_recovery: QuickRecovery | None, takeover: Takeover | None,
                          state_dir: str | None) -> list[tuple[str, str]]:
    """The checks across fields, each run when the parts it needs are there (None: not structured)."""
    problems: list[tuple[str, str]] = []
    if hosts is not None:
        problems += _check_roles(hosts)
        problems += _check_hosts(hosts)
        problems += _check_same_windows(hosts)
        if quick_recovery is not None:
            problems += _check_quick_recovery(quick_recovery, hosts)
    if volumes is not None:
        problems += _check_volumes(volumes)
    if domain is not None:
        problems += _check_domain(domain)
    if exchange is not None:
        problems += _check_exchange(exchange)
    if takeover is not None:
        problems += _check_takeover(takeover)
    state_dir_problem = _state_dir_problem(state_dir)
    if state_dir_problem:
        problems.append(("state_dir", state_dir_problem))
    return problems


#: The parts of a site that the checks across fields look at, and their types.
_PARTS: dict[str, Any] = {"hosts": dict[str, Host], "exchange": Exchange, "volumes": tuple[Volume, ...],
                          "domain": Domain, "quick_recovery": QuickRecovery, "takeover": Takeover}


def _problems_of_parts(data: dict[str, Any], folder: Path) -> list[tuple[str, str]]:
    """When the file as a whole does not structure: the checks across fields of the parts that do.

    So that a file with a mistyped port *and* two productions reports both at
    once. A part is structured for its shape only (no field rules: a wrong
    address does not hide two productions); a part that has the wrong shape is
    left to the structural errors.
    """
    converter = _shape_converter()
    defaults = attrs.fields_dict(Site)
    parts: dict[str, Any] = {}
    for name, type_ in _PARTS.items():
        if name not in data:
            default = defaults[name].default
            parts[name] = None if default is attrs.NOTHING else default
            continue
        try:
            parts[name] = converter.structure(data[name], type_)
        except (cattrs.BaseValidationError, ValueError, TypeError):
            parts[name] = None
    if parts["hosts"] is not None:
        parts["hosts"] = {key: _host_with_paths_resolved(host, folder) for key, host in parts["hosts"].items()}
    if parts["domain"] is not None:
        parts["domain"] = _domain_with_paths_resolved(parts["domain"], folder)
    state_dir = data.get("state_dir", DEFAULT_STATE_DIR)
    return _cross_field_problems(state_dir=_resolved(state_dir, folder) if isinstance(state_dir, str) else None,
                                 **parts)


def _repeats(entries: Iterable[tuple[Any, str]]) -> Iterator[tuple[Any, Any]]:
    """For each ``(label, value)`` whose value, ignoring case, came before: ``(label, label of the first)``."""
    first: dict[str, Any] = {}
    for label, value in entries:
        key = value.upper()
        if key in first:
            yield label, first[key]
        else:
            first[key] = label


def _unpaired(first: tuple[str, Any], second: tuple[str, Any], why: str) -> list[tuple[str, str]]:
    """Two settings that work only together, as ``(field path, value)``: the one set without the other."""
    (first_where, first_value), (second_where, second_value) = first, second
    if (first_value is None) == (second_value is None):
        return []
    given, missing = (first_where, second_where) if first_value is not None else (second_where, first_where)
    return [(given, f"set without {missing.rpartition('.')[2]}: {why}")]


def _ldap_url_problem(url: str, tls: str) -> str | None:
    """Why a DC's ``url`` cannot be used with ``domain.tls``, or None when it can.

    ldaps wants ``ldaps://HOST[:PORT]``, starttls ``ldap://HOST[:PORT]``, and
    nothing after. The URL is never shown: it may carry a user and password.
    """
    scheme = "ldaps" if tls == "ldaps" else "ldap"
    expected = f"expected {scheme}://HOST[:PORT] (domain.tls = {tls!r})"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return f"{expected}; its port or host cannot be read (a port is a number from 1 to 65535)"
    if parts.scheme.lower() != scheme:
        if not parts.scheme:
            return f"{expected}; it is not a URL"
        other_tls = {"ldap": " (ldap:// goes with tls = 'starttls')", "ldaps": " (ldaps:// goes with tls = 'ldaps')"}
        return f"{expected}; it starts with {parts.scheme.lower()}://{other_tls.get(parts.scheme.lower(), '')}"
    if parts.username is not None or parts.password is not None:
        return f"{expected}; it names a user: bind_user and bind_password say who qrdr binds as"
    if parts.path or parts.query or parts.fragment or "?" in url or "#" in url:
        return f"{expected}; nothing may follow HOST[:PORT] (no path, query or fragment)"
    if not parts.hostname:
        return f"{expected}; it names no host"
    host_problem = _problem_of(_expect_host_address, parts.hostname)
    if host_problem:
        return f"{expected}; its host {host_problem}"
    if port == 0:
        return f"{expected}; port 0 is not a port (1 to 65535)"
    return None


def _check_domain(domain: Domain) -> list[tuple[str, str]]:
    problems = []
    if not domain.controllers:
        problems.append(("domain.controllers", "at least one domain controller is needed"))
    tls_known = domain.tls in ("ldaps", "starttls")
    if not tls_known:
        problems.append(("domain.tls", f"expected 'ldaps' or 'starttls', got {domain.tls!r}"))
    for index, controller in enumerate(domain.controllers):
        url_problem = _ldap_url_problem(controller.url, domain.tls) if controller.url and tls_known else None
        if url_problem:
            problems.append((f"domain.controllers[{index}].url", url_problem))
    for index, first in _repeats(enumerate(controller.name for controller in domain.controllers)):
        problems.append((f"domain.controllers[{index}].name",
                         f"{domain.controllers[index].name!r} is also the name of domain.controllers[{first}]"))
    ca_problem = _ca_file_problem(domain.ca_file)
    if ca_problem:
        problems.append(("domain.ca_file", ca_problem))
    problems += _unpaired(("domain.join_user", domain.join_user), ("domain.join_password", domain.join_password),
                          "the two go together (without both, hosts are joined as bind_user with bind_password)")
    return problems


def _check_roles(hosts: dict[str, Host]) -> list[tuple[str, str]]:
    problems = []
    for role in (Role.PRODUCTION, Role.STANDBY, Role.COMMSERVE):
        keys = [key for key, host in hosts.items() if host.role is role]
        if len(keys) != 1:
            found = ", ".join(keys) or "none"
            problems.append(("hosts", f"exactly one host must have role {role.value!r} (found: {found})"))
    for key, first in _repeats((key, host.name) for key, host in hosts.items()):
        problems.append((f"hosts.{key}.name", f"{hosts[key].name!r} is also the name of hosts.{first}"))
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
        if host.winrm and host.winrm.auth.value == "basic" and not _local_account_of(host.winrm.user, host.name):
            # WinRM takes "a domain account when using Negotiate or Kerberos authentication, or ... a local
            # account with Basic authentication" (win32 WinRM, ConnectionOptions.UserName).
            problems.append((f"{where}.winrm.user", f"Basic authentication takes a local account of {host.name} "
                             "(e.g. 'Administrator'), not a domain account: use auth = \"ntlm\" for a domain account"))
        ca_problem = _ca_file_problem(host.winrm.ca_file) if host.winrm else None
        if ca_problem:
            problems.append((f"{where}.winrm.ca_file", ca_problem))
        problems += _unpaired((f"{where}.local_user", host.local_user), (f"{where}.local_password", host.local_password),
                              "the two go together (the local administrator qrdr logs on as outside the domain)")
    return problems


def _local_account_of(user: str, computer: str) -> bool:
    """Whether ``user`` names an account of the computer itself: no domain part, '.' or its own name."""
    if "@" in user:
        return False
    domain = user.rpartition("\\")[0]
    return domain in ("", ".") or domain.lower() == computer.lower()


def _check_quick_recovery(quick_recovery: QuickRecovery, hosts: dict[str, Host]) -> list[tuple[str, str]]:
    key = quick_recovery.commserve_host
    if key not in hosts:
        return [("quick_recovery.commserve_host",
                 f"no host with key {_shown(key)}: name the key of the CommServe's [hosts.<key>] table")]
    if hosts[key].role is not Role.COMMSERVE:
        return [("quick_recovery.commserve_host", f"hosts.{key} has role {hosts[key].role.value!r}, not 'commserve'")]
    return []


def _check_exchange(exchange: Exchange) -> list[tuple[str, str]]:
    return _unpaired(("exchange.update_path", exchange.update_path), ("exchange.service_pack", exchange.service_pack),
                     "the two go together (update_path installs production's service pack on the standby, "
                     "and service_pack says which build it must then report)")


def _check_takeover(takeover: Takeover) -> list[tuple[str, str]]:
    """The address, mask and gateway together: one subnet, the address a host's, the gateway in it.

    Each value that its own rule refuses is left to that rule.
    """
    if takeover.ip_address is None:
        if takeover.gateway is not None:
            return [("takeover.gateway", "set without ip_address: no address is taken over, so no gateway is set")]
        return []
    if _problem_of(_expect_ipv4_address, takeover.ip_address) or _problem_of(_expect_ipv4_netmask, takeover.subnet_mask):
        return []
    interface = ipaddress.IPv4Interface(f"{takeover.ip_address}/{takeover.subnet_mask}")
    network, address = interface.network, interface.ip
    problems = []
    if network.prefixlen <= 30 and address in (network.network_address, network.broadcast_address):
        which = "network" if address == network.network_address else "broadcast"
        problems.append(("takeover.ip_address", f"{address} is the {which} address of {network}: no adapter can have it"))
    if takeover.gateway is not None and not _problem_of(_expect_ipv4_address, takeover.gateway):
        gateway = ipaddress.IPv4Address(takeover.gateway)
        if gateway not in network:
            problems.append(("takeover.gateway", f"{gateway} is outside {network} (ip_address {address}, subnet_mask "
                                                 f"{takeover.subnet_mask}): the standby could not reach it"))
        elif gateway == address:
            problems.append(("takeover.gateway", f"{gateway} is ip_address itself; expected the subnet's router"))
    return problems


def _check_same_windows(hosts: dict[str, Host]) -> list[tuple[str, str]]:
    """The standby runs production's Windows: the runbook installs Exchange identically on both."""
    problems = []
    by_role: dict[Role, tuple[str, Host]] = {}
    for key, host in hosts.items():
        by_role.setdefault(host.role, (key, host))  # the first of each role; duplicates are _check_roles'
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
    repeated_letters = list(_repeats(enumerate(volume.letter for volume in volumes)))
    for index, _first in repeated_letters:
        problems.append((f"volumes[{index}].letter", f"drive {volumes[index].letter}: is listed twice"))
    if not repeated_letters:
        # Two volumes copied onto one standby drive: the second copy would overwrite the first.
        for index, first in _repeats(enumerate(volume.target_letter for volume in volumes)):
            field = "standby_letter" if volumes[index].standby_letter is not None else "letter"
            problems.append((f"volumes[{index}].{field}", f"the standby's drive {volumes[index].target_letter}: "
                                                          f"also receives volumes[{first}]; each volume needs its own"))
    holders: dict[str, str] = {}
    for volume in volumes:
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
