"""The security descriptor codec, the rights words and the ACE placement, with no server.

The byte vectors were produced by Samba's own NDR encoder from the SDDL beside them
(``samba.dcerpc.security.descriptor.from_sddl(...)``, domain SID S-1-5-21-1-2-3), so
they are an independent reference, not this codec's output. One test hands this
codec's output back to Samba's decoder (the system python3 has the samba module).
"""

from __future__ import annotations

import subprocess
import uuid

import pytest

from qrdr.directory import acl
from qrdr.directory.sd import (
    ACCESS_ALLOWED_OBJECT_ACE_TYPE,
    INHERITED_ACE,
    Ace,
    SecurityDescriptor,
    SecurityDescriptorError,
    sid_to_bytes,
    sid_to_str,
)

DOMAIN = "S-1-5-21-1-2-3"
FULL_SDDL = (
    "O:DAG:DAD:AI(D;;CC;;;S-1-5-21-1-2-3-1105)(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;DA)"
    "(OA;;CR;ab721a53-1e2f-11d0-9819-00aa0040529b;;AU)"
    "(OA;CIIO;RP;4c164200-20c0-11d0-a768-00aa006e0529;4828cc14-1437-45bc-9b07-ad6f015e5f28;RU)"
    "(A;CIID;RPLCLORC;;;AU)S:AI(AU;CISA;WP;;;WD)"
)
FULL_HEX = (
    "0100148c14000000300000004c00000068000000010500000000000515000000010000000200000003000000000200000105"
    "000000000005150000000100000002000000030000000002000004001c000100000002421400200000000101000000000001"
    "000000000400c8000500000001002400010000000105000000000005150000000100000002000000030000005104000000002400"
    "ff010f0001050000000000051500000001000000020000000300000000020000050028000001000001000000531a72ab2f1ed011"
    "981900aa0040529b01010000000000050b000000050a3c0010000000030000000042164cc020d011a76800aa006e052914cc2848"
    "3714bc459b07ad6f015e5f280102000000000005200000002a020000001214009400020001010000000000050b000000"
)
DACL_ONLY_SDDL = "D:(A;;RPLCLORC;;;AU)(A;CIID;RPWPCRCCDCLCLORCWOWDSDDTSW;;;EA)"
DACL_ONLY_HEX = (
    "01000480000000000000000000000000140000000400400002000000000014009400020001010000000000050b000000001224"
    "00ff010f0001050000000000051500000001000000020000000300000007020000"
)


def test_decodes_every_part_of_a_descriptor_samba_encoded():
    sd = SecurityDescriptor.decode(bytes.fromhex(FULL_HEX))
    assert sd.owner == f"{DOMAIN}-512" and sd.group == f"{DOMAIN}-512"
    assert sd.layout == ("owner", "group", "sacl", "dacl")
    aces = sd.dacl.aces
    assert [(a.type, a.flags, a.mask, a.sid) for a in aces] == [
        (1, 0, 0x1, f"{DOMAIN}-1105"),
        (0, 0, 0xF01FF, f"{DOMAIN}-512"),
        (5, 0, 0x100, "S-1-5-11"),
        (5, 0x0A, 0x10, "S-1-5-32-554"),
        (0, 0x12, 0x20094, "S-1-5-11"),
    ]
    assert aces[2].object_type == uuid.UUID("ab721a53-1e2f-11d0-9819-00aa0040529b")
    assert aces[3].inherited_object_type == uuid.UUID("4828cc14-1437-45bc-9b07-ad6f015e5f28")
    assert [(a.type, a.mask, a.sid) for a in sd.sacl.aces] == [(2, 0x20, "S-1-1-0")]


@pytest.mark.parametrize("hex_bytes", [FULL_HEX, DACL_ONLY_HEX], ids=["full", "dacl-only"])
def test_round_trips_byte_for_byte(hex_bytes):
    data = bytes.fromhex(hex_bytes)
    assert SecurityDescriptor.decode(data).encode() == data


def test_dacl_only_descriptor_has_only_a_dacl():
    sd = SecurityDescriptor.decode(bytes.fromhex(DACL_ONLY_HEX))
    assert (sd.owner, sd.group, sd.sacl) == (None, None, None)
    assert sd.layout == ("dacl",)


def test_inserted_ace_is_read_back_by_samba_in_canonical_position():
    """Samba's own decoder turns this codec's output into the SDDL a person would expect."""
    sd = SecurityDescriptor.decode(bytes.fromhex(FULL_HEX))
    index = sd.dacl.canonical_index_for_explicit_allow()
    assert index == 4  # after the four explicit ACEs, before the inherited one
    sd.dacl.aces.insert(index, Ace.allow(f"{DOMAIN}-1200", acl.FULL_CONTROL))
    script = (
        "import sys; from samba.dcerpc import security; from samba.ndr import ndr_unpack;"
        "sd = ndr_unpack(security.descriptor, bytes.fromhex(sys.argv[1]));"
        "print(sd.as_sddl(security.dom_sid(sys.argv[2])))"
    )
    out = subprocess.run(["/usr/bin/python3", "-c", script, sd.encode().hex(), DOMAIN],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert "(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;S-1-5-21-1-2-3-1200)(A;CIID;RPLCLORC;;;AU)" in out
    assert out.startswith("O:DAG:DAD:AI(D;;CC;;;S-1-5-21-1-2-3-1105)(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;DA)")


def test_allow_ace_encoding_matches_samba():
    # (A;;CCDC;;;S-1-5-21-1-2-3-1105) as Samba encodes it.
    expected = bytes.fromhex("0000240003000000010500000000000515000000010000000200000003000000" "51040000")
    assert Ace.allow(f"{DOMAIN}-1105", acl.CREATE_DELETE_CHILD).raw == expected


@pytest.mark.parametrize("sid", ["S-1-5-18", "S-1-1-0", "S-1-5-21-2904809769-1227417764-2923879677-1102",
                                 "S-1-5-32-544", "S-1-0x123456789ABC-7"])
def test_sid_strings_round_trip(sid):
    assert sid_to_str(sid_to_bytes(sid)) == sid


def test_sid_bytes_match_the_spec_example():
    # MS-DTYP 2.4.2.2: S-1-5-32-544 (BUILTIN\Administrators).
    assert sid_to_bytes("S-1-5-32-544") == bytes.fromhex("01020000000000052000000020020000")


@pytest.mark.parametrize("bad", ["", "S-1", "X-1-5-18", "S-2-5-18", "S-1-5-abc", "S-1-5-4294967296"])
def test_bad_sid_strings_are_refused_by_name(bad):
    with pytest.raises(ValueError, match="SID"):
        sid_to_bytes(bad)


@pytest.mark.parametrize("cut", [0, 10, 25, 60, len(bytes.fromhex(FULL_HEX)) - 1])
def test_truncated_descriptors_raise(cut):
    with pytest.raises(SecurityDescriptorError):
        SecurityDescriptor.decode(bytes.fromhex(FULL_HEX)[:cut])


def test_unknown_ace_types_are_kept_as_raw_bytes():
    odd = bytes([0x11 + 0x20, 0, 8, 0, 1, 2, 3, 4])  # a type this codec does not know
    ace = Ace.decode(odd)
    assert ace.raw == odd and ace.mask is None and ace.sid is None


def test_coverage_counts_allow_aces_that_apply_to_the_object():
    sd = SecurityDescriptor.decode(bytes.fromhex(FULL_HEX))
    domain_admins = f"{DOMAIN}-512"
    assert acl.covers(sd, domain_admins, acl.FULL_CONTROL)
    # The inherited allow for Authenticated Users counts, the object-typed one does not.
    assert acl.allowed_mask(sd, "S-1-5-11") == 0x20094
    # RU's ACE is inherit-only and object-typed: it gives nothing on the object itself.
    assert acl.allowed_mask(sd, "S-1-5-32-554") == 0
    # A deny ACE never covers.
    assert not acl.covers(sd, f"{DOMAIN}-1105", acl.ADS_RIGHT_DS_CREATE_CHILD)


def test_coverage_adds_up_several_aces():
    sid = f"{DOMAIN}-1300"
    sd = SecurityDescriptor.decode(bytes.fromhex(DACL_ONLY_HEX))
    sd.dacl.aces[1:1] = [Ace.allow(sid, acl.ADS_RIGHT_DS_CREATE_CHILD), Ace.allow(sid, acl.ADS_RIGHT_DS_DELETE_CHILD)]
    assert acl.covers(sd, sid, acl.CREATE_DELETE_CHILD)
    assert not acl.covers(sd, sid, acl.FULL_CONTROL)


def test_object_allow_ace_without_object_type_counts():
    sid = f"{DOMAIN}-1301"
    plain = Ace.allow(sid, acl.CREATE_DELETE_CHILD)
    # The same rights as an object ACE with no GUIDs (flags field 0).
    body = plain.raw[4:8] + b"\0\0\0\0" + plain.raw[8:]
    raw = bytes([ACCESS_ALLOWED_OBJECT_ACE_TYPE, 0]) + (4 + len(body)).to_bytes(2, "little") + body
    ace = Ace.decode(raw)
    assert ace.applies_to_whole_object and ace.is_allow
    sd = SecurityDescriptor.decode(bytes.fromhex(DACL_ONLY_HEX))
    sd.dacl.aces.append(ace)
    assert acl.covers(sd, sid, acl.CREATE_DELETE_CHILD)


def test_canonical_index_with_no_inherited_aces_is_the_end():
    sd = SecurityDescriptor.decode(bytes.fromhex(DACL_ONLY_HEX))
    sd.dacl.aces = [a for a in sd.dacl.aces if not a.flags & INHERITED_ACE]
    assert sd.dacl.canonical_index_for_explicit_allow() == len(sd.dacl.aces)


@pytest.mark.parametrize("mask,words", [
    (acl.FULL_CONTROL, "Full Control"),
    (acl.ADS_RIGHT_GENERIC_ALL, "Full Control"),
    (acl.CREATE_DELETE_CHILD, "Create all child objects + Delete all child objects"),
    (0x20094, "List contents + Read all properties + Read permissions + List object"),
    (0x40000000, "0x40000000"),
])
def test_rights_in_words(mask, words):
    assert acl.rights_in_words(mask) == words


def test_a_descriptor_with_a_gap_is_refused_strictly_and_compacted_otherwise():
    data = bytearray.fromhex(DACL_ONLY_HEX)
    data[16:20] = (24).to_bytes(4, "little")  # DACL moved 4 bytes further, a gap before it
    gapped = bytes(data[:20]) + b"\0\0\0\0" + bytes(data[20:])
    with pytest.raises(SecurityDescriptorError, match="layout"):
        SecurityDescriptor.decode(gapped)
    sd = SecurityDescriptor.decode(gapped, strict=False)
    assert sd.encode() == bytes.fromhex(DACL_ONLY_HEX)
