"""A secret is resolved once per run per reference: with ``password = { prompt = true }`` the
person is asked once for each thing a password is for, however many hosts, probes, checks,
applies and verifies use it (the issue saw the same password asked 7 times and more).

The hosts are local endpoints that close every connection unanswered: each session asks for
its password when it first tries to open, as on a real site, and no network is needed.
"""

from __future__ import annotations

import socket
import threading
from collections import Counter

import pytest

from qrdr import api
from qrdr.config import load_site
from qrdr.connect import SiteConnector
from qrdr.hookspecs import hookimpl
from qrdr.plugins.common.hosts import domain_credentials, local_credentials
from qrdr.remote.commands import Command
from qrdr.remote.errors import HostUnreachable
from qrdr.steps import Check, Step

HOST_KEYS = ("production", "standby", "commserve")


class Door:
    """Accepts every connection and closes it at once (a WinRM endpoint that is not there)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                self.server.accept()[0].close()
            except OSError:
                return


@pytest.fixture
def doors():
    """One per host: each host is an endpoint of its own, so each is tried (and asks) on its own."""
    made = {key: Door() for key in HOST_KEYS}
    yield made
    for door in made.values():
        door.server.close()


@pytest.fixture
def prompted_site(bare_site, doors):
    """The example site with every password a prompt and every host at its door."""
    text = bare_site.read_text(encoding="utf-8")
    for variable in ("QRDR_WINRM_PASSWORD", "QRDR_EXCH01_LOCAL_PASSWORD", "QRDR_EXCH02_LOCAL_PASSWORD",
                     "QRDR_AD_PASSWORD", "QRDR_COMMCELL_PASSWORD"):
        text = text.replace(f'{{ env = "{variable}" }}', "{ prompt = true }")
    for address in ("10.0.0.21", "10.0.0.22", "10.0.0.30"):
        text = text.replace(f'address = "{address}"', 'address = "127.0.0.1"')
    text = text.replace('ip_address = "127.0.0.1"', 'ip_address = "10.0.0.21"')
    for key in HOST_KEYS:
        text = text.replace(f"[hosts.{key}.winrm]\n", f"[hosts.{key}.winrm]\nport = {doors[key].port}\n")
    assert "env =" not in text
    bare_site.write_text(text, encoding="utf-8")
    return load_site(bare_site)


@pytest.fixture
def asked(monkeypatch):
    """Every question put to the person, by its text."""
    questions: Counter[str] = Counter()

    def prompt(text: str) -> str:
        questions[text] += 1
        return f"typed-{len(questions)}-secret"

    monkeypatch.setattr("qrdr.secrets._terminal_prompt", prompt)
    return questions


class EveryHostEveryTime:
    """Probes and steps for promote that each touch every host and resolve every credential,
    in check, apply and verify, as the built-in plugins do step by step."""

    def __init__(self) -> None:
        self.applied: list[str] = []

    def _touch(self, ctx, key: str) -> None:
        try:
            ctx.host(key).run(Command("Get-Service"), read_only=True)
        except HostUnreachable:
            pass  # the door: the session asked for its password before it found that out
        domain_credentials(ctx.site)
        if ctx.site.hosts[key].local_password is not None:
            local_credentials(ctx.site.hosts[key])

    def _all(self, ctx) -> None:
        for key in HOST_KEYS:
            self._touch(ctx, key)

    @hookimpl
    def qrdr_preflight(self, site, phase):
        def probe(ctx):
            self._all(ctx)
            return Check.no_change("every host touched")

        return [Step(id=f"secrets.probe-{n}", title=f"probe {n}", target="local", check=probe,
                     apply=lambda ctx: None) for n in range(3)]

    @hookimpl
    def qrdr_promote_standby(self, site):
        def check(ctx):
            self._all(ctx)
            return Check.will_change("touch every host")

        def apply(ctx, step_id):
            self._all(ctx)
            self.applied.append(step_id)

        def verify(ctx):
            self._all(ctx)
            return Check.no_change("verified")

        return [Step(id=f"secrets.step-{n}", title=f"step {n}", target="local", check=check, verify=verify,
                     apply=lambda ctx, n=n: apply(ctx, f"secrets.step-{n}"),
                     after=(f"secrets.step-{n - 1}",) if n else ()) for n in range(3)]


class WithoutDirectoryLock(SiteConnector):
    """The real connector, but no site lock in Active Directory (there is no domain controller here)."""

    site_lock = None


@pytest.fixture
def runbook(prompted_site, monkeypatch):
    """A Runbook of the test plugin alone: the built-in plugins' probes would block the run before
    any apply (no real hosts), which is not what this test is about."""
    real = api.make_plugin_manager
    monkeypatch.setattr(api, "make_plugin_manager",
                        lambda **kwargs: real(**{**kwargs, "exchange": None, "snap": None}))
    plugin = EveryHostEveryTime()
    made = api.Runbook(prompted_site, extra_plugins=[("secrets", plugin)],
                       connector=WithoutDirectoryLock(prompted_site, retry_backoff=0.01))
    made.plugin = plugin
    yield made
    made.close()


def test_a_prompt_is_asked_once_per_password_across_a_plan_and_apply(runbook, asked):
    result = runbook.run("promote", yes=True)
    assert result.status == "succeeded", result.message
    assert runbook.plugin.applied == ["secrets.step-0", "secrets.step-1", "secrets.step-2"]
    # 3 probes + 3 checks + 3 applies + 3 verifies, each touching 3 hosts and 2-3 credentials:
    # without the cache that would be well over a hundred questions.
    assert asked == {
        "WinRM password of CONTOSO\\qrdr-svc for EXCH01: ": 1,
        "WinRM password of CONTOSO\\qrdr-svc for EXCH02: ": 1,
        "WinRM password of CONTOSO\\qrdr-svc for CS01: ": 1,
        "domain account qrdr-svc@contoso.local: ": 1,
        "local administrator of EXCH01: ": 1,
        "local administrator of EXCH02: ": 1,
    }


def test_the_next_command_of_the_runbook_asks_nothing_again_until_it_is_closed(runbook, asked):
    runbook.plan("promote")
    first = Counter(asked)
    runbook.check()
    runbook.plan("promote")
    assert asked == first and set(first.values()) == {1}
    runbook.close()
    runbook.plan("promote")
    assert set(asked.values()) == {2}, "close() forgets every secret: the next command asks again"


def test_an_unanswered_prompt_is_not_remembered(runbook, monkeypatch):
    questions: list[str] = []

    def prompt(text: str) -> str:
        questions.append(text)
        return "" if len(questions) == 1 else "typed-later-secret"

    monkeypatch.setattr("qrdr.secrets._terminal_prompt", prompt)
    plan = runbook.plan("promote")
    # The first probe's question got no answer: that probe cannot check; the next one asks again.
    assert "no value was entered" in plan.probes[0].error
    assert plan.probes[1].error is None
    assert questions.count(questions[0]) == 2 and len(questions) == len(set(questions)) + 1
