"""The HTML report in a real browser (Debian's chromium, headless, offline): it renders, draws one
bar per applied step, and asks the network for nothing. The screenshot is kept as an artifact."""

from __future__ import annotations

import re

from qrdr.report import build_report, write_report

from .browser import Elements, dump_dom, keep_artifact, network_requests, screenshot
from .conftest import SECRET


def test_the_html_report_renders_offline_with_a_bar_per_applied_step(journaled_story, tmp_path):
    page = write_report(journaled_story.site, journaled_story.run_id, "html", tmp_path / "report.html")
    report = build_report(journaled_story.journal, journaled_story.run_id)
    dom = dump_dom(page, tmp_path / "profile")
    elements = Elements(dom)

    applied = [s["step_id"] for s in report["steps"] if s["applied"]]
    bars = elements.find("rect", **{"class": "bar"})
    assert [b["data-step"] for b in bars if b["data-applied"] == "true"] == applied
    assert len(bars) == len([s for s in report["steps"] if s["started_at"]])  # plus the no-change step
    assert [row["data-step"] for row in elements.find("tr", **{"class": "step"})] == [s["step_id"] for s in report["steps"]]
    assert network_requests(dom) == []
    assert [w["data-step"] for w in elements.find("rect", **{"class": "wait"})] == ["t.safe-mode"]
    # What an auditor reads first: the outcome, the RTO, who; and plugin text shown as text, not markup.
    assert re.search(r'class="state outcome"[^>]*>succeeded</span>', dom)
    assert elements.find("span", id="rto") and report["source"]["sha256"] in dom
    assert "<script" not in dom and "&lt;script&gt;alert(1)&lt;/script&gt;" in dom
    assert SECRET not in page.read_text(encoding="utf-8")

    shot = screenshot(page, tmp_path / "profile", tmp_path / "report.png")
    keep_artifact(shot, "report/story-report.png")
    keep_artifact(page, "report/story-report.html")
