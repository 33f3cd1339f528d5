"""HTTP/1.1 transport of the lab WinRM endpoint: keep-alive connections, auth, message encryption.

One thread per connection (``socketserver.ThreadingTCPServer``); TLS is
wrapped in that thread so a slow handshake never blocks the listener.

Auth, as a Windows WinRM service with its defaults would do it:

* ``Negotiate`` (NTLM through pyspnego's acceptor) over HTTP and HTTPS. The
  security context belongs to the connection (hence keep-alive). Over HTTP
  every SOAP body must then be encrypted with it (``multipart/encrypted``,
  MS-WSMV 2.2.9.1; Windows' AllowUnencrypted=false); over HTTPS the client's
  channel binding (tls-server-end-point, RFC 5929) is checked.
* ``Basic`` over HTTPS only, checked on every request.

A failed logon is answered 401 without a token; pypsrp raises
AuthenticationError on it.
"""

from __future__ import annotations

import base64
import re
import socket
import socketserver
import struct
import threading
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING

import spnego
import spnego.channel_bindings
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from loguru import logger

if TYPE_CHECKING:
    from qrdr.lab.winrm.endpoint import WinRMEndpoint

ENCRYPTED_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = "Encrypted Boundary"
ENCRYPTED_CONTENT_TYPE = f'multipart/encrypted;protocol="{ENCRYPTED_PROTOCOL}";boundary="{BOUNDARY}"'


class DropConnection(Exception):
    """Close the connection without an answer (a fault, or the host went down)."""


def channel_binding_data(certificate: x509.Certificate) -> bytes:
    """RFC 5929 tls-server-end-point application data for a server certificate."""
    algorithm = certificate.signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, (hashes.MD5, hashes.SHA1)):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(certificate.public_bytes(serialization.Encoding.DER))
    return b"tls-server-end-point:" + digest.finalize()


def unwrap_encrypted(context: spnego.ContextProxy, body: bytes) -> bytes:
    """Decrypt a ``multipart/encrypted`` body (one or more parts) with the connection's context."""
    parts = [p for p in re.split(rb"--\s*" + re.escape(BOUNDARY.encode()) + rb"(?:--)?\r\n", body) if p]
    message = b""
    for index in range(0, len(parts), 2):
        header = parts[index]
        match = re.search(rb"Length=(\d+)", header)
        if not match or index + 1 >= len(parts):
            raise ValueError("encrypted body: part header without Length or payload")
        payload = parts[index + 1].replace(b"\tContent-Type: application/octet-stream\r\n", b"", 1)
        header_length = struct.unpack("<i", payload[:4])[0]
        signature = payload[4 : 4 + header_length]
        data = context.unwrap_winrm(signature, payload[4 + header_length :])
        if len(data) != int(match.group(1)):
            raise ValueError("encrypted body: length does not match")
        message += data
    return message


def wrap_encrypted(context: spnego.ContextProxy, message: bytes) -> bytes:
    header, data, padding = context.wrap_winrm(message)
    return (
        "\r\n".join(
            [
                f"--{BOUNDARY}",
                f"\tContent-Type: {ENCRYPTED_PROTOCOL}",
                f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(message) + padding}",
                f"--{BOUNDARY}",
                "\tContent-Type: application/octet-stream",
                "",
            ]
        ).encode()
        + struct.pack("<i", len(header))
        + header
        + data
        + f"--{BOUNDARY}--\r\n".encode()
    )


class WinRMServer(socketserver.ThreadingTCPServer):
    """The listening socket of one endpoint; each connection gets a :class:`WinRMRequestHandler`."""

    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], endpoint: "WinRMEndpoint"):
        self.endpoint = endpoint
        super().__init__(address, WinRMRequestHandler)

    def handle_error(self, request, client_address) -> None:
        # Clients dropping connections (and failed TLS handshakes) are normal in the lab.
        logger.opt(exception=True).debug("WinRM connection from {} ended with an error", client_address)


class WinRMRequestHandler(BaseHTTPRequestHandler):
    """One client connection: keep-alive, its own auth context."""

    protocol_version = "HTTP/1.1"
    server_version = "Microsoft-HTTPAPI/2.0"
    sys_version = ""
    server: WinRMServer

    def setup(self) -> None:
        self.endpoint = self.server.endpoint
        threading.current_thread().name = f"winrm-{self.endpoint.name}-connection"
        raw = self.request
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.endpoint.ssl_context is not None:
            # wrap_socket takes the file descriptor over from ``raw``: from here on only the
            # SSLSocket can shut the connection down.
            raw.settimeout(10)
            self.request = self.endpoint.ssl_context.wrap_socket(raw, server_side=True)
            self.request.settimeout(None)
        self.connection_socket = self.request
        self.endpoint._track_connection(self.connection_socket)
        self.connection_user: str | None = None  # set once Negotiate completed on this connection
        self.auth_context: spnego.ContextProxy | None = None
        super().setup()

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.endpoint._untrack_connection(self.connection_socket)

    def log_message(self, format: str, *args) -> None:
        logger.debug("WinRM {}: {}", self.endpoint.url, format % args)

    # --- responses ------------------------------------------------------------------------------

    def _respond(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _challenge(self, token: bytes | None = None) -> None:
        """401 asking for credentials (token: the next Negotiate leg)."""
        if token:
            self._respond(401, headers={"WWW-Authenticate": "Negotiate " + base64.b64encode(token).decode()})
            return
        self.send_response(401)
        self.send_header("WWW-Authenticate", "Negotiate")
        if self.endpoint.ssl_context is not None:
            self.send_header("WWW-Authenticate", 'Basic realm="WSMAN"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _reject(self) -> None:
        """401 for a failed logon; the context is gone, the connection closes."""
        self.auth_context = None
        self.connection_user = None
        self.close_connection = True
        self._respond(401, headers={"Connection": "close"})

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection_socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- the request ------------------------------------------------------------------------------

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.endpoint._on_request():
            self._drop()
            return
        if self.path.split("?", 1)[0].rstrip("/").lower() != "/wsman":
            # As Windows' HTTP.sys: nothing listens there (a wrong "path" in the client's settings).
            self._respond(404, b"Not Found", {"Content-Type": "text/plain"})
            return

        user, reply_token = self._authenticate()
        if user is None:
            return

        if not body:  # the empty request pypsrp sends to set up the context for encryption
            headers = {"WWW-Authenticate": "Negotiate " + base64.b64encode(reply_token).decode()} if reply_token else {}
            self._respond(200, headers=headers)
            return

        content_type = self.headers.get("Content-Type", "")
        encrypted = content_type.startswith("multipart/encrypted")
        if encrypted:
            if self.auth_context is None:
                self._respond(400, b"encrypted body without a security context")
                return
            try:
                soap = unwrap_encrypted(self.auth_context, body)
            except Exception as exc:
                logger.debug("WinRM {}: cannot decrypt request: {}", self.endpoint.url, exc)
                self._reject()
                return
        elif self.endpoint.ssl_context is None:
            # Windows' default AllowUnencrypted=false: over HTTP only encrypted bodies.
            self._reject()
            return
        else:
            soap = body

        try:
            status, answer = self.endpoint._dispatch(soap, user, self.client_address[0])
        except DropConnection:
            self._drop()
            return

        headers = {"WWW-Authenticate": "Negotiate " + base64.b64encode(reply_token).decode()} if reply_token else {}
        if encrypted:
            headers["Content-Type"] = ENCRYPTED_CONTENT_TYPE
            self._respond(status, wrap_encrypted(self.auth_context, answer), headers)
        else:
            headers["Content-Type"] = "application/soap+xml;charset=UTF-8"
            self._respond(status, answer, headers)

    def _authenticate(self) -> tuple[str | None, bytes | None]:
        """The authenticated user (or None after answering 401), and a final Negotiate token if any."""
        header = self.headers.get("Authorization")
        if not header:
            if self.connection_user is not None:
                return self.connection_user, None
            self._challenge()
            return None, None
        scheme, _, token_text = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            if self.endpoint.ssl_context is None:
                self._reject()
                return None, None
            try:
                user, _, password = base64.b64decode(token_text.strip()).decode("utf-8").partition(":")
            except Exception:
                self._reject()
                return None, None
            if not self.endpoint._password_ok(user, password):
                self._reject()
                return None, None
            return user, None
        if scheme not in ("negotiate", "ntlm"):
            self._challenge()
            return None, None

        if self.auth_context is None or self.auth_context.complete:
            bindings = None
            if self.endpoint.channel_binding is not None:
                bindings = spnego.channel_bindings.GssChannelBindings(application_data=self.endpoint.channel_binding)
            self.auth_context = spnego.server(protocol="negotiate", channel_bindings=bindings)
            self.connection_user = None
        try:
            out_token = self.auth_context.step(base64.b64decode(token_text.strip()))
        except Exception as exc:  # wrong password, bad channel binding, garbage
            logger.debug("WinRM {}: Negotiate logon failed: {}", self.endpoint.url, type(exc).__name__)
            self._reject()
            return None, None
        if not self.auth_context.complete:
            self._challenge(out_token)
            return None, None
        principal = self.auth_context.client_principal or ""
        if not self.endpoint._account_ok(principal):
            self._reject()
            return None, None
        self.connection_user = principal
        return principal, out_token
