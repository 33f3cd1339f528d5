"""A small MS-DTYP security descriptor codec (self-relative form, as AD stores it).

Only what qrdr needs is decoded: the descriptor's header, its SIDs and ACLs,
and each ACE's type, flags, access mask and trustee SID. Every ACE keeps its
original bytes (``Ace.raw``), so a descriptor read from the directory encodes
back byte for byte; ACEs qrdr builds (:func:`Ace.allow`) are encoded from their
fields. The parts of the descriptor are laid out in the order they came in:
Samba writes owner, group, SACL, DACL; Windows writes SACL, DACL, owner, group.

Why not impacket or winacl: impacket reorders the bytes of every descriptor
and pulls in a dozen packages; winacl round-trips but was 5x slower here.

Reference: [MS-DTYP] 2.4.2 (SID), 2.4.4 (ACE), 2.4.5 (ACL), 2.4.6 (descriptor).
"""

from __future__ import annotations

import struct
import uuid

import attrs


class SecurityDescriptorError(ValueError):
    """The bytes are not a well-formed self-relative security descriptor."""


# --- SIDs ------------------------------------------------------------------------------


def sid_to_str(data: bytes) -> str:
    """``b"\\x01\\x01\\0\\0\\0\\0\\0\\x05\\x12\\0\\0\\0"`` -> ``"S-1-5-18"``."""
    sid, end = _decode_sid(data, 0)
    if end != len(data):
        raise SecurityDescriptorError(f"SID has {len(data) - end} trailing bytes")
    return sid


def sid_to_bytes(sid: str) -> bytes:
    """``"S-1-5-18"`` -> its binary form. Raises ValueError naming the bad SID."""
    parts = sid.strip().split("-")
    if len(parts) < 3 or parts[0].upper() != "S":
        raise ValueError(f"not a SID string: {sid!r} (expected S-1-<authority>-<sub>...)")
    try:
        revision = int(parts[1])
        authority = int(parts[2], 16) if parts[2].lower().startswith("0x") else int(parts[2])
        subs = [int(p) for p in parts[3:]]
    except ValueError:
        raise ValueError(f"not a SID string: {sid!r} (non-numeric part)") from None
    if revision != 1 or not 0 <= authority < 2**48 or len(subs) > 15 or any(
        not 0 <= s < 2**32 for s in subs
    ):
        raise ValueError(f"not a valid SID: {sid!r}")
    return (
        struct.pack("<BB", revision, len(subs))
        + authority.to_bytes(6, "big")
        + b"".join(struct.pack("<I", s) for s in subs)
    )


def _decode_sid(data: bytes, offset: int) -> tuple[str, int]:
    if offset + 8 > len(data):
        raise SecurityDescriptorError(f"SID at offset {offset} is truncated")
    revision, count = data[offset], data[offset + 1]
    end = offset + 8 + 4 * count
    if end > len(data):
        raise SecurityDescriptorError(f"SID at offset {offset} is truncated")
    authority = int.from_bytes(data[offset + 2 : offset + 8], "big")
    subs = struct.unpack_from(f"<{count}I", data, offset + 8)
    # MS-DTYP 2.4.2.1: authorities of 2**32 and above are written in hex.
    auth_text = str(authority) if authority < 2**32 else f"0x{authority:012X}"
    return "-".join(["S", str(revision), auth_text, *map(str, subs)]), end


# --- ACEs --------------------------------------------------------------------------------

ACCESS_ALLOWED_ACE_TYPE = 0x00
ACCESS_DENIED_ACE_TYPE = 0x01
ACCESS_ALLOWED_OBJECT_ACE_TYPE = 0x05
ACCESS_DENIED_OBJECT_ACE_TYPE = 0x06

OBJECT_INHERIT_ACE = 0x01
CONTAINER_INHERIT_ACE = 0x02
NO_PROPAGATE_INHERIT_ACE = 0x04
INHERIT_ONLY_ACE = 0x08
INHERITED_ACE = 0x10

ACE_OBJECT_TYPE_PRESENT = 0x1
ACE_INHERITED_OBJECT_TYPE_PRESENT = 0x2

#: ACE types whose body is mask + SID (allow, deny, audit, alarm and their callback forms).
_SIMPLE_TYPES = {0x00, 0x01, 0x02, 0x03, 0x09, 0x0A, 0x0D, 0x0E, 0x11, 0x12, 0x13}
#: ACE types whose body is mask + flags + optional GUIDs + SID.
_OBJECT_TYPES = {0x05, 0x06, 0x07, 0x08, 0x0B, 0x0C, 0x0F, 0x10}


@attrs.frozen
class Ace:
    """One access control entry; ``raw`` is its exact encoding."""

    type: int
    flags: int
    raw: bytes = attrs.field(repr=False)
    #: None for ACE types this codec does not look into (they are kept as raw bytes).
    mask: int | None = None
    sid: str | None = None
    object_flags: int = 0
    object_type: uuid.UUID | None = None
    inherited_object_type: uuid.UUID | None = None

    @classmethod
    def allow(cls, sid: str, mask: int, flags: int = 0) -> "Ace":
        """A plain ACCESS_ALLOWED ACE (applies to the whole object, no object type)."""
        body = struct.pack("<I", mask) + sid_to_bytes(sid)
        raw = struct.pack("<BBH", ACCESS_ALLOWED_ACE_TYPE, flags, 4 + len(body)) + body
        return cls(ACCESS_ALLOWED_ACE_TYPE, flags, raw, mask, sid)

    @classmethod
    def decode(cls, data: bytes) -> "Ace":
        """Decode one ACE; ``data`` is exactly its AceSize bytes."""
        ace_type, flags, size = struct.unpack_from("<BBH", data, 0)
        if size != len(data) or size < 4:
            raise SecurityDescriptorError(f"ACE size {size} does not match its {len(data)} bytes")
        if ace_type in _SIMPLE_TYPES:
            (mask,) = struct.unpack_from("<I", data, 4)
            sid, _ = _decode_sid(data, 8)
            return cls(ace_type, flags, bytes(data), mask, sid)
        if ace_type in _OBJECT_TYPES:
            mask, object_flags = struct.unpack_from("<II", data, 4)
            offset, object_type, inherited = 12, None, None
            if object_flags & ACE_OBJECT_TYPE_PRESENT:
                object_type = uuid.UUID(bytes_le=bytes(data[offset : offset + 16]))
                offset += 16
            if object_flags & ACE_INHERITED_OBJECT_TYPE_PRESENT:
                inherited = uuid.UUID(bytes_le=bytes(data[offset : offset + 16]))
                offset += 16
            sid, _ = _decode_sid(data, offset)
            return cls(ace_type, flags, bytes(data), mask, sid, object_flags, object_type, inherited)
        return cls(ace_type, flags, bytes(data))

    @property
    def inherited(self) -> bool:
        return bool(self.flags & INHERITED_ACE)

    @property
    def is_allow(self) -> bool:
        return self.type in (ACCESS_ALLOWED_ACE_TYPE, ACCESS_ALLOWED_OBJECT_ACE_TYPE)

    @property
    def is_deny(self) -> bool:
        return self.type in (ACCESS_DENIED_ACE_TYPE, ACCESS_DENIED_OBJECT_ACE_TYPE)

    @property
    def applies_to_whole_object(self) -> bool:
        """True when the ACE grants/denies on this object itself, for every property and child class.

        Inherit-only ACEs do not apply to the object; object ACEs with an object type
        apply to one property, property set or child class only.
        """
        return not self.flags & INHERIT_ONLY_ACE and not self.object_flags & (
            ACE_OBJECT_TYPE_PRESENT | ACE_INHERITED_OBJECT_TYPE_PRESENT
        )


# --- ACLs --------------------------------------------------------------------------------


@attrs.define
class Acl:
    revision: int
    aces: list[Ace]
    #: Bytes after the last ACE that AclSize still covers (kept for byte-exact round trips).
    slack: bytes = b""

    @classmethod
    def decode(cls, data: bytes, offset: int) -> "Acl":
        if offset + 8 > len(data):
            raise SecurityDescriptorError(f"ACL at offset {offset} is truncated")
        revision, _sbz1, size, count, _sbz2 = struct.unpack_from("<BBHHH", data, offset)
        end = offset + size
        if end > len(data):
            raise SecurityDescriptorError(f"ACL at offset {offset} claims {size} bytes, past the end")
        aces, pos = [], offset + 8
        for index in range(count):
            if pos + 4 > end:
                raise SecurityDescriptorError(f"ACE {index} of the ACL at offset {offset} is truncated")
            (ace_size,) = struct.unpack_from("<H", data, pos + 2)
            if ace_size < 4 or pos + ace_size > end:
                raise SecurityDescriptorError(f"ACE {index} of the ACL at offset {offset} has a bad size")
            aces.append(Ace.decode(data[pos : pos + ace_size]))
            pos += ace_size
        return cls(revision, aces, bytes(data[pos:end]))

    def encode(self) -> bytes:
        body = b"".join(ace.raw for ace in self.aces) + self.slack
        return struct.pack("<BBHHH", self.revision, 0, 8 + len(body), len(self.aces), 0) + body

    def canonical_index_for_explicit_allow(self) -> int:
        """Where a new explicit allow ACE goes: after every explicit ACE, before inherited ones.

        Canonical order is explicit deny, explicit allow, then inherited ACEs.
        """
        for index, ace in enumerate(self.aces):
            if ace.inherited:
                return index
        return len(self.aces)


# --- Security descriptors -----------------------------------------------------------------

SE_DACL_PRESENT = 0x0004
SE_SACL_PRESENT = 0x0010
SE_SELF_RELATIVE = 0x8000

_HEADER = struct.Struct("<BBHIIII")


@attrs.define
class SecurityDescriptor:
    """A self-relative security descriptor. Parts absent from the bytes are None."""

    revision: int
    control: int
    owner: str | None = None
    group: str | None = None
    sacl: Acl | None = None
    dacl: Acl | None = None
    #: The order the parts were laid out in (names of the attributes above).
    layout: tuple[str, ...] = ("owner", "group", "sacl", "dacl")

    @classmethod
    def decode(cls, data: bytes, *, strict: bool = True) -> "SecurityDescriptor":
        """Decode self-relative bytes.

        ``strict`` (the default) also proves that :meth:`encode` gives the same bytes back
        and raises when it would not (gaps or overlaps between the parts). With
        ``strict=False`` such a descriptor is accepted and encodes compactly, still valid.
        """
        data = bytes(data)
        if len(data) < _HEADER.size:
            raise SecurityDescriptorError(f"descriptor is {len(data)} bytes, shorter than its header")
        revision, _sbz1, control, o_owner, o_group, o_sacl, o_dacl = _HEADER.unpack_from(data)
        if not control & SE_SELF_RELATIVE:
            raise SecurityDescriptorError("descriptor is not in self-relative form")
        sd = cls(revision, control)
        offsets = {"owner": o_owner, "group": o_group, "sacl": o_sacl, "dacl": o_dacl}
        present = sorted((off, name) for name, off in offsets.items() if off)
        for off, name in present:
            if name in ("owner", "group"):
                value, _ = _decode_sid(data, off)
            else:
                value = Acl.decode(data, off)
            setattr(sd, name, value)
        sd.layout = tuple(name for _, name in present)
        if strict and sd.encode() != data:
            # Gaps or overlaps between the parts: refuse rather than rewrite them silently.
            raise SecurityDescriptorError("descriptor has a layout this codec cannot reproduce")
        return sd

    def encode(self) -> bytes:
        order = list(self.layout) + [n for n in ("owner", "group", "sacl", "dacl") if n not in self.layout]
        offsets = dict.fromkeys(("owner", "group", "sacl", "dacl"), 0)
        body, position = b"", _HEADER.size
        for name in order:
            value = getattr(self, name)
            if value is None:
                continue
            part = sid_to_bytes(value) if isinstance(value, str) else value.encode()
            offsets[name] = position
            body += part
            position += len(part)
        control = self.control | SE_SELF_RELATIVE
        control = (control | SE_DACL_PRESENT) if self.dacl is not None else control
        return _HEADER.pack(
            self.revision, 0, control, offsets["owner"], offsets["group"], offsets["sacl"], offsets["dacl"]
        ) + body
