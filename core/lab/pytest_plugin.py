"""pytest plugin for plugin authors and qrdr's own tests: the lab as fixtures.

Opt-in: installing qrdr does not turn it on (no ``pytest11`` entry point). A test
suite that wants it names it in its top-level ``conftest.py``,
``pytest_plugins = ["qrdr.lab.pytest_plugin"]``, or on the command line,
``pytest -p qrdr.lab.pytest_plugin``; it needs qrdr's ``lab`` extra
(``pip install 'qrdr[lab]'``). Fixtures:

``lab_site_factory``
    ``start(site="e2003-w2003-vss" | path | Site, **LabOptions) -> LabSite``: a started lab
    (a real Samba AD DC, simulated Windows hosts behind real WinRM endpoints); stopped and
    removed at the end of the test. The lab's passwords are put in the environment
    (``QRDR_LAB_*``) for the test, so ``Runbook(lab.bound_site)`` resolves them.
``lab_site``
    one started lab of the built-in site named by ``@pytest.mark.lab_site("NAME")``
    (default ``e2003-w2003-vss``).
``samba_dc``, ``samba_dc_pair``
    a real Samba AD DC (session), two replicating DCs (module): :mod:`qrdr.lab.samba_fixtures`.

Example::

    @pytest.mark.lab_site("e2003-w2003-qsnap")
    def test_my_step(lab_site):
        runbook = Runbook(lab_site.bound_site, extra_plugins=[("mine", MyPlugin())])
        assert not runbook.plan("promote").blockers
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from .samba_fixtures import samba_dc, samba_dc_pair  # noqa: F401  (fixtures)

DEFAULT_LAB_SITE = "e2003-w2003-vss"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab_site(name): the built-in lab site the lab_site fixture starts")


@pytest.fixture
def lab_site_factory(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Any]]:
    from ..config import load_site
    from ..model import Site
    from .samba_fixtures import golden_dir
    from .site import LabOptions, LabSite, builtin_site

    started: list[LabSite] = []

    def start(site: str | os.PathLike | Site = DEFAULT_LAB_SITE, **options: Any) -> LabSite:
        if isinstance(site, Site):
            model = site
        else:
            path = Path(site) if str(site).endswith(".toml") else builtin_site(str(site))
            model = load_site(path)
        options.setdefault("samba_cache_dir", str(golden_dir(tmp_path_factory)))
        lab = LabSite(model, tmp_path_factory.mktemp("lab"), LabOptions(**options))
        started.append(lab)
        lab.start()
        for name, value in lab.environment().items():
            monkeypatch.setenv(name, value)
        return lab

    yield start
    for lab in reversed(started):
        lab.destroy()


@pytest.fixture
def lab_site(request: pytest.FixtureRequest, lab_site_factory: Callable[..., Any]) -> Any:
    marker = request.node.get_closest_marker("lab_site")
    name = marker.args[0] if marker else DEFAULT_LAB_SITE
    options = dict(marker.kwargs) if marker else {}
    return lab_site_factory(name, **options)
