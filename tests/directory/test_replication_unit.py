"""Which DCs a replication wait reads, with no server."""

from __future__ import annotations

from qrdr.directory.replication import DiscoveredController, naming_context_of

PARENT, CHILD = "DC=corp,DC=example", "DC=child,DC=corp,DC=example"
CONFIG, SCHEMA = f"CN=Configuration,{PARENT}", f"CN=Schema,CN=Configuration,{PARENT}"
FOREST = [PARENT, CHILD, CONFIG, SCHEMA]


def test_the_naming_context_of_a_dn_is_the_longest_it_is_under():
    assert naming_context_of(f"CN=EXCH01,CN=Computers,{PARENT}", FOREST) == PARENT
    assert naming_context_of(f"CN=PC1,CN=Computers,{CHILD}", FOREST) == CHILD
    assert naming_context_of(f"CN=Servers,CN=Org,CN=Microsoft Exchange,CN=Services,{CONFIG}", FOREST) == CONFIG
    assert naming_context_of(f"CN=User,{SCHEMA}", FOREST) == SCHEMA
    assert naming_context_of("CN=pc1, DC=Child, dc=corp,DC=EXAMPLE", FOREST) == CHILD  # case, spaces
    assert naming_context_of("DC=elsewhere,DC=org", FOREST) is None


def test_a_dc_holds_only_its_own_domain():
    child_dc = DiscoveredController("CN=NTDS Settings,CN=C1", "CN=C1", "c1.child.corp.example", None,
                                    (CHILD, CONFIG, SCHEMA))
    assert not child_dc.holds(PARENT) and child_dc.holds(CONFIG) and child_dc.holds(CHILD.upper())


def test_a_dc_whose_naming_contexts_are_unknown_is_read():
    assert DiscoveredController("CN=NTDS Settings,CN=X", "CN=X", None, None).holds(PARENT)
