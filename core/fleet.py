"""Many sites at once: the readiness of every site config of a fleet (``qrdr fleet check``).

    from qrdr.api import fleet_check, site_configs

    fleet = fleet_check(site_configs("/etc/qrdr/sites"), jobs=4)
    for site in fleet.sites:
        print(site.site, site.state, site.ready, site.reasons[:1], site.recovery_point_age_hours)
    print(fleet.ready, "of", len(fleet.sites), "ready")

Each site is what the single-site commands give, nothing more: its state from its journal
(``Runbook.status()``, :mod:`qrdr.engine.sitestate`) and the read-only readiness check
(``Runbook.check()``, every ``qrdr_preflight(site, "check")`` probe). So a fleet check
changes nothing and takes no lock: neither the local lock of the state directory nor the
site's lock in Active Directory (a real run started meanwhile is not held up; the check
may then see the site half way, as ``qrdr check`` would).

Sites are checked concurrently, at most ``jobs`` at a time (:data:`DEFAULT_JOBS`), each with a
:class:`~qrdr.api.Runbook` of its own (its own plugins, connections and resolved secrets,
which are resolved as ``qrdr check`` resolves them: environment, keyring, or a prompt on the
terminal, one prompt at a time). A site config that cannot be loaded, a secret that cannot be
resolved, a site the plugins refuse: each is reported for that site (``error``, naming the file
and the field) while the others are still checked. Secrets never appear in the records.
"""

from __future__ import annotations

import concurrent.futures
import glob
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import attrs

from .errors import ConfigError, QrdrError

#: Sites checked at once when the caller does not say. A check mostly waits on its hosts
#: (WinRM round trips, LDAP), so more than the machine's cores pay off; more than a few per
#: core only add contention on one Python process.
DEFAULT_JOBS = 8


@attrs.frozen
class SiteError:
    """Why a site could not be checked: the error's class name (``ConfigError``, ``SecretError``,
    ``SiteNotSupported``, ``PluginError``, ``JournalError``... or ``UnexpectedError`` for a bug)
    and its message (file and field for a config error; secrets masked)."""

    kind: str
    message: str


@attrs.frozen
class SiteReadiness:
    """One site of a fleet check."""

    #: The site config file, as given (or as found in the directory).
    config: str
    #: The site's name (``name`` in its config); None when the config could not be loaded.
    site: str | None
    #: Its state from its journal (``unknown``, ``configured``, ``qr-ready``, ``promoted``...); None when unknown.
    state: str | None
    #: Whether a promote could start now: the readiness check found nothing blocked (False on an error).
    ready: bool
    #: Why not: the check's blockers ("<probe> (<target>): <reason>"), or the error's message.
    reasons: tuple[str, ...] = ()
    #: The recovery point (ISO 8601, UTC) and its age in hours, as the QR probe found them; None when unknown.
    recovery_point: str | None = None
    recovery_point_age_hours: float | None = None
    #: A run holding the site now ("pid 123 on host, since ..."), from its local lock; None when none.
    busy: str | None = None
    #: The next safe command for the site's state (``qrdr status``'s "next").
    next_command: str | None = None
    #: Seconds this site's check took (loading its config included).
    seconds: float = 0.0
    #: Set when the site could not be checked (then ``ready`` is False).
    error: SiteError | None = None

    def to_dict(self) -> dict[str, Any]:
        """In the ``--json`` documents' vocabulary (qrdr.documents): ``*_at`` times, ``*_seconds``."""
        document = attrs.asdict(self)
        document["reasons"] = list(self.reasons)
        document["recovery_point_at"] = document.pop("recovery_point")
        del document["seconds"]
        document["duration_seconds"] = round(self.seconds, 3)
        return document


@attrs.frozen
class FleetCheck:
    """Every site of a fleet check, in the order the configs were given, and the whole run's time."""

    sites: tuple[SiteReadiness, ...]
    seconds: float
    jobs: int

    @property
    def ready(self) -> int:
        return sum(1 for site in self.sites if site.ready)

    @property
    def errors(self) -> int:
        return sum(1 for site in self.sites if site.error is not None)

    @property
    def all_ready(self) -> bool:
        return bool(self.sites) and all(site.ready for site in self.sites)

    def summary(self) -> dict[str, Any]:
        return {"sites": len(self.sites), "ready": self.ready, "not_ready": len(self.sites) - self.ready,
                "errors": self.errors, "duration_seconds": round(self.seconds, 3), "jobs": self.jobs}

    def to_dict(self) -> dict[str, Any]:
        return {"sites": [site.to_dict() for site in self.sites], "summary": self.summary()}


def site_configs(directory: str | os.PathLike | None = None, *, pattern: str | None = None) -> list[Path]:
    """The site configs of a fleet: every ``*.toml`` directly in ``directory``, or every file
    ``pattern`` (a glob; ``**`` crosses directories) matches, sorted by path. Raises
    :class:`ConfigError` when neither or both are given, the directory does not exist, or
    nothing is found (a fleet check of no site would say "all ready" of nothing)."""
    if (directory is None) == (pattern is None):
        raise ConfigError("fleet check", [("", "give either a directory of site configs or --sites GLOB")])
    if directory is not None:
        folder = Path(directory)
        if not folder.is_dir():
            raise ConfigError(str(folder), [("", "not a directory (a fleet check reads the *.toml site configs "
                                                  "in a directory, or --sites GLOB)")])
        found = sorted(path for path in folder.glob("*.toml") if path.is_file())
        where = f"{folder}/*.toml"
    else:
        assert pattern is not None
        found = sorted(Path(name) for name in glob.glob(pattern, recursive=True) if Path(name).is_file())
        where = pattern
    if not found:
        raise ConfigError(where, [("", "no site config matches")])
    return found


#: Opens the Runbook of one site config (``qrdr.api.Runbook.from_config`` with the caller's options).
OpenRunbook = Callable[[str | os.PathLike], Any]


def check_site(config: str | os.PathLike, open_runbook: OpenRunbook) -> SiteReadiness:
    """One site's readiness (see the module docstring); never raises but for Ctrl-C.
    ``qrdr.api.fleet_check`` passes ``open_runbook``; this module knows no Runbook of its own."""
    from .secrets import mask

    started = time.monotonic()
    name: str | None = None
    state: dict[str, Any] = {}
    runbook = None
    try:
        runbook = open_runbook(config)
        name = runbook.site.name
        state = runbook.status()
        plan = runbook.check()
        point, age = recovery_point(plan)
        age = round(age, 2) if age is not None else None
        blockers = tuple(mask(reason) for reason in plan.blockers)
        return SiteReadiness(str(config), name, state["state"], not blockers, blockers, point, age,
                             state["busy"], state["next"], time.monotonic() - started)
    except QrdrError as exc:
        error = SiteError(type(exc).__name__, mask(str(exc)))
    except Exception as exc:  # noqa: BLE001 - a bug checking one site must not hide the others
        error = SiteError("UnexpectedError", mask(f"unexpected error: {type(exc).__name__}: {exc} (a bug; "
                                                  f"`qrdr check --config {config}` shows where)"))
    finally:
        if runbook is not None:
            try:
                runbook.close()
            except Exception:  # noqa: BLE001 - a host gone meanwhile is no error of the check's
                pass
    return SiteReadiness(str(config), name, state.get("state"), False, (error.message,), busy=state.get("busy"),
                         next_command=state.get("next"), seconds=time.monotonic() - started, error=error)


def check_fleet(configs: Iterable[str | os.PathLike], open_runbook: OpenRunbook, *,
                jobs: int = DEFAULT_JOBS) -> FleetCheck:
    """Check every site config of ``configs`` (:func:`site_configs` finds them), at most ``jobs``
    at a time; the records come back in the order of ``configs``. Read-only and lock-free (see the
    module docstring). Callers use ``qrdr.api.fleet_check``, which passes ``open_runbook``."""
    paths: Sequence[str | os.PathLike] = list(configs)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, not {jobs}")
    started = time.monotonic()
    workers = max(1, min(jobs, len(paths)))
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="qrdr-fleet")
    try:
        futures = [pool.submit(check_site, path, open_runbook) for path in paths]
        sites = tuple(future.result() for future in futures)
    except BaseException:
        # Ctrl-C: the checks not started are dropped; those under way end within their hosts' timeouts.
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    return FleetCheck(sites, time.monotonic() - started, workers)


def recovery_point(plan: Any) -> tuple[str | None, float | None]:
    """The recovery point (ISO 8601 UTC) and its age in hours as a readiness check's QR probe found
    them (its facts ``recovery_point``, ``age_hours``): the RPO a promote would start from. Nones
    when no probe found one (or no age). The fleet check and the Ansible collection read it here."""
    for probe in plan.probes:
        facts = probe.check.facts if probe.check is not None else {}
        if "recovery_point" in facts:
            age = facts.get("age_hours")
            return facts["recovery_point"], float(age) if age is not None else None
    return None, None


__all__ = ["DEFAULT_JOBS", "FleetCheck", "SiteError", "SiteReadiness", "check_fleet", "check_site", "recovery_point",
           "site_configs"]
