"""Small server-side SVG charts for the status page (issue 15): no script, no external asset.

``bar_chart`` draws one bar (or a stack of bars) per run, oldest left, with a light grid, an
optional reference line (e.g. the schedule's interval) and an optional line series on its own
right-hand scale (e.g. the age of the oldest held-back item). Every bar has a ``<title>`` (the
browser shows it on hover) and ``data-*`` attributes, so tests read the chart as numbers.
The output is escaped SVG markup, safe to embed in the (autoescaped) page as ``Markup``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from markupsafe import Markup


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    color: str
    kind: str = "bar"  # "bar" (stacked with the other bars) or "line" (own scale, right axis)
    unit: str = ""  # of a line's right-hand axis


@dataclass
class Point:
    label: str  # e.g. the run's time, shown on hover and under the first and last bar
    values: dict[str, float | None] = field(default_factory=dict)
    note: str = ""  # extra hover text (run id, state)


def _fmt(value: float) -> str:
    if value >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 2.5, 5, 10):
        magnitude: float = 10 ** (len(str(int(value))) - 1)
        if value <= step * magnitude:
            return float(step * magnitude)
    return value


def bar_chart(
    name: str,
    title: str,
    points: list[Point],
    series: list[Series],
    *,
    unit: str = "",
    reference: float | None = None,
    reference_label: str = "",
    width: int = 520,
    height: int = 150,
) -> Markup:
    """One chart as inline SVG. ``name``: its ``data-chart`` id; ``unit``: of the bars' axis."""
    left, right, top, bottom = 46, 40, 22, 20
    inner_w, inner_h = width - left - right, height - top - bottom
    bars = [s for s in series if s.kind == "bar"]
    lines = [s for s in series if s.kind == "line"]
    totals = [sum((p.values.get(s.key) or 0) for s in bars) for p in points]
    y_max = _nice_max(max([*totals, reference or 0, 0]))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(name)}" role="img" '
        f'aria-label="{escape(title)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<text x="{left}" y="14" class="ct">{escape(title)}</text>',
    ]
    legend_x = width - right
    for s in reversed(series):
        text = escape(s.label)
        legend_x -= 14 + 6 * len(s.label)
        mark = (
            f'<rect x="{legend_x}" y="6" width="10" height="10" fill="{s.color}"/>'
            if s.kind == "bar"
            else f'<line x1="{legend_x}" y1="11" x2="{legend_x + 10}" y2="11" stroke="{s.color}" stroke-width="2"/>'
        )
        out.append(f'{mark}<text x="{legend_x + 13}" y="15" class="cl">{text}</text>')
    for frac in (0, 0.5, 1):
        y = top + inner_h * (1 - frac)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + inner_w}" y2="{y:.1f}" class="cg"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" class="ca" text-anchor="end">{_fmt(y_max * frac)}{escape(unit) if frac == 1 else ""}</text>'
        )
    if not points:
        out.append(
            f'<text x="{left + inner_w / 2}" y="{top + inner_h / 2}" class="cl" text-anchor="middle">no runs yet</text>'
        )
    n = max(len(points), 1)
    slot = inner_w / n
    bar_w = max(min(slot * 0.7, 28), 1.5)
    for i, (p, total) in enumerate(zip(points, totals, strict=True)):
        x = left + slot * i + (slot - bar_w) / 2
        y = top + inner_h
        hover = (
            f"{p.label}: "
            + ", ".join(
                f"{s.label} {_fmt(p.values.get(s.key) or 0)}" for s in series if p.values.get(s.key) is not None
            )
            + (f" ({p.note})" if p.note else "")
        )
        out.append(
            f'<g data-point="{i}" data-label="{escape(p.label)}" data-total="{total:g}"><title>{escape(hover)}</title>'
        )
        for s in bars:
            value = p.values.get(s.key)
            if value is None:
                continue
            h = inner_h * value / y_max
            y -= h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0):.1f}" fill="{s.color}" '
                f'data-series="{s.key}" data-value="{value:g}"/>'
            )
        if all(p.values.get(s.key) is None for s in bars) and bars:  # no data for this run (e.g. no duration)
            out.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + inner_h - 2}" class="ca" text-anchor="middle">?</text>'
            )
        out.append("</g>")
    if reference is not None:
        y = top + inner_h * (1 - reference / y_max)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + inner_w}" y2="{y:.1f}" class="cr" data-reference="{reference:g}"/>'
            f'<text x="{left + inner_w}" y="{y - 3:.1f}" class="ca" text-anchor="end">{escape(reference_label)}</text>'
        )
    for s in lines:
        values = [p.values.get(s.key) for p in points]
        known = [v for v in values if v is not None]
        if not known:
            continue
        l_max = _nice_max(max(known))
        coords = [
            f"{left + slot * i + slot / 2:.1f},{top + inner_h * (1 - v / l_max):.1f}"
            for i, v in enumerate(values)
            if v is not None
        ]
        out.append(
            f'<polyline points="{" ".join(coords)}" fill="none" stroke="{s.color}" stroke-width="2" data-series="{s.key}"/>'
            f'<text x="{left + inner_w + 4}" y="{top + 4}" class="ca">{_fmt(l_max)}{escape(s.unit)}</text>'
        )
    if points:
        out.append(
            f'<text x="{left}" y="{height - 5}" class="ca">{escape(points[0].label)}</text>'
            f'<text x="{left + inner_w}" y="{height - 5}" class="ca" text-anchor="end">{escape(points[-1].label)}</text>'
        )
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above is escaped


CHART_STYLE = """
svg.chart{background:#fff;border:1px solid #e2e8f0;border-radius:6px;margin:4px 8px 4px 0;font-size:10px}
svg.chart .ct{font-size:12px;font-weight:600;fill:#1a202c} svg.chart .cl{fill:#4a5568} svg.chart .ca{fill:#718096}
svg.chart .cg{stroke:#edf2f7} svg.chart .cr{stroke:#e53e3e;stroke-dasharray:4 3}
"""
