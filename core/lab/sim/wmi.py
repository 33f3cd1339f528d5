"""Get-WmiObject and Invoke-WmiMethod over the simulated host's state.

Classes are providers: ``WMI_CLASSES[class_name.lower()] = provider(host) -> list[PSObject]``
(objects built with :func:`qrdr.lab.sim.objects.wmi_object`). Methods are
``WMI_METHODS[(class, method)] = handler(caller, target, instance, arguments) -> PSObject``
(the ``__PARAMETERS`` result). Other simulations may register more with
:func:`wmi_class` / :func:`wmi_method`.

``-Filter`` understands only what qrdr's vocabulary sends: comparisons
``Property = value`` (a quoted string, an integer, TRUE or FALSE) joined by
OR. Anything else fails with WMI's "Invalid query", as a query WMI cannot
parse does; an unknown class fails with "Invalid class".
"""

from __future__ import annotations

import re
from typing import Any, Callable

from psrpcore.types import PSObject

from . import access
from .host import Param, WindowsHost, as_list, cmdlet, resolve_computer
from .objects import prop, wmi_object
from .registry import PSError

Provider = Callable[[WindowsHost], list[PSObject]]
MethodHandler = Callable[[WindowsHost, WindowsHost, PSObject, list[Any]], PSObject]

WMI_CLASSES: dict[str, Provider] = {}
WMI_METHODS: dict[tuple[str, str], MethodHandler] = {}


def wmi_class(name: str) -> Callable[[Provider], Provider]:
    def register(provider: Provider) -> Provider:
        WMI_CLASSES[name.lower()] = provider
        return provider
    return register


def wmi_method(class_name: str, method: str) -> Callable[[MethodHandler], MethodHandler]:
    def register(handler: MethodHandler) -> MethodHandler:
        WMI_METHODS[(class_name.lower(), method.lower())] = handler
        return handler
    return register


def _management_error(command: str, message: str) -> PSError:
    return PSError(message, category="InvalidOperation",
                   error_id=f"{command}ManagementException,Microsoft.PowerShell.Commands.{command}Command",
                   exception_type="System.Management.ManagementException")


def rpc_unavailable(host: WindowsHost, command: str, computer: str) -> None:
    """The non-terminating error of a WMI cmdlet whose -ComputerName does not answer."""
    host.write_error("The RPC server is unavailable. (Exception from HRESULT: 0x800706BA)",
                     category="InvalidOperation",
                     error_id=f"{command}COMException,Microsoft.PowerShell.Commands.{command}Command",
                     exception_type="System.Runtime.InteropServices.COMException", target=computer)


_CLAUSE = re.compile(r"""^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|-?\d+|TRUE|FALSE)\s*$""",
                     re.IGNORECASE)


def parse_filter(text: str) -> list[tuple[str, Any]]:
    """``Name='A' OR Name='B'`` -> [("Name", "A"), ("Name", "B")]; ValueError when not that form."""
    clauses = []
    for part in re.split(r"\s+OR\s+", text.strip(), flags=re.IGNORECASE):
        match = _CLAUSE.match(part)
        if match is None:
            raise ValueError(part)
        raw = match.group(2)
        if raw[0] in "'\"":
            value: Any = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif raw.upper() in ("TRUE", "FALSE"):
            value = raw.upper() == "TRUE"
        else:
            value = int(raw)
        clauses.append((match.group(1), value))
    return clauses


def _matches(obj: PSObject, clauses: list[tuple[str, Any]]) -> bool:
    for name, wanted in clauses:
        actual = prop(obj, name)
        if isinstance(wanted, str) and isinstance(actual, str):
            if actual.lower() == wanted.lower():
                return True
        elif actual == wanted:
            return True
    return False


def _has_property(obj: PSObject, name: str) -> bool:
    return any(entry.name.lower() == name.lower() for entry in obj.PSObject.adapted_properties)


@cmdlet("Get-WmiObject", Param("Class", 0), Param("Property", 1), Param("Filter"), Param("Query"),
        Param("ComputerName", aliases=("Cn",)), Param("Namespace", aliases=("NS",)), Param("Credential"),
        Param("List", switch=True), Param("Authentication"), Param("Impersonation"), Param("Locale"),
        Param("Authority"), Param("EnableAllPrivileges", switch=True), Param("AsJob", switch=True),
        Param("ThrottleLimit"), Param("DirectRead", switch=True), Param("Amended", switch=True))
def get_wmi_object(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    class_name = args.get("Class")
    if not class_name:
        raise _management_error("GetWMI", "Invalid query ") if args.get("Query") else PSError(
            "Cannot process command because of one or more missing mandatory parameters: Class.",
            category="InvalidArgument",
            error_id="MissingMandatoryParameter,Microsoft.PowerShell.Commands.GetWmiObjectCommand",
            exception_type="System.Management.Automation.ParameterBindingException")
    namespace = str(args.get("Namespace") or "root\\cimv2").lower().replace("/", "\\")
    if namespace not in ("root\\cimv2", "\\\\.\\root\\cimv2"):
        raise _management_error("GetWMI", "Invalid namespace ")
    provider = WMI_CLASSES.get(str(class_name).lower())
    clauses = None
    if args.get("Filter"):
        try:
            clauses = parse_filter(str(args["Filter"]))
        except ValueError:
            raise _management_error("GetWMI", "Invalid query ") from None
    credential = access.credential_of(args.get("Credential"), "GetWmiObject")
    output: list[Any] = []
    for computer in as_list(args.get("ComputerName")) or [None]:
        target = resolve_computer(host, computer)
        if target is None:
            rpc_unavailable(host, "GetWMI", str(computer))
            continue
        refused = access.wmi_connection_error(host, target, credential, "GetWmiObject", str(computer or "."))
        if refused is not None:
            host.write_error(refused)
            continue
        if provider is None:
            raise _management_error("GetWMI", "Invalid class ")
        objects = provider(target)
        if clauses is not None:
            if objects and any(not _has_property(objects[0], name) for name, _ in clauses):
                raise _management_error("GetWMI", "Invalid query ")
            objects = [obj for obj in objects if _matches(obj, clauses)]
        if target is not host:
            # Fetched over a connection that works: a method called on them in this pipeline uses it.
            host.credentialed_objects.update((id(obj), obj) for obj in objects)
        output.extend(objects)
    return output


#: Classes outside root\\cimv2 (a static method call must name their namespace).
CLASS_NAMESPACES = {"stdregprov": "root\\default"}


def _class_objects(host: WindowsHost, class_name: str, args: dict[str, Any]) -> list[Any]:
    """The class itself on each -ComputerName, for a static method call (``-Class C -Name M``)."""
    namespace = str(args.get("Namespace") or "root\\cimv2").lower().replace("/", "\\")
    if CLASS_NAMESPACES.get(class_name.lower(), "root\\cimv2") != namespace:
        raise PSError("Invalid class ", category="InvalidOperation",
                      error_id="InvokeWMIManagementException,Microsoft.PowerShell.Commands.InvokeWmiMethodCommand",
                      exception_type="System.Management.ManagementException", target=class_name)
    credential = access.credential_of(args.get("Credential"), "InvokeWmiMethod")
    objects = []
    for computer in as_list(args.get("ComputerName")) or [None]:
        target = resolve_computer(host, computer)
        if target is None:
            rpc_unavailable(host, "InvokeWMI", str(computer))
            continue
        refused = access.wmi_connection_error(host, target, credential, "InvokeWmiMethod", str(computer or "."))
        if refused is not None:
            host.write_error(refused)
            continue
        obj = wmi_object(target.name, class_name, {}, {})
        if target is not host:
            host.credentialed_objects[id(obj)] = obj
        objects.append(obj)
    return objects


@cmdlet("Invoke-WmiMethod", Param("Class", 0), Param("Name", 1), Param("ArgumentList", 2), Param("InputObject"),
        Param("Path"), Param("ComputerName", aliases=("Cn",)), Param("Namespace", aliases=("NS",)),
        Param("Credential"), Param("Authentication"), Param("Impersonation"), Param("Locale"), Param("Authority"),
        Param("EnableAllPrivileges", switch=True), Param("AsJob", switch=True), Param("ThrottleLimit"))
def invoke_wmi_method(host: WindowsHost, args: dict[str, Any], input_objects: list[Any]) -> list[Any]:
    """Runs a method on each input object (the pipeline's WMI objects or -InputObject)."""
    method = args.get("Name")
    if not method:
        raise PSError("Cannot process command because of one or more missing mandatory parameters: Name.",
                      category="InvalidArgument",
                      error_id="MissingMandatoryParameter,Microsoft.PowerShell.Commands.InvokeWmiMethodCommand",
                      exception_type="System.Management.Automation.ParameterBindingException")
    instances = as_list(args.get("InputObject")) or list(input_objects)
    arguments = as_list(args.get("ArgumentList"))
    if not instances and args.get("Class"):
        instances = _class_objects(host, str(args["Class"]), args)
    output = []
    for instance in instances:
        class_name = str(prop(instance, "__CLASS") or "")
        server = str(prop(instance, "__SERVER") or host.name)
        handler = WMI_METHODS.get((class_name.lower(), str(method).lower()))
        if handler is None:
            raise PSError("Invalid method ",
                          category="InvalidOperation",
                          error_id="InvokeWMIManagementException,Microsoft.PowerShell.Commands.InvokeWmiMethodCommand",
                          exception_type="System.Management.ManagementException", target=method)
        target = resolve_computer(host, server)
        if target is None:
            rpc_unavailable(host, "InvokeWMI", server)
            continue
        if target is not host and id(instance) not in host.credentialed_objects \
                and not access.logon_reaches(host, target):
            # An object that did not come over a working connection in this pipeline (sent by the
            # client, say) is reached with the session's own identity: the second hop.
            host.write_error(access.access_denied("InvokeWmiMethod", server))
            continue
        output.append(handler(host, target, instance, arguments))
    return output
