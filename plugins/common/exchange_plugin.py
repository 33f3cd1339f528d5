"""The Exchange runbook as one pluggy plugin object, for one Exchange version.

:class:`ExchangeRunbook` is what the ``exchange2000`` and ``exchange2003`` entry points name
(``qrdr.plugins.exchange2003:PLUGIN``): its methods are the hooks, under the hooks' own names,
and each phase is the ordered list of step builders of one module of :mod:`.runbook`:

=====================================  ============================  ===========================
runbook section                        hook                          module
=====================================  ============================  ===========================
Configure 1-2.2, Prepare Production 1  ``qrdr_prepare_production``   :mod:`.runbook.prepare`
Configure 2.3-2.7                      ``qrdr_install_dr_mode``      :mod:`.runbook.install_dr`
Configure 3 (ADSI Edit)                ``qrdr_grant_ad_acls``        :mod:`.runbook.acls`
Configure 4-11                         ``qrdr_finish_configuration`` :mod:`.runbook.finish`
Bring the Standby Server online        ``qrdr_promote_standby``      :mod:`.runbook.promote`
Appendices (cleanup)                   ``qrdr_cleanup``              :mod:`.runbook.cleanup`
what every run checks first            ``qrdr_preflight``            :mod:`.runbook.readiness`
=====================================  ============================  ===========================

What differs by Exchange version is data (:mod:`.catalog`: MSExchangeMGMT only in 2003, ASP.NET
only for 2003, builds) held by the plugin's :class:`.runbook.base.Book`; what differs by
Windows version is decided per host in the building blocks (:mod:`.w2000`).
"""

from __future__ import annotations

from qrdr.hookspecs import hookimpl
from qrdr.model import ExchangeVersion, Site, VolumeContent
from qrdr.steps import Step

from . import catalog
from .runbook import acls, cleanup, finish, install_dr, prepare, promote, readiness
from .runbook.base import Book
from .support import ExchangeSupport


class ExchangeRunbook:
    """The runbook's Exchange steps for the Exchange version of ``support`` (the plugin's row of
    the version matrix), with ids prefixed by its plugin name (the entry point's). Register the
    object itself with pluggy."""

    def __init__(self, support: ExchangeSupport):
        self.support = support
        self.book = Book(support.plugin, support.version)

    @property
    def version(self) -> ExchangeVersion:
        return self.book.version

    @hookimpl
    def qrdr_validate_site(self, site: Site) -> list[str]:
        """Why this plugin cannot run ``site`` (empty: it can): its row of the version matrix
        (:class:`~.support.ExchangeSupport`), then what the runbook itself refuses whatever the
        version: logs and checkpoint file apart, a temp name too long for NetBIOS."""
        reasons = self.support.refusals(site)
        holders = {v.letter: set(v.holds) for v in site.volumes}
        logs = [letter for letter, holds in holders.items() if VolumeContent.LOGS in holds]
        system = [letter for letter, holds in holders.items() if VolumeContent.SYSTEM_PATH in holds]
        if logs and system and set(logs) != set(system):
            reasons.append(f"the transaction logs ({', '.join(logs)}) and the system path ({', '.join(system)}) "
                           f"are on different volumes: runbook step 1 wants them on one, so that the checkpoint "
                           f"file is copied at the same point in time as the databases and logs")
        if len(catalog.temp_name(site.production.name)) > 15:
            reasons.append(f"{catalog.temp_name(site.production.name)} is longer than 15 characters")
        return reasons

    @hookimpl
    def qrdr_preflight(self, site: Site, phase: str) -> list[Step]:
        return readiness.preflight(self.book, site, phase)

    @hookimpl
    def qrdr_prepare_production(self, site: Site) -> list[Step]:
        return prepare.steps(self.book, site)

    @hookimpl
    def qrdr_install_dr_mode(self, site: Site) -> list[Step]:
        return install_dr.steps(self.book, site)

    @hookimpl
    def qrdr_grant_ad_acls(self, site: Site) -> list[Step]:
        return acls.steps(self.book, site)

    @hookimpl
    def qrdr_finish_configuration(self, site: Site) -> list[Step]:
        return finish.steps(self.book, site)

    @hookimpl
    def qrdr_promote_standby(self, site: Site) -> list[Step]:
        return promote.steps(self.book, site)

    @hookimpl
    def qrdr_cleanup(self, site: Site, scope: str) -> list[Step]:
        return cleanup.steps(self.book, site, scope)
