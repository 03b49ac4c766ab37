"""Load-run reports: JSON (everything), CSV (the result rows), and one self-contained HTML
page whose charts are inline SVG drawn here: no script, no network, no CDN.

Charts: throughput over time (accepted per second, errors stacked in red), latency over
time (p50 and p95 per second) and a latency histogram (log-spaced bins).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from ..load.accounting import Accounting
from ..load.results import ResultRow, write_csv
from ..load.stats import Summary

_W, _H, _PAD = 640, 220, 44


def build(summary: Summary, meta: dict[str, Any], totals: str,
          accounting: Accounting | None) -> dict[str, Any]:
    """Everything the report says, as JSON-ready data."""

    def clean(value: Any) -> Any:  # JSON has no NaN
        if isinstance(value, float):
            return None if math.isnan(value) else round(value, 3)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    data = {
        "meta": meta,
        "totals": totals,
        "seconds": summary.seconds,
        "primary": summary.primary,
        "rate": summary.rate(),
        "requests": {name: asdict(p) for name, p in summary.requests.items()},
        "counts": {name: {"ok": ok, "errors": err} for name, (ok, err) in summary.counts.items()},
        "errors_by_code": summary.errors_by_code,
        "error_samples": summary.error_samples,
        "timeline": [asdict(b) for b in summary.timeline],
        "histogram": [{"low_ms": lo, "high_ms": hi, "count": n} for lo, hi, n in summary.histogram],
        "accounting": None if accounting is None else {
            **asdict(accounting), "clean": accounting.clean,
            "end_to_end": asdict(accounting.end_to_end)},
    }
    return clean(data)


# -- SVG ----------------------------------------------------------------------------------

def _axes(x_label: str, y_label: str, y_max: float, x_max: float) -> list[str]:
    parts = [f'<line x1="{_PAD}" y1="{_H - _PAD}" x2="{_W - 10}" y2="{_H - _PAD}" '
             'stroke="#444"/>',
             f'<line x1="{_PAD}" y1="10" x2="{_PAD}" y2="{_H - _PAD}" stroke="#444"/>',
             f'<text x="{_W / 2}" y="{_H - 8}" text-anchor="middle">{x_label}</text>',
             f'<text x="12" y="{_H / 2}" transform="rotate(-90 12 {_H / 2})" '
             f'text-anchor="middle">{y_label}</text>']
    for i in range(5):
        value = y_max * i / 4
        y = _H - _PAD - (_H - _PAD - 10) * i / 4
        parts.append(f'<text x="{_PAD - 4}" y="{y + 4:.1f}" text-anchor="end">{value:.4g}</text>')
        parts.append(f'<line x1="{_PAD}" y1="{y:.1f}" x2="{_W - 10}" y2="{y:.1f}" '
                     'stroke="#ddd"/>')
    for i in range(5):
        x = _PAD + (_W - 10 - _PAD) * i / 4
        parts.append(f'<text x="{x:.1f}" y="{_H - _PAD + 14}" text-anchor="middle">'
                     f'{x_max * i / 4:.4g}</text>')
    return parts


def _svg(chart_id: str, title: str, parts: list[str]) -> str:
    return (f'<svg id="{chart_id}" xmlns="http://www.w3.org/2000/svg" width="{_W}" '
            f'height="{_H}" viewBox="0 0 {_W} {_H}" font-size="10" font-family="sans-serif">'
            f'<title>{title}</title>{"".join(parts)}</svg>')


def _xy(x: float, y: float, x_max: float, y_max: float) -> tuple[float, float]:
    return (_PAD + (_W - 10 - _PAD) * x / max(x_max, 1e-9),
            _H - _PAD - (_H - _PAD - 10) * y / max(y_max, 1e-9))


def throughput_svg(timeline: Sequence[dict[str, Any]]) -> str:
    x_max = max(len(timeline), 1)
    y_max = max([b["ok"] + b["errors"] for b in timeline] + [1])
    parts = _axes("seconds", "requests / s", y_max, x_max)
    width = (_W - 10 - _PAD) / x_max
    for b in timeline:
        x, y_ok = _xy(b["second"], b["ok"], x_max, y_max)
        _, y_all = _xy(b["second"], b["ok"] + b["errors"], x_max, y_max)
        base = _H - _PAD
        parts.append(f'<rect x="{x:.1f}" y="{y_ok:.1f}" width="{max(width - 1, 1):.1f}" '
                     f'height="{base - y_ok:.1f}" fill="#4a7fb5"/>')
        if b["errors"]:
            parts.append(f'<rect x="{x:.1f}" y="{y_all:.1f}" width="{max(width - 1, 1):.1f}" '
                         f'height="{y_ok - y_all:.1f}" fill="#c0392b"/>')
    return _svg("throughput", "throughput over time", parts)


def latency_svg(timeline: Sequence[dict[str, Any]]) -> str:
    points = [b for b in timeline if b["p50_ms"] is not None]
    x_max = max(len(timeline), 1)
    y_max = max([b["p95_ms"] for b in points] + [1.0])
    parts = _axes("seconds", "latency ms", y_max, x_max)
    for key, colour in (("p50_ms", "#4a7fb5"), ("p95_ms", "#e67e22")):
        coords = [_xy(b["second"] + 0.5, b[key], x_max, y_max) for b in points]
        if coords:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline class="{key}" points="{path}" fill="none" '
                         f'stroke="{colour}" stroke-width="1.5"/>')
    parts.append('<text x="60" y="20" fill="#4a7fb5">p50</text>'
                 '<text x="90" y="20" fill="#e67e22">p95</text>')
    return _svg("latency", "latency over time", parts)


def histogram_svg(histogram: Sequence[dict[str, Any]]) -> str:
    bins = len(histogram)
    y_max = max([h["count"] for h in histogram] + [1])
    parts = _axes("latency ms (log bins)", "requests", y_max, bins)
    # The x axis is bin index; label the bins' edges instead of the index.
    parts = [p for p in parts if f'y="{_H - _PAD + 14}"' not in p]
    width = (_W - 10 - _PAD) / max(bins, 1)
    for i, h in enumerate(histogram):
        x, y = _xy(i, h["count"], bins, y_max)
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(width - 1, 1):.1f}" '
                     f'height="{_H - _PAD - y:.1f}" fill="#4a7fb5"><title>'
                     f'{h["low_ms"]:.3g}-{h["high_ms"]:.3g} ms: {h["count"]}</title></rect>')
    for i in range(0, bins + 1, max(1, bins // 5)):
        edge = histogram[min(i, bins - 1)]["low_ms" if i < bins else "high_ms"] if bins else 0
        x, _ = _xy(i, 0, max(bins, 1), y_max)
        parts.append(f'<text x="{x:.1f}" y="{_H - _PAD + 14}" text-anchor="middle">'
                     f'{edge:.3g}</text>')
    return _svg("histogram", "latency histogram", parts)


_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>mailharness load: {{ meta.protocol }} {{ meta.target }}</title>
<style>
body { font-family: sans-serif; margin: 2em; max-width: 60em; }
table { border-collapse: collapse; margin: 1em 0; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th { background: #f0f0f0; } td.l, th.l { text-align: left; }
pre.totals { background: #f7f7f7; padding: 0.6em; }
.bad { color: #c0392b; font-weight: bold; } .good { color: #27ae60; font-weight: bold; }
</style></head><body>
<h1>Load run: {{ meta.protocol }} against {{ meta.target }}</h1>
<p>Engine {{ meta.engine }}{% if meta.processes %}, {{ meta.processes }} process(es){% endif %};
profile <b>{{ meta.profile }}</b> ({{ meta.profile_source }}); {{ meta.users }} users,
{% if meta.rate %}open loop at {{ meta.rate }}/s{% else %}closed loop{% endif %};
{{ "%.1f"|format(seconds) }} s; started {{ meta.started_iso }}.</p>
<pre class="totals">{{ totals }}</pre>
{% if accounting %}
<h2>Delivery accounting</h2>
<p>Source: {{ accounting.source }} (poll resolution {{ accounting.resolution_ms }} ms).
{% if accounting.clean %}<span class="good">clean: nothing accepted was lost</span>
{% else %}<span class="bad">NOT clean</span>{% endif %}</p>
<table><tr><th class="l">accepted</th><th>lost</th><th>duplicated</th><th>corrupted</th>
<th>unexpected</th><th>end-to-end p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>
<tr><td>{{ accounting.accepted }}</td><td>{{ accounting.lost|length }}</td>
<td>{{ accounting.duplicated|length }}</td><td>{{ accounting.corrupted|length }}</td>
<td>{{ accounting.unexpected|length }}</td><td>{{ accounting.end_to_end.p50 }}</td>
<td>{{ accounting.end_to_end.p95 }}</td><td>{{ accounting.end_to_end.p99 }}</td></tr></table>
{% for name in ("lost", "duplicated", "corrupted") %}{% if accounting[name] %}
<p class="bad">{{ name }}: {{ accounting[name][:20]|join(", ") }}
{% if accounting[name]|length > 20 %}... ({{ accounting[name]|length }}){% endif %}</p>
{% endif %}{% endfor %}
{% endif %}
<h2>Throughput over time</h2>{{ charts.throughput }}
<h2>Latency over time ({{ primary }})</h2>{{ charts.latency }}
<h2>Latency histogram ({{ primary }})</h2>{{ charts.histogram }}
<h2>Requests</h2>
<table><tr><th class="l">name</th><th>ok</th><th>errors</th><th>p50 ms</th><th>p95 ms</th>
<th>p99 ms</th><th>max ms</th></tr>
{% for name, c in counts.items() %}{% set p = requests.get(name) %}
<tr><td class="l">{{ name }}</td><td>{{ c.ok }}</td><td>{{ c.errors }}</td>
<td>{{ p.p50 if p else "-" }}</td><td>{{ p.p95 if p else "-" }}</td>
<td>{{ p.p99 if p else "-" }}</td><td>{{ p.max if p else "-" }}</td></tr>{% endfor %}
</table>
<h2>Errors by reply code</h2>
{% if errors_by_code %}<table>
<tr><th class="l">code</th><th>count</th><th class="l">first seen</th></tr>
{% for code, n in errors_by_code.items() %}<tr><td class="l">{{ code or "(no reply)" }}</td>
<td>{{ n }}</td><td class="l">{{ error_samples[code] }}</td></tr>{% endfor %}</table>
{% else %}<p>none</p>{% endif %}
</body></html>
"""


def render_html(data: dict[str, Any]) -> str:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    charts = {
        "throughput": Markup(throughput_svg(data["timeline"])),
        "latency": Markup(latency_svg(data["timeline"])),
        "histogram": Markup(histogram_svg(data["histogram"])),
    }
    return env.from_string(_TEMPLATE).render(**data, charts=charts)


def write(out_dir: Path, data: dict[str, Any], rows: Sequence[ResultRow]) -> dict[str, Path]:
    """Write load.json, results.csv and load.html under ``out_dir``; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "load.json", "csv": out_dir / "results.csv",
             "html": out_dir / "load.html"}
    paths["json"].write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    write_csv(rows, paths["csv"])
    paths["html"].write_text(render_html(data), encoding="utf-8")
    return paths
