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


@dataclass(frozen=True)
class _Frame:
    """A chart's geometry: the plot area inside the margins, the bars' scale, one slot per point."""

    width: int
    height: int
    left: int
    top: int
    inner_w: int
    inner_h: int
    y_max: float
    slot: float
    bar_w: float


def _legend(frame: _Frame, series: list[Series]) -> list[str]:
    out = []
    legend_x = frame.left + frame.inner_w
    for s in reversed(series):
        text = escape(s.label)
        legend_x -= 14 + 6 * len(s.label)
        mark = (
            f'<rect x="{legend_x}" y="6" width="10" height="10" fill="{s.color}"/>'
            if s.kind == "bar"
            else f'<line x1="{legend_x}" y1="11" x2="{legend_x + 10}" y2="11" stroke="{s.color}" stroke-width="2"/>'
        )
        out.append(f'{mark}<text x="{legend_x + 13}" y="15" class="cl">{text}</text>')
    return out


def _grid(frame: _Frame, unit: str) -> list[str]:
    out = []
    left, right_x = frame.left, frame.left + frame.inner_w
    for frac in (0, 0.5, 1):
        y = frame.top + frame.inner_h * (1 - frac)
        label = f"{_fmt(frame.y_max * frac)}{escape(unit) if frac == 1 else ''}"
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{right_x}" y2="{y:.1f}" class="cg"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" class="ca" text-anchor="end">{label}</text>'
        )
    return out


def _point(frame: _Frame, i: int, p: Point, total: float, series: list[Series]) -> list[str]:
    """One run: its stacked bars (a ``?`` when it has no value) in a group with its hover text."""
    bars = [s for s in series if s.kind == "bar"]
    x = frame.left + frame.slot * i + (frame.slot - frame.bar_w) / 2
    y: float = frame.top + frame.inner_h
    shown = ", ".join(f"{s.label} {_fmt(p.values.get(s.key) or 0)}" for s in series if p.values.get(s.key) is not None)
    hover = f"{p.label}: " + shown + (f" ({p.note})" if p.note else "")
    out = [f'<g data-point="{i}" data-label="{escape(p.label)}" data-total="{total:g}"><title>{escape(hover)}</title>']
    for s in bars:
        value = p.values.get(s.key)
        if value is None:
            continue
        h = frame.inner_h * value / frame.y_max
        y -= h
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{frame.bar_w:.1f}" height="{max(h, 0):.1f}" fill="{s.color}" '
            f'data-series="{s.key}" data-value="{value:g}"/>'
        )
    if all(p.values.get(s.key) is None for s in bars) and bars:  # no data for this run (e.g. no duration)
        out.append(
            f'<text x="{x + frame.bar_w / 2:.1f}" y="{frame.top + frame.inner_h - 2}" class="ca" '
            'text-anchor="middle">?</text>'
        )
    out.append("</g>")
    return out


def _reference(frame: _Frame, reference: float, label: str) -> str:
    y = frame.top + frame.inner_h * (1 - reference / frame.y_max)
    right_x = frame.left + frame.inner_w
    return (
        f'<line x1="{frame.left}" y1="{y:.1f}" x2="{right_x}" y2="{y:.1f}" class="cr" data-reference="{reference:g}"/>'
        f'<text x="{right_x}" y="{y - 3:.1f}" class="ca" text-anchor="end">{escape(label)}</text>'
    )


def _line(frame: _Frame, points: list[Point], s: Series) -> str | None:
    """A line series on its own right-hand scale (None: no point has a value)."""
    values = [p.values.get(s.key) for p in points]
    known = [v for v in values if v is not None]
    if not known:
        return None
    l_max = _nice_max(max(known))
    coords = [
        f"{frame.left + frame.slot * i + frame.slot / 2:.1f},{frame.top + frame.inner_h * (1 - v / l_max):.1f}"
        for i, v in enumerate(values)
        if v is not None
    ]
    return (
        f'<polyline points="{" ".join(coords)}" fill="none" stroke="{s.color}" stroke-width="2" '
        f'data-series="{s.key}"/><text x="{frame.left + frame.inner_w + 4}" y="{frame.top + 4}" class="ca">'
        f"{_fmt(l_max)}{escape(s.unit)}</text>"
    )


def _axis_labels(frame: _Frame, points: list[Point]) -> str:
    """The first and the last point's label under the chart."""
    y = frame.height - 5
    return (
        f'<text x="{frame.left}" y="{y}" class="ca">{escape(points[0].label)}</text>'
        f'<text x="{frame.left + frame.inner_w}" y="{y}" class="ca" text-anchor="end">{escape(points[-1].label)}</text>'
    )


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
    totals = [sum((p.values.get(s.key) or 0) for s in bars) for p in points]
    slot = inner_w / max(len(points), 1)
    y_max = _nice_max(max([*totals, reference or 0, 0]))
    frame = _Frame(width, height, left, top, inner_w, inner_h, y_max, slot, max(min(slot * 0.7, 28), 1.5))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(name)}" role="img" '
        f'aria-label="{escape(title)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
        f'<text x="{left}" y="14" class="ct">{escape(title)}</text>',
        *_legend(frame, series),
        *_grid(frame, unit),
    ]
    if not points:
        out.append(
            f'<text x="{left + inner_w / 2}" y="{top + inner_h / 2}" class="cl" text-anchor="middle">no runs yet</text>'
        )
    for i, (p, total) in enumerate(zip(points, totals, strict=True)):
        out += _point(frame, i, p, total, series)
    if reference is not None:
        out.append(_reference(frame, reference, reference_label))
    out += [line for s in series if s.kind == "line" and (line := _line(frame, points, s)) is not None]
    if points:
        out.append(_axis_labels(frame, points))
    out.append("</svg>")
    return Markup("".join(out))  # noqa: S704 - every text above is escaped


CHART_STYLE = """
svg.chart{background:#fff;border:1px solid #e2e8f0;border-radius:6px;margin:4px 8px 4px 0;font-size:10px}
svg.chart .ct{font-size:12px;font-weight:600;fill:#1a202c} svg.chart .cl{fill:#4a5568} svg.chart .ca{fill:#718096}
svg.chart .cg{stroke:#edf2f7} svg.chart .cr{stroke:#e53e3e;stroke-dasharray:4 3}
"""
