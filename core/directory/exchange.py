"""Locate the Exchange configuration objects by path (not by schema class).

``CN=<Org>,CN=Microsoft Exchange,CN=Services,<configuration NC>`` /
``CN=Administrative Groups`` / ``CN=<group>`` / ``CN=Servers`` / ``CN=<server>``.

The lab's Samba has no Exchange schema, so nothing here looks at objectClass.
The configuration NC comes from the DC's rootDSE, never from the domain name.
"""

from __future__ import annotations

import attrs
import ldap3

from .connection import Directory
from .errors import Ambiguous, NotFound
from ..ldap_escape import rdn

EXCHANGE_CONTAINER = "CN=Microsoft Exchange,CN=Services"


@attrs.frozen
class ExchangeLocation:
    """The DNs of the objects the runbook's ADSI Edit step touches."""

    organization_dn: str
    administrative_group_dn: str | None = None
    servers_dn: str | None = None
    server_dn: str | None = None


def exchange_container_dn(directory: Directory) -> str:
    return f"{EXCHANGE_CONTAINER},{directory.configuration_naming_context}"


def _children(directory: Directory, dn: str) -> list[str]:
    """The CN values of the objects directly below ``dn``."""
    entries = directory.search(dn, "(objectClass=*)", ["cn"], scope=ldap3.LEVEL)
    return sorted(entry.text("cn") or entry.dn for entry in entries)


def _child(directory: Directory, parent: str, name: str | None, what: str) -> str:
    """The DN of child ``name`` of ``parent``; with ``name`` None, the only child there is."""
    if name is None:
        names = _children(directory, parent)
        if len(names) == 1:
            return f"{rdn('CN', names[0])},{parent}"
        if not names:
            raise NotFound(f"no {what} found below {parent} on {directory.url}")
        raise Ambiguous(f"{len(names)} objects could be the {what} below {parent} on {directory.url}: "
                        f"{', '.join(names)}; name the one to use")
    dn = f"{rdn('CN', name)},{parent}"
    if directory.read(dn, ["cn"]) is None:
        present = _children(directory, parent) if directory.read(parent, ["cn"]) is not None else None
        where = (f"below {parent} there are: {', '.join(present) or 'no objects'}" if present is not None
                 else f"{parent} does not exist either")
        raise NotFound(f"{what} {name!r} not found on {directory.url}: no object {dn} ({where})")
    return dn


def organization_dn(directory: Directory, organization: str | None) -> str:
    """DN of the Exchange organization object (the only one when ``organization`` is None)."""
    return _child(directory, exchange_container_dn(directory), organization, "Exchange organization")


def locate(directory: Directory, organization: str | None, administrative_group: str | None = None,
           server: str | None = None) -> ExchangeLocation:
    """Find the organization and, when asked, the group, its Servers container and a server.

    ``administrative_group`` None takes the only group there is (``Ambiguous`` when several);
    ``server`` None stops at the Servers container.
    """
    org = organization_dn(directory, organization)
    groups = f"CN=Administrative Groups,{org}"
    group = _child(directory, groups, administrative_group, "administrative group")
    servers = _child(directory, group, "Servers", "Servers container")
    server_object = _child(directory, servers, server, "Exchange server object") if server else None
    return ExchangeLocation(org, group, servers, server_object)
