"""How a pipeline is put on the wire: commands, parameters and arguments as PSRP data, secrets revealed only there."""

from pypsrp.powershell import PowerShell, RunspacePool
from pypsrp.wsman import WSMan

from qrdr.remote.commands import Command, Script, Secret, render_pipeline
from qrdr.remote.errors import ConnectionLostDuringChange, HostUnreachable, RemoteCommandError, RemoteError, mask
from qrdr.remote.session import _build_pipeline


def built(*commands, before=()):
    pool = RunspacePool(WSMan("127.0.0.1", ssl=False, auth="ntlm", username="u", password="p"))
    pool.protocol_version = "2.2"  # what an opened pool knows
    shell = PowerShell(pool)
    _build_pipeline(shell, before, commands)
    return [(c.cmd, c.is_script, [(a.name, a.value) for a in c.args], c.end_of_statement) for c in shell.commands]


def test_cmdlets_scripts_and_arguments_are_sent_as_data():
    tricky = "it's \"$(Remove-Item C:\\)\"\nline two"
    script = Script("qrdr:Mount-ExchangeStore", "# qrdr-script: qrdr:Mount-ExchangeStore\nparam($Name)\n",
                    {"Name": tricky})
    assert built(
        Command("Get-Service", {"Name": ["A", "B"]}),
        Command("Set-Service", {"StartupType": "Manual", "PassThru": True}),
        Command("eseutil", arguments=("/mh", tricky)),
        script,
    ) == [
        ("Get-Service", False, [("Name", ["A", "B"])], False),
        ("Set-Service", False, [("StartupType", "Manual"), ("PassThru", True)], False),
        ("eseutil", False, [(None, "/mh"), (None, tricky)], False),
        (script.text, True, [("Name", tricky)], False),
    ]


def test_statements_before_the_pipeline_are_their_own_and_their_output_dropped():
    net = Command("net", arguments=("use", "\\\\W2K01\\IPC$", Secret("pw"), "/user:QRDR\\a"))
    assert built(Command("Get-Content", {"Path": "\\\\W2K01\\C$\\a.txt"}), before=[net]) == [
        ("net", False, [(None, "use"), (None, "\\\\W2K01\\IPC$"), (None, "pw"), (None, "/user:QRDR\\a")], False),
        ("Out-Null", False, [], True),
        ("Get-Content", False, [("Path", "\\\\W2K01\\C$\\a.txt")], False),
    ]
    shown = render_pipeline([Command("Get-Content", {"Path": "x"})], [net])
    assert shown.startswith("net 'use' ") and "| Out-Null; Get-Content" in shown and "pw" not in shown.split("'********'")[0]


def test_a_credential_goes_as_a_pscredential_and_shows_masked():
    from pypsrp.complex_objects import PSCredential

    from qrdr.remote.commands import Credential

    account = Credential("QRDR\\Administrator", Secret("Pa55-word!"))
    sent = built(Command("Get-WmiObject", {"Class": "Win32_Service", "Credential": account}))[0][2][1][1]
    assert isinstance(sent, PSCredential)
    assert (sent.username, sent.password) == ("QRDR\\Administrator", "Pa55-word!")
    shown = render_pipeline([Command("Get-WmiObject", {"Credential": account})])
    assert "Pa55-word!" not in shown and "Pa55-word!" not in repr(account) and "QRDR" in shown


def test_a_secret_is_revealed_on_the_wire_only():
    command = Command("qlogin", {"cs": "CS01", "u": "admin", "clp": Secret("Pa$$w0rd")})
    assert built(command)[0][2][2] == ("clp", "Pa$$w0rd")
    assert "Pa$$w0rd" not in render_pipeline([command])
    assert "Pa$$w0rd" not in repr(command)


def test_error_texts_never_carry_a_secret():
    command = render_pipeline([Command("qlogin", {"clp": Secret("Pa$$w0rd")})])
    remote = RemoteError(mask("logon failed for password Pa$$w0rd", ["Pa$$w0rd"]), "LoginFailed")
    errors = [
        RemoteCommandError("CS01", command, [remote]),
        ConnectionLostDuringChange("CS01", command, "reset"),
        HostUnreachable("CS01", mask("bad password Pa$$w0rd", ["Pa$$w0rd"])),
    ]
    for error in errors:
        assert "Pa$$w0rd" not in str(error) and "Pa$$w0rd" not in repr(error)
        assert "CS01" in str(error)
    assert "qlogin -clp '********'" in str(errors[0]) and "[LoginFailed]" in str(errors[0])


def test_mask_hides_the_longest_secret_first():
    assert mask("a secret-and-more b", ["secret", "secret-and-more"]) == "a ******** b"
    assert mask("nothing here", [""]) == "nothing here"


def test_transport_errors_are_told_in_a_short_sentence():
    import requests

    from qrdr.remote.session import _reason

    refused = requests.exceptions.ConnectionError(
        "HTTPConnectionPool(host='10.0.0.5', port=5985): Max retries exceeded with url: /wsman (Caused by "
        "NewConnectionError('<urllib3.connection.HTTPConnection object at 0x7f>: Failed to establish a new "
        "connection: [Errno 111] Connection refused'))")
    assert _reason(refused) == "[Errno 111] Connection refused"
    dropped = requests.exceptions.ConnectionError(
        "('Connection aborted.', RemoteDisconnected('Remote end closed connection without response'))")
    assert _reason(dropped) == "the host closed the connection without answering"
