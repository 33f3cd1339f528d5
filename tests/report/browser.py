"""Debian's chromium, headless and cut off from the network, as the tests' real browser.

Chromium has no single "offline" switch: every name resolves to nothing
(``--host-resolver-rules``) and every request goes to a proxy that does not exist,
loopback included (``--proxy-server`` with ``<-loopback>``), so a page that asked for
anything would get nothing, and the DOM checks see what it asked for.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

OFFLINE = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
           "--disable-extensions", "--disable-background-networking", "--disable-component-update",
           "--disable-default-apps", "--metrics-recording-only", "--no-pings",
           "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def chromium() -> str:
    """The browser's path. Fails (never skips): scripts/install-system-deps.sh installs it."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "chromium is not installed: run scripts/install-system-deps.sh (as root)"
    return found


def run(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *OFFLINE, f"--user-data-dir={profile}", *args, page.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)


def dump_dom(page: Path, profile: Path) -> str:
    """The DOM as chromium built it (``--dump-dom``)."""
    return run(page, profile, "--dump-dom").stdout


def screenshot(page: Path, profile: Path, out: Path, height: int = 2200) -> Path:
    run(page, profile, f"--screenshot={out}", f"--window-size=1280,{height}", "--hide-scrollbars")
    assert out.exists() and out.stat().st_size > 10_000, f"chromium wrote no screenshot at {out}"
    return out


def keep_artifact(path: Path, name: str) -> Path:
    """Copy a test's output to ``$QRDR_TEST_ARTIFACTS`` (CI keeps that folder) when it is set."""
    folder = os.environ.get("QRDR_TEST_ARTIFACTS")
    if not folder:
        return path
    target = Path(folder) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, target)
    return target


class Elements(HTMLParser):
    """Every start tag of a page with its attributes (lower-cased names)."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []  # the text of every <style> element and style attribute
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self.styles += [value or "" for name, value in attrs if name == "style"]
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)

    def find(self, tag: str, **wanted: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags if name == tag
                and all(wanted_value in attrs.get(key.replace("_", "-"), "").split() for key, wanted_value
                        in wanted.items())]


def network_requests(dom: str) -> list[str]:
    """What the page would fetch: any URL in a src, href, srcset, action, poster or data attribute
    (a link to itself by #fragment fetches nothing), any @import or url(...) in style. Text that
    merely mentions a URL (an error naming a WinRM endpoint) fetches nothing and is not counted."""
    found = []
    page = Elements(dom)
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "action", "poster", "data", "xlink:href", "background"):
            value = attrs.get(name, "").strip()
            if value and not value.startswith("#"):
                found.append(f"<{tag} {name}={value!r}>")
        if tag in ("script", "link", "iframe", "img", "object", "embed", "base"):
            found.append(f"<{tag}>")
    for style in page.styles:
        found += [f"style {needle}" for needle in ("@import", "url(", "image-set(") if needle in style.lower()]
    return found
