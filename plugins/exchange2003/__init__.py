"""qrdr's built-in plugin for Exchange Server 2003 (on Windows 2000 or Windows 2003).

Entry point ``exchange2003`` in the group ``qrdr.exchange``. All of the
runbook's Exchange steps come from :mod:`qrdr.plugins.common`; what is
particular to Exchange 2003 is data there: it has the Microsoft Exchange
Management service (MSExchangeMGMT) and needs ASP.NET before setup. On a
Windows 2003 source server the cleanup starts in safe mode.
"""

from __future__ import annotations

from qrdr.hookspecs import hookimpl
from qrdr.model import ExchangeVersion, WindowsVersion

from ..common.exchange_plugin import ExchangeRunbook
from ..common.support import ExchangeSupport

#: This plugin's row of the version matrix: Exchange 2003 runs on Windows 2000 and 2003.
SUPPORT = ExchangeSupport("exchange2003", ExchangeVersion.E2003,
                          windows=frozenset({WindowsVersion.W2000, WindowsVersion.W2003}))
RUNBOOK = ExchangeRunbook(SUPPORT.plugin, SUPPORT.version)


@hookimpl
def qrdr_validate_site(site):
    return SUPPORT.refusals(site) + RUNBOOK.validate_site(site)


@hookimpl
def qrdr_preflight(site, phase):
    return RUNBOOK.preflight(site, phase)


@hookimpl
def qrdr_prepare_production(site):
    return RUNBOOK.prepare_production(site)


@hookimpl
def qrdr_install_dr_mode(site):
    return RUNBOOK.install_dr_mode(site)


@hookimpl
def qrdr_grant_ad_acls(site):
    return RUNBOOK.grant_ad_acls(site)


@hookimpl
def qrdr_finish_configuration(site):
    return RUNBOOK.finish_configuration(site)


@hookimpl
def qrdr_promote_standby(site):
    return RUNBOOK.promote_standby(site)


@hookimpl
def qrdr_cleanup(site, scope):
    return RUNBOOK.cleanup(site, scope)
