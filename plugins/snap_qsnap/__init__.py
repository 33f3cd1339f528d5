"""qrdr's built-in snap engine plugin for QSnap (entry point ``qsnap`` in ``qrdr.snap``).

QSnap is Commvault's own block-level snapshot driver and exists on Windows
2000 and Windows 2003 alike. Production needs the Quick Recovery Agent and
QSnap; the QR policy's snap engine is ``QSnap``. The CommServe steps and the
QR readiness probes are shared with VSS (:mod:`qrdr.plugins.common.snap`).

Not checked: the QSnap cache volume (no command for it in
docs/design/host-commands.md yet).
"""

from __future__ import annotations

from qrdr.model import WindowsVersion

from ..common.snap import SnapEngine
from ..common.support import SnapSupport

#: This plugin's row of the version matrix: QSnap exists on Windows 2000 and 2003.
SUPPORT = SnapSupport("qsnap", "QSnap", windows=frozenset({WindowsVersion.W2000, WindowsVersion.W2003}))
#: The plugin object pluggy registers: its methods are the hooks.
PLUGIN = SnapEngine(SUPPORT, production_packages=("QuickRecoveryAgent", "QSnap"))
