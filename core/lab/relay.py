"""The network between qrdr and a lab DC: a TCP relay that can be slowed or cut.

The DC itself is real (Samba), so its faults are a network's, not a Windows host's: every
byte qrdr sends or receives waits ``latency_ms`` more (a slow WAN link to the DR site), and
:meth:`TcpRelay.cut` resets every open connection at once, as a firewall or NAT dropping its
state, or a DC's network going away, does. New connections are accepted again right after
a cut (the path is back). :meth:`TcpRelay.go_down` is a DC that stops answering qrdr (the
network between them is lost; the simulated servers reach the DC directly and still do, so a
DC losing power is not what this simulates): open connections are cut, new ones are taken in
and never answered (the relay's kernel completes the TCP handshake, so qrdr waits in TLS's
instead: its own timeouts bound the wait either way), until :meth:`TcpRelay.come_up`. TLS runs
end to end through the relay, so qrdr still checks the DC's certificate against the DC's name.
Nothing here is Windows behaviour; docs/lab.md lists the faults.
"""

from __future__ import annotations

import socket
import struct
import threading
import time

from loguru import logger


class TcpRelay:
    """Listens on ``listen_host`` (a free port, :attr:`port`) and relays each connection to
    ``target``. ``start()``, then ``stop()``; :attr:`latency_ms` may change at any time."""

    def __init__(self, listen_host: str, target: tuple[str, int], name: str):
        self.listen_host = listen_host
        self.target = target
        self.name = name
        self.latency_ms = 0.0
        self.port = 0
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        #: While set, connections are held unanswered (:meth:`go_down`); they are closed on come_up.
        self._down = False
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.listen_host, 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, name=f"relay {self.name}", daemon=True).start()

    def stop(self) -> None:
        self._stopped.set()
        if self._listener is not None:
            self._listener.close()
        self.cut()
        self.come_up()

    def cut(self) -> int:
        """Cut every open connection at once; returns how many were cut. Both ends are shut
        down with SO_LINGER 0, so that their close sends RST (a middlebox dropping its state
        leaves no orderly close); the shutdown is what wakes the relay's threads blocked on them."""
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return len(sockets) // 2

    def go_down(self) -> int:
        """The DC stops answering: every open connection is cut (returns how many) and new ones
        are held unanswered until :meth:`come_up`."""
        self._down = True
        return self.cut()

    def come_up(self) -> None:
        """The DC answers again: the connections held while it was down are closed (their
        clients gave up on them or will), new ones are relayed."""
        with self._lock:
            self._down, held, self._held = False, self._held, []
        for sock in held:
            sock.close()

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._down:
                    self._held.append(client)
                    continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError as error:
                logger.debug("relay {}: {} unreachable: {}", self.name, self.target, error)
                client.close()  # the DC is down: the connection closes at once (accepted, it cannot be refused)
                continue
            with self._lock:
                if self._down:  # it went down while this one was being connected: never answered
                    self._held.append(client)
                    upstream.close()
                    continue
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                if self.latency_ms:
                    time.sleep(self.latency_ms / 1000)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            for sock in (source, sink):  # either side's end ends the connection (LDAP has no half-close)
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
