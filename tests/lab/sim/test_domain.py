"""Domain membership against the lab's real Samba AD DC: rename, unjoin, join, netdom.

Each test uses computer names of its own (the DC is shared by the session). The
truth is read straight from the DC's sam.ldb with ldbsearch, not through the
code under test.
"""

from __future__ import annotations

import secrets

import ldap3
import pytest

from qrdr.lab.samba import add_computer, add_user, ldbsearch
from qrdr.lab.samba_fixtures import samba_dc  # noqa: F401  (fixture)
from qrdr.lab.sim import Lab, WindowsHost
from qrdr.lab.sim.domain import DomainBackend, default_machine_password
from qrdr.lab.sim.services import add_windows_services

from .conftest import call

pytestmark = pytest.mark.samba


def _account(dc, name):
    found = ldbsearch(dc, f"(sAMAccountName={name}$)", ["cn", "sAMAccountName", "dNSHostName", "userAccountControl"])
    return found[0] if found else None


def _unique(prefix):
    return (prefix + secrets.token_hex(3)).upper()[:15]


@pytest.fixture
def backend(samba_dc):  # noqa: F811
    return DomainBackend.for_samba(samba_dc)


@pytest.fixture
def admin(samba_dc):  # noqa: F811
    return f"{samba_dc.netbios}\\Administrator", samba_dc.admin_password


def _member(backend, name, *, windows="2003", lab=None):
    lab = lab or Lab()
    host = lab.add(WindowsHost(name, windows=windows, domain=backend.dns_name, domain_netbios=backend.netbios_name,
                               directory=backend))
    host.local_users["Administrator"] = "local-pw"
    add_windows_services(host, winrm=windows == "2003")
    return host


def _wmi(host, method, arguments):
    return call(host, ("Get-WmiObject", {"Class": "Win32_ComputerSystem"}),
                ("Invoke-WmiMethod", {"Name": method, "ArgumentList": arguments}))


def test_rename_of_a_member_renames_its_ad_account_at_once_and_the_host_at_reboot(samba_dc, backend, admin):  # noqa: F811
    old, new = _unique("REN"), _unique("NEW")
    add_computer(samba_dc, old, password="x" + secrets.token_hex(8))
    host = _member(backend, old)
    result = _wmi(host, "Rename", [new, admin[1], admin[0]])
    assert result.failed is None, result.failed
    assert result.output[0].ReturnValue == 0
    renamed = _account(samba_dc, new)
    assert renamed is not None and _account(samba_dc, old) is None
    assert renamed["cn"] == [new]
    assert renamed["dNSHostName"] == [f"{new.lower()}.{samba_dc.dns_domain}"]
    assert host.name == old and host.pending_name == new
    call(host, ("Restart-Computer", {"Force": True}))
    system = call(host, ("Get-WmiObject", {"Class": "Win32_ComputerSystem"})).output[0]
    assert system.Name == new and system.PartOfDomain is True


def test_a_rename_after_an_unjoin_is_local_and_both_take_effect_at_one_restart(samba_dc, backend, admin):  # noqa: F811
    """KB Q102476's order: leave the domain, change the name, restart once. The taken name's
    account is left alone: out of the domain, the rename renames no account."""
    old, taken = _unique("LVR"), _unique("TKN")
    add_computer(samba_dc, old)
    add_computer(samba_dc, taken)
    host = _member(backend, old)
    assert _wmi(host, "UnjoinDomainOrWorkgroup", [0, admin[1], admin[0]]).output[0].ReturnValue == 0
    assert _wmi(host, "Rename", [taken, None, None]).output[0].ReturnValue == 0
    assert _account(samba_dc, old)["cn"] == [old] and _account(samba_dc, taken)["cn"] == [taken]
    # Until the restart the host still reports its name and its domain; a second unjoin is refused.
    system = call(host, ("Get-WmiObject", {"Class": "Win32_ComputerSystem"})).output[0]
    assert system.Name == old and system.PartOfDomain is True
    assert _wmi(host, "UnjoinDomainOrWorkgroup", [0, admin[1], admin[0]]).output[0].ReturnValue == 2692
    call(host, ("Restart-Computer", {"Force": True}))
    system = call(host, ("Get-WmiObject", {"Class": "Win32_ComputerSystem"})).output[0]
    assert system.Name == taken and system.PartOfDomain is False


def test_rename_to_a_taken_name_returns_2224_and_changes_nothing(samba_dc, backend, admin):  # noqa: F811
    old, taken = _unique("OLD"), _unique("TKN")
    add_computer(samba_dc, old)
    add_computer(samba_dc, taken)
    host = _member(backend, old)
    assert _wmi(host, "Rename", [taken, admin[1], admin[0]]).output[0].ReturnValue == 2224
    assert _account(samba_dc, old)["cn"] == [old]
    assert host.pending_name is None


def test_rename_with_a_wrong_password_is_a_logon_failure(samba_dc, backend, admin):  # noqa: F811
    old = _unique("PWD")
    add_computer(samba_dc, old)
    host = _member(backend, old)
    assert _wmi(host, "Rename", [_unique("X"), "wrong-" + admin[1], admin[0]]).output[0].ReturnValue == 1326
    assert _account(samba_dc, old) is not None


def test_unjoin_with_option_4_disables_the_account_and_leaves_the_domain_at_reboot(samba_dc, backend, admin):  # noqa: F811
    keep, disable = _unique("KEEP"), _unique("DIS")
    for name in (keep, disable):
        add_computer(samba_dc, name)
    kept, disabled = _member(backend, keep), _member(backend, disable)
    assert _wmi(kept, "UnjoinDomainOrWorkgroup", [0, admin[1], admin[0]]).output[0].ReturnValue == 0
    assert _wmi(disabled, "UnjoinDomainOrWorkgroup", [4, admin[1], admin[0]]).output[0].ReturnValue == 0
    assert int(_account(samba_dc, keep)["userAccountControl"][0]) & 2 == 0
    assert int(_account(samba_dc, disable)["userAccountControl"][0]) & 2 == 2
    assert disabled.part_of_domain  # until the reboot
    disabled.restart()
    system = call(disabled, ("Get-WmiObject", {"Class": "Win32_ComputerSystem"})).output[0]
    assert (system.PartOfDomain, system.Domain, system.Workgroup) == (False, "WORKGROUP", "WORKGROUP")
    assert _wmi(disabled, "UnjoinDomainOrWorkgroup", [4, admin[1], admin[0]]).output[0].ReturnValue == 2692


def _workgroup_host(backend, name):
    host = WindowsHost(name, workgroup="WORKGROUP", directory=backend)
    Lab().add(host)
    return host


def _machine_bind_works(samba_dc, name, password):  # noqa: F811
    connection = ldap3.Connection(samba_dc.ldap_server(), user=f"{name}$@{samba_dc.dns_domain}", password=password)
    try:
        return connection.bind()
    finally:
        connection.unbind()


def test_join_reuses_an_existing_account_with_a_new_machine_password(samba_dc, backend, admin):  # noqa: F811
    name = _unique("RJ")
    add_computer(samba_dc, name, password=default_machine_password(name), enabled=False)
    host = _workgroup_host(backend, name)
    result = _wmi(host, "JoinDomainOrWorkgroup", [None, 1, samba_dc.dns_domain, admin[1], admin[0]])
    assert result.output[0].ReturnValue == 0
    assert int(_account(samba_dc, name)["userAccountControl"][0]) & 2 == 0
    assert _machine_bind_works(samba_dc, name, backend.machine_passwords[name])
    assert not host.part_of_domain
    host.restart()
    assert host.part_of_domain and host.domain == samba_dc.dns_domain


def test_join_by_a_plain_user_needs_the_account_reset(samba_dc, backend):  # noqa: F811
    user, password = _unique("u"), "Pw1!" + secrets.token_hex(8)
    add_user(samba_dc, user, password)
    reset, not_reset = _unique("RS"), _unique("NR")
    add_computer(samba_dc, reset, password=default_machine_password(reset))
    add_computer(samba_dc, not_reset, password="Other1!" + secrets.token_hex(8))
    arguments = [None, 1, samba_dc.netbios, password, f"{samba_dc.netbios}\\{user}"]
    assert _wmi(_workgroup_host(backend, reset), "JoinDomainOrWorkgroup", arguments).output[0].ReturnValue == 0
    assert _machine_bind_works(samba_dc, reset, backend.machine_passwords[reset])
    assert _wmi(_workgroup_host(backend, not_reset), "JoinDomainOrWorkgroup",
                arguments).output[0].ReturnValue == 2224


def test_join_creates_an_account_only_with_acct_create(samba_dc, backend, admin):  # noqa: F811
    name = _unique("NEWACC")
    host = _workgroup_host(backend, name)
    assert _wmi(host, "JoinDomainOrWorkgroup",
                [None, 1, samba_dc.dns_domain, admin[1], admin[0]]).output[0].ReturnValue == 2221
    assert _account(samba_dc, name) is None
    assert _wmi(host, "JoinDomainOrWorkgroup",
                [None, 3, samba_dc.dns_domain, admin[1], admin[0]]).output[0].ReturnValue == 0
    assert _account(samba_dc, name)["cn"] == [name]


def test_join_with_a_name_used_by_another_object_returns_2224(samba_dc, backend, admin):  # noqa: F811
    name = _unique("USR")
    add_user(samba_dc, name + "$", "Pw1!" + secrets.token_hex(8))
    host = _workgroup_host(backend, name)
    assert _wmi(host, "JoinDomainOrWorkgroup",
                [None, 3, samba_dc.dns_domain, admin[1], admin[0]]).output[0].ReturnValue == 2224


def test_netdom_on_the_management_host_renames_a_windows_2000_member(samba_dc, backend, admin):  # noqa: F811
    lab = Lab()
    old, new = _unique("W2K"), _unique("W2KN")
    add_computer(samba_dc, old)
    target = _member(backend, old, windows="2000", lab=lab)
    management = _member(backend, _unique("MGMT"), lab=lab)
    arguments = ["renamecomputer", old, f"/NewName:{new}", f"/UserD:{admin[0]}", f"/PasswordD:{admin[1]}",
                 "/UserO:Administrator", "/PasswordO:local-pw", "/Force"]
    result = call(management, ("netdom", {}, arguments))
    assert result.output[-1] == "The command completed successfully."
    assert _account(samba_dc, new)["cn"] == [new]
    assert target.pending_name == new
    bad = call(management, ("netdom", {}, ["renamecomputer", old, f"/NewName:{_unique('Z')}",
                                           f"/UserD:{admin[0]}", f"/PasswordD:{admin[1]}",
                                           "/UserO:Administrator", "/PasswordO:wrong"]))
    assert bad.output[-1] == "The command failed to complete successfully."
    assert management.invoke([__import__("qrdr.lab.sim.protocol", fromlist=["Invocation"]).Invocation(
        "$LASTEXITCODE", is_script=True)], []).output == [1]


def test_domain_accounts_log_on_to_members_only(samba_dc, backend, admin):  # noqa: F811
    member = _member(backend, _unique("LOG"))
    assert member.accepts(admin[0], admin[1])
    assert not member.accepts(admin[0], "wrong")
    assert member.accepts("Administrator", "local-pw")
    assert not _workgroup_host(backend, _unique("WG")).accepts(admin[0], admin[1])


def test_netdom_remove_then_join_a_windows_2000_host(samba_dc, backend, admin):  # noqa: F811
    lab = Lab()
    name = _unique("W2KJ")
    add_computer(samba_dc, name)
    target = _member(backend, name, windows="2000", lab=lab)
    management = _member(backend, _unique("MGMT"), lab=lab)
    credentials = [f"/UserD:{admin[0]}", f"/PasswordD:{admin[1]}", "/UserO:Administrator", "/PasswordO:local-pw"]
    removed = call(management, ("netdom", {}, ["remove", name, f"/Domain:{samba_dc.netbios}", *credentials,
                                               "/Force"]))
    assert removed.output[-1] == "The command completed successfully."
    assert int(_account(samba_dc, name)["userAccountControl"][0]) & 2 == 2  # netdom remove disables
    target.restart()
    assert not target.part_of_domain
    joined = call(management, ("netdom", {}, ["join", name, f"/Domain:{samba_dc.dns_domain}", *credentials]))
    assert joined.output[-1] == "The command completed successfully."
    assert int(_account(samba_dc, name)["userAccountControl"][0]) & 2 == 0
    target.restart()
    assert target.part_of_domain and target.domain == samba_dc.dns_domain
    again = call(management, ("netdom", {}, ["join", name, f"/Domain:{samba_dc.dns_domain}", *credentials]))
    assert again.output[0] == "The machine is already joined to the domain."
    assert again.output[-1] == "The command failed to complete successfully."
