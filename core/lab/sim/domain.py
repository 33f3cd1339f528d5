"""A simulated domain member's view of the lab's real Active Directory (Samba AD DC over LDAPS).

Windows changes its computer account in AD with the credentials the admin
supplies (Win32_ComputerSystem methods' UserName/Password, netdom's /UserD
/PasswordD). :class:`DomainBackend` does the same over LDAP, binding as that
user, so the DC's own rules apply (duplicate names, access rights, SPN
rewrites). It answers with the Win32 codes Windows returns:

- ``rename_computer`` (NetRenameMachineInDomain): sAMAccountName, dNSHostName
  and CN of the account change at once (the host's name changes at reboot).
  1326 logon failure; 2224 the new name is taken (another account or object);
  5 access denied; 2221 no account for the old name.
- ``unjoin`` (NetUnjoinDomain): with ``disable`` (FUnjoinOptions 4,
  NETSETUP_ACCT_DELETE, which on Windows disables rather than deletes)
  userAccountControl gets ACCOUNTDISABLE; without, the account is untouched.
- ``join`` (NetJoinDomain): an existing computer account is reused: its
  password is set to a new random machine password and it is enabled, when the
  joining user may reset it, or else when it was reset to its default password
  ("Reset Account": the name in lower case, 14 characters at most), in which
  case the machine changes the password itself. A missing account is created
  only with NETSETUP_ACCT_CREATE (0x2), in AccountOU or CN=Computers; without it
  the join fails with 2221. A name already used by an object that is not that
  computer account gives 2224.

The choice of 2221 for "no such account" is the lab's (NERR_UserNotFound);
the other codes are the documented ones.

The connection factory takes ``(user, password)`` and returns an *unbound*
ldap3 Connection to a DC over LDAPS with the certificate checked (see
:meth:`DomainBackend.for_samba`). Passwords never reach logs or exceptions.
"""

from __future__ import annotations

import secrets
from typing import Any, Callable

import attrs
import ldap3
from ldap3.core import exceptions as ldap_exc
from loguru import logger

from qrdr.ldap_escape import filter_value, rdn

ConnectionFactory = Callable[[str, str], ldap3.Connection]

ACCOUNTDISABLE = 0x0002
WORKSTATION_TRUST_ACCOUNT = 0x1000

SUCCESS = 0
ACCESS_DENIED = 5
LOGON_FAILURE = 1326
NO_SUCH_DOMAIN = 1355
USER_NOT_FOUND = 2221
ACCOUNT_EXISTS = 2224


def default_machine_password(name: str) -> str:
    """What ADUC's "Reset Account" sets: the computer name in lower case, first 14 characters."""
    return name.rstrip("$").lower()[:14]


def _unicode_pwd(password: str) -> bytes:
    return f'"{password}"'.encode("utf-16-le")


@attrs.define
class DomainBackend:
    """The lab's AD as a Windows domain member reaches it (see the module docstring)."""

    dns_name: str
    netbios_name: str
    connect: ConnectionFactory = attrs.field(repr=False)
    #: Passwords the lab's joined machines set, by computer name (to show a join did set one).
    machine_passwords: dict[str, str] = attrs.field(factory=dict, repr=False)

    @classmethod
    def for_samba(cls, dc: Any) -> "DomainBackend":
        """A backend on a :class:`qrdr.lab.samba.SambaDC` (LDAPS, certificate checked against its CA)."""

        def connect(user: str, password: str) -> ldap3.Connection:
            return ldap3.Connection(dc.ldap_server(), user=user, password=password, raise_exceptions=False,
                                    receive_timeout=10)

        return cls(dns_name=dc.dns_domain, netbios_name=dc.netbios, connect=connect)

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={part}" for part in self.dns_name.split("."))

    # -- binding ---------------------------------------------------------------------------------

    def bind_name(self, user: str) -> str:
        """``DOMAIN\\user`` -> ``user@dns.name`` (a UPN Samba's simple bind accepts); others unchanged."""
        qualifier, sep, account = user.partition("\\")
        if sep and qualifier.lower() in (self.netbios_name.lower(), self.dns_name.lower()):
            return f"{account}@{self.dns_name}"
        return user

    def _bind(self, user: str, password: str) -> ldap3.Connection | None:
        if not user or not password:
            return None
        if "\\" in user and self.bind_name(user) == user:
            return None  # another domain's account: Windows cannot log it on here
        connection = self.connect(self.bind_name(user), password)
        try:
            bound = connection.bind()
        except ldap_exc.LDAPException as error:
            logger.info("lab domain {}: LDAP bind failed: {}", self.dns_name, type(error).__name__)
            bound = False
        finally:
            connection.password = None
        if not bound:
            _unbind(connection)
            return None
        return connection

    def authenticate(self, user: str, password: str) -> bool:
        """Whether a domain account logs on with this password (WinRM logons on members)."""
        connection = self._bind(user, password)
        if connection is None:
            return False
        _unbind(connection)
        return True

    # -- lookups -----------------------------------------------------------------------------------

    def _find_account(self, connection: ldap3.Connection, name: str) -> dict[str, Any] | None:
        connection.search(self.base_dn, f"(sAMAccountName={filter_value(name.upper() + '$')})",
                          attributes=["objectClass", "userAccountControl", "dNSHostName", "sAMAccountName"])
        for entry in connection.response or []:
            if entry.get("type") == "searchResEntry":
                attributes = entry["attributes"]
                classes = [str(c).lower() for c in attributes.get("objectClass", [])]
                uac = attributes.get("userAccountControl") or 0
                # Without the schema (get_info=NONE) ldap3 returns every value as a list.
                uac = uac[0] if isinstance(uac, list) and uac else uac
                return {"dn": entry["dn"], "computer": "computer" in classes, "uac": int(uac or 0)}
        return None

    def _exists(self, connection: ldap3.Connection, dn: str) -> bool:
        connection.search(dn, "(objectClass=*)", search_scope=ldap3.BASE, attributes=["cn"])
        return any(entry.get("type") == "searchResEntry" for entry in connection.response or [])

    def computer_account(self, user: str, password: str, name: str) -> dict[str, Any] | None:
        """The account ``NAME$`` (dn, computer, uac), read as ``user`` (for tests and checks)."""
        connection = self._bind(user, password)
        if connection is None:
            raise PermissionError(f"logon to {self.dns_name} as {user} failed")
        try:
            return self._find_account(connection, name)
        finally:
            _unbind(connection)

    # -- operations --------------------------------------------------------------------------------

    def rename_computer(self, old: str, new: str, user: str, password: str) -> int:
        connection = self._bind(user, password)
        if connection is None:
            return LOGON_FAILURE
        try:
            account = self._find_account(connection, old)
            if account is None or not account["computer"]:
                return USER_NOT_FOUND
            clash = self._find_account(connection, new)
            container = account["dn"].split(",", 1)[1]
            new_rdn = rdn("CN", new.upper())
            if (clash is not None and clash["dn"].lower() != account["dn"].lower()) or (
                    f"{new_rdn},{container}".lower() != account["dn"].lower()
                    and self._exists(connection, f"{new_rdn},{container}")):
                return ACCOUNT_EXISTS
            changes = {"sAMAccountName": [(ldap3.MODIFY_REPLACE, [new.upper() + "$"])],
                       "dNSHostName": [(ldap3.MODIFY_REPLACE, [f"{new.lower()}.{self.dns_name}"])]}
            if not connection.modify(account["dn"], changes):
                return _code_of(connection)
            if not connection.modify_dn(account["dn"], new_rdn):
                code = _code_of(connection)
                connection.modify(account["dn"], {
                    "sAMAccountName": [(ldap3.MODIFY_REPLACE, [old.upper() + "$"])],
                    "dNSHostName": [(ldap3.MODIFY_REPLACE, [f"{old.lower()}.{self.dns_name}"])]})
                return code
            logger.info("lab domain {}: renamed computer {} to {}", self.dns_name, old, new)
            return SUCCESS
        finally:
            _unbind(connection)

    def unjoin(self, name: str, disable: bool, user: str, password: str) -> int:
        connection = self._bind(user, password)
        if connection is None:
            return LOGON_FAILURE
        try:
            if not disable:
                return SUCCESS
            account = self._find_account(connection, name)
            if account is None or not account["computer"]:
                return USER_NOT_FOUND
            if not connection.modify(account["dn"], {"userAccountControl": [
                    (ldap3.MODIFY_REPLACE, [str(account["uac"] | ACCOUNTDISABLE)])]}):
                return _code_of(connection)
            logger.info("lab domain {}: disabled computer account {}$", self.dns_name, name)
            return SUCCESS
        finally:
            _unbind(connection)

    def join(self, name: str, options: int, user: str, password: str, account_ou: str | None = None) -> int:
        connection = self._bind(user, password)
        if connection is None:
            return LOGON_FAILURE
        new_password = secrets.token_urlsafe(90)[:120]
        try:
            account = self._find_account(connection, name)
            if account is not None and not account["computer"]:
                return ACCOUNT_EXISTS
            if account is None:
                container = account_ou or f"CN=Computers,{self.base_dn}"
                dn = f"{rdn('CN', name.upper())},{container}"
                if self._exists(connection, dn):
                    return ACCOUNT_EXISTS
                if not options & 0x2:
                    return USER_NOT_FOUND
                host = f"{name.lower()}.{self.dns_name}"
                ok = connection.add(dn, ["top", "person", "organizationalPerson", "user", "computer"], {
                    "sAMAccountName": name.upper() + "$", "userAccountControl": str(WORKSTATION_TRUST_ACCOUNT),
                    "dNSHostName": host, "servicePrincipalName": [f"HOST/{name.upper()}", f"HOST/{host}"],
                    "unicodePwd": _unicode_pwd(new_password)})
                if not ok:
                    return _code_of(connection)
                self.machine_passwords[name.upper()] = new_password
                logger.info("lab domain {}: created computer account {}$", self.dns_name, name)
                return SUCCESS
            uac = (account["uac"] & ~ACCOUNTDISABLE) | WORKSTATION_TRUST_ACCOUNT
            changes = {"unicodePwd": [(ldap3.MODIFY_REPLACE, [_unicode_pwd(new_password)])],
                       "userAccountControl": [(ldap3.MODIFY_REPLACE, [str(uac)])]}
            if connection.modify(account["dn"], changes):
                self.machine_passwords[name.upper()] = new_password
                logger.info("lab domain {}: reused computer account {}$ (password set by the joining user)",
                            self.dns_name, name)
                return SUCCESS
            code = _code_of(connection)
            if code != ACCESS_DENIED:
                return code
        finally:
            _unbind(connection)
        # The user may not reset the account: it can still be reused when it was reset to its
        # default password, the machine then changing the password itself.
        return self._join_with_reset_account(name, new_password)

    def _join_with_reset_account(self, name: str, new_password: str) -> int:
        machine = self.connect(f"{name.upper()}$@{self.dns_name}", default_machine_password(name))
        try:
            bound = machine.bind()
        except ldap_exc.LDAPException:
            bound = False
        finally:
            machine.password = None
        if not bound:
            _unbind(machine)
            return ACCOUNT_EXISTS
        try:
            account = self._find_account(machine, name)
            if account is None:
                return USER_NOT_FOUND
            change = {"unicodePwd": [(ldap3.MODIFY_DELETE, [_unicode_pwd(default_machine_password(name))]),
                                     (ldap3.MODIFY_ADD, [_unicode_pwd(new_password)])]}
            if not machine.modify(account["dn"], change):
                return _code_of(machine)
            self.machine_passwords[name.upper()] = new_password
            logger.info("lab domain {}: reused reset computer account {}$", self.dns_name, name)
            return SUCCESS
        finally:
            _unbind(machine)


def _code_of(connection: ldap3.Connection) -> int:
    """The Win32 code Windows reports for an LDAP failure."""
    result = (connection.result or {}).get("description", "")
    if result in ("insufficientAccessRights", "unwillingToPerform"):
        return ACCESS_DENIED
    if result in ("entryAlreadyExists", "constraintViolation", "attributeOrValueExists"):
        return ACCOUNT_EXISTS
    if result == "invalidCredentials":
        return LOGON_FAILURE
    return ACCESS_DENIED


def _unbind(connection: ldap3.Connection) -> None:
    try:
        connection.unbind()
    except Exception:  # noqa: BLE001 - closing a connection that is already gone
        pass
