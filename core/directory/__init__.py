"""qrdr's Active Directory layer (ldap3, always over TLS).

Modules: :mod:`.connection` (``Directory``), :mod:`.exchange` (locate the Exchange
objects by path), :mod:`.acl` (grant/revoke rights), :mod:`.computers` (find, reset,
rename, disable, enable computer accounts), :mod:`.replication` (wait until every
DC shows a change), :mod:`.sd` (security descriptor codec). Values put into filters
and DNs are escaped by :mod:`qrdr.ldap_escape`, outside the package because the
site model (``Domain.base_dn``) needs it too and the package imports the model.

Example::

    directory = Directory.connect(site.domain, password)
    where = locate(directory, site.exchange.organization, site.exchange.administrative_group,
                   server=site.production.name)
    standby = find_computer(directory, site.standby.name)
    print(grant(directory, where.servers_dn, standby.sid, FULL_CONTROL).description)
    wait_replicated(directory, where.servers_dn, ace_present(standby.sid, FULL_CONTROL),
                    site.domain.replication_deadline, progress=print)
"""

from .acl import (
    ADS_RIGHT_DS_CREATE_CHILD,
    ADS_RIGHT_DS_DELETE_CHILD,
    CREATE_DELETE_CHILD,
    FULL_CONTROL,
    AcePlan,
    ace_present,
    grant,
    plan_grant,
    plan_revoke,
    revoke,
    rights_in_words,
)
from .change import Change
from .computers import (
    ComputerAccount,
    bare_name,
    default_password,
    disable_computer,
    enable_computer,
    find_computer,
    lookup_computer,
    rename_computer,
    reset_computer_account,
)
from .connection import Directory, Entry
from .errors import Ambiguous, ConnectError, DirectoryError, NotFound, OperationFailed, ReplicationTimeout
from .exchange import ExchangeLocation, locate, organization_dn
from .replication import ReplicationReport, discover_controllers, wait_replicated

__all__ = [name for name in dir() if not name.startswith("_")]
