"""The Exchange and Commvault simulation through the real client path: pypsrp over the lab's
WinRM endpoint (NTLM, message encryption), as qrdr's plugins will reach them."""

from __future__ import annotations

import pytest

from qrdr.lab.winrm import WinRMEndpoint
from qrdr.model import Auth, Host, Role, SecretRef, Transport, WindowsVersion, WinRM
from qrdr.remote.commands import Command, Script, Secret
from qrdr.remote.scripts import load_script
from qrdr.remote.session import RemoteCommandError, RemoteHost

from conftest import COMMCELL_PASSWORD, DOMAIN_ACCOUNT

pytestmark = pytest.mark.lab

ADMIN, ADMIN_PASSWORD = "qrdr-exch-sim-admin", "Exch-Sim-Adm1n!"
LAST_EXIT_CODE = Script(name="last-exit-code", text="$LASTEXITCODE")


@pytest.fixture
def remote(site_lab):
    """RemoteHost sessions to production and the CommServe of the small site."""
    endpoints, remotes = [], {}
    try:
        for key in ("production", "commserve"):
            host = site_lab.hosts[key]
            host.local_users[ADMIN] = ADMIN_PASSWORD
            endpoint = WinRMEndpoint(host, {ADMIN: ADMIN_PASSWORD}, name=host.name.lower()).start()
            endpoints.append(endpoint)
            winrm = WinRM(user=ADMIN, password=SecretRef(env="UNUSED"), transport=Transport(endpoint.transport),
                          auth=Auth.NTLM, port=endpoint.port, operation_timeout=5, connection_timeout=5)
            model = Host(name=host.name, role=Role.STANDBY, address=endpoint.address, windows=WindowsVersion.W2003,
                         winrm=winrm)
            remotes[key] = RemoteHost(model, password=ADMIN_PASSWORD)
        yield remotes
    finally:
        for session in remotes.values():
            session.close()
        for endpoint in endpoints:
            endpoint.stop()


def test_store_script_and_eseutil_over_winrm(remote):
    production = remote["production"]
    stores = production.run(load_script("qrdr.plugins.common", "scripts/get_exchange_store.ps1", **DOMAIN_ACCOUNT), read_only=True)
    assert {(row["Name"], row["Mounted"]) for row in stores} == {("Mailbox Store (EXCH01)", True),
                                                                 ("Public Folder Store (EXCH01)", True)}
    lines = production.run(Command("eseutil", arguments=("/mh", stores[0]["EdbPath"])), read_only=True)
    assert "            State: Dirty Shutdown" in lines
    assert production.run(LAST_EXIT_CODE, read_only=True) == [0]
    with pytest.raises(RemoteCommandError) as failure:
        production.run(load_script("qrdr.plugins.common", "scripts/mount_exchange_store.ps1", Name="No Such",
                                   **DOMAIN_ACCOUNT))
    assert "No Such" in str(failure.value)


def test_qlogin_password_travels_as_a_secret_and_qlist_answers(remote):
    commserve = remote["commserve"]
    wrong = Secret("Not-The-Passw0rd")
    with pytest.raises(RemoteCommandError) as failure:
        commserve.run(Command("qlogin", arguments=("-cs", "CS01", "-u", "admin", "-clp", wrong)))
    assert "qlogin: Error" in str(failure.value) and "Not-The-Passw0rd" not in str(failure.value)
    answer = commserve.run(Command("qlogin", arguments=("-cs", "CS01", "-u", "admin", "-clp",
                                                        Secret(COMMCELL_PASSWORD))))
    assert answer == ["User logged in successfully."]
    jobs = commserve.run(Command("qlist", arguments=("job", "-c", "EXCH01")), read_only=True)
    assert jobs == ["No jobs to display"]
