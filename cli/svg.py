"""Plots as inline SVG, drawn here: no JavaScript, no fonts or scripts from anywhere, so the
report opens offline and its Content-Security-Policy can forbid every fetch."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
GRID = "#dddddd"
INK = "#333333"
MARGIN = {"left": 56, "right": 16, "top": 28, "bottom": 40}


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    if not math.isfinite(low) or not math.isfinite(high) or high <= low:
        return [low] if math.isfinite(low) else [0.0]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _frame(width: int, height: int, title: str, body: list[str], y_range: tuple[float, float],
           y_label: str) -> str:
    low, high = y_range
    plot_h = height - MARGIN["top"] - MARGIN["bottom"]
    parts = [f'<svg width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}">',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
             f'<text x="{MARGIN["left"]}" y="18" font-size="13" font-weight="bold" fill="{INK}">{_esc(title)}</text>']
    for tick in _ticks(low, high):
        y = MARGIN["top"] + plot_h - (tick - low) / ((high - low) or 1) * plot_h
        parts.append(f'<line x1="{MARGIN["left"]}" x2="{width - MARGIN["right"]}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{MARGIN["left"] - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end" '
                     f'fill="{INK}">{_esc(_fmt(tick))}</text>')
    parts.append(f'<text x="12" y="{MARGIN["top"] + plot_h / 2:.0f}" font-size="10" fill="{INK}" '
                 f'transform="rotate(-90 12 {MARGIN["top"] + plot_h / 2:.0f})" text-anchor="middle">'
                 f'{_esc(y_label)}</text>')
    parts += body
    parts.append(f'<line x1="{MARGIN["left"]}" x2="{MARGIN["left"]}" y1="{MARGIN["top"]}" '
                 f'y2="{MARGIN["top"] + plot_h}" stroke="{INK}"/>')
    parts.append("</svg>")
    return "".join(parts)


def empty(width: int, height: int, title: str, message: str) -> str:
    return (f'<svg width="{width}" height="{height}" role="img" '
            f'aria-label="{_esc(title)}"><rect x="0" y="0" width="{width}" height="{height}" fill="#fafafa" '
            f'stroke="{GRID}"/><text x="{MARGIN["left"]}" y="18" font-size="13" font-weight="bold" fill="{INK}">'
            f'{_esc(title)}</text><text x="{width / 2:.0f}" y="{height / 2:.0f}" font-size="12" '
            f'text-anchor="middle" fill="#777777">{_esc(message)}</text></svg>')


def line_chart(width: int, height: int, title: str, x_labels: Sequence[str],
               series: dict[str, Sequence[float | None]], *, y_label: str = "",
               thresholds: dict[str, float] | None = None, y_min: float | None = 0.0) -> str:
    """One line per series over shared x positions; None leaves a gap. Thresholds are dashed."""
    values = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    values += list((thresholds or {}).values())
    if not values or not x_labels:
        return empty(width, height, title, "no data in this range")
    low = min(values) if y_min is None else min(y_min, *values)
    high = max(values)
    high = high + (abs(high) * 0.05 or 1.0)
    plot_w = width - MARGIN["left"] - MARGIN["right"]
    plot_h = height - MARGIN["top"] - MARGIN["bottom"]
    n = len(x_labels)
    x_of = lambda i: MARGIN["left"] + (plot_w * (i + 0.5) / n)  # noqa: E731
    y_of = lambda v: MARGIN["top"] + plot_h - (v - low) / ((high - low) or 1) * plot_h  # noqa: E731
    body: list[str] = []
    for name, value in (thresholds or {}).items():
        body.append(f'<line x1="{MARGIN["left"]}" x2="{width - MARGIN["right"]}" y1="{y_of(value):.1f}" '
                    f'y2="{y_of(value):.1f}" stroke="#ff7f0e" stroke-dasharray="5,4" stroke-width="1.5"/>')
        body.append(f'<text x="{width - MARGIN["right"] - 2}" y="{y_of(value) - 3:.1f}" font-size="10" '
                    f'text-anchor="end" fill="#ff7f0e">{_esc(name)} {_esc(_fmt(value))}</text>')
    for k, (name, points) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        runs: list[list[str]] = [[]]
        for i, value in enumerate(points):
            if value is None or not math.isfinite(value):
                runs.append([])
                continue
            runs[-1].append(f"{x_of(i):.1f},{y_of(value):.1f}")
        for run in runs:
            if len(run) > 1:
                body.append(f'<polyline fill="none" stroke="{color}" stroke-width="2.5" points="{" ".join(run)}"/>')
            for point in run:
                x, y = point.split(",")
                body.append(f'<circle cx="{x}" cy="{y}" r="3.5" fill="{color}"/>')
        body.append(f'<rect x="{MARGIN["left"] + 8 + 110 * k}" y="{height - 14}" width="10" height="10" '
                    f'fill="{color}"/><text x="{MARGIN["left"] + 22 + 110 * k}" y="{height - 5}" font-size="10" '
                    f'fill="{INK}">{_esc(name)}</text>')
    step = max(1, math.ceil(n / 8))
    for i in range(0, n, step):
        body.append(f'<text x="{x_of(i):.1f}" y="{MARGIN["top"] + plot_h + 13}" font-size="9" '
                    f'text-anchor="middle" fill="{INK}">{_esc(x_labels[i])}</text>')
    return _frame(width, height, title, body, (low, high), y_label)


def bar_chart(width: int, height: int, title: str, bars: Sequence[tuple[str, float]], *, y_label: str = "",
              color: str = PALETTE[0]) -> str:
    if not bars:
        return empty(width, height, title, "no data in this range")
    high = max(max(v for _, v in bars), 1e-9) * 1.1
    plot_w = width - MARGIN["left"] - MARGIN["right"]
    plot_h = height - MARGIN["top"] - MARGIN["bottom"]
    slot = plot_w / len(bars)
    body: list[str] = []
    for i, (label, value) in enumerate(bars):
        bar_h = max(value / high * plot_h, 2.0)  # a zero still shows as a sliver
        x = MARGIN["left"] + i * slot + slot * 0.15
        body.append(f'<rect x="{x:.1f}" y="{MARGIN["top"] + plot_h - bar_h:.1f}" width="{slot * 0.7:.1f}" '
                    f'height="{bar_h:.1f}" fill="{color}"><title>{_esc(label)}: {_esc(_fmt(value))}</title></rect>')
        body.append(f'<text x="{x + slot * 0.35:.1f}" y="{MARGIN["top"] + plot_h + 13}" font-size="9" '
                    f'text-anchor="middle" fill="{INK}">{_esc(label[:24])}</text>')
    return _frame(width, height, title, body, (0.0, high), y_label)
