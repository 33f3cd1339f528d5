"""Computer accounts: find, reset (ADUC "Reset Account"), rename, disable, enable.

What a plan says about them (a step's Check) is the plugins' judgement, in
:mod:`qrdr.plugins.common.accounts`: this layer reads and writes AD and knows no steps.

Names are computer names (``EXCH01``); a trailing ``$`` is accepted. Accounts are
found by ``sAMAccountName`` (``EXCH01$``) in the default naming context, with the
value escaped for the filter, never by CN (the CN may differ after renames).
"""

from __future__ import annotations

import datetime as dt

import attrs

from .change import Change
from .connection import Directory, Entry
from .errors import Ambiguous, NotFound, OperationFailed
from ..ldap_escape import filter_value, rdn
from .sd import sid_to_str

ACCOUNTDISABLE = 0x0002
WORKSTATION_TRUST_ACCOUNT = 0x1000
SERVER_TRUST_ACCOUNT = 0x2000

#: Characters Active Directory refuses in sAMAccountName ([MS-SAMR] 3.1.1.6).
_INVALID_NAME_CHARS = set('"/\\[]:;|=,+*?<>')

_ATTRIBUTES = ["cn", "objectSid", "sAMAccountName", "dNSHostName", "userAccountControl", "pwdLastSet"]


@attrs.frozen
class ComputerAccount:
    dn: str
    #: The computer name: sAMAccountName without the trailing ``$``.
    name: str
    sid: str
    sam_account_name: str
    dns_host_name: str | None
    enabled: bool
    user_account_control: int = 0
    #: When the password was last set (None: never, or "must change" set).
    pwd_last_set: dt.datetime | None = None


def bare_name(name: str) -> str:
    """``EXCH01`` for ``EXCH01`` or ``EXCH01$`` (surrounding spaces dropped); ValueError for an empty name."""
    bare = name.strip()
    bare = bare[:-1] if bare.endswith("$") else bare
    if not bare:
        raise ValueError(f"not a computer name: {name!r}")
    return bare


def _filetime(value: int | None) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime(1601, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=value // 10)


def _account(entry: Entry) -> ComputerAccount:
    sam = entry.text("sAMAccountName") or ""
    uac = entry.integer("userAccountControl") or 0
    return ComputerAccount(
        dn=entry.dn,
        name=sam[:-1] if sam.endswith("$") else sam,
        sid=sid_to_str(entry.first("objectSid") or b""),
        sam_account_name=sam,
        dns_host_name=entry.text("dNSHostName"),
        enabled=not uac & ACCOUNTDISABLE,
        user_account_control=uac,
        pwd_last_set=_filetime(entry.integer("pwdLastSet")),
    )


def lookup_computer(directory: Directory, name: str) -> ComputerAccount | None:
    """The computer account named ``name``, or None when there is none."""
    sam = bare_name(name) + "$"
    found = directory.search(
        directory.default_naming_context,
        f"(&(objectClass=computer)(sAMAccountName={filter_value(sam)}))",
        _ATTRIBUTES,
    )
    if len(found) > 1:
        raise Ambiguous(f"{len(found)} computer accounts named {sam} in {directory.default_naming_context} "
                        f"on {directory.url}: {'; '.join(e.dn for e in found)}")
    return _account(found[0]) if found else None


def find_computer(directory: Directory, name: str) -> ComputerAccount:
    """The computer account named ``name``; :class:`NotFound` names the account and where it looked."""
    account = lookup_computer(directory, name)
    if account is None:
        raise NotFound(f"computer account {bare_name(name)}$ not found in {directory.default_naming_context} "
                       f"on {directory.url}")
    return account


def default_password(name: str) -> str:
    """The password ADUC's "Reset Account" gives: the name without ``$``, lower case, first 14 characters."""
    return bare_name(name).lower()[:14]


def reset_computer_account(directory: Directory, name: str) -> Change:
    """Set the account's password to its default, as ADUC's "Reset Account" does.

    Writes ``unicodePwd`` (the quoted password in UTF-16-LE); AD accepts that only on an
    encrypted connection, which every :class:`Directory` is. The account keeps its SID,
    groups and SPNs; a disabled account stays disabled. Not idempotent in effect (the
    machine that used the old password loses its secure channel), hence destructive.
    """
    if not directory.encrypted:
        raise OperationFailed(f"refusing to send a password to {directory.url} over a connection without TLS")
    account = find_computer(directory, name)
    encoded = f'"{default_password(account.name)}"'.encode("utf-16-le")
    directory.modify(account.dn, {"unicodePwd": [("MODIFY_REPLACE", [encoded])]},
                     what=f"resetting the computer account {account.sam_account_name}")
    after = find_computer(directory, account.name)
    return Change(True, f"reset the computer account {directory.domain.netbios_name}\\{account.sam_account_name} "
                        f"({account.dn}) to its default password", after)


def _validate_new_name(name: str) -> str:
    bare = bare_name(name)
    bad = sorted(set(bare) & _INVALID_NAME_CHARS)
    if len(bare) > 15 or bad or bare.startswith(".") or bare.isdigit():
        why = "longer than 15 characters" if len(bare) > 15 else (
            f"contains {''.join(bad)!r}" if bad else "not a valid computer name")
        raise ValueError(f"new computer name {name!r}: {why}")
    return bare


def rename_computer(directory: Directory, old: str, new: str) -> Change:
    """Rename the account: sAMAccountName, dNSHostName (same DNS suffix) and CN.

    The DC rewrites the HOST/ SPNs itself. Checks first that no account and no object
    in the same container has the new name, so a collision fails before anything is written.
    """
    account = find_computer(directory, old)
    bare = _validate_new_name(new)
    if account.name.lower() == bare.lower() and account.dn.split(",", 1)[0][3:] == bare:
        return Change(False, f"no change: the computer account is already named {bare}", account)
    clash = lookup_computer(directory, bare)
    if clash is not None and clash.dn.lower() != account.dn.lower():
        raise OperationFailed(f"cannot rename {account.sam_account_name} to {bare}$: an account of that name "
                              f"exists ({clash.dn}) on {directory.url}")
    container = account.dn.split(",", 1)[1] if "," in account.dn else ""
    new_rdn = rdn("CN", bare)
    new_dn = f"{new_rdn},{container}"
    if new_dn.lower() != account.dn.lower() and directory.read(new_dn, ["cn"]) is not None:
        raise OperationFailed(f"cannot rename {account.dn} to {new_dn}: that object exists on {directory.url}")
    changes = {"sAMAccountName": [("MODIFY_REPLACE", [bare + "$"])]}
    if account.dns_host_name:
        label, _, suffix = account.dns_host_name.partition(".")
        host = bare.lower() if label.islower() else bare
        changes["dNSHostName"] = [("MODIFY_REPLACE", [f"{host}.{suffix}" if suffix else host])]
    what = f"renaming the computer account {account.sam_account_name} to {bare}$"
    directory.modify(account.dn, changes, what=what)
    if new_dn != account.dn:
        try:
            directory.modify_dn(account.dn, new_rdn, what=what)
        except OperationFailed:
            # Put the attributes back so the account is not left half renamed.
            undo = {"sAMAccountName": [("MODIFY_REPLACE", [account.sam_account_name])]}
            if account.dns_host_name:
                undo["dNSHostName"] = [("MODIFY_REPLACE", [account.dns_host_name])]
            directory.modify(account.dn, undo, what=f"undoing the partial rename of {account.dn}")
            raise
    renamed = find_computer(directory, bare)
    return Change(True, f"renamed the computer account {account.sam_account_name} ({account.dn}) to "
                        f"{renamed.sam_account_name} ({renamed.dn})", renamed)


def _set_enabled(directory: Directory, name: str, enabled: bool) -> Change:
    account = find_computer(directory, name)
    verb = "enabled" if enabled else "disabled"
    if account.enabled == enabled:
        return Change(False, f"no change: the computer account {account.sam_account_name} is already {verb}", account)
    uac = (account.user_account_control & ~ACCOUNTDISABLE) if enabled else (account.user_account_control | ACCOUNTDISABLE)
    directory.modify(account.dn, {"userAccountControl": [("MODIFY_REPLACE", [str(uac)])]},
                     what=f"{'enabling' if enabled else 'disabling'} the computer account {account.sam_account_name}")
    return Change(True, f"{verb} the computer account {account.sam_account_name} ({account.dn})",
                  find_computer(directory, name))


def disable_computer(directory: Directory, name: str) -> Change:
    return _set_enabled(directory, name, False)


def enable_computer(directory: Directory, name: str) -> Change:
    return _set_enabled(directory, name, True)
