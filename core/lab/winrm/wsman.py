"""WS-Management envelopes: parse a request, build a response or a fault (xml.etree).

Only what the PowerShell remoting shell (MS-WSMV over MS-PSRP) uses:
Create, Delete, Get on the shell resource, and Command, Send, Receive, Signal.
"""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "wsmanfault": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "pwsh": "http://schemas.microsoft.com/powershell",
    "cfg": "http://schemas.microsoft.com/wbem/wsman/1/config",
    "xml": "http://www.w3.org/XML/1998/namespace",
}
for _prefix, _uri in NS.items():
    if _prefix != "xml":
        ET.register_namespace(_prefix, _uri)

_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
_SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
ACTION_CREATE = _TRANSFER + "Create"
ACTION_DELETE = _TRANSFER + "Delete"
ACTION_GET = _TRANSFER + "Get"
ACTION_COMMAND = _SHELL + "Command"
ACTION_SEND = _SHELL + "Send"
ACTION_RECEIVE = _SHELL + "Receive"
ACTION_SIGNAL = _SHELL + "Signal"

COMMAND_STATE_DONE = _SHELL + "CommandState/Done"
COMMAND_STATE_RUNNING = _SHELL + "CommandState/Running"
SIGNAL_TERMINATE = _SHELL + "signal/Terminate"
SIGNAL_PS_CTRL_C = "powershell/signal/ctrl_c"

ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

# WS-Man fault codes (HRESULTs as Windows sends them, in decimal).
ERROR_OPERATION_TIMEDOUT = 2150858793  # 0x80338029: Receive had nothing before OperationTimeout
ERROR_INVALID_SELECTORS = 2150858843  # 0x8033805B: no such shell
ERROR_ACTION_NOT_SUPPORTED = 2150858800  # 0x80338030
ERROR_INVALID_MESSAGE = 2150858817  # 0x80338041
ERROR_INTERNAL = 2150858752  # 0x80338000: the WS-Management service cannot process the request
ERROR_QUOTA_MAX_SHELLS = 2150859173  # 0x803381A5: ERROR_WSMAN_QUOTA_MAX_SHELLS (MaxShellsPerUser)


def q(prefix: str, name: str) -> str:
    """Clark notation ``{uri}name`` for a known prefix."""
    return f"{{{NS[prefix]}}}{name}"


class WSManFault(Exception):
    """A request the endpoint answers with a SOAP fault (HTTP 500)."""

    def __init__(self, code: int, subcode: str, reason: str):
        super().__init__(reason)
        self.code = code
        self.subcode = subcode
        self.reason = reason


@dataclass
class Request:
    """The parts of a WS-Man request the endpoint acts on."""

    action: str
    resource_uri: str
    message_id: str
    #: Largest response envelope the client accepts, in bytes.
    max_envelope_size: int
    #: Seconds the client waits for a Receive answer.
    operation_timeout: float
    selectors: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    body: ET.Element | None = None

    @property
    def shell_id(self) -> str | None:
        value = self.selectors.get("ShellId")
        return value.upper() if value else None


_DURATION = re.compile(r"^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$")


def parse_duration(text: str) -> float:
    """``PT20S`` / ``PT1M30.5S`` -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise WSManFault(ERROR_INVALID_MESSAGE, "InvalidMessageInformationHeader", f"bad duration {text!r}")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_request(data: bytes) -> Request:
    """Parse a SOAP envelope; raises :class:`WSManFault` naming what is missing."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise WSManFault(ERROR_INVALID_MESSAGE, "InvalidMessage", f"request is not XML: {exc}") from None
    header = root.find("s:Header", NS)
    if header is None:
        raise WSManFault(ERROR_INVALID_MESSAGE, "InvalidMessage", "request has no s:Header")

    def text(path: str, default: str | None = None) -> str:
        element = header.find(path, NS)
        if element is None or element.text is None:
            if default is None:
                raise WSManFault(ERROR_INVALID_MESSAGE, "InvalidMessageInformationHeader", f"header {path} missing")
            return default
        return element.text.strip()

    selectors = {
        s.attrib.get("Name", ""): (s.text or "").strip() for s in header.findall("wsman:SelectorSet/wsman:Selector", NS)
    }
    options = {
        o.attrib.get("Name", ""): (o.text or "").strip() for o in header.findall("wsman:OptionSet/wsman:Option", NS)
    }
    body = root.find("s:Body", NS)
    return Request(
        action=text("wsa:Action"),
        resource_uri=text("wsman:ResourceURI", ""),
        message_id=text("wsa:MessageID"),
        max_envelope_size=int(text("wsman:MaxEnvelopeSize", "153600")),
        operation_timeout=parse_duration(text("wsman:OperationTimeout", "PT60S")),
        selectors=selectors,
        options=options,
        body=body[0] if body is not None and len(body) else None,
    )


def _envelope(action: str, relates_to: str) -> tuple[ET.Element, ET.Element]:
    envelope = ET.Element(q("s", "Envelope"))
    header = ET.SubElement(envelope, q("s", "Header"))
    ET.SubElement(header, q("wsa", "To")).text = ANONYMOUS
    ET.SubElement(header, q("wsa", "Action"), {q("s", "mustUnderstand"): "true"}).text = action
    ET.SubElement(header, q("wsa", "MessageID")).text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(header, q("wsa", "RelatesTo")).text = relates_to
    body = ET.SubElement(envelope, q("s", "Body"))
    return envelope, body


def build_response(request: Request, *content: ET.Element) -> bytes:
    """A response to ``request`` (action + "Response", RelatesTo its MessageID) with ``content`` in the body."""
    envelope, body = _envelope(request.action + "Response", request.message_id)
    body.extend(content)
    return ET.tostring(envelope, encoding="utf-8", xml_declaration=False)


def build_fault(request: Request | None, fault: WSManFault, machine: str) -> bytes:
    """A SOAP fault carrying a WSManFault detail, as Windows sends it."""
    envelope, body = _envelope(
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault", request.message_id if request else "uuid:unknown"
    )
    soap_fault = ET.SubElement(body, q("s", "Fault"))
    code = ET.SubElement(soap_fault, q("s", "Code"))
    ET.SubElement(code, q("s", "Value")).text = "s:Receiver"
    subcode = ET.SubElement(code, q("s", "Subcode"))
    ET.SubElement(subcode, q("s", "Value")).text = f"w:{fault.subcode}"
    reason = ET.SubElement(soap_fault, q("s", "Reason"))
    ET.SubElement(reason, q("s", "Text"), {q("xml", "lang"): "en-US"}).text = fault.reason
    detail = ET.SubElement(soap_fault, q("s", "Detail"))
    wsman_fault = ET.SubElement(
        detail, q("wsmanfault", "WSManFault"), {"Code": str(fault.code), "Machine": machine}
    )
    ET.SubElement(wsman_fault, q("wsmanfault", "Message")).text = fault.reason
    return ET.tostring(envelope, encoding="utf-8", xml_declaration=False)


def timed_out_fault() -> WSManFault:
    return WSManFault(
        ERROR_OPERATION_TIMEDOUT,
        "TimedOut",
        "The WS-Management service cannot complete the operation within the time specified in OperationTimeout.",
    )


def unknown_shell_fault(shell_id: str | None) -> WSManFault:
    return WSManFault(
        ERROR_INVALID_SELECTORS,
        "InvalidSelectors",
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found "
        "on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists on "
        "the server. Provide the correct ShellId or create a new shell and retry the operation.",
    )


# --- response bodies ---------------------------------------------------------------------------


def shell_element(shell_id: str, resource_uri: str, owner: str, client_ip: str, state: str | None = None) -> ET.Element:
    shell = ET.Element(q("rsp", "Shell"))
    ET.SubElement(shell, q("rsp", "ShellId")).text = shell_id
    ET.SubElement(shell, q("rsp", "ResourceUri")).text = resource_uri
    ET.SubElement(shell, q("rsp", "Owner")).text = owner
    ET.SubElement(shell, q("rsp", "ClientIP")).text = client_ip
    if state is not None:
        ET.SubElement(shell, q("rsp", "State")).text = state
    ET.SubElement(shell, q("rsp", "IdleTimeOut")).text = "PT7200.000S"
    ET.SubElement(shell, q("rsp", "InputStreams")).text = "stdin pr"
    ET.SubElement(shell, q("rsp", "OutputStreams")).text = "stdout"
    return shell


def resource_created(endpoint_url: str, resource_uri: str, shell_id: str) -> ET.Element:
    """wst:ResourceCreated with the ShellId selector pypsrp addresses the shell with afterwards."""
    created = ET.Element(q("wst", "ResourceCreated"))
    ET.SubElement(created, q("wsa", "Address")).text = endpoint_url
    params = ET.SubElement(created, q("wsa", "ReferenceParameters"))
    ET.SubElement(params, q("wsman", "ResourceURI")).text = resource_uri
    selectors = ET.SubElement(params, q("wsman", "SelectorSet"))
    ET.SubElement(selectors, q("wsman", "Selector"), {"Name": "ShellId"}).text = shell_id
    return created


def command_response(command_id: str) -> ET.Element:
    response = ET.Element(q("rsp", "CommandResponse"))
    ET.SubElement(response, q("rsp", "CommandId")).text = command_id
    return response


def receive_response(chunks: list[bytes], command_id: str | None, done: bool) -> ET.Element:
    """rsp:ReceiveResponse: one stdout Stream per PSRP payload, CommandState Done when the pipeline ended."""


    response = ET.Element(q("rsp", "ReceiveResponse"))
    for chunk in chunks:
        attrib = {"Name": "stdout"}
        if command_id:
            attrib["CommandId"] = command_id
        ET.SubElement(response, q("rsp", "Stream"), attrib).text = base64.b64encode(chunk).decode("ascii")
    if command_id:
        ET.SubElement(
            response,
            q("rsp", "CommandState"),
            {"CommandId": command_id, "State": COMMAND_STATE_DONE if done else COMMAND_STATE_RUNNING},
        )
    return response


#: Bytes a ReceiveResponse envelope needs besides its base64 stream text (header, tags, one
#: Stream element per payload is counted separately): measured about 900, kept generous.
RECEIVE_ENVELOPE_OVERHEAD = 1400
#: Bytes per additional rsp:Stream element.
STREAM_ELEMENT_OVERHEAD = 160


CONFIG_RESOURCE = "http://schemas.microsoft.com/wbem/wsman/1/config"


def service_config(max_envelope_kb: int = 150, max_timeout_ms: int = 60000) -> ET.Element:
    """The part of ``winrm/config`` clients read (WinRM 2.0 defaults): pypsrp's update_max_payload_size()."""
    config = ET.Element(q("cfg", "Config"))
    ET.SubElement(config, q("cfg", "MaxEnvelopeSizekb")).text = str(max_envelope_kb)
    ET.SubElement(config, q("cfg", "MaxTimeoutms")).text = str(max_timeout_ms)
    ET.SubElement(config, q("cfg", "MaxBatchItems")).text = "32000"
    ET.SubElement(config, q("cfg", "MaxProviderRequests")).text = "4294967295"
    return config


def plain(name: str, text: str | None = None) -> ET.Element:
    """A bare element in the rsp namespace (SendResponse, SignalResponse)."""
    element = ET.Element(q("rsp", name))
    if text is not None:
        element.text = text
    return element
