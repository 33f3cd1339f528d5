"""Escaping of filter values (RFC 4515) and RDN values (RFC 4514), with no server."""

from __future__ import annotations

import pytest
from ldap3.utils.dn import parse_dn

from qrdr.ldap_escape import filter_value, rdn, rdn_value

NASTY = 'Org, *(Test)\\+"<>;=#\x00 end'


def test_filter_value_escapes_every_rfc4515_special():
    assert filter_value("a*b(c)d\\e\x00f") == "a\\2ab\\28c\\29d\\5ce\\00f"


def test_filter_value_leaves_plain_names_alone():
    assert filter_value("EXCH01$") == "EXCH01$"


def test_a_star_cannot_become_a_wildcard():
    assert "*" not in filter_value("*") and "(" not in filter_value(")(objectClass=*")


@pytest.mark.parametrize("value,escaped", [
    ("a,b", "a\\,b"),
    ('q"u+o<t>e;s=', 'q\\"u\\+o\\<t\\>e\\;s\\='),
    ("back\\slash", "back\\\\slash"),
    ("#first", "\\#first"),
    ("mid#dle", "mid\\#dle"),
    (" lead", "\\ lead"),
    ("trail ", "trail\\ "),
    ("nul\x00byte", "nul\\00byte"),
    ("Servers", "Servers"),
])
def test_rdn_value_escapes_per_rfc4514(value, escaped):
    assert rdn_value(value) == escaped


def test_escaped_rdn_parses_back_to_one_component_with_the_original_value():
    dn = f"{rdn('CN', NASTY)},CN=Microsoft Exchange,CN=Services"
    parts = parse_dn(dn, escape=False, strip=False)
    assert len(parts) == 3
    assert parts[0][0] == "CN"
    # ldap3 leaves the escapes in; undo them to compare with the original.
    assert _unescape(parts[0][1]) == NASTY


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            nxt = value[i + 1 : i + 3]
            if len(nxt) == 2 and all(c in "0123456789abcdefABCDEF" for c in nxt):
                out.append(chr(int(nxt, 16)))
                i += 3
                continue
            out.append(value[i + 1])
            i += 2
            continue
        out.append(value[i])
        i += 1
    return "".join(out)


def test_empty_rdn_value_is_refused():
    with pytest.raises(ValueError, match="empty"):
        rdn_value("")


def test_non_strings_are_refused():
    with pytest.raises(TypeError):
        filter_value(b"bytes")  # type: ignore[arg-type]
