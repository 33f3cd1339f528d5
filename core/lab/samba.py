"""The lab's real Active Directory: Samba 4 AD DCs on loopback addresses of their own.

Every test that touches AD talks to a real Samba AD DC started here (no mocks). A DC lives in
one work directory (its smb.conf, databases, keys, log) and listens only on its own
127.x address (:mod:`qrdr.lab.addresses`), because LDAP's ports cannot move.

API::

    dc = SambaDC.provision(workdir, realm="qrdr.lab", netbios="QRDR",
                           admin_password="...", address=None, name="DC1",
                           cache_dir=None)        # cache_dir: copy a golden provisioned domain
    dc.start(exit_with_parent=True)             # returns at once
    dc.wait_ready(timeout=30)                   # ready = an authenticated LDAPS bind works
    dc.ldaps_url, dc.ldap_url, dc.address, dc.base_dn, dc.config_dn
    dc.ca_file, dc.tls_server_name              # verify TLS: chain and name ("DC1.qrdr.lab")
    dc.admin_user                               # "Administrator@QRDR.LAB" (simple bind over TLS)
    dc.admin_password                           # never shown in repr
    dc.ldap_server()                            # ldap3.Server with TLS checked against ca_file
    dc.connect(user=None, password=None)        # bound ldap3.Connection (default: admin)
    dc.samba_tool("user", "list", "-H", dc.ldap_url)  # CompletedProcess; password by environment
    dc.pid, dc.rss_kib(), dc.sam_ldb, dc.log_file
    dc2 = dc.join_second_dc(workdir2, name="DC2")   # started, ready, partners both ways
    dc2.pause_inbound_replication()             # DISABLE_INBOUND_REPL
    dc2.resume_inbound_replication()            # and pull from its partners at once
    dc2.replicate_now(from_dc=dc)               # drs replicate of all three naming contexts
    dc.stop()                                   # SIGTERM, wait, release an allocated address
    dc.destroy()                                # stop + remove the work directory

    populate_exchange(dc, "First Organization", "First Administrative Group", ["EXCH01"])
    exchange_dns(dc, org, group, server=None)   # the tree's DNs, RFC 4514 escaped
    add_computer(dc, "EXCH01", password="exch01", enabled=True)   # -> DN in CN=Computers
    add_user(dc, "alice", password="...")       # -> DN in CN=Users
    find_account(dc, "EXCH01$")                 # attributes over LDAP, or None
    ldbsearch(dc, "(sAMAccountName=EXCH01$)", ["userAccountControl"])  # sam.ldb, no LDAP

Errors are :class:`SambaError` (or ValueError for bad arguments), naming the DC and the
operation, with samba-tool's output redacted of the password.

Choices (see /work/shared/LAB.md for the facts behind them):

* Provisioned with ``--dns-backend=NONE`` and ``server services`` trimmed to
  ``rpc, ldap, cldap, kdc, drepl, kcc``: one process (``-M single``, about 55 MB RSS), no
  clash with other instances (no nbt/wrepl/dns/winbindd/s3fs). Per-instance pid, ncalrpc,
  winbindd and ntp_signd directories live in the work directory.
* Started with ``-i`` and a stdin pipe held by this object: Samba exits when the pipe closes,
  so a test run that dies cannot leave a DC behind. ``start(exit_with_parent=False)`` gives
  a DC that outlives its starter (for ``qrdr lab up``); stop it by :meth:`stop` or its pid
  file.
* TLS is verified: the DC makes a self-signed CA and host certificate for
  ``<NAME>.<realm>`` on first start (``DIR/private/tls``); clients check the chain with
  :attr:`ca_file` and the name with :attr:`tls_server_name` (ldap3 ``Tls(valid_names=...)``)
  since they connect by address.
* Passwords never reach argv or logs: the administrator's password is set after provision
  through Samba's Python bindings reading it from stdin; samba-tool gets it through the
  ``PASSWD`` environment variable.
* Name resolution for a second DC (replication connects to ``<ntdsGUID>._msdcs.<realm>``)
  comes from libnss-wrapper (``LD_PRELOAD``, ``NSS_WRAPPER_HOSTS``) with a hosts file in the
  first DC's work directory, and Kerberos from a ``krb5.conf`` there naming every KDC
  (``KRB5_CONFIG``). Nothing system-wide (/etc/hosts) is touched, so two test runs with the
  same realm on different addresses do not see each other.
* Provisioning takes about 5-9 s; ``provision(cache_dir=...)`` copies a "golden" provisioned
  directory instead (about 0.5 s; only smb.conf holds paths and the address, and it is
  rewritten; the copy makes its own TLS keys; bench/lab_samba.py has the figures).
* A second DC: ``samba-tool domain join``, with ``samba_spnupdate`` run on every DC when it
  is made (dnsupdate is off, so nothing else registers the replication SPNs Kerberos needs),
  then a KCC run on the first DC and one pull from the new DC, so that changes flow both
  ways at once instead of after the next KCC run (5 minutes). Partners are notified of
  changes every :data:`REPLICATION_NOTIFY_SECONDS` (Samba's default is 5 s), and each DC also
  pulls from every partner every :data:`REPLICATION_PERIODIC_SECONDS` (Samba's default is
  300 s): the scheduled replication that, as in AD, catches up on a change whose notification
  was missed. On a loaded machine a notification from a new DC can go unanswered (its partner's
  replicator has not yet taken in the new repsFrom, or is busy); without the periodic pull the
  change then waited for the 5-minute run (CI saw DC2 -> DC1 take more than 60 s).
"""

from __future__ import annotations

import base64
import json
import fcntl
import functools
import ipaddress
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import IO, Iterable, Sequence

import attrs
import ldap3
from ldap3.core.exceptions import LDAPException
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import escape_rdn
from loguru import logger

from . import addresses

SAMBA = "samba"
SAMBA_TOOL = "samba-tool"
LDBSEARCH = "ldbsearch"
NSS_WRAPPER_LIBRARY = "libnss_wrapper.so"
#: services a lab DC runs (LAB.md: the rest clash between instances or are not needed)
SERVER_SERVICES = "-nbt -wrepl -dnsupdate -dns -s3fs -winbindd -ntp_signd"
#: how often a DC tells its partners it has changes (smb.conf ``dreplsrv:notify_interval``)
REPLICATION_NOTIFY_SECONDS = 2
#: how often a DC pulls from each partner whether notified or not (``dreplsrv:periodic_interval``)
REPLICATION_PERIODIC_SECONDS = 10
#: bumped whenever provisioning changes what a golden directory holds (part of its name)
GOLDEN_FORMAT = 3
#: The answers of ``samba-tool drs kcc`` that mean "busy" or "slow", not "cannot": see
#: :meth:`SambaDC.run_kcc_until_inbound_from`. NT status codes as samba-tool prints them.
KCC_TRANSIENT_ERRORS = (
    "3221356597",  # 0xC0020035 EPT_NT_CANT_PERFORM_OP: another KCC run is under way (DS_BUSY)
    "3221225653",  # 0xC00000B5 NT_STATUS_IO_TIMEOUT: the run was killed by a periodic one, no answer came
)
#: Seconds to look for the effect of one KCC run before asking for another
KCC_SETTLE_SECONDS = 5.0
#: How long a join waits for the first DC's KCC to take the new DC in: one samba-tool call whose
#: run a periodic run killed waits 60 s for its RPC timeout, and the periodic run needs its own time.
KCC_DEADLINE_SECONDS = 150.0
#: Python with Samba's bindings (Debian's python3-samba), used to set passwords from stdin
SYSTEM_PYTHON = "/usr/bin/python3"

UF_ACCOUNTDISABLE = 0x0002
UF_NORMAL_ACCOUNT = 0x0200
UF_WORKSTATION_TRUST_ACCOUNT = 0x1000
UF_DONT_EXPIRE_PASSWD = 0x10000

_SET_PASSWORD_SCRIPT = """
import sys
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm
from ldb import binary_encode
lp = LoadParm(); lp.load(sys.argv[1])
db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)
account = binary_encode(sys.argv[3])
db.setpassword("(&(objectClass=user)(sAMAccountName=%s))" % account, sys.stdin.readline().rstrip("\\n"),
               force_change_at_next_login=False)
"""


#: The longest Unix socket Samba's DC makes in its directory (a named pipe's endpoint), and the
#: longest path a Unix socket may have: sun_path is 108 bytes with its NUL (unix(7)).
LONGEST_SOCKET = Path("run", "ncalrpc", "np", "protected_storage")
MAX_SOCKET_PATH = 107


def check_socket_room(workdir: Path, name: str) -> None:
    """Refuse a DC directory whose sockets would not fit in a Unix socket path (Samba would fail
    to start with NT_STATUS_OBJECT_PATH_INVALID and no word of why)."""
    longest = workdir / LONGEST_SOCKET
    if len(str(longest).encode()) > MAX_SOCKET_PATH:
        room = MAX_SOCKET_PATH - len(str(LONGEST_SOCKET).encode()) - 1
        raise SambaError(f"{name}: the directory {workdir} is too long for Samba's sockets: {longest} has "
                         f"{len(str(longest).encode())} bytes, a Unix socket path at most {MAX_SOCKET_PATH}; "
                         f"use a directory of at most {room} bytes (a shorter lab --dir)")


class SambaError(RuntimeError):
    """A Samba DC could not be provisioned, started, reached or changed (the message says which)."""


def _realm_to_dn(realm: str) -> str:
    return ",".join(f"DC={escape_rdn(part)}" for part in realm.lower().split("."))


def _redact(text: str, *secrets: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return "\n".join(line for line in text.splitlines() if "Admin password:" not in line)


def _check_address(address: str, where: str) -> None:
    """A given address must be an IPv4 loopback address already on lo (the caller owns it)."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(f"{where}: address {address!r} is not an IP address") from None
    if not (parsed.version == 4 and parsed.is_loopback):
        raise ValueError(f"{where}: address {address} is not an IPv4 loopback address (127.x.y.z)")
    if address not in addresses.addresses_on_device():
        raise SambaError(f"{where}: address {address} is not on {addresses.DEVICE}; add it first "
                         "or pass address=None to have one allocated")


def _nss_wrapper_path() -> str | None:
    for directory in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"):
        candidate = Path(directory) / NSS_WRAPPER_LIBRARY
        if candidate.exists():
            return str(candidate)
    return None


def _process_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _is_samba_of(pid: int, workdir: Path) -> bool:
    """True if ``pid`` is a samba process with a file of ``workdir`` open (its databases)."""
    try:
        if Path(os.readlink(f"/proc/{pid}/exe")).name != SAMBA:
            return False
        prefix = str(workdir) + os.sep
        return any(os.readlink(fd).startswith(prefix) for fd in Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False


@functools.cache
def samba_version() -> str:
    """``samba --version`` (e.g. ``Version 4.17.12-Debian``)."""
    return subprocess.run([SAMBA, "--version"], capture_output=True, text=True, check=True).stdout.strip()


def _golden(cache_dir: Path, realm: str, netbios: str, name: str) -> Path:
    """The golden provisioned directory for these names, provisioned now if missing.

    Built in a temporary directory and renamed into place under a lock, so concurrent test
    runs build it once and never see a half-made one.
    """
    version = re.sub(r"[^A-Za-z0-9.]+", "_", samba_version())
    key = f"{realm.lower()}-{netbios.upper()}-{name.upper()}-{version}-g{GOLDEN_FORMAT}"
    golden = cache_dir / key
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"{key}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (golden / "etc" / "smb.conf").exists():
            building = Path(tempfile.mkdtemp(prefix=f"{key}.building-", dir=cache_dir))
            try:
                # the address is a placeholder: every copy gets its own in smb.conf
                template = SambaDC(workdir=building, name=name, realm=realm, netbios=netbios, address="127.0.0.1",
                                   admin_password="", hosts_file=building / "etc" / "hosts",
                                   krb5_config=building / "etc" / "krb5.conf", owns_address=False)
                template._run_provision()
                config = building / "etc" / "smb.conf"
                config.write_text(config.read_text().replace(str(building), str(golden)))
                os.rename(building, golden)
            except BaseException:
                shutil.rmtree(building, ignore_errors=True)
                raise
    return golden


@attrs.define(eq=False)
class SambaDC:
    """One Samba AD DC: its work directory, address and (when started) process.

    Build with :meth:`provision` or :meth:`join_second_dc`, not directly.
    """

    workdir: Path
    name: str
    realm: str = attrs.field(converter=str.upper)
    netbios: str = attrs.field(converter=str.upper)
    address: str
    admin_password: str = attrs.field(repr=False)
    #: hosts file (nss_wrapper) and krb5.conf shared by all DCs of this domain
    hosts_file: Path = attrs.field(repr=False)
    krb5_config: Path = attrs.field(repr=False)
    #: True when this object allocated the address and must release it on stop
    owns_address: bool = attrs.field(default=True, repr=False)
    _process: subprocess.Popen | None = attrs.field(default=None, repr=False)
    _log: IO | None = attrs.field(default=None, repr=False)
    #: the other DCs of this domain that this object joined or was joined by
    partners: list["SambaDC"] = attrs.field(factory=list, repr=False)

    # ----- derived names -------------------------------------------------------------
    @property
    def smb_conf(self) -> Path:
        return self.workdir / "etc" / "smb.conf"

    @property
    def sam_ldb(self) -> Path:
        return self.workdir / "private" / "sam.ldb"

    @property
    def log_file(self) -> Path:
        return self.workdir / "samba.log"

    @property
    def run_dir(self) -> Path:
        return self.workdir / "run"

    @property
    def dns_domain(self) -> str:
        return self.realm.lower()

    @property
    def host_name(self) -> str:
        """The DC's DNS name, ``dc1.qrdr.lab``."""
        return f"{self.name.lower()}.{self.dns_domain}"

    @property
    def tls_server_name(self) -> str:
        """The name in the DC's self-made certificate (``DC1.qrdr.lab``): check TLS against it."""
        return f"{self.name.upper()}.{self.dns_domain}"

    @property
    def ca_file(self) -> Path:
        """The CA certificate the DC made on first start; verify LDAPS against it."""
        return self.workdir / "private" / "tls" / "ca.pem"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://{self.address}"

    @property
    def ldap_url(self) -> str:
        """Plain LDAP URL (389): for samba-tool ``-H`` (it signs and seals); simple binds need LDAPS."""
        return f"ldap://{self.address}"

    @property
    def base_dn(self) -> str:
        return _realm_to_dn(self.realm)

    @property
    def config_dn(self) -> str:
        return f"CN=Configuration,{self.base_dn}"

    @property
    def admin_user(self) -> str:
        return f"Administrator@{self.realm}"

    @property
    def pid(self) -> int | None:
        """The samba process id while it runs (from this object or the pid file)."""
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        pid_file = self.run_dir / "samba.pid"
        try:
            pid = int(pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None
        # a stale pid file may name a pid that now belongs to another process: never signal that
        return pid if _process_alive(pid) and _is_samba_of(pid, self.workdir) else None

    # ----- provisioning ----------------------------------------------------------------
    @classmethod
    def provision(cls, workdir: os.PathLike | str, realm: str = "qrdr.lab", netbios: str = "QRDR",
                  admin_password: str = "", address: str | None = None, name: str = "DC1",
                  cache_dir: os.PathLike | str | None = None) -> "SambaDC":
        """Provision a new domain (first DC) in ``workdir`` (created; must be empty or absent).

        ``address=None`` allocates a loopback address (released by :meth:`stop`); a given
        address must already be on ``lo`` and stays there. Not started: call :meth:`start`.

        With ``cache_dir`` the domain is provisioned once per (realm, netbios, name, Samba
        version) into a "golden" directory there and copied into ``workdir``: the copy gets
        its own paths, address and administrator password, and makes its own TLS keys on first
        start. Copies of one golden share the domain SID, GUIDs and machine secrets, so they
        must never meet in one domain (they are separate lab domains).
        """
        if not admin_password:
            raise ValueError("SambaDC.provision: admin_password is required (AD complexity rules apply)")
        workdir = Path(workdir).absolute()
        check_socket_room(workdir, name)
        if workdir.exists() and any(workdir.iterdir()):
            raise SambaError(f"cannot provision into {workdir}: directory is not empty")
        if address is not None:
            _check_address(address, f"SambaDC.provision of {name}")
        owns_address = address is None
        if address is None:
            address = addresses.allocate(purpose=f"samba {name} {workdir}")
        try:
            dc = cls(workdir=workdir, name=name, realm=realm, netbios=netbios, address=address,
                     admin_password=admin_password, hosts_file=workdir / "etc" / "hosts",
                     krb5_config=workdir / "etc" / "krb5.conf", owns_address=owns_address)
            if cache_dir is None:
                workdir.mkdir(parents=True, exist_ok=True)
                dc._run_provision()
            else:
                dc._copy_from_golden(_golden(Path(cache_dir), realm, netbios, name))
            dc._set_password_locally("Administrator", admin_password)
            dc._write_domain_files(extra_dcs=[])
        except BaseException:
            if owns_address:
                addresses.release(address)
            raise
        return dc

    def _copy_from_golden(self, golden: Path) -> None:
        """Copy a golden provisioned directory here and point its smb.conf at this DC."""
        if self.workdir.exists():
            self.workdir.rmdir()  # checked empty by provision
        shutil.copytree(golden, self.workdir, symlinks=True)
        config = self.smb_conf.read_text().replace(str(golden), str(self.workdir))
        config = re.sub(r"(?m)^(\s*interfaces\s*=).*$", lambda match: f"{match.group(1)} {self.address}", config)
        self.smb_conf.write_text(config)

    def _instance_options(self) -> list[str]:
        options = {
            "interfaces": self.address,
            "bind interfaces only": "yes",
            "server services": SERVER_SERVICES,
            "pid directory": str(self.run_dir),
            "ncalrpc dir": str(self.run_dir / "ncalrpc"),
            "winbindd socket directory": str(self.run_dir / "winbindd"),
            "ntp signd socket directory": str(self.run_dir / "ntp_signd"),
            # Samba notifies partners of changes every 5 s by default; 2 s keeps tests that
            # wait for replication short while a change still takes visible time to arrive.
            "dreplsrv:notify_interval": str(REPLICATION_NOTIFY_SECONDS),
            # AD's intra-site schedule pulls once an hour, Samba every 5 minutes: shortened as the
            # notify interval is, so that a missed notification costs seconds, not minutes.
            "dreplsrv:periodic_interval": str(REPLICATION_PERIODIC_SECONDS),
            "log file": str(self.workdir / "log.%m"),
            "logging": "file",
        }
        return [f"--option={key}={value}" for key, value in options.items()]

    def _run_provision(self) -> None:
        started = time.monotonic()
        self._run([SAMBA_TOOL, "domain", "provision", f"--targetdir={self.workdir}", f"--realm={self.realm}",
                   f"--domain={self.netbios}", "--server-role=dc", "--dns-backend=NONE",
                   f"--host-name={self.name.lower()}", *self._instance_options()],
                  what=f"provision of {self.name} in {self.workdir}")
        self.run_dir.mkdir(exist_ok=True)
        # dnsupdate is off, so nothing else registers the DC's replication SPN
        # (E3514235-.../<ntdsGUID>/<realm>) that a second DC's Kerberos needs
        self.update_spns()
        logger.info("provisioned {} ({}) in {:.1f} s", self.name, self.realm, time.monotonic() - started)

    def _set_password_locally(self, account: str, password: str) -> None:
        """Set an account's password in sam.ldb directly (DC stopped), the password via stdin."""
        self._run([SYSTEM_PYTHON, "-c", _SET_PASSWORD_SCRIPT, str(self.smb_conf), str(self.sam_ldb), account],
                  what=f"setting the password of {account} on {self.name}", stdin_text=password + "\n")

    def _run(self, argv: Sequence[str], what: str, stdin_text: str | None = None,
             env: dict | None = None, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(list(argv), input=stdin_text if stdin_text is not None else "",
                                capture_output=True, text=True, env=env or self._env(), check=False)
        if check and result.returncode != 0:
            detail = _redact((result.stderr or result.stdout).strip()[-2000:], self.admin_password)
            raise SambaError(f"{what} failed (exit {result.returncode}): {detail}")
        return result

    # ----- domain-wide files: hosts (nss_wrapper) and krb5.conf ------------------------
    def ntds_guid(self) -> str:
        """objectGUID of this DC's NTDS Settings object, read from its own sam.ldb."""
        dn = (f"CN=NTDS Settings,CN={escape_rdn(self.name.upper())},CN=Servers,CN=Default-First-Site-Name,"
              f"CN=Sites,{self.config_dn}")
        entries = ldbsearch(self, "(objectClass=nTDSDSA)", ["objectGUID"], base=dn, scope="base")
        if not entries or "objectGUID" not in entries[0]:
            raise SambaError(f"no NTDS Settings object for {self.name} in {self.sam_ldb}")
        return entries[0]["objectGUID"][0]

    def _hosts_lines(self) -> list[str]:
        return [f"{self.address} {self.host_name} {self.tls_server_name} {self.name.lower()}",
                f"{self.address} {self.ntds_guid()}._msdcs.{self.dns_domain}"]

    def _write_domain_files(self, extra_dcs: Iterable["SambaDC"]) -> None:
        dcs = [self, *extra_dcs]
        lines = [line for dc in dcs for line in dc._hosts_lines()]
        lines.append(f"{self.address} {self.dns_domain}")
        self.hosts_file.write_text("\n".join(lines) + "\n")
        kdcs = "\n".join(f"        kdc = {dc.address}" for dc in dcs)
        realm_block = "{\n" + kdcs + f"\n        admin_server = {self.address}\n    }}"
        self.krb5_config.write_text(
            "[libdefaults]\n"
            f"    default_realm = {self.realm}\n"
            "    dns_lookup_realm = false\n"
            "    dns_lookup_kdc = false\n"
            "    rdns = false\n"
            "[realms]\n"
            f"    {self.realm} = {realm_block}\n"
            f"    {self.dns_domain} = {realm_block}\n"
            "[domain_realm]\n"
            f"    .{self.dns_domain} = {self.realm}\n"
            f"    {self.dns_domain} = {self.realm}\n")

    def _env(self, password: str | None = None) -> dict:
        env = {key: value for key, value in os.environ.items()
               if key not in ("PASSWD", "PASSWD_FD", "PASSWD_FILE", "KRB5CCNAME")}
        env["KRB5_CONFIG"] = str(self.krb5_config)
        env["KRB5CCNAME"] = f"MEMORY:qrdr-lab-{self.name}"
        wrapper = _nss_wrapper_path()
        if wrapper and self.hosts_file.exists():
            env["LD_PRELOAD"] = wrapper
            env["NSS_WRAPPER_HOSTS"] = str(self.hosts_file)
        if password is not None:
            env["PASSWD"] = password
        return env

    # ----- process ---------------------------------------------------------------------
    def start(self, exit_with_parent: bool = True) -> None:
        """Start samba (one process) on this DC's address. Returns at once: see :meth:`wait_ready`.

        With ``exit_with_parent`` (default) samba runs interactively on a stdin pipe that this
        object holds and ends when the pipe closes, i.e. when this Python process ends.
        """
        if self.pid is not None:
            raise SambaError(f"{self.name} is already running (pid {self.pid})")
        if self.address not in addresses.addresses_on_device():
            if not self.owns_address:
                raise SambaError(f"address {self.address} of {self.name} is not on lo")
            addresses.claim(self.address, purpose=f"samba {self.name} {self.workdir}")
        self.run_dir.mkdir(exist_ok=True)
        argv = [SAMBA, "-s", str(self.smb_conf), "--debug-stdout", "-M", "single"]
        argv.append("-i" if exit_with_parent else "-F")
        self._log = open(self.log_file, "ab")
        self._process = subprocess.Popen(
            argv, stdin=subprocess.PIPE if exit_with_parent else subprocess.DEVNULL,
            stdout=self._log, stderr=subprocess.STDOUT, env=self._env(), start_new_session=True)
        if self.owns_address and not exit_with_parent:
            addresses.set_owner(self.address, self._process.pid)
        logger.info("started {} on {} (pid {})", self.name, self.address, self._process.pid)

    def _ldap_connection(self, user: str, password: str, timeout: float = 5.0) -> ldap3.Connection:
        return ldap3.Connection(self.ldap_server(timeout), user=user, password=password, raise_exceptions=False,
                                receive_timeout=max(1, int(timeout)))

    def ldap_server(self, timeout: float = 5.0) -> ldap3.Server:
        """An ldap3 Server for this DC over LDAPS, certificate checked against :attr:`ca_file`."""
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(self.ca_file),
                        valid_names=[self.tls_server_name, self.host_name])
        return ldap3.Server(self.address, port=636, use_ssl=True, tls=tls, connect_timeout=max(1, int(timeout)),
                            get_info=ldap3.NONE)

    def connect(self, user: str | None = None, password: str | None = None) -> ldap3.Connection:
        """A bound ldap3 connection (simple bind over LDAPS); default: the administrator."""
        user = user or self.admin_user
        password = self.admin_password if password is None else password
        connection = self._ldap_connection(user, password)
        try:
            bound = connection.bind()
        except LDAPException as error:
            raise SambaError(f"cannot reach {self.name} at {self.ldaps_url}: {error}") from None
        if not bound:
            raise SambaError(f"bind as {user} to {self.name} at {self.ldaps_url} failed: "
                             f"{connection.result.get('description')} {connection.result.get('message')}")
        return connection

    def wait_ready(self, timeout: float = 30.0) -> float:
        """Wait until the administrator can bind over LDAPS; returns the seconds waited.

        Raises :class:`SambaError` with the log's tail if samba exits or the deadline passes.
        """
        started = time.monotonic()
        deadline = started + timeout
        last_error = "no attempt"
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise SambaError(f"{self.name} exited with {self._process.returncode} before it was ready; "
                                 f"log {self.log_file}:\n{self._log_tail()}")
            if self.ca_file.exists():
                try:
                    connection = self._ldap_connection(self.admin_user, self.admin_password, timeout=2.0)
                    if connection.bind():
                        connection.unbind()
                        return time.monotonic() - started
                    last_error = f"bind refused: {connection.result.get('description')}"
                except LDAPException as error:
                    last_error = str(error)
            if time.monotonic() > deadline:
                raise SambaError(f"{self.name} at {self.ldaps_url} not ready after {timeout:.0f} s "
                                 f"({last_error}); log {self.log_file}:\n{self._log_tail()}")
            time.sleep(0.1)

    def _log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def rss_kib(self) -> int | None:
        """Resident memory of the samba process in KiB (None when not running)."""
        pid = self.pid
        if pid is None:
            return None
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM samba, wait for it (SIGKILL after ``timeout``), release an owned address."""
        pid = self.pid
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + timeout
            while _process_alive(pid) and time.monotonic() < deadline:
                if self._process is not None and self._process.pid == pid:
                    try:
                        self._process.wait(0.05)
                    except subprocess.TimeoutExpired:
                        pass
                else:
                    time.sleep(0.05)
            if _process_alive(pid):
                logger.warning("{} (pid {}) ignored SIGTERM for {} s; killing it", self.name, pid, timeout)
                try:
                    os.killpg(pid, signal.SIGKILL)  # its own session (start_new_session): helpers too
                except (ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
                if self._process is not None:
                    self._process.wait(5)
        if self._process is not None:
            if self._process.stdin:
                self._process.stdin.close()
            if self._process.poll() is None:
                self._process.wait(5)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.owns_address:
            addresses.release(self.address)
        logger.info("stopped {}", self.name)

    def destroy(self) -> None:
        """Stop and remove the work directory."""
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # ----- samba-tool ------------------------------------------------------------------
    def samba_tool(self, *args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """Run ``samba-tool ARGS`` as the domain administrator (password via environment).

        Credentials and this DC's smb.conf are added; the caller names the target where the
        subcommand wants one (``-H dc.ldap_url``, or the address for ``drs`` commands).
        Raises :class:`SambaError` (output redacted) when it fails and ``check`` is true.
        """
        process = self._samba_tool_process(*args)
        try:
            output, errors = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise SambaError(f"samba-tool {' '.join(args)} against {self.name} took over {timeout:.0f} s") from None
        result = subprocess.CompletedProcess(process.args, process.returncode, output, errors)
        if check and result.returncode != 0:
            detail = _redact((result.stderr or result.stdout).strip()[-2000:], self.admin_password)
            raise SambaError(f"samba-tool {' '.join(args)} against {self.name} failed "
                             f"(exit {result.returncode}): {detail}")
        return result

    def _samba_tool_process(self, *args: str) -> subprocess.Popen:
        argv = [SAMBA_TOOL, *args, f"--configfile={self.smb_conf}", f"--username={self.netbios}\\Administrator",
                "--use-kerberos=off"]
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env=self._env(password=self.admin_password))

    # ----- second DC and replication ---------------------------------------------------
    def join_second_dc(self, workdir: os.PathLike | str, name: str = "DC2", address: str | None = None,
                       timeout: float = 60.0, exit_with_parent: bool = True) -> "SambaDC":
        """Join another DC to this domain in ``workdir``, start it and wait until it is ready.

        This DC must be running. The domain's hosts file and krb5.conf gain the new DC (the
        running DC rereads the hosts file through nss_wrapper when it changes). On return
        both DCs know each other as replication partners, in both directions.
        ``address`` and ``exit_with_parent`` mean what they mean for :meth:`provision` and
        :meth:`start`.
        """
        workdir = Path(workdir).absolute()
        check_socket_room(workdir, name)
        if workdir.exists() and any(workdir.iterdir()):
            raise SambaError(f"cannot join {name} into {workdir}: directory is not empty")
        if _nss_wrapper_path() is None:
            raise SambaError(f"cannot join {name}: {NSS_WRAPPER_LIBRARY} not found (Debian package libnss-wrapper; "
                             "scripts/install-system-deps.sh installs it)")
        if address is not None:
            _check_address(address, f"join of {name}")
        workdir.mkdir(parents=True, exist_ok=True)
        owns_address = address is None
        if address is None:
            address = addresses.allocate(purpose=f"samba {name} {workdir}")
        second = SambaDC(workdir=workdir, name=name, realm=self.realm, netbios=self.netbios, address=address,
                         admin_password=self.admin_password, hosts_file=self.hosts_file,
                         krb5_config=self.krb5_config, owns_address=owns_address)
        try:
            started = time.monotonic()
            self._run([SAMBA_TOOL, "domain", "join", self.dns_domain, "DC", f"--server={self.address}",
                       f"--targetdir={workdir}", "--dns-backend=NONE", f"--username={self.netbios}\\Administrator",
                       f"--option=netbios name={name.upper()}", *second._instance_options()],
                      what=f"join of {name} to {self.realm} via {self.name}",
                      env=self._env(password=self.admin_password))
            second.run_dir.mkdir(exist_ok=True)
            logger.info("joined {} in {:.1f} s", name, time.monotonic() - started)
            second.update_spns()
            self._write_domain_files(extra_dcs=[second])
            second.start(exit_with_parent=exit_with_parent)
            second.wait_ready(timeout)
            # Without a KCC run now the first DC learns of its new partner only at its next one
            # (every 5 minutes), and changes made on the new DC would not flow back until then;
            # ... and a first pull from the new DC makes it notify this one of its changes.
            self.run_kcc_until_inbound_from(second, timeout=max(timeout, KCC_DEADLINE_SECONDS))
            self.replicate_now(second)
            self.partners.append(second)
            second.partners.append(self)
        except BaseException:
            second.stop()
            raise
        return second

    def inbound_partners(self) -> dict[str, set[str]]:
        """The DSAs this DC pulls each naming context from: NC DN -> objectGUIDs of its repsFrom
        (``samba-tool drs showrepl --json``, which asks the DC itself over DRS)."""
        shown = json.loads(self.samba_tool("drs", "showrepl", self.address, "--json").stdout)
        partners: dict[str, set[str]] = {}
        for neighbour in shown.get("repsFrom", []):
            if not neighbour.get("is deleted"):
                partners.setdefault(str(neighbour["NC dn"]).lower(), set()).add(str(neighbour["DSA objectGUID"]))
        return partners

    def run_kcc_until_inbound_from(self, partner: "SambaDC", timeout: float = 60.0) -> float:
        """Run this DC's KCC (``samba-tool drs kcc``) until it pulls every naming context from ``partner``.

        Returns the seconds it took. What counts is the outcome, this DC's repsFrom naming the
        partner, not the call's answer. Samba's KCC task runs one samba_kcc child at a time, and
        its periodic run (15 s after samba starts, then every 5 minutes) meets a manual one in
        two ways (source4/dsdb/kcc/kcc_service.c and kcc_periodic.c, Samba 4.17):

        * a manual run asked for while another run is under way is refused: NT_STATUS_DS_BUSY,
          which samba-tool shows as ``(3221356597, 'The operation cannot be performed.')``
          (EPT_NT_CANT_PERFORM_OP, the DCERPC fault the forwarded call ends in);
        * a periodic run that starts while a manual one is under way kills the manual child
          ("kill any existing child"), whose caller then never gets an answer: samba-tool gives
          up after its 60 s RPC timeout with ``(3221225653, '{Device Timeout} ...')``
          (NT_STATUS_IO_TIMEOUT).

        A join that takes longer on a loaded machine lands its KCC call in that window. Both
        answers leave the KCC working (the periodic run computes the same topology), so only
        they are retried, until ``timeout``; any other failure raises at once. The KCC of a
        real AD is asynchronous too (repadmin /kcc only asks for a run).
        Raises :class:`SambaError` naming the last answer when the deadline passes.
        """
        started = time.monotonic()
        deadline = started + timeout
        guid = partner.ntds_guid()
        contexts = [nc.lower() for nc in (self.base_dn, self.config_dn, f"CN=Schema,{self.config_dn}")]

        def pulls_from_partner() -> bool:
            partners = self.inbound_partners()
            return all(guid in partners.get(nc, set()) for nc in contexts)

        last = "no attempt"
        while True:
            result = self.samba_tool("drs", "kcc", self.address, check=False)
            if result.returncode == 0:
                last = "the KCC run ended without error"
            else:
                answer = _redact((result.stderr or result.stdout).strip()[-500:], self.admin_password)
                if not any(code in answer for code in KCC_TRANSIENT_ERRORS):
                    raise SambaError(f"samba-tool drs kcc {self.address} against {self.name} failed "
                                     f"(exit {result.returncode}): {answer}")
                last = answer
                logger.info("KCC of {} answered {}; looking for {} in its partners before asking again",
                            self.name, answer.splitlines()[-1] if answer else "nothing", partner.name)
            # Finished, or going on in the background: look for its effect a while before asking again.
            look_until = min(time.monotonic() + KCC_SETTLE_SECONDS, deadline)
            while True:
                if pulls_from_partner():
                    return time.monotonic() - started
                if time.monotonic() >= look_until:
                    break
                time.sleep(0.5)
            if time.monotonic() >= deadline:
                raise SambaError(f"{self.name} does not replicate from {partner.name} ({guid}) after "
                                 f"{timeout:.0f} s of KCC runs; last answer of samba-tool drs kcc: {last}")

    def update_spns(self) -> None:
        """Register the DC's own SPNs (``samba_spnupdate`` on its sam.ldb; running or not)."""
        self._run(["samba_spnupdate", "-s", str(self.smb_conf)], what=f"samba_spnupdate on {self.name}")

    def replicate_now(self, from_dc: "SambaDC") -> None:
        """Pull every naming context (domain, configuration, schema) from ``from_dc`` now.

        One ``samba-tool drs replicate`` per naming context, run side by side (each spends
        most of its second starting Python). Raises :class:`SambaError` naming the first
        naming context that failed.
        """
        naming_contexts = (self.base_dn, self.config_dn, f"CN=Schema,{self.config_dn}")
        # --add-ref: the source also records this DC as one to notify of its changes (repsTo)
        runs = [(context, self._samba_tool_process("drs", "replicate", self.address, from_dc.name.upper(), context,
                                                   "--add-ref"))
                for context in naming_contexts]
        failures = []
        for context, process in runs:
            output, errors = process.communicate(timeout=120)
            if process.returncode != 0:
                failures.append((context, process.returncode, errors or output))
        if failures:
            context, code, detail = failures[0]
            raise SambaError(f"samba-tool drs replicate {self.address} {from_dc.name.upper()} {context} against "
                             f"{self.name} failed (exit {code}): "
                             f"{_redact(detail.strip()[-2000:], self.admin_password)}")

    def _dsa_option(self, option: str) -> None:
        self.samba_tool("drs", "options", self.address, f"--dsa-option={option}")

    def pause_inbound_replication(self) -> None:
        """Stop this DC from taking changes from its partners (DISABLE_INBOUND_REPL)."""
        self._dsa_option("+DISABLE_INBOUND_REPL")

    def resume_inbound_replication(self, from_dcs: Sequence["SambaDC"] | None = None) -> None:
        """Take changes again, and pull at once from ``from_dcs`` (default: :attr:`partners`).

        Without the pull a resumed DC would wait for the next change notification.
        """
        self._dsa_option("-DISABLE_INBOUND_REPL")
        for partner in self.partners if from_dcs is None else from_dcs:
            self.replicate_now(partner)

    def dsa_options(self) -> str:
        """``samba-tool drs options`` output for this DC (e.g. ``Current DSA options: IS_GC``)."""
        return self.samba_tool("drs", "options", self.address).stdout.strip()


# ----- independent reads ---------------------------------------------------------------
def ldbsearch(dc: SambaDC, ldap_filter: str, attributes: Sequence[str] = (), base: str | None = None,
              scope: str = "sub") -> list[dict[str, list[str]]]:
    """Search the DC's sam.ldb file directly with ``ldbsearch`` (not through LDAP).

    Independent truth for tests. Returns entries as {"dn": [dn], attr: [values]}; base64
    values are decoded, objectGUID is given in its string form.
    """
    argv = [LDBSEARCH, "-H", str(dc.sam_ldb), "--scope", scope, "--show-binary"]
    if base:
        argv += ["-b", base]
    argv += [ldap_filter, *attributes]
    result = subprocess.run(argv, capture_output=True, text=True, check=False, env=dc._env())
    if result.returncode != 0:
        raise SambaError(f"ldbsearch {ldap_filter!r} on {dc.sam_ldb} failed: {result.stderr.strip()}")
    return _parse_ldif(result.stdout)


def _parse_ldif(text: str) -> list[dict[str, list[str]]]:
    """Entries of LDIF text: folded lines joined, ``::`` values base64-decoded, comments skipped."""
    logical_lines: list[str] = []
    for line in text.splitlines():
        if line.startswith(" ") and logical_lines and logical_lines[-1]:
            logical_lines[-1] += line[1:]
        else:
            logical_lines.append(line)
    entries: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] | None = None
    for line in logical_lines + [""]:
        if line.startswith("#") or not line.strip():
            if current is not None:
                entries.append(current)
                current = None
            continue
        key, _, value = line.partition(":")
        if value.startswith(":"):
            value = base64.b64decode(value[1:].strip()).decode("utf-8", "replace")
        else:
            value = value.strip()
        if key == "dn":
            current = {"dn": [value]}
        elif current is not None:
            current.setdefault(key, []).append(value)
    return entries


# ----- content: Exchange tree, computers, users ------------------------------------------
def _add_if_missing(connection: ldap3.Connection, dn: str, object_class: str | list[str],
                    attributes: dict | None = None) -> bool:
    """Add an entry; True if added, False if it was there already. Other failures raise."""
    if connection.add(dn, object_class, attributes or {}):
        return True
    if connection.result.get("result") == 68:  # entryAlreadyExists
        return False
    raise SambaError(f"cannot add {dn}: {connection.result.get('description')} {connection.result.get('message')}")


def exchange_dns(dc: SambaDC, organization: str, administrative_group: str, server: str | None = None) -> dict:
    """DNs of the Exchange configuration tree (escaped per RFC 4514)."""
    exchange = f"CN=Microsoft Exchange,CN=Services,{dc.config_dn}"
    org = f"CN={escape_rdn(organization)},{exchange}"
    groups = f"CN=Administrative Groups,{org}"
    group = f"CN={escape_rdn(administrative_group)},{groups}"
    servers = f"CN=Servers,{group}"
    dns = {"exchange": exchange, "organization": org, "administrative_groups": groups,
           "administrative_group": group, "servers": servers}
    if server is not None:
        server_dn = f"CN={escape_rdn(server)},{servers}"
        information_store = f"CN=InformationStore,{server_dn}"
        storage_group = f"CN=First Storage Group,{information_store}"
        dns.update(server=server_dn, information_store=information_store, storage_group=storage_group,
                   mailbox_store=f"CN={escape_rdn(f'Mailbox Store ({server})')},{storage_group}",
                   public_store=f"CN={escape_rdn(f'Public Folder Store ({server})')},{storage_group}")
    return dns


def populate_exchange(dc: SambaDC, organization: str, administrative_group: str, servers: Sequence[str]) -> dict:
    """Create the Exchange organization tree with the given servers and their stores.

    Every level is a ``container`` (the lab has no Exchange schema; LAB.md). Idempotent:
    existing entries are kept. Returns the DNs of the tree (see :func:`exchange_dns`).
    """
    connection = dc.connect()
    try:
        tree = exchange_dns(dc, organization, administrative_group)
        for key in ("exchange", "organization", "administrative_groups", "administrative_group", "servers"):
            _add_if_missing(connection, tree[key], "container")
        for server in servers:
            server_tree = exchange_dns(dc, organization, administrative_group, server)
            for key in ("server", "information_store", "storage_group", "mailbox_store", "public_store"):
                _add_if_missing(connection, server_tree[key], "container")
            tree.setdefault("servers_dn", {})[server] = server_tree["server"]
        return tree
    finally:
        connection.unbind()


def _unicode_pwd(password: str) -> bytes:
    return f'"{password}"'.encode("utf-16-le")


def computer_dn(dc: SambaDC, name: str) -> str:
    return f"CN={escape_rdn(name)},CN=Computers,{dc.base_dn}"


def add_computer(dc: SambaDC, name: str, password: str | None = None, enabled: bool = True) -> str:
    """Create computer account ``NAME$`` in CN=Computers and return its DN.

    Sets dNSHostName ``name.<realm>``, userAccountControl WORKSTATION_TRUST_ACCOUNT (plus
    ACCOUNTDISABLE unless ``enabled``), HOST/ SPNs, and ``password`` through unicodePwd over
    LDAPS when given. Fails (SambaError) if the account exists.
    """
    if not name or len(name) > 15 or name.endswith("$"):
        raise ValueError(f"add_computer: computer name {name!r} must be 1-15 characters without '$'")
    dn = computer_dn(dc, name)
    host = f"{name.lower()}.{dc.dns_domain}"
    control = UF_WORKSTATION_TRUST_ACCOUNT | (0 if enabled else UF_ACCOUNTDISABLE)
    attributes = {"sAMAccountName": f"{name.upper()}$", "dNSHostName": host, "userAccountControl": str(control),
                  "servicePrincipalName": [f"HOST/{name.upper()}", f"HOST/{host}"]}
    if password is not None:
        attributes["unicodePwd"] = _unicode_pwd(password)
    connection = dc.connect()
    try:
        if not connection.add(dn, ["top", "person", "organizationalPerson", "user", "computer"], attributes):
            raise SambaError(f"cannot add computer {name} ({dn}) on {dc.name}: "
                             f"{connection.result.get('description')} {connection.result.get('message')}")
    finally:
        connection.unbind()
    return dn


def add_user(dc: SambaDC, name: str, password: str, enabled: bool = True) -> str:
    """Create user ``name`` in CN=Users with ``password`` (over LDAPS) and return its DN."""
    dn = f"CN={escape_rdn(name)},CN=Users,{dc.base_dn}"
    control = UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD | (0 if enabled else UF_ACCOUNTDISABLE)
    attributes = {"sAMAccountName": name, "userPrincipalName": f"{name}@{dc.realm}",
                  "unicodePwd": _unicode_pwd(password), "userAccountControl": str(control)}
    connection = dc.connect()
    try:
        if not connection.add(dn, ["top", "person", "organizationalPerson", "user"], attributes):
            raise SambaError(f"cannot add user {name} ({dn}) on {dc.name}: "
                             f"{connection.result.get('description')} {connection.result.get('message')}")
    finally:
        connection.unbind()
    return dn


def find_account(dc: SambaDC, sam_account_name: str,
                 attributes: Sequence[str] = ("distinguishedName",)) -> dict | None:
    """The entry (ldap3 JSON-like attributes dict) of an account by sAMAccountName, or None."""
    connection = dc.connect()
    try:
        connection.search(dc.base_dn, f"(sAMAccountName={escape_filter_chars(sam_account_name)})",
                          attributes=list(attributes))
        return dict(connection.response[0]["attributes"]) if connection.entries else None
    finally:
        connection.unbind()
