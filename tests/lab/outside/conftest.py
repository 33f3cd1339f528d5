"""The lab seen from the outside: helpers that reach a started lab the way a user of the lab would.

Hosts are reached with plain pypsrp (RunspacePool/PowerShell, NTLM; over HTTPS with the lab's
CA checked, or over HTTP with NTLM message encryption) and the directory with plain ldap3 over
LDAPS (certificate checked). Nothing here imports qrdr's own remote layer: these tests prove the
lab to someone who only knows WinRM and LDAP.

Labs are started per module (``module_lab``) where the tests of a module build on each other or
do not interfere, so each module pays one lab start.
"""

from __future__ import annotations

import contextlib
import ssl
import time
from pathlib import Path
from typing import Any, Iterator

import ldap3
import pytest
from pypsrp.complex_objects import GenericComplexObject, PSCredential
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from qrdr.config import load_site
from qrdr.remote.scripts import load_script
from qrdr.lab.samba_fixtures import golden_dir
from qrdr.lab.site import ENV_AD_PASSWORD, ENV_COMMCELL_PASSWORD, ENV_LOCAL_PASSWORD, LabOptions, LabSite, builtin_site




@contextlib.contextmanager
def started_lab(tmp_path_factory: pytest.TempPathFactory, site: str = "e2003-w2003-vss", **options: Any) -> Iterator[LabSite]:
    """A started lab of a built-in site, destroyed afterwards (for module-scoped fixtures: the
    plugin's ``lab_site_factory`` is function-scoped)."""
    options.setdefault("samba_cache_dir", str(golden_dir(tmp_path_factory)))
    lab = LabSite(load_site(builtin_site(site)), tmp_path_factory.mktemp("outside-lab"), LabOptions(**options))
    lab.start()
    try:
        yield lab
    finally:
        lab.destroy()


def ad_password(lab: LabSite) -> str:
    return lab.environment()[ENV_AD_PASSWORD]


def local_password(lab: LabSite) -> str:
    return lab.environment()[ENV_LOCAL_PASSWORD]


def domain_admin(lab: LabSite) -> PSCredential:
    """QRDR\\Administrator as a PSCredential (what -Credential takes)."""
    return PSCredential(username=f"{lab.site.domain.netbios_name}\\Administrator", password=ad_password(lab))


def net_use(runspace: RunspacePool, lab: LabSite, computer: str, *, password: str | None = None) -> tuple[list[str], int]:
    """``net use \\\\COMPUTER\\IPC$ PASSWORD /user:QRDR\\Administrator``: an SMB session of this
    WinRM shell's logon with the domain administrator's password."""
    return native(runspace, "net", "use", f"\\\\{computer}\\IPC$", password or ad_password(lab),
                  f"/user:{lab.site.domain.netbios_name}\\Administrator")


def commcell_password(lab: LabSite) -> str:
    return lab.environment()[ENV_COMMCELL_PASSWORD]


def wsman(lab: LabSite, key: str, *, user: str | None = None, password: str | None = None,
          connection_timeout: int = 5, operation_timeout: int = 10) -> WSMan:
    """A plain pypsrp WSMan to the lab host ``key`` as the bound site describes it: HTTPS with the
    lab CA checked, or HTTP with NTLM message encryption (pypsrp refuses to send unencrypted)."""
    host = lab.bound_site.hosts[key]
    https = host.winrm.transport.value == "https"
    return WSMan(host.address, port=host.winrm.port, ssl=https, auth="ntlm",
                 username=user or host.winrm.user, password=password or ad_password(lab),
                 cert_validation=host.winrm.ca_file if https else False,
                 encryption="auto" if https else "always",
                 connection_timeout=connection_timeout, operation_timeout=operation_timeout)


@contextlib.contextmanager
def pool(lab: LabSite, key: str, **kwargs: Any) -> Iterator[RunspacePool]:
    with RunspacePool(wsman(lab, key, **kwargs)) as opened:
        opened.lab = lab  # type: ignore[attr-defined]  # for store_script's directory account
        yield opened


class Failed(AssertionError):
    """A pipeline that failed or wrote errors, with the error records' text."""


def run(runspace: RunspacePool, command: str, *arguments: Any, check: bool = True, pipe: list | None = None,
        **parameters: Any) -> list[Any]:
    """One command (cmdlet or native program) with named parameters and positional arguments, as
    qrdr sends them: values travel as PSRP parameters, never pasted into script text.
    ``pipe``: more (command, {parameters}) stages after it. With ``check`` an error fails the test."""
    if any(isinstance(value, PSCredential) for value in parameters.values()):
        runspace.exchange_keys()  # a PSCredential's password travels as a SecureString
    shell = PowerShell(runspace)
    shell.add_cmdlet(command)
    for value in arguments:
        shell.add_argument(value)
    for name, value in parameters.items():
        shell.add_parameter(name, value)
    for stage, stage_parameters in pipe or []:
        shell.add_cmdlet(stage)
        for name, value in stage_parameters.items():
            shell.add_parameter(name, value)
    output = shell.invoke()
    if check and (shell.had_errors or shell.streams.error):
        raise Failed(f"{command}: " + "; ".join(str(error) for error in shell.streams.error))
    run.last = shell  # type: ignore[attr-defined]
    return output


def run_failing(runspace: RunspacePool, command: str, *arguments: Any, **parameters: Any) -> list[str]:
    """Run a command expected to fail or write errors; return the error records' text."""
    run(runspace, command, *arguments, check=False, **parameters)
    shell = run.last  # type: ignore[attr-defined]
    errors = [str(error) for error in shell.streams.error]
    assert shell.had_errors or errors, f"{command} was expected to fail"
    return errors


def script_text(file_name: str) -> str:
    """A shipped script's text as qrdr sends it (its fragments put in)."""
    return load_script("qrdr.plugins.common", f"scripts/{file_name}").text


def run_script(runspace: RunspacePool, file_name: str, check: bool = True, **parameters: Any) -> list[Any]:
    """A shipped script sent with ``add_script`` and its parameters, exactly as qrdr does."""
    shell = PowerShell(runspace)
    shell.add_script(script_text(file_name))
    for name, value in parameters.items():
        shell.add_parameter(name, value)
    output = shell.invoke()
    if check and (shell.had_errors or shell.streams.error):
        raise Failed(f"{file_name}: " + "; ".join(str(error) for error in shell.streams.error))
    run.last = shell  # type: ignore[attr-defined]
    return output


def store_script(runspace: RunspacePool, file_name: str, check: bool = True, **parameters: Any) -> list[Any]:
    """A CDOEXM store script as qrdr sends it: with the directory account it binds as (-UserName
    QRDR\\Administrator -Password ...), which a remoting session has no credentials of its own for."""
    lab = runspace.lab  # type: ignore[attr-defined]
    account = {"UserName": f"{lab.site.domain.netbios_name}\\Administrator", "Password": ad_password(lab)}
    return run_script(runspace, file_name, check=check, **account, **parameters)


def last_exit_code(runspace: RunspacePool) -> int:
    shell = PowerShell(runspace)
    shell.add_script("$LASTEXITCODE")
    (code,) = shell.invoke()
    return int(code)


def native(runspace: RunspacePool, program: str, *arguments: str) -> tuple[list[str], int]:
    """A native program's output lines and exit code ($LASTEXITCODE), errors not raised."""
    output = run(runspace, program, *arguments, check=False)
    return [str(line) for line in output], last_exit_code(runspace)


def set_content(runspace: RunspacePool, path: str, text: str) -> None:
    """Write a text file on the host as qrdr does (folder first, then Set-Content with lines)."""
    folder = path.rsplit("\\", 1)[0]
    run(runspace, "New-Item", Path=folder, ItemType="Directory", Force=True)
    run(runspace, "Set-Content", Path=path, Value=text.splitlines())


def prop(obj: Any, name: str) -> Any:
    """A property of a deserialized object, adapted or extended (pypsrp keeps them apart)."""
    if isinstance(obj, GenericComplexObject):
        if name in obj.adapted_properties:
            return obj.adapted_properties[name]
        if name in obj.extended_properties:
            return obj.extended_properties[name]
        if name in obj.property_sets:
            return obj.property_sets[name]
        raise KeyError(f"{name} not in {sorted(obj.adapted_properties) + sorted(obj.extended_properties)}")
    return obj[name] if isinstance(obj, dict) else getattr(obj, name)


def types_of(obj: Any) -> list[str]:
    return list(obj.types)


def wait_until(condition: Any, seconds: float, what: str, interval: float = 0.05) -> float:
    """Poll ``condition()`` until true; returns the seconds it took. Fails naming ``what``."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s: {what}")
        time.sleep(interval)
    return time.monotonic() - started


def answers(lab: LabSite, key: str, **kwargs: Any) -> bool:
    """Whether a plain client can open a pool on the host now (connection refused: False)."""
    try:
        with pool(lab, key, connection_timeout=2, **kwargs) as opened:
            run(opened, "Get-WmiObject", Class="Win32_ComputerSystem")
        return True
    except Failed:
        raise
    except Exception:  # noqa: BLE001 - refused, reset, timed out: the host does not answer
        return False


def wait_for_reboot(lab: LabSite, key: str, down_within: float = 10, up_within: float = 30, **kwargs: Any) -> None:
    """The endpoint goes away (as seen by a client), then answers again."""
    wait_until(lambda: not answers(lab, key, **kwargs), down_within, f"{key} goes down for its reboot", 0.1)
    wait_until(lambda: answers(lab, key, **kwargs), up_within, f"{key} comes back after its reboot", 0.2)


# --- the directory, with plain ldap3 -------------------------------------------------------------


def ldap(lab: LabSite, dc_index: int = 0, user: str | None = None, password: str | None = None) -> ldap3.Connection:
    """A bound ldap3 connection to a lab DC over LDAPS, the certificate checked against the lab's CA."""
    description = lab.describe()["directory"][dc_index]
    host = description["ldaps_url"].split("://", 1)[1].split(":")[0]
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=description["ca_file"],
                    valid_names=[description["tls_server_name"]])
    server = ldap3.Server(host, port=636, use_ssl=True, tls=tls, get_info=ldap3.NONE)
    return ldap3.Connection(server, user or description["bind_user"], password or ad_password(lab),
                            auto_bind=True, raise_exceptions=False)


def computer_object(connection: ldap3.Connection, lab: LabSite, name: str) -> dict[str, Any] | None:
    """The computer account ``NAME$`` (dn and the attributes a user checks), or None."""
    from ldap3.utils.conv import escape_filter_chars

    connection.search(lab.bound_site.domain.base_dn, f"(sAMAccountName={escape_filter_chars(name.upper() + '$')})",
                      attributes=["cn", "sAMAccountName", "dNSHostName", "userAccountControl", "pwdLastSet",
                                  "servicePrincipalName"])
    entries = [e for e in connection.response if e.get("type") == "searchResEntry"]
    if not entries:
        return None
    (entry,) = entries
    attributes = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in entry["attributes"].items()}
    return {"dn": entry["dn"], **attributes}


ACCOUNTDISABLE = 0x2


def disabled(account: dict[str, Any]) -> bool:
    return bool(int(account["userAccountControl"]) & ACCOUNTDISABLE)


REPO = Path(__file__).resolve().parents[3]


# --- Commvault ------------------------------------------------------------------------------------

COMMVAULT_REQUESTS_DOC = REPO / "docs" / "design" / "commvault-requests.md"


def documented_requests() -> list[str]:
    """The XML requests of docs/design/commvault-requests.md, in the order of the page."""
    import re

    blocks = re.findall(r"```xml\n(.*?)```", COMMVAULT_REQUESTS_DOC.read_text(), flags=re.S)
    return [block for block in blocks if re.match(r"\s*<App_\w+Request>", block)]


def qoperation(runspace: RunspacePool, request: str, path: str = r"C:\qrdr\request.xml") -> tuple[dict, str, int]:
    """Write the request with Set-Content and run ``qoperation execute -af``: (reply attributes, reply text, exit code)."""
    import xml.etree.ElementTree as ET

    set_content(runspace, path, request)
    lines, code = native(runspace, "qoperation", "execute", "-af", path)
    text = "".join(lines)
    reply = ET.fromstring(text)
    return {**reply.attrib, "jobIds": [j.get("val") for j in reply.iter("jobIds")]}, text, code


def table(lines: list[str]) -> list[dict[str, str]]:
    """A q-command text table (header, a row of dashes, rows) as dicts, columns where the dash runs start."""
    import re

    for index in range(1, len(lines)):
        if lines[index].strip() and not set(lines[index].strip()) - {"-", " "}:
            starts = [m.start() for m in re.finditer(r"-+", lines[index])]
            bounds = list(zip(starts, [*starts[1:], None]))
            names = [lines[index - 1][a:b].strip() for a, b in bounds]
            return [dict(zip(names, (line[a:b].strip() for a, b in bounds))) for line in lines[index + 1:] if line]
    return []


def jobs(runspace: RunspacePool, client: str = "EXCH01", job_id: int | None = None) -> list[dict[str, str]]:
    """``qlist job -c CLIENT [-j ID] -co iospr`` read as a table: the active jobs, or the one named."""
    arguments = ["job", "-c", client] + (["-j", str(job_id)] if job_id is not None else []) + ["-co", "iospr"]
    lines, code = native(runspace, "qlist", *arguments)
    assert code == 0, lines
    return table(lines)


def qlogin(runspace: RunspacePool, lab: LabSite) -> None:
    lines, code = native(runspace, "qlogin", "-cs", "CS01", "-u", "admin", "-clp", commcell_password(lab))
    assert (lines, code) == (["User logged in successfully."], 0), (lines, code)


def configure_quick_recovery(runspace: RunspacePool, lab: LabSite) -> list[dict]:
    """qlogin, then every documented request up to the QR volume creation; returns the replies."""
    qlogin(runspace, lab)
    replies = []
    for request in documented_requests():
        if "App_RunQRIncrementalUpdateRequest" in request:
            continue
        reply, text, code = qoperation(runspace, request)
        assert (reply.get("errorCode", "0"), code) == ("0", 0), text
        replies.append(reply)
    return replies


def samba_tool(lab: LabSite, *arguments: str) -> str:
    """``samba-tool ARGS -H ldap://DC1`` as QRDR\\Administrator (password in PASSWD, not on the command
    line): an independent reading of the directory."""
    import os
    import subprocess

    done = subprocess.run(["samba-tool", *arguments, "-H", f"ldap://{lab.dcs[0].address}",
                           f"--username={lab.site.domain.netbios_name}\\Administrator", "--use-kerberos=off"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={**os.environ, "PASSWD": ad_password(lab)})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


# --- long programs: a scheduled task that logs on with a password --------------------------------


def schtasks(runspace: RunspacePool, *arguments: str) -> tuple[list[str], list[str], int]:
    """``schtasks ARGS``: (output lines, stderr lines as error records, exit code)."""
    lines, code = native(runspace, "schtasks", *arguments)
    return lines, [str(error) for error in run.last.streams.error], code  # type: ignore[attr-defined]


def run_as_task(runspace: RunspacePool, lab: LabSite, name: str, program: str, *arguments: str,
                password: str | None = None) -> tuple[str, str]:
    """Run ``program`` as the task NAME, logged on as QRDR\\\\Administrator with its password (the way a
    program outlives the WinRM shell and holds credentials for the network): a batch file writes
    the program's output and exit code to files. Returns (output file, exit-code file)."""
    folder = r"C:\qrdr"
    batch, output, exit_file = (f"{folder}\\{name}.cmd", f"{folder}\\{name}.out", f"{folder}\\{name}.exit")
    quoted = " ".join(f'"{word}"' if " " in word or "\\" in word else word for word in (program, *arguments))
    set_content(runspace, batch, "\r\n".join(["@echo off", f'{quoted} > "{output}" 2>&1',
                                             f'echo %ERRORLEVEL% > "{exit_file}"']))
    lines, errors, code = schtasks(runspace, "/create", "/tn", name, "/tr", batch, "/sc", "ONCE", "/st", "00:00",
                                   "/sd", "12/31/2099", "/ru", f"{lab.site.domain.netbios_name}\\Administrator",
                                   "/rp", password or ad_password(lab), "/f")
    assert code == 0, (lines, errors)
    lines, errors, code = schtasks(runspace, "/run", "/tn", name)
    assert (lines, code) == ([f'SUCCESS: Attempted to run the scheduled task "{name}".'], 0), (lines, errors)
    return output, exit_file


def task_rows(runspace: RunspacePool) -> dict[str, dict[str, str]]:
    """``schtasks /query /fo CSV /v`` by task name (Windows Server 2003's schtasks lists every task)."""
    import csv

    lines, errors, code = schtasks(runspace, "/query", "/fo", "CSV", "/v")
    assert code == 0, errors
    return {row["TaskName"]: row for row in csv.DictReader(lines)}


def file_text(runspace: RunspacePool, path: str) -> str | None:
    """A text file's content (None when it does not exist)."""
    (exists,) = run(runspace, "Test-Path", Path=path)
    if not exists:
        return None
    return "\n".join(str(line) for line in run(runspace, "Get-Content", Path=path))
