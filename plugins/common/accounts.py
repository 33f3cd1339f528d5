"""What a plan says about a computer account, as a step's :class:`~qrdr.steps.Check`.

The directory layer (:mod:`qrdr.directory.computers`) finds, resets, renames and
(en|dis)ables accounts; judging what that means for a step (blocked, no change,
will change) is the plugins' part, so the directory knows nothing of steps.
"""

from __future__ import annotations

import datetime as dt

from qrdr.directory import Directory, bare_name, lookup_computer
from qrdr.steps import Check


def check_reset(directory: Directory, name: str, *, since: dt.datetime | None = None) -> Check:
    """What a plan can honestly say about a reset.

    A password cannot be read, so a reset cannot be seen before it is done: without
    ``since`` the answer is always "will change", with pwdLastSet as evidence. With
    ``since`` (the moment the run's reset step started), "no change" when pwdLastSet is
    that recent, i.e. the reset has been done in this run.
    """
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=dt.timezone.utc)  # journal times are UTC
    account = lookup_computer(directory, name)
    label = f"{directory.domain.netbios_name}\\{bare_name(name)}$"
    if account is None:
        return Check.blocked(f"computer account {label} not found in {directory.default_naming_context}")
    last = account.pwd_last_set.isoformat() if account.pwd_last_set else "never"
    facts = {"dn": account.dn, "pwd_last_set": last, "enabled": account.enabled}
    if since is not None and account.pwd_last_set is not None and account.pwd_last_set >= since:
        return Check.no_change(f"the password of {label} was set at {last}, after {since.isoformat()}", **facts)
    return Check.will_change(
        f"reset the computer account {label} ({account.dn}) to its default password "
        f"(password last set {last}; a reset cannot be detected by reading, so it is always planned)",
        **facts,
    )


def check_enabled(directory: Directory, name: str, enabled: bool) -> Check:
    """For plans: will (en|dis)abling ``name`` change anything?"""
    account = lookup_computer(directory, name)
    if account is None:
        return Check.blocked(f"computer account {bare_name(name)}$ not found in {directory.default_naming_context}")
    want = "enabled" if enabled else "disabled"
    if account.enabled == enabled:
        return Check.no_change(f"{account.sam_account_name} is already {want}", dn=account.dn)
    return Check.will_change(f"{want[:-1]} the computer account {account.sam_account_name} ({account.dn})",
                             dn=account.dn)


def check_renamed(directory: Directory, old: str, new: str) -> Check:
    """For plans: is the account still called ``old``, already ``new``, or something is wrong?"""
    before, after = lookup_computer(directory, old), lookup_computer(directory, new)
    if after is not None and before is None:
        return Check.no_change(f"the computer account is already named {after.sam_account_name}", dn=after.dn)
    if before is not None and after is None:
        return Check.will_change(f"rename the computer account {before.sam_account_name} ({before.dn}) to "
                                 f"{bare_name(new)}$", dn=before.dn)
    if before is None:
        return Check.blocked(f"neither {bare_name(old)}$ nor {bare_name(new)}$ exists in "
                             f"{directory.default_naming_context}")
    if before.dn == after.dn:
        return Check.no_change(f"the computer account is already named {after.sam_account_name}", dn=after.dn)
    return Check.blocked(f"both {before.sam_account_name} ({before.dn}) and {after.sam_account_name} "
                         f"({after.dn}) exist")
