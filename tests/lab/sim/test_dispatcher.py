"""The pipeline dispatcher: command lookup, parameter binding, errors, scripts, exit codes."""

from __future__ import annotations

from qrdr.lab.sim import registry
from qrdr.lab.sim.host import NativeOutput, native
from qrdr.lab.sim.protocol import Invocation

from .conftest import call


def test_unknown_command_fails_with_windows_record(exchange_host):
    result = call(exchange_host, "Get-ServiceTypo")
    assert result.failed is not None
    assert result.failed.message == (
        "The term 'Get-ServiceTypo' is not recognized as the name of a cmdlet, function, script file, or operable "
        "program. Check the spelling of the name, or if a path was included, verify that the path is correct and "
        "try again.")
    assert result.failed.fully_qualified_error_id == "CommandNotFoundException"
    assert result.failed.category == "ObjectNotFound"
    assert result.failed.exception_type == "System.Management.Automation.CommandNotFoundException"
    assert result.output == []


def test_named_parameters_are_case_insensitive_and_prefixes_bind(exchange_host):
    result = call(exchange_host, ("get-service", {"NA": "msexchangeis"}))
    assert result.failed is None
    assert [obj.Name for obj in result.output] == ["MSExchangeIS"]


def test_ambiguous_prefix_is_refused(exchange_host):
    result = call(exchange_host, ("Set-Service", {"Name": "W3SVC", "S": "Stopped"}))
    assert result.failed is not None
    assert result.failed.fully_qualified_error_id == "AmbiguousParameter,Microsoft.PowerShell.Commands.SetServiceCommand"
    assert "-StartupType" in result.failed.message and "-Status" in result.failed.message


def test_unknown_parameter_names_the_parameter(exchange_host):
    result = call(exchange_host, ("Get-Service", {"Nmae": "W3SVC"}))
    assert result.failed.message == "A parameter cannot be found that matches parameter name 'Nmae'."
    assert result.failed.fully_qualified_error_id == "NamedParameterNotFound,Microsoft.PowerShell.Commands.GetServiceCommand"


def test_positional_argument_binds_by_position(exchange_host):
    result = call(exchange_host, ("Get-Service", {}, ["W3SVC"]))
    assert [obj.DisplayName for obj in result.output] == ["World Wide Web Publishing Service"]


def test_pipeline_passes_output_as_input(exchange_host):
    result = call(exchange_host, ("Get-Service", {"Name": "W3SVC"}), ("Stop-Service", {"PassThru": True}))
    assert result.failed is None
    assert exchange_host.service("W3SVC").state == "Stopped"
    assert [obj.Status for obj in result.output] == ["Stopped"]


def test_error_action_stop_makes_the_error_terminating(exchange_host):
    result = call(exchange_host, ("Get-Service", {"Name": ["W3SVC", "NoSuch"], "ErrorAction": "Stop"}))
    assert result.failed is not None
    assert result.failed.fully_qualified_error_id.startswith("NoServiceFoundForGivenName")
    silent = call(exchange_host, ("Get-Service", {"Name": ["W3SVC", "NoSuch"], "ErrorAction": "SilentlyContinue"}))
    assert silent.failed is None and silent.errors == [] and len(silent.output) == 1


def test_unknown_script_fails_clearly(exchange_host):
    result = exchange_host.invoke([Invocation("param($x)\nRemove-Item $x", is_script=True)], [])
    assert result.failed is not None
    assert "only the scripts qrdr ships" in result.failed.message
    marked = exchange_host.invoke([Invocation("# qrdr-script: qrdr:No-Such\nparam()", is_script=True)], [])
    assert "'qrdr:no-such' is not one of them" in marked.failed.message


def test_native_exit_code_is_kept_for_lastexitcode(exchange_host, monkeypatch):
    monkeypatch.setattr(registry, "COMMANDS", dict(registry.COMMANDS))  # the test's program goes away after

    @native("qrdr-test-tool")
    def tool(host, arguments, input_objects):
        return NativeOutput(["line one", " ".join(arguments)], exit_code=int(arguments[-1]), stderr=["warned"])

    result = call(exchange_host, ("qrdr-test-tool.exe", {}, ["-x", "3"]))
    assert result.output == ["line one", "-x 3"]
    assert result.failed is None
    assert [error.fully_qualified_error_id for error in result.errors] == ["NativeCommandError"]
    assert exchange_host.invoke([Invocation("$LASTEXITCODE", is_script=True)], []).output == [3]


def test_a_bug_in_a_simulated_command_fails_the_pipeline_with_its_name(exchange_host, monkeypatch):
    monkeypatch.setattr(registry, "COMMANDS", dict(registry.COMMANDS))

    @registry.command("Get-Broken")
    def broken(host, invocation, input_objects):
        raise KeyError("oops")

    result = call(exchange_host, "Get-Broken")
    assert result.failed.fully_qualified_error_id == "LabSimulationError"
    assert "Get-Broken" in result.failed.message and "KeyError" in result.failed.message


def test_nested_pipelines_keep_the_outer_errors(exchange_host, monkeypatch):
    monkeypatch.setattr(registry, "COMMANDS", dict(registry.COMMANDS))

    @registry.command("Invoke-Twice")
    def twice(host, invocation, input_objects):
        host.write_error("outer error")
        inner = host.invoke([Invocation("Get-Service", parameters=(("Name", "NoSuch"),))], [])
        assert len(inner.errors) == 1
        host.write_error("after the nested pipeline")
        return []

    result = call(exchange_host, "Invoke-Twice")
    assert [error.message for error in result.errors] == ["outer error", "after the nested pipeline"]
