"""PowerShell remoting behaviour of the lab endpoint, seen through plain pypsrp."""

from __future__ import annotations

import threading

import pytest
from pypsrp.exceptions import WSManFaultError
from pypsrp.powershell import PowerShell, PSInvocationState, RunspacePool
from pypsrp.shell import WinRS

from winrm_testhost import PASSWORD, SERVICE_TYPE_NAMES, USER
from qrdr.lab.winrm import WinRMEndpoint


@pytest.fixture
def pool(http_endpoint, connect):
    with RunspacePool(connect(http_endpoint)) as opened:
        yield opened


def test_get_service_returns_a_service_controller(pool):
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Service").add_parameter("Name", "MSExchangeIS")
    [service] = ps.invoke()
    assert ps.had_errors is False
    assert service.types == SERVICE_TYPE_NAMES
    assert str(service) == "MSExchangeIS"
    assert service.adapted_properties["ServiceName"] == "MSExchangeIS"
    assert service.adapted_properties["DisplayName"] == "Microsoft Exchange Information Store"
    assert service.adapted_properties["Status"] == "Running"
    assert service.adapted_properties["CanStop"] is True
    assert "StartType" not in service.adapted_properties  # PowerShell 2.0 on Windows 2003 has none
    assert service.extended_properties["Name"] == "MSExchangeIS"


def test_parameters_reach_the_host_in_order(pool, host):
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Service").add_parameter("Name", ["SMTPSVC", "MSExchangeIS"])
    services = ps.invoke()
    assert [s.adapted_properties["Status"] for s in services] == ["Stopped", "Running"]
    [(pipeline, _)] = host.invocations
    assert pipeline[0].name == "Get-Service"
    assert pipeline[0].parameters == (("Name", ["SMTPSVC", "MSExchangeIS"]),)


def test_multi_command_pipeline_with_input(pool, host):
    ps = PowerShell(pool)
    ps.add_cmdlet("Sort-Object").add_parameter("Descending")  # a switch: no value
    ps.add_cmdlet("Write-Output").add_argument(0)
    output = ps.invoke(input=[3, 1, 2])
    assert output == [3, 2, 1, 0]
    [(pipeline, input_objects)] = host.invocations
    assert [i.name for i in pipeline] == ["Sort-Object", "Write-Output"]
    assert input_objects == [3, 1, 2]
    assert pipeline[0].parameters == (("Descending", True),)


def test_several_statements_run_in_order(pool):
    ps = PowerShell(pool)
    ps.add_cmdlet("Write-Output").add_argument("first").add_statement()
    ps.add_cmdlet("Write-Output").add_argument("second")
    assert ps.invoke() == ["first", "second"]


def test_non_terminating_error_goes_to_the_error_stream(pool):
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-Service").add_parameter("Name", ["NoSuchService", "MSExchangeIS"])
    output = ps.invoke()
    assert [str(s) for s in output] == ["MSExchangeIS"]
    assert ps.had_errors is False
    assert ps.state == PSInvocationState.COMPLETED
    [error] = ps.streams.error
    assert str(error) == "Cannot find any service with service name 'NoSuchService'."
    assert error.fq_error == "NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.GetServiceCommand"
    assert error.reason == "ServiceCommandException"
    assert error.target_name == "NoSuchService"
    assert error.activity == "Get-Service"


def test_unknown_command_fails_the_pipeline_with_its_error_record(pool):
    ps = PowerShell(pool)
    ps.add_cmdlet("Get-ServiceTypo")
    assert ps.invoke() == []
    assert ps.had_errors is True
    assert ps.state == PSInvocationState.FAILED
    [error] = ps.streams.error
    assert str(error).startswith("The term 'Get-ServiceTypo' is not recognized as the name of a cmdlet")
    assert error.fq_error == "CommandNotFoundException"
    assert error.reason == "CommandNotFoundException"
    assert error.target_name == "Get-ServiceTypo"
    assert error.exception.types[0] == "System.Management.Automation.CommandNotFoundException"
    assert error.message == "ObjectNotFound: (Get-ServiceTypo:String) [Get-ServiceTypo], CommandNotFoundException"
    assert error.invocation_name == "Get-ServiceTypo"
    # The pool stays usable after a failed pipeline.
    again = PowerShell(pool)
    again.add_cmdlet("Write-Output").add_argument("still here")
    assert again.invoke() == ["still here"]


def test_output_later_than_the_operation_timeout_arrives(http_endpoint, connect):
    # OperationTimeout 1 s, the command answers after 2.5 s: the endpoint must answer TimedOut
    # (which pypsrp retries) rather than hold the request past the client's timeout.
    with RunspacePool(connect(http_endpoint, operation_timeout=1, read_timeout=3)) as slow_pool:
        before = http_endpoint.request_count
        ps = PowerShell(slow_pool)
        ps.add_cmdlet("Start-Sleep").add_parameter("Seconds", 2.5)
        ps.add_cmdlet("Write-Output").add_argument("late")
        assert ps.invoke() == ["late"]
        receives = http_endpoint.request_count - before - 1  # minus the Command request
        assert receives >= 3  # at least two TimedOut answers, then the output


def test_timed_out_fault_is_what_windows_sends(http_endpoint, connect):
    # Receive on the pool with nothing to send: after the OperationTimeout, fault 2150858793.
    with RunspacePool(connect(http_endpoint, operation_timeout=1, read_timeout=3)) as idle_pool:
        with pytest.raises(WSManFaultError) as caught:
            idle_pool._receive()
        assert caught.value.code == 2150858793


def test_large_output_is_split_across_envelopes(http_endpoint, connect):
    max_envelope = 16384
    with RunspacePool(connect(http_endpoint, max_envelope_size=max_envelope)) as small_pool:
        before = http_endpoint.request_count
        ps = PowerShell(small_pool)
        ps.add_cmdlet("New-Lines").add_parameter("Count", 300).add_parameter("Width", 1000)
        output = ps.invoke()
        assert output == ["%05d " % i + "x" * 1000 for i in range(300)]
        assert http_endpoint.request_count - before > 300 * 1000 // max_envelope
        assert http_endpoint.oversized_responses == 0


def test_stop_ends_a_running_pipeline_and_keeps_the_pool(pool, http_endpoint, host):
    ps = PowerShell(pool)
    ps.add_cmdlet("Start-Sleep").add_parameter("Seconds", 30)
    ps.add_cmdlet("Write-Output").add_argument("too late")
    ps.begin_invoke()
    ps.stop()
    assert ps.state == PSInvocationState.STOPPED
    assert http_endpoint.pipeline_count == 0
    # A simulated command cannot be interrupted: let it end; its result must be dropped.
    host.wake.set()
    again = PowerShell(pool)
    again.add_cmdlet("Write-Output").add_argument("after stop")
    assert again.invoke() == ["after stop"]


def test_finished_pipelines_are_released_and_can_run_again(pool, http_endpoint):
    ps = PowerShell(pool)
    ps.add_cmdlet("Write-Output").add_argument("x")
    assert ps.invoke() == ["x"]
    # The client got the final state: the server holds nothing for it (no leak over many commands).
    assert http_endpoint.pipeline_count == 0
    ps.close()  # Signal Terminate on a finished pipeline is accepted
    # pypsrp reuses the same pipeline id after close() (and keeps the earlier output).
    assert ps.invoke() == ["x", "x"]
    assert ps.state == PSInvocationState.COMPLETED
    ps.close()
    assert pool.is_alive() is True


def test_close_after_a_stop_is_accepted(pool, http_endpoint):
    ps = PowerShell(pool)
    ps.add_cmdlet("Start-Sleep").add_parameter("Seconds", 30)
    ps.begin_invoke()
    ps.stop()
    ps.close()
    assert http_endpoint.pipeline_count == 0


def test_closing_the_pool_deletes_the_shell(http_endpoint, connect):
    pool = RunspacePool(connect(http_endpoint))
    pool.open()
    assert http_endpoint.shell_count == 1
    pool.close()
    assert http_endpoint.shell_count == 0
    assert pool.is_alive() is False


def run_in_two_pools(endpoint, connect, command="Start-Sleep", **parameters) -> dict:
    results = {}

    def run(tag):
        with RunspacePool(connect(endpoint)) as own_pool:
            ps = PowerShell(own_pool)
            ps.add_cmdlet(command)
            for name, value in parameters.items():
                ps.add_parameter(name, value)
            ps.add_cmdlet("Write-Output").add_argument(tag)
            results[tag] = ps.invoke()

    threads = [threading.Thread(target=run, args=(tag,)) for tag in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def test_two_pools_on_one_host_run_one_pipeline_at_a_time(http_endpoint, connect, host):
    # Simulated hosts are not thread-safe: by default the endpoint runs one invoke() at a time.
    assert run_in_two_pools(http_endpoint, connect, "Start-Sleep", Seconds=0.3) == {"a": ["a"], "b": ["b"]}
    assert host.max_concurrent == 1


def test_a_thread_safe_host_may_run_pipelines_concurrently(host, connect):
    import contextlib

    endpoint = WinRMEndpoint(host, {USER: PASSWORD}, name="concurrent", invoke_lock=contextlib.nullcontext())
    with endpoint:
        # Wait-Peer returns only when both pipelines are in the host at once.
        assert run_in_two_pools(endpoint, connect, "Wait-Peer") == {"a": ["a"], "b": ["b"]}
    assert host.max_concurrent == 2


def test_other_shells_are_refused(http_endpoint, connect):
    # The endpoint serves PowerShell remoting only; a cmd shell gets a WS-Man fault, not a crash.
    with pytest.raises(WSManFaultError):
        WinRS(connect(http_endpoint)).open()


def test_the_endpoint_speaks_as_powershell_2(pool):
    # Windows 2003 with PowerShell 2.0: protocol 2.1, so pypsrp keeps 150 KiB envelopes.
    assert pool.protocol_version == "2.1"
    assert pool.connection.max_envelope_size == 153600
    version_table = pool.application_private_data.data["PSVersionTable"]
    assert version_table["PSVersion"] == "2.0"


def test_large_command_and_input_span_several_requests(pool, host):
    # 400 kB of parameter and 500 kB of input: pypsrp sends them in several Command/Send fragments.
    ps = PowerShell(pool)
    ps.add_cmdlet("Write-Output").add_parameter("InputObject", "y" * 400_000)
    output = ps.invoke(input=["z" * 1000] * 500)
    assert len(output) == 501 and output[-1] == "y" * 400_000
    [(_, input_objects)] = host.invocations
    assert input_objects == ["z" * 1000] * 500


def test_session_key_exchange_for_secure_strings(pool):
    pool.exchange_keys()
    assert pool._key_exchanged is True


def test_runspace_limits_and_availability(pool):
    pool.max_runspaces = 4
    pool.min_runspaces = 2
    assert (pool.max_runspaces, pool.min_runspaces) == (4, 2)
    assert pool.get_available_runspaces() == 4


def test_service_config_gives_the_winrm_2_envelope_size(http_endpoint, connect):
    wsman = connect(http_endpoint)
    wsman.update_max_payload_size()  # asks winrm/config, as against Windows
    assert wsman.max_envelope_size == 150 * 1024


def test_a_broken_host_fails_the_pipeline_instead_of_hanging(pool, host):
    from psrpcore.types import PSObject, add_script_property

    unsendable = PSObject()
    add_script_property(unsendable, "Boom", lambda self: 1 / 0)  # serialising it raises
    host._cmd_unsendable = lambda invocation, objects, result: [unsendable]
    host._cmd_raises = lambda invocation, objects, result: 1 / 0
    for command, text in (("Unsendable", "cannot send"), ("Raises", "ZeroDivisionError")):
        ps = PowerShell(pool)
        ps.add_cmdlet(command)
        ps.invoke()
        assert ps.had_errors is True
        assert "winrm-host" in str(ps.streams.error[0]) and text in str(ps.streams.error[0])
