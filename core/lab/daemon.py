"""The lab in the background: one process holding a :class:`~qrdr.lab.site.LabSite`.

``qrdr lab up`` starts ``python -m qrdr.lab.daemon --dir DIR --config SITE``
in a new session and waits until it has written ``DIR/lab.json`` (everything
answers) or has died (the reason is in ``DIR/lab.log``). The daemon answers
JSON requests, one line each, on the Unix socket ``DIR/control.sock``
(:func:`request`): ``status``, ``fault`` (kind, args), ``down``. ``down``
(or SIGTERM) stops every process, endpoint and address the lab started and
removes ``DIR``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import socketserver
import sys
import threading
from pathlib import Path
from typing import Any

from loguru import logger

CONTROL_SOCKET = "control.sock"


def request(workdir: Path, message: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """Send one request to the lab daemon of ``workdir``; raises ConnectionError when none answers."""
    path = Path(workdir) / CONTROL_SOCKET
    if not path.exists():
        raise ConnectionError(f"no lab is running in {workdir} (no {CONTROL_SOCKET})")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        try:
            client.connect(str(path))
        except OSError as exc:
            raise ConnectionError(f"the lab in {workdir} does not answer: {exc}") from None
        client.sendall(json.dumps(message).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = client.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        raise ConnectionError(f"the lab in {workdir} closed the connection without answering")
    return json.loads(data)


class _Handler(socketserver.StreamRequestHandler):
    def handle(self) -> None:
        daemon: LabDaemon = self.server.daemon  # type: ignore[attr-defined]
        try:
            message = json.loads(self.rfile.readline())
            answer = daemon.answer(message)
        except Exception as exc:  # a bad request must not take the lab down
            answer = {"ok": False, "error": str(exc)}
        self.wfile.write(json.dumps(answer, default=str).encode() + b"\n")


class LabDaemon:
    def __init__(self, lab: Any):
        self.lab = lab
        self.stopping = threading.Event()
        self.server: socketserver.UnixStreamServer | None = None

    def answer(self, message: dict[str, Any]) -> dict[str, Any]:
        op = message.get("op")
        if op == "status":
            return {"ok": True, "lab": self.lab.describe(), "hosts": self.host_states()}
        if op == "fault":
            return {"ok": True, "done": self.lab.fault(message["kind"], *message.get("args", []))}
        if op == "down":
            threading.Thread(target=self.shutdown, daemon=True).start()
            return {"ok": True, "done": "stopping"}
        return {"ok": False, "error": f"unknown request {op!r}"}

    def host_states(self) -> dict[str, Any]:
        states = {}
        for key, host in self.lab.hosts.items():
            endpoint = self.lab.endpoints.get(key)
            states[key] = {"name": host.name, "power": host.power,
                           "endpoint": ("up" if endpoint.is_up else "down") if endpoint else "via management host"}
        return states

    def serve(self, workdir: Path) -> None:
        path = workdir / CONTROL_SOCKET
        path.unlink(missing_ok=True)
        self.server = socketserver.ThreadingUnixStreamServer(str(path), _Handler)
        self.server.daemon = self  # type: ignore[attr-defined]
        self.server.serve_forever(poll_interval=0.2)

    def shutdown(self) -> None:
        if self.stopping.is_set():
            return
        self.stopping.set()
        logger.info("lab going down")
        try:
            self.lab.destroy()
        finally:
            if self.server is not None:
                self.server.shutdown()


def main(argv: list[str] | None = None) -> int:
    from ..config import load_site
    from .site import LabOptions, LabSite

    parser = argparse.ArgumentParser(prog="python -m qrdr.lab.daemon")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--second-dc", action="store_true")
    parser.add_argument("--reboot-seconds", type=float, default=1.0)
    parser.add_argument("--directory-link", action="store_true")
    args = parser.parse_args(argv)
    workdir = Path(args.dir).absolute()
    logger.remove()
    logger.add(sys.stderr, level="INFO")
    logger.enable("qrdr")
    site = load_site(args.config)
    # QRDR_LAB_SAMBA_CACHE: the golden provisioned domains the test fixtures keep (qrdr.lab.samba_fixtures);
    # a lab started from a test or a bench then copies one (about 0.5 s) instead of provisioning (5-9 s).
    lab = LabSite(site, workdir, LabOptions(reboot_seconds=args.reboot_seconds, second_dc=args.second_dc,
                                            directory_link=args.directory_link,
                                            samba_cache_dir=os.environ.get("QRDR_LAB_SAMBA_CACHE") or None))
    daemon = LabDaemon(lab)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=daemon.shutdown, daemon=True).start())
    try:
        lab.start()
    except BaseException as exc:
        logger.error("the lab did not start: {}", exc)
        lab.stop()  # the work directory stays: `qrdr lab up` reads the reason from lab.log, then removes it
        return 1
    (workdir / "daemon.pid").write_text(str(os.getpid()))
    daemon.serve(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
