"""qrdr's built-in snap engine plugin for VSS (entry point ``vss`` in ``qrdr.snap``).

What differs from QSnap: VSS exists on Windows 2003 only (``qrdr_validate_site``
refuses a Windows 2000 production or standby, with the reason); production
needs the VSS Enabler besides the Quick Recovery Agent and QSnap; the QR
policy's snap engine is ``VSS``. The CommServe steps and the QR readiness
probes are shared with QSnap (:mod:`qrdr.plugins.common.snap`).

Not checked: the Microsoft Exchange Writer's state (``vssadmin list writers``
is not in docs/design/host-commands.md yet).
"""

from __future__ import annotations

from qrdr.model import WindowsVersion

from ..common.snap import SnapEngine
from ..common.support import SnapSupport

#: This plugin's row of the version matrix: VSS exists on Windows 2003 only (it came with it).
SUPPORT = SnapSupport("vss", "VSS", windows=frozenset({WindowsVersion.W2003}))
#: The plugin object pluggy registers: its methods are the hooks.
PLUGIN = SnapEngine(SUPPORT, production_packages=("QuickRecoveryAgent", "QSnap", "VSSEnabler"))
