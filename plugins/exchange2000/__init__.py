"""qrdr's built-in plugin for Exchange 2000 Server (on Windows 2000 only).

Entry point ``exchange2000`` in the group ``qrdr.exchange``. All of the
runbook's Exchange steps come from :mod:`qrdr.plugins.common`; Exchange 2000
has no Management service (MSExchangeMGMT) and needs no ASP.NET, and it is
not supported on Windows 2003: :func:`qrdr_validate_site` refuses such a site
with the reason. Windows 2000 hosts are driven from the management host.
"""

from __future__ import annotations

from qrdr.hookspecs import hookimpl
from qrdr.model import ExchangeVersion, WindowsVersion

from ..common.exchange_plugin import ExchangeRunbook
from ..common.support import ExchangeSupport

#: This plugin's row of the version matrix: Exchange 2000 runs on Windows 2000 only.
SUPPORT = ExchangeSupport("exchange2000", ExchangeVersion.E2000, windows=frozenset({WindowsVersion.W2000}))
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
