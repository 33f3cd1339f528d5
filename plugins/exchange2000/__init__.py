"""qrdr's built-in plugin for Exchange 2000 Server (on Windows 2000 only).

Entry point ``exchange2000`` in the group ``qrdr.exchange``, naming :data:`PLUGIN`. All of the
runbook's Exchange steps come from :mod:`qrdr.plugins.common`; Exchange 2000
has no Management service (MSExchangeMGMT) and needs no ASP.NET, and it is
not supported on Windows 2003: ``qrdr_validate_site`` refuses such a site
with the reason. Windows 2000 hosts are driven from the management host.
"""

from __future__ import annotations

from qrdr.model import ExchangeVersion, WindowsVersion

from ..common.exchange_plugin import ExchangeRunbook
from ..common.support import ExchangeSupport

#: This plugin's row of the version matrix: Exchange 2000 runs on Windows 2000 only.
SUPPORT = ExchangeSupport("exchange2000", ExchangeVersion.E2000, windows=frozenset({WindowsVersion.W2000}))
#: The plugin object pluggy registers: its methods are the hooks.
PLUGIN = ExchangeRunbook(SUPPORT)
