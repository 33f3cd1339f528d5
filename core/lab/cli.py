"""``qrdr lab up|status|env|fault|down``: the built-in lab for people (see docs/lab.md)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

from .. import documents, processes
from . import addresses
from .daemon import request
from .faults import FAULTS

# `qrdr lab` exists only where the lab extra is installed (qrdr.cli catches this ImportError); the
# lab's own modules are imported when a lab command runs, not whenever qrdr starts.
for _needed in ("psrpcore", "spnego", "cryptography"):
    if importlib.util.find_spec(_needed) is None:
        raise ImportError(f"the lab needs {_needed}: pip install 'qrdr[lab]'")

DEFAULT_DIR = ".qrdr-lab"
DEFAULT_SITE = "e2003-w2003-vss"
UP_TIMEOUT = 180.0


def add_lab_commands(commands: Any, add_globals: Callable[[argparse.ArgumentParser], None]) -> None:
    lab = commands.add_parser("lab", help="the built-in lab: a simulated site on this machine")
    sub = lab.add_subparsers(dest="lab_command", required=True, metavar="LAB_COMMAND")
    up = sub.add_parser("up", help="start the lab in the background; prints its endpoints")
    up.add_argument("--site", default=None, help=f"a built-in lab site (default {DEFAULT_SITE}; see docs/lab.md)")
    up.add_argument("--second-dc", action="store_true", help="a second, replicating domain controller")
    up.add_argument("--reboot-seconds", type=float, default=1.0, help="how long a simulated reboot takes")
    up.add_argument("--directory-link", action="store_true",
                    help="qrdr reaches the DCs through a relay the faults directory-latency, directory-cut "
                         "and directory-down/-up act on")
    for name, text in (("status", "what runs and whether each host answers"),
                       ("env", "export lines for the lab's passwords (eval \"$(qrdr lab env)\")"),
                       ("down", "stop everything the lab started and remove its directory")):
        sub.add_parser(name, help=text)
    fault = sub.add_parser("fault", help="inject a fault: " + "; ".join(f"{k} {v}" for k, v in FAULTS.items()))
    fault.add_argument("kind", choices=sorted(FAULTS))
    fault.add_argument("args", nargs="*")
    for parser in (lab, up, fault, *[sub.choices[n] for n in ("status", "env", "down")]):
        parser.add_argument("--dir", default=argparse.SUPPRESS, help=f"the lab's directory (default ./{DEFAULT_DIR})")
        add_globals(parser)
    lab.set_defaults(lab_handler=run_lab_command)


def run_lab_command(args: argparse.Namespace) -> int:
    workdir = Path(getattr(args, "dir", DEFAULT_DIR)).absolute()
    try:
        if args.lab_command == "up":
            return _up(args, workdir)
        if args.lab_command == "down":
            return _down(workdir, args.json)
        if args.lab_command == "env":
            lab = _running_lab(workdir)
            if lab is None:
                raise ConnectionError(f"no lab is running in {workdir}")
            print(Path(lab["env_file"]).read_text(), end="")
            return 0
        if args.lab_command == "status":
            answer = request(workdir, {"op": "status"})
            _print("qrdr lab status", answer["lab"]["site"], answer, args.json, _render_status)
            return 0
        answer = request(workdir, {"op": "fault", "kind": args.kind, "args": args.args})
        site = _site_of(workdir)
        if not answer.get("ok"):
            return _failed("qrdr lab fault", str(answer.get("error")), 2, args.json, site)
        _print("qrdr lab fault", site, answer, args.json, lambda a: a["done"])
        return 0
    except ConnectionError as exc:
        return _failed("qrdr lab", str(exc), 2, args.json, None)


def _running_lab(workdir: Path) -> dict[str, Any] | None:
    """What ``qrdr lab up`` wrote of the lab in ``workdir`` (lab.json), or None."""
    path = workdir / "lab.json"
    return json.loads(path.read_text()) if path.exists() else None


def _site_of(workdir: Path) -> str | None:
    lab = _running_lab(workdir)
    return lab.get("site") if lab else None


def _failed(command: str, message: str, code: int, as_json: bool, site: str | None) -> int:
    """A lab command's failure: on stderr, or with --json the ``qrdr error`` document on stdout."""
    if as_json:
        print(json.dumps(documents.error(site, "LabError", f"{command}: {message}", code), indent=2))
    else:
        print(f"{command}: {message}", file=sys.stderr)
    return code


def _up(args: argparse.Namespace, workdir: Path) -> int:
    try:
        request(workdir, {"op": "status"}, timeout=5)
        return _failed("qrdr lab up", f"a lab is already running in {workdir}; `qrdr lab down` stops it", 5,
                       args.json, _site_of(workdir))
    except ConnectionError:
        pass
    if args.config and args.site:
        return _failed("qrdr lab up", "give --config or --site, not both", 2, args.json, None)
    try:
        from .site import builtin_site  # the simulated hosts load only for the commands that need them

        config = Path(args.config) if args.config else builtin_site(args.site or DEFAULT_SITE)
    except ValueError as exc:
        return _failed("qrdr lab up", str(exc), 2, args.json, None)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    log = (workdir / "lab.log").open("w")
    command = [sys.executable, "-m", "qrdr.lab.daemon", "--dir", str(workdir), "--config", str(config),
               "--reboot-seconds", str(args.reboot_seconds)] + (["--second-dc"] if args.second_dc else []) \
        + (["--directory-link"] if args.directory_link else [])
    # The daemon keeps its own NTLM credential file: one inherited from a process that runs labs
    # itself (a test session) would be shared, and each process rewrites it with its own accounts.
    environment = {name: value for name, value in os.environ.items() if name != "NTLM_USER_FILE"}
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                               env=environment)
    deadline = time.monotonic() + UP_TIMEOUT
    while time.monotonic() < deadline:
        if (workdir / "lab.json").exists() and (workdir / "control.sock").exists():
            lab = json.loads((workdir / "lab.json").read_text())
            _print("qrdr lab up", lab["site"], lab, args.json, _render_up)
            return 0
        if process.poll() is not None:
            reason = (workdir / "lab.log").read_text()[-3000:]
            shutil.rmtree(workdir, ignore_errors=True)
            return _failed("qrdr lab up", f"the lab did not start:\n{reason}", 1, args.json, None)
        time.sleep(0.2)
    process.terminate()
    return _failed("qrdr lab up", f"not up after {UP_TIMEOUT:.0f} s; see {workdir / 'lab.log'}", 1, args.json, None)


def _down(workdir: Path, as_json: bool) -> int:
    pid_file = workdir / "daemon.pid"
    pid = int(pid_file.read_text()) if pid_file.exists() else None
    site = _site_of(workdir)
    request(workdir, {"op": "down"})
    deadline = time.monotonic() + 60
    while pid is not None and processes.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    addresses.release_stale()
    shutil.rmtree(workdir, ignore_errors=True)
    _print("qrdr lab down", site, {"ok": True, "down": str(workdir)}, as_json, lambda a: f"lab in {workdir} is down")
    return 0


def _print(kind: str, site: str | None, answer: dict[str, Any], as_json: bool,
           render: Callable[[dict[str, Any]], str]) -> None:
    """``answer`` as text, or with --json as a document of ``kind`` (docs/cli.md, "JSON documents")."""
    print(json.dumps(documents.document(kind, site, answer), indent=2) if as_json else render(answer))


def _render_up(lab: dict[str, Any]) -> str:
    lines = [f"Lab for site {lab['site']} is up ({lab['start_seconds'].get('total', 0):.1f} s).", "Hosts:"]
    for key, host in lab["hosts"].items():
        where = host["winrm_url"] or f"via {host['via']}"
        lines.append(f"  {key:<11} {host['name']:<8} Windows {host['windows']}  {where}")
    for dc in lab["directory"]:
        lines.append(f"Directory: {dc['name']} {dc['ldaps_url']} (bind {dc['bind_user']}, CA {dc['ca_file']})")
    if lab["hosts"]:
        first = next(h for h in lab["hosts"].values() if h["user"])
        lines.append(f"WinRM user {first['user']}, CA {first['ca_file']}; passwords: {lab['env_file']}")
    lines.append(f"Site config for qrdr: {lab['config']}")
    lines.append(f'Use it:  eval "$(qrdr lab env)"; qrdr --config {lab["config"]} plan promote')
    return "\n".join(lines)


def _render_status(answer: dict[str, Any]) -> str:
    lines = [f"Lab for site {answer['lab']['site']}:"]
    for key, state in answer["hosts"].items():
        lines.append(f"  {key:<11} {state['name']:<8} power {state['power']:<9} endpoint {state['endpoint']}")
    return "\n".join(lines)
