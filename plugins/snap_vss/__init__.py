"""qrdr's built-in snap engine plugin for VSS (entry point ``vss`` in ``qrdr.snap``).

What differs from QSnap: VSS exists on Windows 2003 only (:func:`qrdr_validate_site`
refuses a Windows 2000 production or standby, with the reason); production
needs the VSS Enabler besides the Quick Recovery Agent and QSnap; the QR
policy's snap engine is ``VSS``. The CommServe steps and the QR readiness
probes are shared with QSnap (:mod:`qrdr.plugins.common.snap`).

Not checked: the Microsoft Exchange Writer's state (``vssadmin list writers``
is not in docs/design/host-commands.md yet).
"""

from __future__ import annotations

from qrdr.hookspecs import hookimpl

from qrdr.model import WindowsVersion

from ..common.snap import QuickRecovery
from ..common.support import SnapSupport

ENGINE = QuickRecovery("vss", "VSS", production_packages=("QuickRecoveryAgent", "QSnap", "VSSEnabler"))
#: This plugin's row of the version matrix: VSS exists on Windows 2003 only.
SUPPORT = SnapSupport(ENGINE.plugin, ENGINE.engine, windows=frozenset({WindowsVersion.W2003}))


@hookimpl
def qrdr_validate_site(site):
    return SUPPORT.refusals(site)


@hookimpl
def qrdr_preflight(site, phase):
    return ENGINE.preflight(site, phase)


@hookimpl
def qrdr_create_qr_volumes(site):
    return ENGINE.create_qr_volumes(site)
