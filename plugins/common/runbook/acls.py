"""Runbook "Configure the Production and Standby Servers" 3: the standby's rights in ADSI Edit.

Phase ``grant-acls``: the standby's computer account (once it runs under production's name, the
account called by that name is the standby's) is allowed, in the runbook's order, Create + Delete
all child objects on the organization, Full Control on CN=Servers and on the server object; then
"Replicate these changes throughout the domain": every domain controller shows them.
"""

from __future__ import annotations

from qrdr.directory import CREATE_DELETE_CHILD, FULL_CONTROL
from qrdr.model import Site
from qrdr.steps import Step

from .. import acl
from .base import Book, in_order

#: (object, rights, step id, title) of each grant, in the runbook's order.
GRANTS = (
    (acl.ORGANIZATION, CREATE_DELETE_CHILD, "grant-organization",
     "Allow the standby Create + Delete all child objects on the organization (3.2)"),
    (acl.SERVERS, FULL_CONTROL, "grant-servers", "Allow the standby Full Control on CN=Servers (3.4)"),
    (acl.SERVER, FULL_CONTROL, "grant-server", "Allow the standby Full Control on the server object {server} (3.5)"),
)


def _grant(book: Book, site: Site, index: int) -> Step:
    which, mask, what, title = GRANTS[index]
    return acl.grant_step(id=book.id(what), title=title.format(server=site.production.name), which=which, mask=mask,
                          renamed_by=book.id("rename-standby"))


def grant_organization(book: Book, site: Site) -> Step:
    """Runbook 3.2: on the organization, "verify that the Allow check box for Create all child
    objects and Delete all child objects is selected" for the standby's server object.

    Code: plugins/common/runbook/acls.py, plugins/common/acl.py, core/directory/acl.py.
    """
    return _grant(book, site, 0)


def grant_servers(book: Book, site: Site) -> Step:
    """Runbook 3.4: "Right-click CN=Servers and select Properties ... Highlight the server object
    and click Full Control under Allow". Checks whether the standby's account has Full Control on
    CN=Servers of the administrative group, applies by adding the ACE, verifies by reading it back.

    Code: plugins/common/runbook/acls.py, plugins/common/acl.py, core/directory/acl.py.
    """
    return _grant(book, site, 1)


def grant_server(book: Book, site: Site) -> Step:
    """Runbook 3.5: "Expand CN=Servers, right-click [the server] ... click Full Control under
    Allow" on the server object named like production.

    Code: plugins/common/runbook/acls.py, plugins/common/acl.py, core/directory/acl.py.
    """
    return _grant(book, site, 2)


def wait_acl_replication(book: Book, site: Site) -> Step:
    """Runbook 3: "Replicate these changes throughout the domain." Waits, within the domain's
    replication_deadline, until every domain controller shows each grant (qrdr.directory's
    wait_replicated polls each DC).

    Code: plugins/common/runbook/acls.py, plugins/common/acl.py, core/directory/replication.py.
    """
    grant_ids = tuple(book.id(what) for _which, _mask, what, _title in GRANTS)
    return acl.replication_step(id=book.id("wait-acl-replication"),
                                title="Wait until every domain controller shows the rights (3)",
                                grants=[(which, mask) for which, mask, _what, _title in GRANTS],
                                renamed_by=book.id("rename-standby"), after=grant_ids, rechecked_after=grant_ids)


STEPS = (grant_organization, grant_servers, grant_server, wait_acl_replication)


def steps(book: Book, site: Site) -> list[Step]:
    """The steps of phase ``grant-acls``, in the runbook's order."""
    return in_order(book, site, STEPS)
