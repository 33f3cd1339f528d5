"""Which sites a plugin serves: its row of the runbook's version matrix.

The matrix (which Exchange runs on which Windows, which snap engine exists on
which Windows) is the plugins' alone: each built-in plugin declares its row in
its own package (``SUPPORT = ExchangeSupport(...)`` / ``SnapSupport(...)``) and
answers with :meth:`refusals` from its ``qrdr_validate_site``. Neither the config
loader nor :class:`qrdr.api.Runbook` knows a version, so a third-party Exchange
plugin brings its own row (docs/plugins.md, "Writing an Exchange plugin").
"""

from __future__ import annotations

import attrs

from qrdr.model import ExchangeVersion, Host, Site, WindowsVersion


def _pair(site: Site) -> tuple[Host, Host]:
    return site.production, site.standby


def _listed(windows: frozenset[WindowsVersion]) -> str:
    return " or ".join(sorted(version.value for version in windows))


@attrs.frozen
class ExchangeSupport:
    """An Exchange plugin's row: the plugin ``plugin`` runs ``version`` on ``windows``."""

    plugin: str
    version: ExchangeVersion
    windows: frozenset[WindowsVersion]

    def refusals(self, site: Site) -> list[str]:
        """Why this plugin cannot serve ``site`` (empty when it can): another Exchange version,
        or a production or standby on a Windows this version does not run on."""
        reasons = []
        if site.exchange.version is not self.version:
            wanted = site.exchange.version.value
            reasons.append(f"the site runs Exchange {wanted}; this plugin is for Exchange {self.version.value} "
                           f"(use --plugin exchange{wanted}, or the plugin that serves Exchange {wanted})")
        reasons += [f"Exchange {self.version.value} is supported on Windows {_listed(self.windows)} only; "
                    f"{host.role.value} {host.name} runs Windows {host.windows.value}"
                    for host in _pair(site) if host.windows not in self.windows]
        return reasons


@attrs.frozen
class SnapSupport:
    """A snap engine plugin's row: the engine ``engine`` (the site's ``snap_engine``, shown as
    ``label``) exists on ``windows``; where it does not, ``instead`` names the one to use."""

    engine: str
    label: str
    windows: frozenset[WindowsVersion]
    instead: str = "qsnap"

    def refusals(self, site: Site) -> list[str]:
        """Why this engine cannot serve ``site``: a production or standby on a Windows it does not
        exist on, or a site whose ``snap_engine`` names another engine."""
        reasons = [f"{self.label} does not exist on Windows {host.windows.value}: {host.role.value} {host.name} "
                   f"runs Windows {host.windows.value} (use --snap {self.instead})"
                   for host in _pair(site) if host.windows not in self.windows]
        if site.snap_engine.lower() != self.engine:
            reasons.append(f"the site's snap_engine is {site.snap_engine!r}, not {self.engine!r}")
        return reasons
