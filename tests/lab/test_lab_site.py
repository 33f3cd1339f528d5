"""The whole lab: started in-process and through `qrdr lab up/down`, checked with plain pypsrp and ldap3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import ldap3
import pytest
from pypsrp.client import Client
from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from qrdr.config import load_site

from tests.json_documents import validated

REPO = Path(__file__).resolve().parents[2]


def wsman_for(lab, key: str) -> WSMan:
    host = lab.bound_site.hosts[key]
    return WSMan(host.address, port=host.winrm.port, ssl=True, username=host.winrm.user,
                 password=lab.environment()["QRDR_LAB_AD_PASSWORD"], cert_validation=host.winrm.ca_file,
                 auth="ntlm")


def test_lab_site_is_a_site_qrdr_and_plain_clients_can_use(lab_site):
    bound = lab_site.bound_site
    # The written config is the bound site, and loads as any user's config would.
    assert load_site(lab_site.workdir / "qrdr.toml").hosts.keys() == bound.hosts.keys()
    with RunspacePool(wsman_for(lab_site, "production")) as pool:
        shell = PowerShell(pool)
        shell.add_cmdlet("Get-Service").add_parameter("Name", "MSExchangeIS")
        (service,) = shell.invoke()
        assert not shell.had_errors
        assert service.types[0] == "System.ServiceProcess.ServiceController"
        assert service.adapted_properties["ServiceName"] == "MSExchangeIS"
        assert service.extended_properties["Name"] == "MSExchangeIS"  # an alias property on Windows
        assert service.adapted_properties["Status"] == "Running"
        assert "StartType" not in service.adapted_properties  # PowerShell 2.0 has none
        shell = PowerShell(pool)
        shell.add_cmdlet("Get-WmiObject").add_parameter("Class", "Win32_ComputerSystem")
        (computer,) = shell.invoke()
        assert computer.adapted_properties["Name"] == "EXCH01"
        assert computer.adapted_properties["Domain"] == "qrdr.lab"

    dc = bound.domain.controllers[0]
    tls = ldap3.Tls(validate=__import__("ssl").CERT_REQUIRED, ca_certs_file=bound.domain.ca_file,
                    valid_names=[f"{dc.name}.{bound.domain.dns_name}"])
    server = ldap3.Server(dc.address, port=636, use_ssl=True, tls=tls)
    with ldap3.Connection(server, bound.domain.bind_user, lab_site.environment()["QRDR_LAB_AD_PASSWORD"],
                          auto_bind=True) as connection:
        config_nc = f"CN=Configuration,{bound.domain.base_dn}"
        server_dn = (f"CN=EXCH01,CN=Servers,CN=First Administrative Group,CN=Administrative Groups,"
                     f"CN=First Organization,CN=Microsoft Exchange,CN=Services,{config_nc}")
        assert connection.search(server_dn, "(objectClass=*)", search_scope="BASE")
        for name in ("EXCH01", "EXCH02", "CS01"):
            assert connection.search(bound.domain.base_dn, f"(sAMAccountName={name}$)", attributes=["cn"])


def test_a_reboot_takes_the_endpoint_away_and_brings_it_back_renamed(lab_site):
    pool = RunspacePool(wsman_for(lab_site, "standby"))
    pool.open()
    if True:  # the pool dies with the reboot: it is not closed, as on Windows
        shell = PowerShell(pool)
        shell.add_cmdlet("Get-WmiObject").add_parameter("Class", "Win32_ComputerSystem")
        shell.add_cmdlet("Invoke-WmiMethod").add_parameter("Name", "Rename").add_parameter(
            "ArgumentList", ["EXCH02B", lab_site.environment()["QRDR_LAB_AD_PASSWORD"], "QRDR\\Administrator"])
        (answer,) = shell.invoke()
        assert answer.adapted_properties["ReturnValue"] == 0
        shell = PowerShell(pool)
        shell.add_cmdlet("Restart-Computer").add_parameter("Force", True)
        shell.invoke()
    endpoint = lab_site.endpoints["standby"]
    deadline = time.monotonic() + 10
    while endpoint.is_up and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not endpoint.is_up, "the standby did not go down for its reboot"
    deadline = time.monotonic() + 30
    while not endpoint.is_up and time.monotonic() < deadline:
        time.sleep(0.1)
    assert endpoint.is_up
    with RunspacePool(wsman_for(lab_site, "standby")) as pool:
        shell = PowerShell(pool)
        shell.add_cmdlet("Get-WmiObject").add_parameter("Class", "Win32_ComputerSystem")
        (computer,) = shell.invoke()
        assert computer.adapted_properties["Name"] == "EXCH02B"


def _lo_addresses() -> str:
    return subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout


def _qrdr(*args, env=None):
    return subprocess.run([sys.executable, "-m", "qrdr.cli", *args], capture_output=True, text=True, timeout=240,
                          cwd=REPO, env={**os.environ, **(env or {})})


def test_qrdr_lab_up_prints_endpoints_and_down_leaves_nothing_behind(tmp_path):
    workdir = tmp_path / "lab"
    up = _qrdr("lab", "up", "--json", "--dir", str(workdir))
    assert up.returncode == 0, up.stderr
    lab = validated(up.stdout, "qrdr lab up")
    assert lab["site"] == "lab-e2003-w2003-vss"
    try:
        production = lab["hosts"]["production"]
        url = urllib.parse.urlparse(production["winrm_url"])
        client = Client(url.hostname, port=url.port, ssl=True, username=production["user"],
                        password=production["password"], cert_validation=production["ca_file"], auth="ntlm")
        output, streams, had_errors = client.execute_ps("Get-Service -Name MSExchangeIS")
        assert not had_errors, [str(e) for e in streams.error]
        assert "MSExchangeIS" in output and "Running" in output

        # Certificates are checked: without the lab's CA the endpoint is refused.
        unverified = Client(url.hostname, port=url.port, ssl=True, username=production["user"],
                            password=production["password"], auth="ntlm")
        with pytest.raises(Exception, match="(?i)certificate"):
            unverified.execute_ps("Get-Service -Name MSExchangeIS")

        fault = _qrdr("lab", "fault", "power-off", "production", "--dir", str(workdir))
        assert fault.returncode == 0 and "EXCH01 is powered off" in fault.stdout
        status = validated(_qrdr("lab", "status", "--json", "--dir", str(workdir)).stdout, "qrdr lab status")
        assert status["hosts"]["production"]["power"] == "off"
        assert status["hosts"]["production"]["endpoint"] == "down"
        pids = [int((workdir / "daemon.pid").read_text())]
        pids += [int(p.read_text()) for p in workdir.glob("dc*/run/samba.pid")]
        lab_addresses = [urllib.parse.urlparse(h["winrm_url"]).hostname for h in lab["hosts"].values() if h["winrm_url"]]
        lab_addresses += [urllib.parse.urlparse(dc["ldaps_url"]).hostname for dc in lab["directory"]]
        # a second lab in the same directory is refused, as JSON with --json
        again = _qrdr("lab", "up", "--json", "--dir", str(workdir))
        refused = validated(again.stdout, "qrdr error")
        assert again.returncode == 5 == refused["exit"] and "already running" in refused["message"]
    finally:
        down = _qrdr("lab", "down", "--json", "--dir", str(workdir))
    assert down.returncode == 0, down.stderr
    assert validated(down.stdout, "qrdr lab down")["down"] == str(workdir)
    assert not workdir.exists()
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists(), f"process {pid} left behind"
    # Other labs on this machine may take a freed address at once: an address counts as left
    # behind when it is still on lo and the lab registry does not give it to someone else.
    from qrdr.lab import addresses

    on_lo = _lo_addresses()
    for address in lab_addresses:
        entry = addresses.REGISTRY_DIR / address
        owner = json.loads(entry.read_text())["purpose"] if entry.exists() else None
        assert owner is None or str(workdir) not in owner, f"address {address} still registered to this lab"
        assert f" {address}/" not in on_lo or owner is not None, f"address {address} left on lo"
