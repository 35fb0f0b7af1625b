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
    every = max(1, math.ceil(len(bars) / 12))  # a label under every bar when they fit, else under every n-th
    body: list[str] = []
    for i, (label, value) in enumerate(bars):
        bar_h = max(value / high * plot_h, 2.0)  # a zero still shows as a sliver
        x = MARGIN["left"] + i * slot + slot * 0.15
        body.append(f'<rect x="{x:.1f}" y="{MARGIN["top"] + plot_h - bar_h:.1f}" width="{slot * 0.7:.1f}" '
                    f'height="{bar_h:.1f}" fill="{color}"><title>{_esc(label)}: {_esc(_fmt(value))}</title></rect>')
        if i % every == 0:
            body.append(f'<text x="{x + slot * 0.35:.1f}" y="{MARGIN["top"] + plot_h + 13}" font-size="9" '
                        f'text-anchor="middle" fill="{INK}">{_esc(label[:24])}</text>')
    return _frame(width, height, title, body, (0.0, high), y_label)


Node = tuple[str, str]  # (kind, id): ("dataset", "s3://raw/admissions"), ("job", "airflow/etl"), ("run", "r-1")
NODE_STYLE = {"dataset": ("#dbe9f6", PALETTE[0], ""), "job": ("#fde9d4", "#ff7f0e", ""),
              "run": ("#eeeeee", "#777777", ' stroke-dasharray="4,3"')}


def graph_layers(nodes: Sequence[Node], edges: Sequence[tuple[Node, Node]]) -> dict[Node, int]:
    """Each node's column: the longest path to it from a node nothing feeds. Deterministic:
    a cycle is cut where a depth-first walk, in sorted order, first comes back on itself."""
    following: dict[Node, list[Node]] = {n: [] for n in nodes}
    for src, dst in sorted(set(edges)):
        if src in following and dst in following and src != dst:
            following[src].append(dst)
    state: dict[Node, int] = {}  # 1: on the walk's path, 2: done
    order: list[Node] = []  # reverse post-order: a topological order of the graph without its back edges
    kept: dict[Node, list[Node]] = {n: [] for n in following}
    for root in sorted(following):
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(following[root]))]
        while stack:
            node, rest = stack[-1]
            step = next(rest, None)
            if step is None:
                state[node] = 2
                order.append(node)
                stack.pop()
            elif state.get(step) != 1:  # a back edge (cycle) is left out of the layering
                kept[node].append(step)
                if step not in state:
                    state[step] = 1
                    stack.append((step, iter(following[step])))
    layer = dict.fromkeys(following, 0)
    for node in reversed(order):
        for step in kept[node]:
            layer[step] = max(layer[step], layer[node] + 1)
    return layer


def _tail(text: str, chars: int) -> str:
    """The end of a name (a ref's table or object name says more than its namespace)."""
    return text if len(text) <= chars else "\u2026" + text[-(chars - 1):]


def lineage_graph(width: int, height: int, title: str, edges: Sequence[tuple[Node, Node]], *,
                  max_nodes: int = 30, note: str = "") -> str:
    """Datasets, jobs and runs as boxes, edges as arrows, in columns left to right by the
    longest path that reaches each node. At most `max_nodes` boxes (the most connected, and
    no more than a column holds): the rest are counted in a note under the graph."""
    all_nodes = sorted({n for edge in edges for n in edge})
    if not all_nodes:
        return empty(width, height, title, "no lineage in this range")
    degree: dict[Node, int] = dict.fromkeys(all_nodes, 0)
    for src, dst in edges:
        degree[src] += 1
        degree[dst] += 1
    top, bottom, side = MARGIN["top"] + 6, 34, 16
    pitch = 30  # a row: a 22 px box and the space under it
    per_column = max(1, (height - top - bottom) // pitch)
    chosen = set(sorted(all_nodes, key=lambda n: (-degree[n], n))[:max_nodes])
    while True:  # a column that holds more than fits keeps its best-connected nodes
        kept = [(s, d) for s, d in edges if s in chosen and d in chosen]
        layer = graph_layers(sorted(chosen), kept)
        columns: dict[int, list[Node]] = {}
        for node in sorted(chosen, key=lambda n: (-degree[n], n)):
            columns.setdefault(layer[node], []).append(node)
        crowded = [c for c in columns.values() if len(c) > per_column]
        if not crowded:
            break
        chosen -= {n for c in crowded for n in c[per_column:]}
    count = max(columns) + 1
    # Rows: each node near the mean row of what feeds it (one left-to-right pass), then by name
    rows: dict[Node, float] = {}
    feeders: dict[Node, list[Node]] = {}
    for src, dst in kept:
        feeders.setdefault(dst, []).append(src)
    for column in range(count):
        members = columns.get(column, [])
        wish = {n: (sum(rows[f] for f in feeders.get(n, []) if f in rows) /
                    max(1, sum(1 for f in feeders.get(n, []) if f in rows))) for n in members}
        for row, node in enumerate(sorted(members, key=lambda n: (wish[n], n))):
            rows[node] = row
    tallest = max(len(c) for c in columns.values())
    slot = (width - 2 * side) / count
    box_w = min(200.0, slot - 36)
    chars = max(6, int(box_w / 6.1))
    where: dict[Node, tuple[float, float]] = {}
    for node, row in rows.items():
        column_size = len(columns[layer[node]])
        y = top + (height - top - bottom - tallest * pitch) / 2 + (tallest - column_size) * pitch / 2 + row * pitch
        where[node] = (side + layer[node] * slot + (slot - box_w) / 2, y)
    parts = [f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{_esc(title)}">',
             '<defs><marker id="lineage-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             f'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{INK}"/></marker></defs>',
             f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
             f'<text x="{side}" y="18" font-size="13" font-weight="bold" fill="{INK}">{_esc(title)}</text>']
    for src, dst in sorted(kept):
        (x1, y1), (x2, y2) = where[src], where[dst]
        x1, y1, y2 = x1 + box_w, y1 + 11, y2 + 11
        bend = max(30.0, abs(x2 - x1) / 2)
        parts.append(f'<path d="M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} {x2 - bend:.1f},{y2:.1f} '
                     f'{x2:.1f},{y2:.1f}" fill="none" stroke="#999999" stroke-width="1.3" '
                     'marker-end="url(#lineage-arrow)"/>')
    for node in sorted(where):
        x, y = where[node]
        fill, stroke, dash = NODE_STYLE.get(node[0], NODE_STYLE["run"])
        rx = 11 if node[0] == "dataset" else 2
        parts.append(f'<g class="node {_esc(node[0])}"><title>{_esc(node[0])} {_esc(node[1])}</title>'
                     f'<rect x="{x:.1f}" y="{y:.1f}" width="{box_w:.1f}" height="22" rx="{rx}" fill="{fill}" '
                     f'stroke="{stroke}"{dash}/><text x="{x + box_w / 2:.1f}" y="{y + 15:.1f}" font-size="10" '
                     f'text-anchor="middle" fill="{INK}">{_esc(_tail(node[1], chars))}</text></g>')
    legend = height - 12
    for k, kind in enumerate(("dataset", "job", "run")):
        fill, stroke, dash = NODE_STYLE[kind]
        parts.append(f'<rect x="{side + 90 * k}" y="{legend - 9}" width="14" height="10" fill="{fill}" '
                     f'stroke="{stroke}"{dash}/><text x="{side + 20 + 90 * k}" y="{legend}" font-size="10" '
                     f'fill="{INK}">{kind}</text>')
    hidden = len(all_nodes) - len(where)
    words = ([f"and {hidden} more node{'s' if hidden != 1 else ''} not drawn"] if hidden else []) + (
        [note] if note else [])
    if words:
        parts.append(f'<text x="{width - side}" y="{legend}" font-size="10" text-anchor="end" fill="#777777">'
                     f'{_esc("; ".join(words))}</text>')
    parts.append("</svg>")
    return "".join(parts)
