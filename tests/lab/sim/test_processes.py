"""Processes, program handlers, the Find-LockingProcess script, and the network adapter."""

from __future__ import annotations

from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_powershell

from qrdr.lab.sim import registry
from qrdr.lab.sim.protocol import Invocation
from qrdr.lab.sim.storage import GB, add_volume

from .conftest import call

SCRIPT = Path(__file__).parents[3] / "plugins" / "common" / "scripts" / "find_locking_process.ps1"


@pytest.fixture
def fake_program(monkeypatch):
    """A registered program that holds a DLL open and never exits (as a hung setup.exe does)."""
    def handler(host, process):
        process.open_files.add("C:\\Program Files\\Exchsrvr\\bin\\exchmem.dll")
    monkeypatch.setitem(registry.PROGRAMS, "qrdrtestsetup", handler)


def test_start_process_runs_the_registered_program(exchange_host, fake_program):
    add_volume(exchange_host, "C", 40 * GB)
    exchange_host.files.write("C:\\media\\qrdrtestsetup.exe", b"MZ", make_parents=True)
    started = call(exchange_host, ("Start-Process", {"FilePath": "C:\\media\\qrdrtestsetup.exe",
                                                     "ArgumentList": ["/DisasterRecovery"], "PassThru": True}))
    process = started.output[0]
    assert process.PSObject.type_names[0] == "System.Diagnostics.Process"
    assert process.ProcessName == "qrdrtestsetup" and process.HasExited is False
    assert exchange_host.processes[process.Id].arguments == ("/DisasterRecovery",)
    listed = call(exchange_host, ("Get-Process", {"Name": "qrdrtest*"})).output
    assert [p.Id for p in listed] == [process.Id] and listed[0].Path == "C:\\media\\qrdrtestsetup.exe"
    stopped = call(exchange_host, ("Stop-Process", {"Id": process.Id, "Force": True}))
    assert stopped.failed is None and process.Id not in exchange_host.processes


def test_start_process_of_a_missing_file_fails(exchange_host):
    add_volume(exchange_host, "C", 40 * GB)
    result = call(exchange_host, ("Start-Process", {"FilePath": "Z:\\setup\\i386\\setup.exe"}))
    assert result.failed.message == ("This command cannot be executed due to the error: The system cannot find the "
                                     "file specified.")


def test_unknown_process_errors(exchange_host):
    by_name = call(exchange_host, ("Get-Process", {"Name": "nosuch"}))
    assert by_name.errors[0].message == ('Cannot find a process with the name "nosuch". Verify the process name and '
                                         'call the cmdlet again.')
    by_id = call(exchange_host, ("Stop-Process", {"Id": 4242, "Force": True}))
    assert by_id.errors[0].message == "Cannot find a process with the process identifier 4242."
    assert by_id.errors[0].fully_qualified_error_id == (
        "NoProcessFoundForGivenId,Microsoft.PowerShell.Commands.StopProcessCommand")


def test_find_locking_process_script(exchange_host, fake_program):
    add_volume(exchange_host, "C", 40 * GB)
    exchange_host.files.write("C:\\media\\qrdrtestsetup.exe", b"MZ", make_parents=True)
    process = exchange_host.start_process("C:\\media\\qrdrtestsetup.exe")
    text = SCRIPT.read_text()
    assert registry.script_name(text) == "qrdr:find-lockingprocess"
    found = exchange_host.invoke([Invocation(text, is_script=True,
                                             parameters=(("Path", "C:\\Program Files\\Exchsrvr"),))], [])
    assert found.failed is None
    assert [(obj.Id, obj.ProcessName, obj.Path) for obj in found.output] == [
        (process.id, "qrdrtestsetup", "C:\\media\\qrdrtestsetup.exe")]
    none = exchange_host.invoke([Invocation(text, is_script=True, parameters=(("Path", "C:\\elsewhere"),))], [])
    assert none.output == []


def test_find_locking_process_script_is_well_formed_powershell():
    parser = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
    tree = parser.parse(SCRIPT.read_bytes())

    def broken(node):
        if node.type == "ERROR" or node.is_missing:
            yield node
        for child in node.children:
            yield from broken(child)

    assert list(broken(tree.root_node)) == []
    assert SCRIPT.read_text().splitlines()[0] == "# qrdr-script: qrdr:Find-LockingProcess"
    assert "param(" in SCRIPT.read_text()


def test_enable_static_takes_over_an_address(exchange_host):
    from qrdr.lab.sim.host import NetworkAdapter

    exchange_host.adapters.append(NetworkAdapter(index=1, ip_addresses=["10.0.0.22"], subnet_masks=["255.255.255.0"]))
    result = call(exchange_host,
                  ("Get-WmiObject", {"Class": "Win32_NetworkAdapterConfiguration", "Filter": "IPEnabled=TRUE"}),
                  ("Invoke-WmiMethod", {"Name": "EnableStatic",
                                        "ArgumentList": [["10.0.0.21"], ["255.255.255.0"]]}))
    # The adapter was static already: 81 "Unable to configure DHCP service", and the address is set all the same.
    assert result.output[0].ReturnValue == 81
    config = call(exchange_host, ("Get-WmiObject", {"Class": "Win32_NetworkAdapterConfiguration"})).output[0]
    assert list(config.IPAddress) == ["10.0.0.21"] and config.DHCPEnabled is False
    exchange_host.adapters[0].dhcp_enabled = True
    from_dhcp = call(exchange_host,
                     ("Get-WmiObject", {"Class": "Win32_NetworkAdapterConfiguration", "Filter": "IPEnabled=TRUE"}),
                     ("Invoke-WmiMethod", {"Name": "EnableStatic", "ArgumentList": [["10.0.0.23"], ["255.255.255.0"]]}))
    assert from_dhcp.output[0].ReturnValue == 0
    bad = call(exchange_host,
               ("Get-WmiObject", {"Class": "Win32_NetworkAdapterConfiguration", "Filter": "IPEnabled=TRUE"}),
               ("Invoke-WmiMethod", {"Name": "EnableStatic", "ArgumentList": [["10.0.0.300"], ["255.255.255.0"]]}))
    assert bad.output[0].ReturnValue == 70


def test_stopping_a_service_process_needs_force(exchange_host):
    process = exchange_host.start_process("C:\\WINDOWS\\system32\\inetsrv\\inetinfo.exe", system=True)
    refused = call(exchange_host, ("Stop-Process", {"Id": process.id}))
    assert "NonInteractive mode" in refused.errors[0].message and process.id in exchange_host.processes
    call(exchange_host, ("Stop-Process", {"Id": process.id, "Force": True}))
    assert process.id not in exchange_host.processes and process.exit_code == 1
