"""``Invoke-Expression`` and ``Out-String``: what pypsrp's ``Client.execute_ps`` sends.

A quick script (``Client("exch01").execute_ps("Get-Service -Name MSExchangeIS")``)
runs ``Invoke-Expression -Command <text> | Out-String -Stream``. The lab cannot
run PowerShell, but it can run *plain command text*: a pipeline of commands
with literal arguments (``Verb-Noun -Name 'a','b' -Force | Verb-Noun``).
Anything else (variables, subexpressions, script blocks, several statements)
fails as a parse error naming what the lab does not run, never silently.

``Out-String -Stream`` formats objects the way PowerShell's default views do
for the shapes the lab sends: a table for ServiceController (Status, Name,
DisplayName), ``Name : Value`` lists for other objects, strings as they are.
"""

from __future__ import annotations

from typing import Any

from psrpcore.types import PSObject

from .objects import prop, type_names
from .protocol import Invocation
from .registry import PSError, command

_UNSUPPORTED = {"$": "variables", "{": "script blocks", "(": "subexpressions", ";": "several statements",
                "@": "arrays and hashtables", "`": "escapes"}


def _parse_error(text: str, what: str) -> PSError:
    return PSError(f"The lab's Invoke-Expression runs plain commands only; {what} in: {text}",
                   category="ParserError", error_id="ParseException",
                   exception_type="System.Management.Automation.ParseException")


def tokenize(text: str) -> list[tuple[str, str]]:
    """Tokens of plain command text: ("word"|"string"|"comma"|"pipe", value)."""
    tokens: list[tuple[str, str]] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace():
            index += 1
        elif char in "'\"":
            end = index + 1
            value = ""
            while True:
                if end >= len(text):
                    raise _parse_error(text, "an unterminated string")
                if text[end] == char:
                    if end + 1 < len(text) and text[end + 1] == char:  # '' inside '...'
                        value += char
                        end += 2
                        continue
                    break
                if char == '"' and text[end] in "$`":
                    raise _parse_error(text, "expanding strings")
                value += text[end]
                end += 1
            tokens.append(("string", value))
            index = end + 1
        elif char == ",":
            tokens.append(("comma", ","))
            index += 1
        elif char == "|":
            tokens.append(("pipe", "|"))
            index += 1
        elif char in _UNSUPPORTED:
            raise _parse_error(text, _UNSUPPORTED[char])
        else:
            end = index
            while end < len(text) and not text[end].isspace() and text[end] not in ",|'\"" + "".join(_UNSUPPORTED):
                end += 1
            tokens.append(("word", text[index:end]))
            index = end
    return tokens


def parse_pipeline(text: str) -> list[Invocation]:
    """Plain command text -> the pipeline it means (see the module docstring)."""
    pipeline: list[Invocation] = []
    for segment in _split(tokenize(text), text):
        name_kind, name = segment[0]
        if name_kind not in ("word", "string"):
            raise _parse_error(text, "a command name missing")
        parameters: list[tuple[str | None, Any]] = []
        values = _values(segment[1:], text)
        index = 0
        while index < len(values):
            kind, value = values[index]
            if kind == "parameter":
                following = values[index + 1] if index + 1 < len(values) else None
                if following is not None and following[0] == "value":
                    parameters.append((value, following[1]))
                    index += 2
                    continue
                parameters.append((value, True))
            else:
                parameters.append((None, value))
            index += 1
        pipeline.append(Invocation(name=name, parameters=tuple(parameters)))
    return pipeline


def _split(tokens: list[tuple[str, str]], text: str) -> list[list[tuple[str, str]]]:
    segments: list[list[tuple[str, str]]] = [[]]
    for token in tokens:
        if token[0] == "pipe":
            segments.append([])
        else:
            segments[-1].append(token)
    if any(not segment for segment in segments):
        raise _parse_error(text, "an empty pipeline element")
    return segments


def _values(tokens: list[tuple[str, str]], text: str) -> list[tuple[str, Any]]:
    """Arguments: ("parameter", name) or ("value", literal or list for a,b,c)."""
    out: list[tuple[str, Any]] = []
    index = 0
    while index < len(tokens):
        kind, value = tokens[index]
        if kind == "word" and value.startswith("-") and len(value) > 1 and not _is_number(value):
            out.append(("parameter", value[1:].rstrip(":")))
            index += 1
            continue
        if kind == "comma":
            raise _parse_error(text, "a comma without a value before it")
        items = [_literal(kind, value)]
        index += 1
        while index + 1 < len(tokens) and tokens[index][0] == "comma":
            items.append(_literal(*tokens[index + 1]))
            index += 2
        out.append(("value", items if len(items) > 1 else items[0]))
    return out


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _literal(kind: str, value: str) -> Any:
    if kind == "string":
        return value
    if value.lower() in ("$true", "$false"):
        return value.lower() == "$true"
    try:
        return int(value)
    except ValueError:
        return value


@command("Invoke-Expression", "iex")
def invoke_expression(host: Any, invocation: Invocation, input_objects: list[Any]) -> list[Any]:
    named = invocation.named()
    text = named.get("command", next(iter(invocation.positional()), None))
    if not isinstance(text, str):
        raise PSError("Cannot bind argument to parameter 'Command' because it is null.",
                      category="InvalidData", error_id="ParameterArgumentValidationErrorNullNotAllowed,"
                      "Microsoft.PowerShell.Commands.InvokeExpressionCommand")
    pipeline = parse_pipeline(text)
    # host.invoke is not re-entrant: it owns the error list of the command it runs.
    outer_errors = host._errors
    result = host.invoke(pipeline, [])
    host._errors = outer_errors
    for error in result.errors:
        host.write_error(error)
    if result.failed is not None:
        raise PSError(result.failed.message, category=result.failed.category,
                      error_id=result.failed.fully_qualified_error_id, exception_type=result.failed.exception_type)
    return result.output


@command("Out-String")
def out_string(host: Any, invocation: Invocation, input_objects: list[Any]) -> list[Any]:
    lines = format_objects(input_objects)
    if invocation.named().get("stream"):
        return lines
    return ["\n".join(lines) + "\n"]


def format_objects(objects: list[Any]) -> list[str]:
    """PowerShell's default views, for the shapes the lab sends (see the module docstring)."""
    lines: list[str] = []
    services = [o for o in objects if isinstance(o, PSObject) and "System.ServiceProcess.ServiceController" in type_names(o)]
    if services:
        rows = [(str(prop(s, "Status", "")), str(prop(s, "Name", "")), str(prop(s, "DisplayName", ""))) for s in services]
        name_width = max(len("Name"), *(len(row[1]) for row in rows))
        lines += ["", f"{'Status':<8} {'Name':<{name_width}} DisplayName", f"{'------':<8} {'----':<{name_width}} -----------"]
        lines += [f"{status:<8} {name:<{name_width}} {display}" for status, name, display in rows]
        lines.append("")
    for obj in objects:
        if obj in services:
            continue
        if isinstance(obj, PSObject):
            meta = obj.PSObject
            properties = [*meta.adapted_properties, *meta.extended_properties]
            if not properties:
                lines.append(str(meta.to_string or ""))
                continue
            width = max(len(p.name) for p in properties)
            lines.append("")
            lines += [f"{p.name:<{width}} : {_text(p.get_value(obj))}" for p in properties]
        else:
            lines.append(_text(obj))
    return lines


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(_text(item) for item in value) + "}"
    return str(value)
