"""The faults a lab site can be given (``qrdr lab fault KIND ...``, :meth:`qrdr.lab.site.LabSite.fault`):
kind -> its arguments and what it does, in words. Kept apart from the lab itself so that the
command line can list them without loading the simulated hosts."""

from __future__ import annotations

FAULTS = {
    "power-off": "HOST: the host dies (the production failure a promote answers)",
    "power-on": "HOST: a powered-off host boots again",
    "drop-connection": "HOST N: the endpoint drops the connection at its Nth request from now",
    "latency": "HOST MS: every request to the host waits MS milliseconds more",
    "never-return": "HOST: after its next reboot the endpoint never comes back",
    "service-fails": "HOST SERVICE: the service fails to start",
    "directory-latency": "MS: every byte between qrdr and the DCs waits MS milliseconds more (lab option directory_link)",
    "directory-cut": "every open connection between qrdr and the DCs is reset at once (lab option directory_link)",
    "directory-down": "the DCs stop answering qrdr (the network between them lost; the servers still reach them) until directory-up (lab option directory_link)",
    "directory-up": "the DCs answer again after directory-down (lab option directory_link)",
    "pause-replication": "inbound replication paused on the second DC",
    "resume-replication": "inbound replication resumed on the second DC (and forced)",
    "qr-update-stuck": "an incremental QR update starts and stays in its copy phase",
    "qr-update": "an incremental QR update runs to completion (a fresh recovery point)",
    "setup-hangs": "setup.exe hangs at System Attendant start (KB Q280432)",
    "clear": "HOST: endpoint faults of the host cleared",
    # What a person does at the console, where the runbook has no unattended way (qrdr's manual steps):
    "partition": "HOST: a person creates the site's Exchange partitions (letters, sizes) in Disk Management "
                 "and formats them NTFS",
    "safe-mode-services": "HOST: a person boots the host into safe mode, sets its Exchange services to Manual "
                          "and boots it normally",
}
