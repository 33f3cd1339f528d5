"""Wait until every domain controller shows a change ("replicate throughout the domain").

The runbook's step 3 ends with "wait until every DC has the change" (the notes
after ``setup.exe /DisasterRecovery`` say the same of /DomainPrep). This module
finds every DC from the ``nTDSDSA`` objects under ``CN=Sites`` of the
configuration NC (not from the config file, which may be missing one), maps each
to the site's configured controllers by its server object's ``dNSHostName``
(the lab's DCs each have their own loopback address), and reads the object back
from each until all agree or the deadline passes.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Iterable, Mapping, Union

import attrs

from qrdr.model import DomainController

from .connection import DACL_SECURITY_INFORMATION, Directory, Entry
from .errors import DirectoryError, ReplicationTimeout

Predicate = Callable[[Union[Entry, None]], bool]
Expectation = Union[Predicate, Mapping[str, Any]]


@attrs.frozen
class DiscoveredController:
    """A DC as the configuration NC lists it, and how qrdr reaches it."""

    dsa_dn: str
    server_dn: str
    dns_host_name: str | None
    #: The configured controller it maps to; None when the site config does not list it
    #: (it is then reached by its dNSHostName).
    configured: DomainController | None
    #: The naming contexts this DC holds a writable or full copy of (hasMasterNCs etc.).
    naming_contexts: tuple[str, ...] = ()

    def holds(self, naming_context: str) -> bool:
        """Does this DC hold ``naming_context``? (True when its list is unknown.)"""
        wanted = _normal(naming_context)
        return not self.naming_contexts or any(_normal(nc) == wanted for nc in self.naming_contexts)

    @property
    def label(self) -> str:
        return self.dns_host_name or self.server_dn.split(",", 1)[0][3:]

    def endpoint(self) -> DomainController:
        if self.configured is not None:
            return self.configured
        return DomainController(name=self.label, address=self.label)


@attrs.frozen
class ControllerState:
    """What one DC showed at its last read."""

    name: str
    url: str | None
    agreed: bool
    #: Human text of what the DC shows (values, "object not found", or the error).
    shows: str


@attrs.frozen
class ReplicationReport:
    dn: str
    wanted: str
    complete: bool
    elapsed_s: float
    controllers: tuple[ControllerState, ...]

    @property
    def done(self) -> bool:
        """Same as :attr:`complete` (plugins read it under this name)."""
        return self.complete

    @property
    def lagging(self) -> tuple[ControllerState, ...]:
        return tuple(state for state in self.controllers if not state.agreed)

    def describe(self) -> str:
        if self.complete:
            return (f"all {len(self.controllers)} domain controllers show {self.wanted} on {self.dn} "
                    f"(after {self.elapsed_s:.1f} s)")
        lag = "; ".join(f"{s.name} ({s.url or 'unreachable'}) still shows {s.shows}" for s in self.lagging)
        return (f"after {self.elapsed_s:.1f} s, {len(self.lagging)} of {len(self.controllers)} domain controllers "
                f"do not show {self.wanted} on {self.dn}: {lag}. Force replication (repadmin /syncall, "
                f"samba-tool drs replicate) or wait longer; check that the DCs are up and replicating")


def _matches(configured: DomainController, dns_host_name: str, domain_dns: str) -> bool:
    name = configured.name.lower()
    host = dns_host_name.lower()
    if name == host or f"{name}.{domain_dns.lower()}" == host:
        return True
    return configured.address.lower() == host


def _normal(dn: str) -> str:
    return ",".join(part.strip() for part in dn.lower().split(","))


def naming_context_of(dn: str, naming_contexts: Iterable[str]) -> str | None:
    """The naming context ``dn`` lives in: the longest of ``naming_contexts`` it is under.

    Longest, because a child domain's NC (DC=child,DC=corp) and the schema NC
    (CN=Schema,CN=Configuration,...) sit textually under another NC.
    """
    target = _normal(dn)
    best = None
    for nc in naming_contexts:
        normal = _normal(nc)
        if (target == normal or target.endswith("," + normal)) and (best is None or len(normal) > len(_normal(best))):
            best = nc
    return best


_NC_ATTRIBUTES = ("hasMasterNCs", "msDS-hasMasterNCs", "msDS-hasFullReplicaNCs")


def discover_controllers(directory: Directory, dn: str | None = None) -> list[DiscoveredController]:
    """Every DC of the forest, from the nTDSDSA objects under CN=Sites of the configuration NC.

    With ``dn``, only the DCs that hold its naming context: in a forest of several domains,
    a DC of another domain never shows a change to this domain's computer accounts (the
    configuration NC, where the Exchange objects live, is on every DC).
    """
    sites = f"CN=Sites,{directory.configuration_naming_context}"
    found = []
    for dsa in directory.search(sites, "(objectClass=nTDSDSA)", list(_NC_ATTRIBUTES)):
        server_dn = dsa.dn.split(",", 1)[1]
        server = directory.read(server_dn, ["dNSHostName"])
        host = server.text("dNSHostName") if server else None
        configured = next((c for c in directory.domain.controllers
                           if host and _matches(c, host, directory.domain.dns_name)), None)
        ncs = tuple(dict.fromkeys(nc for name in _NC_ATTRIBUTES for nc in dsa.texts(name)))
        found.append(DiscoveredController(dsa.dn, server_dn, host, configured, ncs))
    if dn is not None:
        home = naming_context_of(dn, (nc for controller in found for nc in controller.naming_contexts))
        if home is not None:
            found = [controller for controller in found if controller.holds(home)]
    if not found:
        raise DirectoryError(f"no nTDSDSA objects below {sites} on {directory.url}"
                             + (f" for a DC holding {dn}" if dn else "") + ": cannot tell which DCs to read")
    return sorted(found, key=lambda dc: dc.label.lower())


def _as_predicate(expect: Expectation) -> tuple[Predicate, tuple[str, ...], str, Callable[[Entry], str]]:
    """(predicate, attributes to read, words for what is wanted, words for what an entry shows)."""
    if callable(expect):
        attributes = tuple(getattr(expect, "attributes", ("objectClass",)))
        explain = getattr(expect, "explain", lambda entry: "the object without the change")
        return expect, attributes, getattr(expect, "description", getattr(expect, "__name__", "the change")), explain
    wanted = {name: _normalise(value) for name, value in expect.items()}

    def predicate(entry: Entry | None) -> bool:
        return entry is not None and all(_read_values(entry, name) == value for name, value in wanted.items())

    words = ", ".join(f"{name}={_show(value)}" for name, value in wanted.items())

    def explain(entry: Entry) -> str:
        return ", ".join(f"{name}={_show(_read_values(entry, name))}" for name in wanted)

    return predicate, tuple(wanted), words, explain


def _normalise(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
    return frozenset(v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values)


def _read_values(entry: Entry, attribute: str) -> frozenset[str] | None:
    values = entry.texts(attribute)
    return frozenset(values) if values else None


def _show(value: frozenset[str] | None) -> str:
    if value is None:
        return "(absent)"
    return "|".join(sorted(value))


def wait_replicated(
    directory: Directory,
    dn: str,
    expect: Expectation,
    deadline_s: float,
    *,
    progress: Callable[[str], None] | None = None,
    interval_s: float = 1.0,
    raise_on_timeout: bool = True,
) -> ReplicationReport:
    """Read ``dn`` from every DC until each shows ``expect``; give up after ``deadline_s`` seconds.

    ``expect`` is either a mapping ``attribute -> value`` (a value, a list of values, or
    None for "absent") or a predicate on the :class:`Entry` (None when the object is
    missing); a predicate may carry ``attributes`` (what to read; nTSecurityDescriptor is
    read with the DACL-only SD flags), ``description`` (words for what is wanted) and
    ``explain(entry)`` (words for what a DC shows instead), as
    :func:`qrdr.directory.acl.ace_present` does. ``progress`` gets a line per round.

    On the deadline, raises :class:`ReplicationTimeout` (carrying the report) naming the
    lagging DCs and what they still show, or returns the incomplete report when
    ``raise_on_timeout`` is False.
    """
    predicate, attributes, wanted, explain = _as_predicate(expect)
    sd_flags = DACL_SECURITY_INFORMATION if any(a.lower() == "ntsecuritydescriptor" for a in attributes) else None
    controllers = discover_controllers(directory, dn)
    started = time.monotonic()
    connections: dict[str, Directory] = {}
    states: dict[str, ControllerState] = {
        dc.dsa_dn: ControllerState(dc.label, None, False, "not read yet") for dc in controllers
    }
    try:
        while True:
            for dc in controllers:
                if states[dc.dsa_dn].agreed:
                    continue
                states[dc.dsa_dn] = _read_one(directory, dc, connections, dn, attributes, sd_flags, predicate,
                                              explain)
            elapsed = time.monotonic() - started
            agreed = sum(state.agreed for state in states.values())
            done = agreed == len(controllers)
            if progress is not None:
                waiting = ", ".join(s.name for s in states.values() if not s.agreed)
                progress(f"{agreed}/{len(controllers)} domain controllers show {wanted} on {dn}"
                         + (f"; waiting for {waiting}" if waiting else ""))
            if done or elapsed >= deadline_s:
                break
            time.sleep(max(0.0, min(interval_s, deadline_s - elapsed)))
    finally:
        for key, connection in connections.items():
            if connection is not directory:
                connection.close()
    report = ReplicationReport(dn, wanted, done, time.monotonic() - started, tuple(states.values()))
    if not done and raise_on_timeout:
        raise ReplicationTimeout(report.describe(), report)
    return report


def _read_one(directory: Directory, dc: DiscoveredController, connections: dict[str, Directory], dn: str,
              attributes: tuple[str, ...], sd_flags: int | None, predicate: Predicate,
              explain: Callable[[Entry], str]) -> ControllerState:
    url = None
    try:
        connection = connections.get(dc.dsa_dn)
        if connection is None:
            if directory.dsa_dn and directory.dsa_dn.lower() == dc.dsa_dn.lower():
                connection = directory
            else:
                connection = directory.for_controller(dc.endpoint())
            connections[dc.dsa_dn] = connection
        url = connection.url
        entry = connection.read(dn, list(attributes), sd_flags=sd_flags)
    except DirectoryError as error:
        # A DC that cannot be read counts as lagging; drop its connection and retry next round.
        stale = connections.pop(dc.dsa_dn, None)
        if stale is not None and stale is not directory:
            stale.close()
        return ControllerState(dc.label, url, False, f"an error: {error}")
    if predicate(entry):
        return ControllerState(dc.label, url, True, "the change")
    return ControllerState(dc.label, url, False, "no such object" if entry is None else explain(entry))
