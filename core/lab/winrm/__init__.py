"""The lab's WinRM endpoint: real WS-Management + PSRP in front of a simulated Windows host.

pypsrp (unchanged) talks to it as to a Windows server with PowerShell 2.0
remoting; PSRP is psrpcore's server side; every pipeline is run by the
endpoint's :class:`~qrdr.lab.sim.protocol.SimulatedHost`.

API::

    from qrdr.lab.tls import make_ca, make_server_cert
    from qrdr.lab.winrm import WinRMEndpoint, Faults

    endpoint = WinRMEndpoint(
        host,                                   # a SimulatedHost
        users={"LAB\\\\administrator": "Secret1!"},  # account -> password ("user" or "DOMAIN\\\\user")
        address="127.0.0.1", port=0,            # port 0: a free port, kept across go_down/come_up
        transport="http",                        # or "https" with tls=make_server_cert(ca, [name, ip])
        tls=None, faults=Faults(), name="exch1", # name: the Machine in WS-Man faults and logs
        invoke_lock=None,                        # see below
    ).start()
    endpoint.url          # "http://127.0.0.1:PORT/wsman"  (pypsrp: WSMan(address, port=..., ssl=...))
    endpoint.port
    endpoint.go_down()    # reboot/power-off: listener and every connection closed, shells forgotten
    endpoint.come_up()    # listen again on the same address:port
    endpoint.faults.latency_ms = 50     # added to every HTTP request
    endpoint.faults.drop_at_request = 1 # close the connection at the Nth request from now (one-shot)
    endpoint.faults.never_return = True # the next go_down is final: come_up() raises RuntimeError
    endpoint.is_up; endpoint.request_count; endpoint.shell_count; endpoint.pipeline_count
    endpoint.oversized_responses  # answers bigger than the request's MaxEnvelopeSize (stays 0)
    endpoint.stop()       # also a context manager

What the host sees: ``host.invoke(statement, input_objects)`` once per statement
of a client pipeline (the first statement gets the pipeline input), in a worker
thread (a host may block, e.g. to simulate a slow command; a Receive waits and
answers TimedOut meanwhile). Every call holds ``invoke_lock``: by default a
lock of this endpoint, so one pipeline at a time runs on its host (simulated
hosts are not thread-safe); give every endpoint of a lab the same lock when
hosts act on each other (a management host's ``-ComputerName``), or
``contextlib.nullcontext()`` for a thread-safe host. A stopped pipeline's host
call cannot be interrupted: it finishes (holding the lock) and its result is
discarded. A named parameter sent without a value (a switch) arrives as True.
Parameter values and input arrive as plain Python
values (str, int, bool, float, list, dict) or psrpcore objects (e.g.
``PSSecureString``, PSObjects). A host calling ``go_down()`` from ``invoke``
(Restart-Computer) is fine: that pipeline's client sees its connection drop,
as against a rebooting Windows. The endpoint speaks as Windows PowerShell 2.0
(PSRP protocol 2.1, $PSVersionTable of Windows 2003), so pypsrp keeps
150 KiB envelopes.

Auth (see :mod:`qrdr.lab.winrm.http`): Negotiate/NTLM over HTTP (message
encryption required) and HTTPS (channel binding checked); Basic over HTTPS only.
Accounts and NTLM: NTLM cannot hand the password to the server, so the endpoint
keeps its own ``users`` table; the accounts of all running endpoints are
written (as NT hashes) to the one process-wide ``NTLM_USER_FILE`` pyspnego
reads (:mod:`qrdr.lab.winrm.ntlm_users`); after NTLM verified the password the
endpoint checks the account is one of its own and asks
``host.accepts(user, password)`` with the table's password. Basic checks the
table and ``host.accepts`` too. An account name must have one password across
the process (ValueError otherwise).

Modules: :mod:`.http` (HTTP/1.1, auth, encryption), :mod:`.wsman` (envelopes),
:mod:`.psrp` (runspace pool/pipeline bridge to the host), :mod:`.faults`,
:mod:`.endpoint` (lifecycle + WS-Man shell operations); TLS is
:mod:`qrdr.lab.tls`. Everything runs in threads of the calling process.
"""

from qrdr.lab.winrm.endpoint import WinRMEndpoint
from qrdr.lab.winrm.faults import Faults

__all__ = ["WinRMEndpoint", "Faults"]
