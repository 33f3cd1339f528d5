"""Rendering a report (:func:`qrdr.report.model.build_report`) as one self-contained HTML file, or JSON.

The HTML loads nothing: inline CSS, the timeline as inline SVG, no script, no external
font or image, so it reads the same offline, years later, in any browser. jinja2 renders
it with autoescaping on (every journal text is plugin or host output: a ``<`` in an error
must show as text, never become markup).
"""

from __future__ import annotations

import json
from typing import Any

import jinja2

from ..secrets import mask, mask_value

#: The picture's geometry, in SVG user units (the SVG scales to the page's width).
LANE_HEIGHT = 28
BAR_HEIGHT = 18
LABEL_WIDTH = 130
PLOT_WIDTH = 820
TOP = 24
AXIS = 26

STATE_COLOURS = {
    "done": "#2e7d32", "no change": "#9e9e9e", "failed": "#c62828", "undone": "#6a1b9a",
    "applying": "#ef6c00", "applied": "#f9a825", "checking": "#ef6c00", "waiting": "#1565c0",
    "pending": "#bdbdbd", "refused": "#c62828",
}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("qrdr.report", "templates"),
        autoescape=True,  # every .j2 here is HTML: escape whatever the journal holds
        undefined=jinja2.StrictUndefined,  # a misspelt key fails the render instead of showing nothing
        trim_blocks=True, lstrip_blocks=True,
    )


def _ticks(total: float) -> list[float]:
    """About six round-numbered seconds marks along the axis."""
    for step in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400):
        if total / step <= 8:
            break
    count = int(total // step + 1e-9) + 1
    return [round(step * n, 3) for n in range(count)]


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds:.2f} s"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {rest:02d} s" if hours else f"{minutes} min {rest:02d} s"


def svg_geometry(timeline: dict[str, Any]) -> dict[str, Any]:
    """Where each lane, bar, window and resume mark of the timeline goes in the SVG."""
    total = timeline["total_seconds"] or 0.001
    target = timeline.get("rto_target")
    # The RTO target is drawn where it falls when that keeps the steps readable (the picture
    # stretched to at most 3 times the run); far beyond, it is marked at the right edge.
    if target is not None and target["at_seconds"] <= 3 * total:
        total = max(total, target["at_seconds"] * 1.02)
    scale = PLOT_WIDTH / total

    def x(seconds: float) -> float:
        return round(LABEL_WIDTH + seconds * scale, 2)

    lanes = [{"name": name, "y": TOP + index * LANE_HEIGHT} for index, name in enumerate(timeline["lanes"])]
    plot_bottom = TOP + max(len(lanes), 1) * LANE_HEIGHT
    bars = []
    for bar in timeline["bars"]:
        left = x(bar["start_seconds"])
        # A step that took a few milliseconds still gets a visible sliver.
        width = max(round((bar["end_seconds"] - bar["start_seconds"]) * scale, 2), 2.0)
        bars.append({**bar, "x": left, "y": TOP + bar["lane"] * LANE_HEIGHT + (LANE_HEIGHT - BAR_HEIGHT) / 2,
                     "width": width, "height": BAR_HEIGHT, "colour": STATE_COLOURS.get(bar["state"], "#616161"),
                     "seconds": _duration(bar["end_seconds"] - bar["start_seconds"])})
    windows = [{**w, "x": x(w["start_seconds"]), "width": max(x(w["end_seconds"]) - x(w["start_seconds"]), 1.0),
                "label": f"{w['name']}: {_duration(w['seconds'])}"} for w in timeline["windows"]]
    resumes = [{**r, "x": x(r["at_seconds"])} for r in timeline["resumes"]]
    waits = [{**w, "x": x(w["start_seconds"]), "y": TOP + w["lane"] * LANE_HEIGHT + 2, "height": LANE_HEIGHT - 4,
              "width": max(x(w["end_seconds"]) - x(w["start_seconds"]), 2.0), "label": _duration(w["seconds"])}
             for w in timeline["waits"]]
    ticks = [{"x": x(t), "label": _duration(t) if t else "0"} for t in _ticks(total)]
    rto_target = None
    if target is not None:
        beyond = target["at_seconds"] > total
        rto_target = {"x": x(min(target["at_seconds"], total)), "beyond": beyond,
                      "label": f"RTO target {_duration(target['target_seconds'])}" + (" (further right)" if beyond else "")}
    height = plot_bottom + AXIS + 18 * len(windows)
    return {"lanes": lanes, "bars": bars, "windows": windows, "resumes": resumes, "waits": waits, "ticks": ticks,
            "rto_target": rto_target,
            "top": TOP, "plot_bottom": plot_bottom, "label_width": LABEL_WIDTH, "width": LABEL_WIDTH + PLOT_WIDTH + 10,
            "height": height}


def render_html(report: dict[str, Any]) -> str:
    """The report as one HTML page (UTF-8 text). Secrets are masked again on the way out."""
    template = _environment().get_template("report.html.j2")
    page = template.render(r=mask_value(report), svg=svg_geometry(report["timeline"]), duration=_duration,
                           colours=STATE_COLOURS,
                           pretty=lambda value: json.dumps(value, indent=2, sort_keys=True, default=str))
    return mask(page)


def render_json(report: dict[str, Any]) -> str:
    """The report as a JSON document (UTF-8 text, keys sorted), secrets masked."""
    return mask(json.dumps(mask_value(report), indent=2, sort_keys=True, default=str)) + "\n"
