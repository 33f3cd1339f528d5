"""Grant and revoke rights on directory objects, the way the runbook's ADSI Edit step does.

The runbook (step 3) allows the standby's computer account *Create all child
objects* + *Delete all child objects* on the Exchange organization, and *Full
Control* on the ``CN=Servers`` container and on the server object. Each grant is
one explicit ACCESS_ALLOWED ACE that applies to the object itself (ADSI Edit's
Security tab sets "This object only"), inserted in canonical position (after the
explicit ACEs, before the inherited ones). Every other ACE is written back as it
was read; only the DACL is read and written (SD flags control, DACL only), so
owner, group and SACL are never touched.

Granting is idempotent: when allow ACEs for the SID already cover the mask,
nothing is written. Revoking removes exactly the ACEs a grant adds (explicit,
plain allow, this SID, this mask, no inheritance flags) and nothing else.

AD has no compare-and-swap on nTSecurityDescriptor: a DACL change made by someone
else between our read and our write would be lost. The window is one round trip.
"""

from __future__ import annotations

from typing import Callable

import attrs
from ldap3.utils.conv import escape_bytes

from .connection import DACL_SECURITY_INFORMATION, Directory, Entry
from .change import Change
from .errors import DirectoryError, OperationFailed
from .sd import ACCESS_ALLOWED_ACE_TYPE, INHERIT_ONLY_ACE, Ace, SecurityDescriptor, sid_to_bytes

# ADS_RIGHTS_ENUM (Iads.h) / [MS-ADTS] 5.1.3.2.
ADS_RIGHT_DS_CREATE_CHILD = 0x1
ADS_RIGHT_DS_DELETE_CHILD = 0x2
ADS_RIGHT_ACTRL_DS_LIST = 0x4
ADS_RIGHT_DS_SELF = 0x8
ADS_RIGHT_DS_READ_PROP = 0x10
ADS_RIGHT_DS_WRITE_PROP = 0x20
ADS_RIGHT_DS_DELETE_TREE = 0x40
ADS_RIGHT_DS_LIST_OBJECT = 0x80
ADS_RIGHT_DS_CONTROL_ACCESS = 0x100
ADS_RIGHT_DELETE = 0x10000
ADS_RIGHT_READ_CONTROL = 0x20000
ADS_RIGHT_WRITE_DAC = 0x40000
ADS_RIGHT_WRITE_OWNER = 0x80000
ADS_RIGHT_GENERIC_ALL = 0x10000000
#: "Full Control": GENERIC_ALL as the directory maps it (what ADSI Edit stores).
FULL_CONTROL = 0xF01FF
#: What the runbook grants on the organization object.
CREATE_DELETE_CHILD = ADS_RIGHT_DS_CREATE_CHILD | ADS_RIGHT_DS_DELETE_CHILD

#: The words ADSI Edit's Advanced Security dialog uses, in its order.
RIGHT_NAMES = (
    (ADS_RIGHT_ACTRL_DS_LIST, "List contents"),
    (ADS_RIGHT_DS_READ_PROP, "Read all properties"),
    (ADS_RIGHT_DS_WRITE_PROP, "Write all properties"),
    (ADS_RIGHT_DELETE, "Delete"),
    (ADS_RIGHT_DS_DELETE_TREE, "Delete subtree"),
    (ADS_RIGHT_READ_CONTROL, "Read permissions"),
    (ADS_RIGHT_WRITE_DAC, "Modify permissions"),
    (ADS_RIGHT_WRITE_OWNER, "Modify owner"),
    (ADS_RIGHT_DS_SELF, "All validated writes"),
    (ADS_RIGHT_DS_CONTROL_ACCESS, "All extended rights"),
    (ADS_RIGHT_DS_CREATE_CHILD, "Create all child objects"),
    (ADS_RIGHT_DS_DELETE_CHILD, "Delete all child objects"),
    (ADS_RIGHT_DS_LIST_OBJECT, "List object"),
)

WELL_KNOWN_SIDS = {
    "S-1-1-0": "Everyone",
    "S-1-3-0": "CREATOR OWNER",
    "S-1-5-9": "NT AUTHORITY\\ENTERPRISE DOMAIN CONTROLLERS",
    "S-1-5-10": "NT AUTHORITY\\SELF",
    "S-1-5-11": "NT AUTHORITY\\Authenticated Users",
    "S-1-5-18": "NT AUTHORITY\\SYSTEM",
    "S-1-5-32-544": "BUILTIN\\Administrators",
    "S-1-5-32-554": "BUILTIN\\Pre-Windows 2000 Compatible Access",
}


def _effective(mask: int) -> int:
    # A stored GENERIC_ALL bit means Full Control for this check.
    return mask | FULL_CONTROL if mask & ADS_RIGHT_GENERIC_ALL else mask


def rights_in_words(mask: int) -> str:
    """``0xF01FF`` -> ``"Full Control"``; ``0x3`` -> ``"Create all child objects + Delete all child objects"``."""
    mask = _effective(mask)
    if mask & FULL_CONTROL == FULL_CONTROL:
        rest = mask & ~FULL_CONTROL & ~ADS_RIGHT_GENERIC_ALL
        return "Full Control" + (f" + 0x{rest:X}" if rest else "")
    words, covered = [], 0
    for bit, name in RIGHT_NAMES:
        if mask & bit:
            words.append(name)
            covered |= bit
    rest = mask & ~covered
    if rest:
        words.append(f"0x{rest:X}")
    return " + ".join(words) or "no rights"


def trustee_name(directory: Directory, sid: str) -> str:
    """``DOMAIN\\sAMAccountName`` of the SID, a well-known name, or the SID itself."""
    if sid in WELL_KNOWN_SIDS:
        return WELL_KNOWN_SIDS[sid]
    found = directory.search(directory.default_naming_context, f"(objectSid={escape_bytes(sid_to_bytes(sid))})",
                             ["sAMAccountName"])
    name = found[0].text("sAMAccountName") if len(found) == 1 else None
    return f"{directory.domain.netbios_name}\\{name}" if name else sid


@attrs.frozen
class AcePlan:
    """The ACE a grant would add (or a revoke would remove), in data and in words."""

    dn: str
    sid: str
    trustee: str
    mask: int
    ace: Ace
    #: Position in the DACL the ACE goes to (grant) or was at (revoke).
    index: int
    #: Things a person should know, e.g. a deny ACE for the same account that overrides the grant.
    warnings: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"allow {self.trustee} {rights_in_words(self.mask)} on {self.dn}"


def read_dacl(directory: Directory, dn: str) -> SecurityDescriptor:
    """The DACL-only security descriptor of ``dn`` (NotFound when there is no such object)."""
    entry = directory.require(dn, ["nTSecurityDescriptor"], what="object", sd_flags=DACL_SECURITY_INFORMATION)
    return _descriptor(entry, directory)


def _descriptor(entry: Entry, directory: Directory) -> SecurityDescriptor:
    raw = entry.first("nTSecurityDescriptor")
    if raw is None:
        raise DirectoryError(f"{entry.dn} at {directory.url}: nTSecurityDescriptor could not be read "
                             f"(the bind account {directory.domain.bind_user} may lack Read permissions)")
    # Not strict: a descriptor with gaps between its parts (possible in theory) is written
    # back compactly, which is just as valid; only the DACL is written anyway.
    sd = SecurityDescriptor.decode(raw, strict=False)
    if sd.dacl is None:
        raise DirectoryError(f"{entry.dn} at {directory.url}: the security descriptor has no DACL")
    return sd


def allowed_mask(sd: SecurityDescriptor, sid: str) -> int:
    """The rights allow ACEs give ``sid`` on the object itself (explicit and inherited)."""
    mask = 0
    for ace in sd.dacl.aces if sd.dacl else ():
        if ace.is_allow and ace.sid == sid and ace.applies_to_whole_object:
            mask |= _effective(ace.mask or 0)
    return mask


def covers(sd: SecurityDescriptor, sid: str, mask: int) -> bool:
    return allowed_mask(sd, sid) & mask == mask


def _deny_warnings(sd: SecurityDescriptor, sid: str, mask: int, trustee: str) -> tuple[str, ...]:
    denied = 0
    for ace in sd.dacl.aces if sd.dacl else ():
        if ace.is_deny and ace.sid == sid and not ace.flags & INHERIT_ONLY_ACE:
            denied |= (ace.mask or 0) & mask
    if not denied:
        return ()
    return (f"a deny ACE for {trustee} ({rights_in_words(denied)}) takes precedence over this allow",)


def _plan_for(directory: Directory, dn: str, sd: SecurityDescriptor, sid: str, mask: int) -> AcePlan | None:
    if covers(sd, sid, mask):
        return None
    trustee = trustee_name(directory, sid)
    return AcePlan(dn, sid, trustee, mask, Ace.allow(sid, mask), sd.dacl.canonical_index_for_explicit_allow(),
                   _deny_warnings(sd, sid, mask, trustee))


def plan_grant(directory: Directory, dn: str, sid: str, mask: int) -> AcePlan | None:
    """The ACE :func:`grant` would add, or None when allow ACEs for ``sid`` already cover ``mask``. Read-only."""
    sid_to_bytes(sid)  # a bad SID string fails here, before anything is read
    return _plan_for(directory, dn, read_dacl(directory, dn), sid, mask)


def _write_dacl(directory: Directory, dn: str, sd: SecurityDescriptor, what: str) -> None:
    directory.modify(dn, {"nTSecurityDescriptor": [("MODIFY_REPLACE", [sd.encode()])]}, what=what,
                     sd_flags=DACL_SECURITY_INFORMATION)


def grant(directory: Directory, dn: str, sid: str, mask: int) -> Change:
    """Allow ``sid`` the rights ``mask`` on ``dn``; a no-op when already allowed.

    Reads the DACL, inserts one explicit allow ACE in canonical position, writes the
    DACL back, and reads it again to prove the DC kept the ACE.
    """
    sid_to_bytes(sid)
    sd = read_dacl(directory, dn)
    plan = _plan_for(directory, dn, sd, sid, mask)
    if plan is None:
        return Change(False, f"no change: {trustee_name(directory, sid)} already has "
                                f"{rights_in_words(mask)} on {dn}")
    sd.dacl.aces.insert(plan.index, plan.ace)
    _write_dacl(directory, dn, sd, f"granting {plan.describe()}")
    if not covers(read_dacl(directory, dn), sid, mask):
        raise OperationFailed(f"{directory.url} accepted the new DACL of {dn} but the ACE "
                              f"'{plan.describe()}' is not in it when read back")
    return Change(True, f"added: {plan.describe()}", plan)


def _is_granted_ace(ace: Ace, sid: str, mask: int) -> bool:
    return ace.type == ACCESS_ALLOWED_ACE_TYPE and ace.flags == 0 and ace.sid == sid and ace.mask == mask


def plan_revoke(directory: Directory, dn: str, sid: str, mask: int) -> AcePlan | None:
    """The ACE :func:`revoke` would remove (the first if there are several), or None. Read-only."""
    sd = read_dacl(directory, dn)
    for index, ace in enumerate(sd.dacl.aces):
        if _is_granted_ace(ace, sid, mask):
            return AcePlan(dn, sid, trustee_name(directory, sid), mask, ace, index)
    return None


def revoke(directory: Directory, dn: str, sid: str, mask: int) -> Change:
    """Remove the explicit allow ACE(s) a :func:`grant` of ``mask`` to ``sid`` added; nothing else."""
    sd = read_dacl(directory, dn)
    keep = [ace for ace in sd.dacl.aces if not _is_granted_ace(ace, sid, mask)]
    trustee = trustee_name(directory, sid)
    words = f"allow {trustee} {rights_in_words(mask)} on {dn}"
    removed = len(sd.dacl.aces) - len(keep)
    if not removed:
        return Change(False, f"no change: there is no explicit ACE '{words}'")
    sd.dacl.aces = keep
    _write_dacl(directory, dn, sd, f"removing '{words}'")
    return Change(True, f"removed: {words}" + (f" ({removed} ACEs)" if removed > 1 else ""))


def ace_present(sid: str, mask: int, trustee: str | None = None) -> Callable[[Entry | None], bool]:
    """A predicate for :func:`qrdr.directory.replication.wait_replicated`: ``sid`` is allowed ``mask``.

    ``trustee`` (e.g. ``QRDR\\EXCH02$``) names the account in progress lines and reports.
    """
    who = trustee or sid

    def predicate(entry: Entry | None) -> bool:
        raw = entry.first("nTSecurityDescriptor") if entry is not None else None
        return raw is not None and covers(SecurityDescriptor.decode(raw), sid, mask)

    def explain(entry: Entry) -> str:
        raw = entry.first("nTSecurityDescriptor")
        if raw is None:
            return "no readable security descriptor"
        has = allowed_mask(SecurityDescriptor.decode(raw), sid)
        return f"{who} allowed {rights_in_words(has)}" if has else f"no allow ACE for {who}"

    predicate.attributes = ("nTSecurityDescriptor",)  # type: ignore[attr-defined]
    predicate.description = f"allow {who} {rights_in_words(mask)}"  # type: ignore[attr-defined]
    predicate.explain = explain  # type: ignore[attr-defined]
    return predicate
