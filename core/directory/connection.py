"""Connections to Active Directory domain controllers (ldap3), always over TLS.

:meth:`Directory.connect` opens one authenticated connection to a DC of the
site's :class:`qrdr.model.Domain`; :meth:`Directory.for_controller` opens
another to a named DC with the same credentials (the replication wait reads
every DC). The higher layers (``exchange``, ``acl``, ``computers``,
``replication``) are functions that take a :class:`Directory` (``grant(ctx.directory,
...)``): they import this module and it imports none of them, so the package has no
import circle (tests/test_imports.py).

Security rules kept here, once:

* TLS always: LDAPS or StartTLS as ``Domain.tls`` says. Simple binds on a plain
  connection would send the password in the clear (and AD refuses them anyway).
* Certificates are checked (``ssl.CERT_REQUIRED``) against ``Domain.ca_file`` or the
  system store, and must name the DC (its configured name, its FQDN, or the address
  it is reached at). Only ``Domain.verify_tls = false`` switches that off, with a warning.
* The password lives in a :class:`_Secret` whose repr hides it; it is cleared from
  the ldap3 connection after the bind (ldap3's own repr prints it), and every error
  text is scrubbed of it before it is raised.
"""

from __future__ import annotations

import ssl
import urllib.parse
from typing import Any, Callable, Iterable, Sequence

import attrs
import ldap3
from ldap3.core import exceptions as ldap_exc
from ldap3.protocol.microsoft import security_descriptor_control
from ldap3.protocol.rfc2696 import paged_search_control
from loguru import logger

from qrdr.model import Domain, DomainController, LdapBind

from .errors import ConnectError, DirectoryError, NotFound, OperationFailed

#: SD flags control values ([MS-ADTS] 3.1.1.3.4.1.11): which parts of nTSecurityDescriptor.
OWNER_SECURITY_INFORMATION = 0x1
GROUP_SECURITY_INFORMATION = 0x2
DACL_SECURITY_INFORMATION = 0x4
SACL_SECURITY_INFORMATION = 0x8

#: Connecting is bounded by this, each wait of it: the TCP connect, and every answer awaited until
#: the connection is bound and the rootDSE read (TLS handshake, StartTLS, bind). ldap3 would give
#: the handshake the receive timeout (its socket timeout is set once, before the TLS wrap), so a
#: DC that takes connections in and never answers held a reconnect for a minute.
CONNECT_TIMEOUT_S = 10
#: Each answer to an operation on a bound connection (a large search may take a while).
RECEIVE_TIMEOUT_S = 60


class _Secret:
    """Holds a password; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def scrub(self, text: str) -> str:
        """``text`` with every occurrence of the secret replaced."""
        return text.replace(self._value, "***") if self._value else text

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


@attrs.frozen
class Entry:
    """One object read from the directory: its DN and raw attribute values (bytes)."""

    dn: str
    raw: dict[str, list[bytes]] = attrs.field(repr=False)

    def values(self, attribute: str) -> list[bytes]:
        for name, values in self.raw.items():
            if name.lower() == attribute.lower():
                return list(values)
        return []

    def first(self, attribute: str) -> bytes | None:
        values = self.values(attribute)
        return values[0] if values else None

    def text(self, attribute: str) -> str | None:
        value = self.first(attribute)
        return None if value is None else value.decode("utf-8")

    def texts(self, attribute: str) -> list[str]:
        return [v.decode("utf-8") for v in self.values(attribute)]

    def integer(self, attribute: str) -> int | None:
        value = self.text(attribute)
        return None if value is None else int(value)


def _endpoint(domain: Domain, controller: DomainController) -> tuple[str, str, int, bool]:
    """(url, host, port, use_ssl) of a DC; the URL scheme must agree with ``Domain.tls``."""
    tls = domain.tls.lower()
    if tls not in ("ldaps", "starttls"):
        raise DirectoryError(f"domain {domain.dns_name}: tls must be 'ldaps' or 'starttls', not {domain.tls!r}")
    if controller.url is None:
        scheme, host, port = ("ldaps", controller.address, 636) if tls == "ldaps" else ("ldap", controller.address, 389)
    else:
        parsed = urllib.parse.urlsplit(controller.url)
        scheme, host = parsed.scheme.lower(), parsed.hostname
        if scheme not in ("ldap", "ldaps") or not host:
            raise DirectoryError(f"controller {controller.name}: url {controller.url!r} is not ldap:// or ldaps://")
        if (scheme == "ldaps") != (tls == "ldaps"):
            raise DirectoryError(
                f"controller {controller.name}: url {controller.url} does not match the domain's "
                f"tls = {domain.tls!r} (ldaps wants ldaps://, starttls wants ldap://)"
            )
        port = parsed.port or (636 if scheme == "ldaps" else 389)
    url = f"{scheme}://{host}" + ("" if port == (636 if scheme == "ldaps" else 389) else f":{port}")
    return url, host, port, scheme == "ldaps"


def _certificate_names(domain: Domain, controller: DomainController) -> list[str]:
    names = [controller.name]
    if "." not in controller.name:
        names.append(f"{controller.name}.{domain.dns_name}")
    return names


def _tls_settings(domain: Domain, controller: DomainController, url: str) -> ldap3.Tls:
    names = _certificate_names(domain, controller)
    if not domain.verify_tls:
        logger.warning(
            "TLS certificate checks are OFF for {} (domain {} has verify_tls = false): "
            "anyone on the path can read the LDAP traffic, passwords included",
            url,
            domain.dns_name,
        )
        return ldap3.Tls(validate=ssl.CERT_NONE, sni=names[-1])
    # ldap3 checks the host name itself (check_hostname is off in its context) against the
    # address it connects to, then these names.
    return ldap3.Tls(
        validate=ssl.CERT_REQUIRED,
        ca_certs_file=domain.ca_file,
        valid_names=names,
        sni=names[-1],
    )


def _ldap3_user(domain: Domain) -> str:
    """The bind name in the form the chosen mechanism wants."""
    user = domain.bind_user
    if domain.bind is LdapBind.NTLM and "\\" not in user:
        # NTLM wants DOMAIN\user; accept user@realm or a bare name in the config.
        user = f"{domain.netbios_name}\\{user.split('@', 1)[0]}"
    elif domain.bind is LdapBind.KERBEROS and "@" not in user:
        # Kerberos wants user@REALM; accept DOMAIN\user or a bare name in the config.
        bare = user.rsplit("\\", 1)[-1]
        user = f"{bare}@{domain.dns_name.upper()}"
    return user


class Directory:
    """An authenticated TLS connection to one DC, with the naming contexts from its rootDSE."""

    def __init__(
        self,
        domain: Domain,
        controller: DomainController,
        url: str,
        connection: ldap3.Connection,
        password: _Secret,
        root_dse: Entry,
    ) -> None:
        self.domain = domain
        self.controller = controller
        self.url = url
        self._connection = connection
        self._password = password
        self.root_dse = root_dse
        self.default_naming_context: str = root_dse.text("defaultNamingContext") or domain.base_dn
        config_nc = root_dse.text("configurationNamingContext")
        if not config_nc:
            raise DirectoryError(f"{url}: the rootDSE has no configurationNamingContext")
        self.configuration_naming_context: str = config_nc
        #: The DN of this DC's nTDSDSA object (``CN=NTDS Settings,CN=<dc>,CN=Servers,...``).
        self.dsa_dn: str | None = root_dse.text("dsServiceName")
        self.dns_host_name: str | None = root_dse.text("dnsHostName")

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def connect(cls, domain: Domain, password: str, *, controller: DomainController | None = None) -> "Directory":
        """Connect and bind to ``controller``, or to the first of ``domain.controllers`` that answers.

        Raises :class:`ConnectError` naming each DC URL tried and what failed there.
        """
        secret = _Secret(password)
        candidates = [controller] if controller is not None else list(domain.controllers)
        if not candidates:
            raise DirectoryError(f"domain {domain.dns_name} has no controllers configured")
        failures = []
        for candidate in candidates:
            try:
                return cls._open(domain, candidate, secret)
            except ConnectError as error:
                failures.append(str(error))
                logger.info("{}", error)
        if len(failures) == 1:
            raise ConnectError(failures[0])
        raise ConnectError("no domain controller could be used:\n  " + "\n  ".join(failures))

    def for_controller(self, controller: DomainController) -> "Directory":
        """Another connection, to ``controller``, with the same domain settings and credentials."""
        return self._open(self.domain, controller, self._password)

    @classmethod
    def _open(cls, domain: Domain, controller: DomainController, secret: _Secret) -> "Directory":
        url, host, port, use_ssl = _endpoint(domain, controller)
        user = _ldap3_user(domain)
        server = ldap3.Server(
            host,
            port=port,
            use_ssl=use_ssl,
            tls=_tls_settings(domain, controller, url),
            get_info=ldap3.NONE,
            connect_timeout=CONNECT_TIMEOUT_S,
        )
        options: dict[str, Any] = dict(
            user=user,
            raise_exceptions=False,
            auto_referrals=False,
            receive_timeout=CONNECT_TIMEOUT_S,  # until bound: see CONNECT_TIMEOUT_S
            read_only=False,
        )
        if domain.bind is LdapBind.SIMPLE:
            options.update(authentication=ldap3.SIMPLE, password=secret.reveal())
        elif domain.bind is LdapBind.NTLM:
            options.update(authentication=ldap3.NTLM, password=secret.reveal())
        elif domain.bind is LdapBind.KERBEROS:
            # No ``user`` for ldap3 here: with one, ldap3 looks for that principal in the ticket
            # cache before it looks at the credentials passed in sasl_credentials.
            options.pop("user")
            options.update(
                authentication=ldap3.SASL,
                sasl_mechanism=ldap3.KERBEROS,
                sasl_credentials=(_certificate_names(domain, controller)[-1], None,
                                  _kerberos_credentials(user, secret, url)),
            )
        connection = ldap3.Connection(server, **options)
        step = "connect"
        try:
            connection.open(read_server_info=False)
            if not use_ssl:
                step = "StartTLS"
                if not connection.start_tls(read_server_info=False):
                    raise ConnectError(f"{url} (DC {controller.name}): StartTLS failed: "
                                       f"{connection.last_error or _result_text(connection)}")
            step = f"{domain.bind.value} bind as {user}"
            if not connection.bind(read_server_info=False):
                raise ConnectError(secret.scrub(f"{url} (DC {controller.name}): {step} failed: "
                                                f"{_result_text(connection)}"))
        except ConnectError:
            _quiet_unbind(connection)
            raise
        except (ldap_exc.LDAPException, OSError) as error:
            _quiet_unbind(connection)
            silent = f" (the DC did not answer within {CONNECT_TIMEOUT_S} s)" if "timed out" in str(error) else ""
            raise ConnectError(secret.scrub(f"{url} (DC {controller.name}): {step} failed: {_describe(error)}"
                                            f"{silent}")) from None
        finally:
            # ldap3 prints the password in its repr; it is not needed after the bind.
            connection.password = None
        logger.debug("bound to {} as {}", url, user)
        try:
            root = _search(connection, url, "", "(objectClass=*)", ldap3.BASE,
                           ["configurationNamingContext", "defaultNamingContext", "dsServiceName", "dnsHostName"])
        except (ldap_exc.LDAPException, OperationFailed) as error:
            _quiet_unbind(connection)
            raise ConnectError(f"{url} (DC {controller.name}): reading the rootDSE failed: {error}") from None
        if not root:
            _quiet_unbind(connection)
            raise ConnectError(f"{url} (DC {controller.name}): the rootDSE could not be read")
        connection.socket.settimeout(RECEIVE_TIMEOUT_S)
        return cls(domain, controller, url, connection, secret, root[0])

    @property
    def encrypted(self) -> bool:
        """True when the connection runs over TLS (LDAPS, or StartTLS done)."""
        return bool(self._connection.server.ssl or self._connection.tls_started)

    def close(self) -> None:
        _quiet_unbind(self._connection)

    def __enter__(self) -> "Directory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Directory({self.url}, bind={self.domain.bind.value}, user={self.domain.bind_user!r})"

    # --- reading and writing ----------------------------------------------------------------

    def _call(self, what: str, operation: Callable[[ldap3.Connection], Any]) -> Any:
        """Run ``operation`` on the connection; when the connection was lost, reconnect once and rerun.

        AD drops idle connections (MaxConnIdleTime, 900 s by default) and a run waits
        longer than that for reboots. Every operation here is safe to send twice: reads,
        and modifies that replace values (a grant is re-planned from what it reads).
        """
        try:
            return operation(self._connection)
        except ldap_exc.LDAPCommunicationError as error:
            logger.info("connection to {} lost ({}); reconnecting", self.url, _describe(error))
        _quiet_unbind(self._connection)
        try:
            self._connection = self._open(self.domain, self.controller, self._password)._connection
            return operation(self._connection)
        except ldap_exc.LDAPException as error:
            raise OperationFailed(self._password.scrub(f"{what} at {self.url} failed after reconnecting: "
                                                       f"{_describe(error)}")) from None

    def search(
        self,
        base: str,
        search_filter: str,
        attributes: Sequence[str],
        *,
        scope: str = ldap3.SUBTREE,
        sd_flags: int | None = None,
    ) -> list[Entry]:
        """Entries under ``base`` matching ``search_filter`` (paged). A missing base gives []."""
        controls = security_descriptor_control(sdflags=sd_flags) if sd_flags is not None else None
        return self._call(f"search of {base} for {search_filter}", lambda connection: _search(
            connection, self.url, base, search_filter, scope, list(attributes), controls))

    def read(self, dn: str, attributes: Sequence[str], *, sd_flags: int | None = None) -> Entry | None:
        """The object at ``dn``, or None when there is none."""
        found = self.search(dn, "(objectClass=*)", attributes, scope=ldap3.BASE, sd_flags=sd_flags)
        return found[0] if found else None

    def require(self, dn: str, attributes: Sequence[str], *, what: str, sd_flags: int | None = None) -> Entry:
        """Like :meth:`read`, but raises :class:`NotFound` naming ``what`` and the DN."""
        entry = self.read(dn, attributes, sd_flags=sd_flags)
        if entry is None:
            raise NotFound(f"{what} not found: no object {dn} on {self.url}")
        return entry

    def modify(self, dn: str, changes: dict[str, list[tuple[str, list[Any]]]], *, what: str,
               sd_flags: int | None = None) -> None:
        """Apply ldap3-style ``changes`` to ``dn``; raises :class:`OperationFailed` naming ``what``."""
        controls = security_descriptor_control(sdflags=sd_flags) if sd_flags is not None else None
        self._write(f"{what} on {dn}", lambda connection: connection.modify(dn, changes, controls=controls))

    def add(self, dn: str, object_class: str, attributes: dict[str, Any], *, what: str) -> bool:
        """Create ``dn`` atomically: True when this call created it, False when it exists already
        (entryAlreadyExists: someone else's, or this call's own first try when the connection was
        lost after the DC created it; the caller tells them apart by what it wrote)."""
        created = []

        def add(connection: ldap3.Connection) -> bool:
            done = connection.add(dn, object_class, attributes)
            if not done and (connection.result or {}).get("description") == "entryAlreadyExists":
                return True  # not an error: the answer is "exists"
            created.append(done)
            return done

        self._write(f"{what} (create {dn})", add)
        return bool(created and created[-1])

    def delete(self, dn: str, *, what: str) -> None:
        """Delete the leaf object ``dn``; one that is gone already is not an error."""
        def delete(connection: ldap3.Connection) -> bool:
            done = connection.delete(dn)
            return done or (connection.result or {}).get("description") == "noSuchObject"

        self._write(f"{what} (delete {dn})", delete)

    def modify_dn(self, dn: str, new_rdn: str, *, what: str) -> None:
        """Rename ``dn`` within its container to ``new_rdn`` (already escaped)."""
        self._write(f"{what} on {dn}", lambda connection: connection.modify_dn(dn, new_rdn))

    def _write(self, what: str, operation: Callable[[ldap3.Connection], bool]) -> None:
        def checked(connection: ldap3.Connection) -> None:
            try:
                ok = operation(connection)
            except ldap_exc.LDAPCommunicationError:
                raise
            except ldap_exc.LDAPException as error:
                raise OperationFailed(self._password.scrub(f"{what} at {self.url} failed: {_describe(error)}")) from None
            if not ok:
                raise OperationFailed(f"{what} at {self.url} failed: {_result_text(connection)}")

        self._call(what, checked)


def _kerberos_credentials(user: str, secret: _Secret, url: str):
    """Raw GSSAPI credentials for ``user`` from the password, as ldap3 wants them in
    ``sasl_credentials[2]``; None (use the ticket cache, e.g. after ``kinit``) when the
    password is empty. Needs the ``gssapi`` package.

    Not tested: the lab has no gssapi package and ldap3's Kerberos bind is not exercised
    against its Samba. Written to python-gssapi's documented API.
    """
    try:
        import gssapi  # type: ignore[import-not-found]
        import gssapi.raw  # type: ignore[import-not-found]
    except ImportError:
        raise ConnectError(
            f"{url}: a Kerberos bind needs the Python package 'gssapi' (pip install gssapi)"
        ) from None
    if not secret.reveal():
        return None
    name = gssapi.Name(user, gssapi.NameType.user)
    try:
        acquired = gssapi.raw.acquire_cred_with_password(name, secret.reveal().encode("utf-8"), usage="initiate")
    except gssapi.exceptions.GSSError as error:
        raise ConnectError(secret.scrub(f"{url}: Kerberos credentials for {user} failed: {error}")) from None
    return acquired.creds


def _search(connection: ldap3.Connection, url: str, base: str, search_filter: str, scope: str,
            attributes: list[str], controls: Iterable | None = None) -> list[Entry]:
    entries: list[Entry] = []
    cookie = None
    while True:
        page_controls = list(controls or [])
        if scope != ldap3.BASE:
            page_controls.append(paged_search_control(False, 500, cookie))
        try:
            connection.search(base, search_filter, search_scope=scope, attributes=attributes,
                              controls=page_controls or None)
        except ldap_exc.LDAPCommunicationError:
            raise  # Directory._call reconnects
        except ldap_exc.LDAPException as error:
            raise OperationFailed(f"search of {base or 'the rootDSE'} for {search_filter} at {url} failed: "
                                  f"{_describe(error)}") from None
        result = connection.result or {}
        if result.get("description") == "noSuchObject":
            return []
        if result.get("result") not in (0, None):
            raise OperationFailed(f"search of {base or 'the rootDSE'} for {search_filter} at {url} failed: "
                                  f"{_result_text(connection)}")
        for item in connection.response or []:
            if item.get("type") == "searchResEntry":
                entries.append(Entry(item["dn"], dict(item["raw_attributes"])))
        cookie = (result.get("controls") or {}).get("1.2.840.113556.1.4.319", {}).get("value", {}).get("cookie")
        if not cookie:
            return entries


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    if "certificate verify failed" in text or isinstance(error, ldap_exc.LDAPCertificateError):
        text += " (the DC's certificate is not trusted: set the domain's ca_file to the CA that signed it)"
    return text


def _result_text(connection: ldap3.Connection) -> str:
    result = connection.result or {}
    message = (result.get("message") or "").strip()
    return f"{result.get('description')}" + (f" ({message})" if message else "")


def _quiet_unbind(connection: ldap3.Connection) -> None:
    try:
        connection.unbind()
    except Exception:  # closing a dead socket: nothing to report
        pass
