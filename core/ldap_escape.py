"""Escaping of values put into LDAP search filters (RFC 4515) and DNs (RFC 4514).

Every value qrdr puts into a filter or a DN goes through one of these two
functions; nothing is pasted into filter or DN text unescaped.

A module of its own, importing nothing of qrdr: both the site model
(:attr:`qrdr.model.Domain.base_dn`) and :mod:`qrdr.directory` use it, and the
directory package imports the model.
"""

from __future__ import annotations

from ldap3.utils.conv import escape_filter_chars

__all__ = ["filter_value", "rdn_value", "rdn"]


def filter_value(value: str) -> str:
    """Escape an assertion value for a search filter (RFC 4515 section 3).

    ``*``, ``(``, ``)``, ``\\`` and NUL become ``\\2a``, ``\\28``, ``\\29``, ``\\5c``, ``\\00``,
    so ``sAMAccountName=*`` can never match every account.
    """
    if not isinstance(value, str):
        raise TypeError(f"filter value must be str, not {type(value).__name__}")
    return escape_filter_chars(value)


# RFC 4514 2.4: these are escaped with a backslash anywhere in the value.
# '=' and '#' (past the first character) are not required by the RFC, but AD's own
# tools escape '=' and ldap3's DN parser refuses an unescaped '#' anywhere.
_SPECIALS = set('"+,;<>\\=#')


def rdn_value(value: str) -> str:
    """Escape an attribute value for use in an RDN (RFC 4514 section 2.4).

    Escapes ``"+,;<>\\=#`` anywhere, space at the start, space at the end,
    and NUL as ``\\00``. (ldap3's ``escape_rdn`` puts a raw NUL after a backslash and
    fails on an empty string, hence this function.)
    """
    if not isinstance(value, str):
        raise TypeError(f"RDN value must be str, not {type(value).__name__}")
    if not value:
        raise ValueError("an RDN value cannot be empty")
    out = []
    last = len(value) - 1
    for index, char in enumerate(value):
        if char == "\x00":
            out.append("\\00")
        elif char in _SPECIALS:
            out.append("\\" + char)
        elif index == 0 and char in "# ":
            out.append("\\" + char)
        elif index == last and char == " ":
            out.append("\\ ")
        else:
            out.append(char)
    return "".join(out)


def rdn(attribute: str, value: str) -> str:
    """``rdn("CN", "a,b")`` -> ``"CN=a\\,b"``."""
    return f"{attribute}={rdn_value(value)}"
