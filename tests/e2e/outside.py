"""Looking at a lab site from outside qrdr: plain pypsrp for the hosts, ldap3 and samba-tool for the directory.

Nothing here imports qrdr's remote or directory layers: a test proves what qrdr
did with the tools an admin (or another program) would use.
"""

from __future__ import annotations

import re
from typing import Any

import ldap3
from ldap3.protocol.formatters.formatters import format_sid
from pypsrp.complex_objects import PSCredential
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

# Only for the text of qrdr's store scripts as it sends them (their shared fragments put in);
# everything read here is read over plain pypsrp and ldap3.
from qrdr.remote.scripts import load_script

FULL_CONTROL_SDDL = "RPWPCRCCDCLCLORCWOWDSDDTSW"


def _properties(obj: Any) -> Any:
    if not hasattr(obj, "adapted_properties"):
        return obj
    return {**obj.adapted_properties, **obj.extended_properties}


class Outside:
    """What a lab site looks like to pypsrp and ldap3, by host key (e.g. "standby")."""

    def __init__(self, lab: Any):
        self.lab = lab
        self.site = lab.bound_site
        self.password = lab.environment()["QRDR_LAB_AD_PASSWORD"]
        self.local_password = lab.environment()["QRDR_LAB_LOCAL_PASSWORD"]

    # -- hosts ----------------------------------------------------------------------------

    def run(self, key: str, build, *, local: bool = False) -> list[Any]:
        """Run one pipeline for host ``key``; a Windows 2000 host through its management host, where
        ``build(shell, computer)`` names it and passes :meth:`credential` (no second hop without it)."""
        host = self.site.hosts[key]
        target = None
        if host.via is not None:
            target, host = key, self.site.hosts[host.via]
        user = "Administrator" if local else host.winrm.user
        return self._invoke(host, user, self.local_password if local else self.password, build,
                            self.computer_of(target) if target else None, exchange_keys=target is not None)

    #: An observer's reads are retried after a connection error, as an admin runs a command again
    #: when the connection broke (a busy CI machine): what they see of the site does not change.
    RECONNECTION_RETRIES = 2

    def _invoke(self, host: Any, user: str, password: str, build, computer: str | None, *,
                exchange_keys: bool) -> list[Any]:
        wsman = WSMan(host.address, port=host.winrm.port, ssl=True, username=user, password=password,
                      cert_validation=host.winrm.ca_file, auth="ntlm",
                      reconnection_retries=self.RECONNECTION_RETRIES, reconnection_backoff=1.0)
        with RunspacePool(wsman) as pool:
            if exchange_keys:
                pool.exchange_keys()  # a PSCredential's password travels as a SecureString
            shell = PowerShell(pool)
            build(shell, computer)
            output = shell.invoke()
            assert not shell.had_errors, [str(e) for e in shell.streams.error]
        return [_properties(item) for item in output]

    def credential(self, computer: str) -> PSCredential:
        """The account to act on a Windows 2000 host with: the domain administrator, or, while the
        host is out of the domain, its own local administrator."""
        lab_host = next(h for h in self.lab.hosts.values() if h.name.lower() == computer.lower())
        if lab_host.part_of_domain:
            return PSCredential(username=f"{self.site.domain.netbios_name}\\Administrator", password=self.password)
        return PSCredential(username=f"{computer}\\Administrator", password=self.local_password)

    def net_use(self, shell: PowerShell, computer: str) -> None:
        """A statement of its own first: ``net use \\\\X\\IPC$`` with the account, for its share."""
        credential = self.credential(computer)
        shell.add_cmdlet("net").add_argument("use").add_argument(f"\\\\{computer}\\IPC$")
        shell.add_argument(credential.password).add_argument(f"/user:{credential.username}")
        shell.add_cmdlet("Out-Null").add_statement()

    def computer_of(self, key: str) -> str:
        """The name a Windows 2000 host answers to now (the lab knows its simulated host)."""
        return self.lab.hosts[key].name

    def wmi(self, key: str, wmi_class: str, *, local: bool = False, **filters: str) -> list[dict[str, Any]]:
        def build(shell, computer):
            shell.add_cmdlet("Get-WmiObject").add_parameter("Class", wmi_class)
            for name, value in filters.items():
                shell.add_parameter(name, value)
            if computer:
                shell.add_parameter("ComputerName", computer).add_parameter("Credential", self.credential(computer))
        return self.run(key, build, local=local)

    def path_exists(self, key: str, path: str) -> bool:
        """Test-Path of a local path (``C:\\...``); a Windows 2000 host's through its admin share."""
        def build(shell, computer):
            if computer:
                self.net_use(shell, computer)
            shown = f"\\\\{computer}\\{path[0]}$" + path[2:] if computer else path
            shell.add_cmdlet("Test-Path").add_parameter("Path", shown)
        return bool(self.run(key, build)[0])

    def registry_key_exists(self, key: str, path: str) -> bool:
        """Whether ``HKLM:\\...`` exists: Test-Path, or StdRegProv.EnumKey for a Windows 2000 host."""
        def build(shell, computer):
            if computer:
                shell.add_cmdlet("Invoke-WmiMethod").add_parameter("Namespace", "root\\default")
                shell.add_parameter("Class", "StdRegProv").add_parameter("Name", "EnumKey")
                shell.add_parameter("ArgumentList", ["2147483650", path.split("\\", 1)[1]])
                shell.add_parameter("ComputerName", computer).add_parameter("Credential", self.credential(computer))
            else:
                shell.add_cmdlet("Test-Path").add_parameter("Path", path)
        found = self.run(key, build)[0]
        return found.get("ReturnValue") == 0 if isinstance(found, dict) else bool(found)

    def computer(self, key: str) -> dict[str, Any]:
        return self.wmi(key, "Win32_ComputerSystem")[0]

    def services(self, key: str, names: list[str]) -> dict[str, tuple[str, str]]:
        rows = self.wmi(key, "Win32_Service", Filter=" OR ".join(f"Name='{n}'" for n in names))
        return {row["Name"]: (row["State"], row["StartMode"]) for row in rows}

    def store_script(self, key: str, file_name: str, **parameters: Any) -> list[dict[str, Any]]:
        """One of qrdr's CDOEXM scripts with ``parameters``, as an admin would send it: with the domain
        account it binds to the directory as (the session has no credentials of its own for it)."""
        text = load_script("qrdr.plugins.common", f"scripts/{file_name}").text

        def build(shell, computer):
            shell.add_script(text)
            if computer:
                shell.add_parameter("ComputerName", computer)
            shell.add_parameter("UserName", f"{self.site.domain.netbios_name}\\Administrator")
            shell.add_parameter("Password", self.password)
            for name, value in parameters.items():
                shell.add_parameter(name, value)
        host = self.site.hosts[key]
        if host.via is None:
            return self.run(key, build)
        # the store script runs on the management host and names the Windows 2000 server
        management = self.site.hosts[host.via]
        return self._invoke(management, management.winrm.user, self.password, build, self.computer_of(key),
                            exchange_keys=False)

    def stores(self, key: str) -> list[dict[str, Any]]:
        return self.store_script(key, "get_exchange_store.ps1")

    def ip_addresses(self, key: str) -> list[str]:
        rows = self.wmi(key, "Win32_NetworkAdapterConfiguration", Filter="IPEnabled=TRUE")
        found = []
        for row in rows:
            value = row.get("IPAddress") or []
            found += list(value) if isinstance(value, (list, tuple)) else [value]
        return [str(v) for v in found]

    # -- directory ------------------------------------------------------------------------

    def ldap(self) -> ldap3.Connection:
        return self.lab.dc.connect()

    def account(self, name: str) -> dict[str, Any] | None:
        connection = self.ldap()
        try:
            connection.search(self.lab.dc.base_dn, f"(sAMAccountName={ldap3.utils.conv.escape_filter_chars(name)}$)",
                              attributes=["objectSid", "pwdLastSet", "dNSHostName", "userAccountControl"])
            if not connection.entries:
                return None
            entry = connection.entries[0]
            sid = entry.objectSid.raw_values[0]
            return {"dn": entry.entry_dn, "sid": format_sid(sid) if isinstance(sid, bytes) else str(sid),
                    "pwdLastSet": int(entry.pwdLastSet.raw_values[0]), "dNSHostName": entry.dNSHostName.value}
        finally:
            connection.unbind()

    def exchange_dn(self, which: str) -> str:
        exchange = self.site.exchange
        org = f"CN={exchange.organization},CN=Microsoft Exchange,CN=Services,{self.lab.dc.config_dn}"
        servers = f"CN=Servers,CN={exchange.administrative_group},CN=Administrative Groups,{org}"
        return {"organization": org, "servers": servers, "server": f"CN={self.site.production.name},{servers}"}[which]

    def sddl(self, dn: str) -> str:
        out = self.lab.dc.samba_tool("dsacl", "get", f"--objectdn={dn}", "-H", self.lab.dc.ldap_url).stdout
        lines = [line for line in out.splitlines() if re.match(r"^[OGDS]:", line)]
        assert len(lines) == 1, out
        return lines[0]
