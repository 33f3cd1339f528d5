"""The file, registry and program commands of the steps, for a Windows 2000 host.

Windows 2000 has no PowerShell: the steps' ``Test-Path``, ``Set-Content``,
``Start-Process``, ``diskpart`` ... cannot run on it, and
:func:`qrdr.remote.targeting.redirect` refuses them. :class:`Windows2000Session`
wraps the host's :class:`~qrdr.remote.RemoteHost` (which runs on the management
host with ``-ComputerName``) and sends each of those commands as what an admin
types on the management host (docs/design/host-commands.md, "Windows 2000 from
the management host"):

* files: the same cmdlets on the administrative share ``\\\\HOST\\C$\\...``;
* registry (``HKLM:\\``): WMI ``StdRegProv`` (EnumKey, EnumValues,
  GetStringValue, GetDWORDValue, DeleteKey; a key with subkeys is deleted
  leaves first, as RegDeleteKey requires);
* programs: ``Win32_Process.Create``; a native program's output is redirected
  by ``cmd /c`` to a file under ``C:\\qrdr`` that is read back through the share
  and deleted; the process is polled with ``Get-WmiObject Win32_Process`` until
  it is gone (the exit code is not visible this way: callers read the output);
* ``Stop-Process``: ``Win32_Process.Terminate``; ``qrdr:Find-LockingProcess``:
  ``CIM_ProcessExecutable`` (the modules each process has loaded).

Everything else (WMI, netdom, schtasks, Restart-Computer) goes to the wrapped
session unchanged, which adds the target and the account to act with
(qrdr.remote.targeting: the management host's session holds no credentials for
a second hop). Steps stay the same on Windows 2003 and 2000.
"""

from __future__ import annotations

import ntpath
import re
import time
import uuid
from typing import Any

from qrdr.remote import Command, RemoteHost, Script
from qrdr.remote.targeting import MANAGEMENT_PROGRAMS, program_key

#: StdRegProv's hDefKey for HKEY_LOCAL_MACHINE / HKEY_CURRENT_USER.
HIVES = {"HKLM": 2147483650, "HKEY_LOCAL_MACHINE": 2147483650, "HKCU": 2147483649, "HKEY_CURRENT_USER": 2147483649}
#: Where the output of programs started with Win32_Process.Create is written on the target.
OUTPUT_FOLDER = "C:\\qrdr"
FILE_CMDLETS = frozenset({"test-path", "get-content", "set-content", "remove-item", "new-item", "get-childitem",
                          "get-itemproperty"})


class Windows2000Error(RuntimeError):
    """A WMI call made for a Windows 2000 host failed (the message names host, method and code)."""


def registry_parts(path: str) -> tuple[int, str] | None:
    """``HKLM:\\SOFTWARE\\X`` -> (2147483650, "SOFTWARE\\X"); None for a file path."""
    match = re.match(r"^(?:Registry::)?(HKLM|HKCU|HKEY_LOCAL_MACHINE|HKEY_CURRENT_USER):?(?:\\(.*))?$", path,
                     re.IGNORECASE)
    if match is None:
        return None
    return HIVES[match.group(1).upper()], (match.group(2) or "").strip("\\")


def admin_share(host: str, path: str) -> str:
    """``C:\\qrdr\\a.txt`` on ``host`` -> ``\\\\host\\C$\\qrdr\\a.txt``."""
    drive, rest = ntpath.splitdrive(path)
    if len(drive) != 2 or drive[1] != ":":
        raise ValueError(f"host {host}: {path!r} is not a local path (drive letter and folder)")
    return f"\\\\{host}\\{drive[0].upper()}$" + (rest if rest.startswith("\\") else "\\" + rest)


def quote(argument: str) -> str:
    """One command-line argument, quoted when it has blanks (Windows' rules; qrdr's arguments hold no quotes)."""
    if '"' in argument:
        raise ValueError(f"cannot pass an argument with a double quote on a command line: {argument!r}")
    return f'"{argument}"' if (not argument or re.search(r"\s", argument)) else argument


class Windows2000Session:
    """A Windows 2000 host's session whose ``run`` translates the steps' local commands (module docstring)."""

    def __init__(self, inner: RemoteHost, *, poll: float = 0.5, program_timeout: float = 3600):
        self._inner = inner
        self.poll = poll
        self.program_timeout = program_timeout

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"Windows2000Session({self._inner!r})"

    # ------------------------------------------------------------------ dispatch

    def run(self, *commands: Command | Script, read_only: bool = False, allow_errors: bool = False,
            **options: Any) -> list[Any]:
        if len(commands) == 1:
            command = commands[0]
            if isinstance(command, Script) and command.name.lower() == "qrdr:find-lockingprocess":
                return self.locking_processes(str(dict(command.parameters)["Path"]))
            if isinstance(command, Command):
                key = command.name.lower()
                parameters = {name.lower(): value for name, value in command.parameters.items()}
                path = parameters.get("path")
                if key in FILE_CMDLETS and isinstance(path, str):
                    parts = registry_parts(path)
                    if parts is not None:
                        return self._registry(key, parts, parameters)
                    share = {name: (admin_share(self.name, value) if name.lower() == "path" else value)
                             for name, value in command.parameters.items()}
                    return self._inner.run(Command(command.name, share, command.arguments), read_only=read_only,
                                           allow_errors=allow_errors, **options)
                if key == "start-process":
                    arguments = [str(a) for a in (parameters.get("argumentlist") or [])]
                    return [{"Id": self.create_process([str(parameters["filepath"]), *arguments])}]
                if key == "stop-process":
                    self.terminate(int(parameters["id"]))
                    return []
                if "-" not in key and program_key(command.name) not in MANAGEMENT_PROGRAMS:
                    return self.run_program([command.name, *[str(a) for a in command.arguments]],
                                            allow_errors=allow_errors)
        return self._inner.run(*commands, read_only=read_only, allow_errors=allow_errors, **options)

    # ------------------------------------------------------------------ registry

    def _regprov(self, method: str, hive: int, *arguments: Any) -> dict[str, Any]:
        # hDefKey (2147483650) does not fit the Int32 that PSRP clients send a Python int as: it goes as
        # text, which Invoke-WmiMethod converts to the parameter's UInt32 like any argument.
        found = self._inner.run(Command("Invoke-WmiMethod", {"Namespace": "root\\default", "Class": "StdRegProv",
                                                             "Name": method, "ArgumentList": [str(hive), *arguments]}))
        return dict(found[0]) if found else {"ReturnValue": None}

    def subkeys(self, hive: int, key: str) -> list[str] | None:
        """Names of the subkeys of ``key`` (None when it does not exist)."""
        result = self._regprov("EnumKey", hive, key)
        if result.get("ReturnValue") != 0:
            return None
        return [str(n) for n in (result.get("sNames") or [])]

    def values(self, hive: int, key: str) -> dict[str, Any] | None:
        result = self._regprov("EnumValues", hive, key)
        if result.get("ReturnValue") != 0:
            return None
        values: dict[str, Any] = {}
        for name, kind in zip(result.get("sNames") or [], result.get("Types") or []):
            if int(kind) == 4:
                values[str(name)] = self._regprov("GetDWORDValue", hive, key, str(name)).get("uValue")
            elif int(kind) == 1:
                values[str(name)] = self._regprov("GetStringValue", hive, key, str(name)).get("sValue")
        return values

    def delete_tree(self, hive: int, key: str) -> None:
        for child in self.subkeys(hive, key) or []:
            self.delete_tree(hive, f"{key}\\{child}")
        code = self._regprov("DeleteKey", hive, key).get("ReturnValue")
        if code not in (0, 2):
            raise Windows2000Error(f"{self.name}: StdRegProv.DeleteKey {key} returned {code}")

    def _registry(self, cmdlet: str, parts: tuple[int, str], parameters: dict[str, Any]) -> list[Any]:
        hive, key = parts
        if cmdlet == "test-path":
            return [self.subkeys(hive, key) is not None]
        if cmdlet == "get-itemproperty":
            found = self.values(hive, key)
            return [] if found is None else [found]
        if cmdlet == "get-childitem":
            return [{"PSChildName": name} for name in self.subkeys(hive, key) or []]
        if cmdlet == "remove-item":
            if self.subkeys(hive, key) is not None:
                self.delete_tree(hive, key)
            return []
        raise Windows2000Error(f"{self.name}: {cmdlet} on the registry path {key} is not done through StdRegProv")

    # ------------------------------------------------------------------ processes

    def create_process(self, words: list[str]) -> int:
        command_line = " ".join(quote(w) for w in words)
        return self._create(command_line)

    def _create(self, command_line: str) -> int:
        found = self._inner.run(Command("Invoke-WmiMethod", {"Class": "Win32_Process", "Name": "Create",
                                                             "ArgumentList": [command_line, None, None]}))
        result = dict(found[0]) if found else {}
        if result.get("ReturnValue") != 0:
            raise Windows2000Error(f"{self.name}: Win32_Process.Create returned {result.get('ReturnValue')} for "
                                   f"{command_line.split(' ', 1)[0]} (9: path not found)")
        return int(result["ProcessId"])

    def process_exists(self, pid: int) -> bool:
        found = self._inner.run(Command("Get-WmiObject", {"Class": "Win32_Process", "Filter": f"ProcessId={int(pid)}"}),
                                read_only=True)
        return bool(found)

    def terminate(self, pid: int) -> None:
        self._inner.run(Command("Get-WmiObject", {"Class": "Win32_Process", "Filter": f"ProcessId={int(pid)}"}),
                        Command("Invoke-WmiMethod", {"Name": "Terminate", "ArgumentList": [1]}))

    def run_program(self, words: list[str], *, allow_errors: bool = False) -> list[str]:
        """Run a native program on the target, wait for it, and return its output lines."""
        output = ntpath.join(OUTPUT_FOLDER, f"qrdr-{uuid.uuid4().hex[:12]}.txt")
        self._inner.run(Command("New-Item", {"Path": admin_share(self.name, OUTPUT_FOLDER), "ItemType": "Directory",
                                             "Force": True}))
        line = " ".join(quote(w) for w in words)
        pid = self._create(f'cmd /c "{line} > {quote(output)} 2>&1"')
        deadline = time.monotonic() + self.program_timeout
        while self.process_exists(pid):
            if time.monotonic() > deadline:
                raise Windows2000Error(f"{self.name}: {words[0]} still runs after {self.program_timeout:g} s")
            time.sleep(self.poll)
        share = admin_share(self.name, output)
        lines = [str(x) for x in self._inner.run(Command("Get-Content", {"Path": share}), read_only=True)]
        self._inner.run(Command("Remove-Item", {"Path": share, "Force": True}))
        return lines

    def locking_processes(self, path: str) -> list[dict[str, Any]]:
        """Processes that have ``path`` loaded (CIM_ProcessExecutable), as Id, ProcessName, Path."""
        wanted = path.lower()
        holders: set[int] = set()
        for link in self._inner.run(Command("Get-WmiObject", {"Class": "CIM_ProcessExecutable"}), read_only=True):
            match = re.search(r'Name="((?:[^"\\]|\\.)*)"', str(link.get("Antecedent", "")))
            module = re.sub(r"\\(.)", r"\1", match.group(1)).lower() if match else ""
            handle = re.search(r'Handle="(\d+)"', str(link.get("Dependent", "")))
            if module == wanted and handle:
                holders.add(int(handle.group(1)))
        if not holders:
            return []
        processes = self._inner.run(Command("Get-WmiObject", {"Class": "Win32_Process"}), read_only=True)
        return [{"Id": int(p["ProcessId"]), "ProcessName": str(p.get("Name", "")).removesuffix(".exe"),
                 "Path": p.get("ExecutablePath")} for p in processes if int(p.get("ProcessId", -1)) in holders]
