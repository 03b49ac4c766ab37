"""A self-contained HTML page of a run: no scripts, no fonts, no network, one file to attach.

Pass rate per protocol, RFC and level as a table and an inline SVG chart, the
traceability table, every failure with its byte log, and optionally a comparison with an
earlier run or a differential run against a second target.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .summary import groups

COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "error": "#8e24aa", "skip": "#f9a825"}
_BAR_WIDTH = 420
_ROW_HEIGHT = 22
_LABEL_WIDTH = 230


def _environment() -> Environment:
    return Environment(loader=PackageLoader("harness.report", "templates"),
                       autoescape=select_autoescape(["html", "j2"]),
                       trim_blocks=True, lstrip_blocks=True)


def chart(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Geometry of a stacked horizontal bar per group: pass, fail, error, skip."""
    bars = []
    for number, row in enumerate(rows):
        x = float(_LABEL_WIDTH)
        segments = []
        for status in ("pass", "fail", "error", "skip"):
            width = _BAR_WIDTH * row[status] / row["total"] if row["total"] else 0.0
            if width:
                segments.append({"x": round(x, 2), "width": round(width, 2),
                                 "colour": COLOURS[status], "status": status,
                                 "count": row[status]})
            x += width
        label = f"{row['protocol']} {row['rfc']} {row['level']}"
        bars.append({"y": number * _ROW_HEIGHT, "label": label, "segments": segments,
                     "rate": row["pass_rate"]})
    return {"bars": bars, "width": _LABEL_WIDTH + _BAR_WIDTH + 70,
            "height": max(1, len(rows)) * _ROW_HEIGHT + 4, "label_width": _LABEL_WIDTH,
            "bar_width": _BAR_WIDTH, "row_height": _ROW_HEIGHT, "colours": COLOURS}


def render_html(document: Mapping[str, Any], *, comparison: Mapping[str, Any] | None = None
                ) -> str:
    rows = groups(document["cases"])
    template = _environment().get_template("report.html.j2")
    return template.render(
        doc=document, groups=rows, chart=chart(rows), colours=COLOURS,
        failures=[c for c in document["cases"] if c["status"] in ("fail", "error")],
        comparison=comparison, differential=document.get("differential"),
    )


def write_html(document: Mapping[str, Any], path: Path, *,
               comparison: Mapping[str, Any] | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(document, comparison=comparison), encoding="utf-8")
