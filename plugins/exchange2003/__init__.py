"""qrdr's built-in plugin for Exchange Server 2003 (on Windows 2000 or Windows 2003).

Entry point ``exchange2003`` in the group ``qrdr.exchange``, naming :data:`PLUGIN`. All of the
runbook's Exchange steps come from :mod:`qrdr.plugins.common`; what is
particular to Exchange 2003 is data there: it has the Microsoft Exchange
Management service (MSExchangeMGMT) and needs ASP.NET before setup. On a
Windows 2003 source server the cleanup starts in safe mode.
"""

from __future__ import annotations

from qrdr.model import ExchangeVersion, WindowsVersion

from ..common.exchange_plugin import ExchangeRunbook
from ..common.support import ExchangeSupport

#: This plugin's row of the version matrix: Exchange 2003 runs on Windows 2000 and 2003.
SUPPORT = ExchangeSupport("exchange2003", ExchangeVersion.E2003, windows=frozenset({WindowsVersion.W2000, WindowsVersion.W2003}))
#: The plugin object pluggy registers: its methods are the hooks.
PLUGIN = ExchangeRunbook(SUPPORT)
