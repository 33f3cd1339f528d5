"""``net use``: an SMB connection with explicit credentials, the way across the second hop.

``net use \\\\X\\IPC$ PASSWORD /user:DOMAIN\\user`` connects to X as that user; the
connection belongs to the logon session that made it (win32 NetMgmt "Use
Functions": "Connections are made on a per-user basis"; "Each logon session
receives its own set of drive letters"), here the WinRM shell, and ends with
it. While it lasts, SMB from that session reaches X (administrative shares, the
remote service control manager: qrdr.lab.sim.access). Messages and error
numbers: Microsoft Learn "Net use" (gg651155), KB103390 for the Windows
2000/2003 wording of 1326. Making the same connection again as the same user is
not documented; the lab answers it as done.
"""

from __future__ import annotations

from typing import Any

from .host import NativeOutput, WindowsHost, native, resolve_computer

_OK = "The command completed successfully."
#: System error n -> its Windows Server 2003 text (win32 system error codes; KB103390 for 1326).
_SYSTEM_ERRORS = {
    53: "The network path was not found.",
    67: "The network name cannot be found.",
    1219: "Multiple connections to a server or shared resource by the same user, using more than one user name, "
          "are not allowed. Disconnect all previous connections to the server or shared resource and try again.",
    1326: "Logon failure: unknown user name or bad password.",
    2250: "The network connection could not be found.",
}
_SYNTAX = ["The syntax of this command is:", "", "NET USE", "[devicename | *] [\\\\computername\\sharename[\\volume] "
           "[password | *]]", "        [/USER:[domainname\\]username]", "        [[/DELETE] | [/PERSISTENT:{YES | NO}]]"]


def _system_error(number: int) -> NativeOutput:
    return NativeOutput([], exit_code=2, stderr=[f"System error {number} has occurred.", "", _SYSTEM_ERRORS[number]])


def _share_parts(unc: str) -> tuple[str, str] | None:
    """``\\\\X\\IPC$`` -> ("X", "IPC$")."""
    if not unc.startswith("\\\\"):
        return None
    computer, _, share = unc[2:].partition("\\")
    return (computer, share) if computer and share else None


@native("net")
def net(host: WindowsHost, arguments: list[str], input_objects: list[Any]) -> NativeOutput:
    """``net use \\\\X\\SHARE [PASSWORD] /user:U``, ``net use \\\\X\\SHARE /delete`` and ``net use``."""
    if not arguments or arguments[0].lower() != "use":
        return NativeOutput(_SYNTAX, exit_code=1)
    connections = host.net_uses.setdefault(host.logon.shell, {})
    words = arguments[1:]
    if not words:
        lines = ["New connections will not be remembered.", "", "Status       Local     Remote      Network", "-" * 79]
        lines += [f"OK                     \\\\{computer.upper()}\\IPC$  Microsoft Windows Network"
                  for computer in sorted(connections)]
        return NativeOutput([*lines, _OK])
    unc, rest = words[0], words[1:]
    parts = _share_parts(unc)
    if parts is None:
        return NativeOutput(_SYNTAX, exit_code=1)
    switches = {word.split(":", 1)[0].lower(): word.split(":", 1)[1] if ":" in word else True
                for word in rest if word.startswith("/")}
    plain = [word for word in rest if not word.startswith("/")]
    target = resolve_computer(host, parts[0])
    if "/delete" in switches or "/d" in switches:
        if target is None or connections.pop(target.name.lower(), None) is None:
            return _system_error(2250)
        return NativeOutput([f"{unc} was deleted successfully."])
    if target is None:
        return _system_error(53)
    if parts[1].upper() not in ("IPC$", "ADMIN$") and not (len(parts[1]) == 2 and parts[1][1] == "$"):
        return _system_error(67)
    user = switches.get("/user")
    if not isinstance(user, str) or not plain:
        # Without both, net would prompt for them; a remote session cannot answer a prompt.
        return NativeOutput([], exit_code=2, stderr=["System error 1223 has occurred.", "",
                                                      "The operation was canceled by the user."])
    known = connections.get(target.name.lower())
    if known is not None and known.lower() != user.lower():
        return _system_error(1219)
    if not target.accepts(user, plain[0]):
        return _system_error(1326)
    connections[target.name.lower()] = user
    return NativeOutput([_OK])
