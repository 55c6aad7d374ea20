"""Small server-rendered SVG charts (no JavaScript, no library): lines with a band and a marked
window, and stacked or grouped daily bars. Every number is escaped by formatting; labels by Markup.

>>> svg = line_chart([Line("v", [1.0, 2.0, None, 3.0], "value")], width=200, height=80)
>>> svg.count("<path"), "M" in svg
(1, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PAD_L, PAD_R, PAD_T, PAD_B = 48, 10, 10, 22


@dataclass(frozen=True)
class Line:
    key: str
    values: Sequence[float | None]
    css: str  # class of the path: value | expected | lastweek | related
    label: str = ""


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


def _fmt(v: float) -> str:
    if abs(v) >= 10_000:
        return f"{v / 10_000:.1f}万" if abs(v) < 1e8 else f"{v / 1e8:.1f}亿"
    if abs(v) >= 100 or v == int(v):
        return f"{v:.0f}"
    return f"{v:.3g}"


class _Scale:
    def __init__(self, n: int, lo: float, hi: float, width: int, height: int) -> None:
        if hi <= lo:
            hi = lo + 1.0
        pad = (hi - lo) * 0.05
        # counts and amounts never go below zero: do not pad the axis into negative numbers
        self.lo, self.hi = (lo - pad if lo < 0 else max(0.0, lo - pad)), hi + pad
        self.n, self.width, self.height = max(n, 2), width, height

    def x(self, i: float) -> float:
        return PAD_L + (self.width - PAD_L - PAD_R) * i / (self.n - 1)

    def y(self, v: float) -> float:
        return PAD_T + (self.height - PAD_T - PAD_B) * (1 - (v - self.lo) / (self.hi - self.lo))


def _path(values: Sequence[float | None], s: _Scale) -> str:
    parts: list[str] = []
    pen_up = True
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            pen_up = True
            continue
        parts.append(f"{'M' if pen_up else 'L'}{s.x(i):.1f},{s.y(v):.1f}")
        pen_up = False
    return " ".join(parts)


def _band(lower: Sequence[float | None], upper: Sequence[float | None], s: _Scale) -> list[str]:
    """One closed polygon per run of hours where both edges are known."""
    polygons: list[str] = []
    run: list[int] = []
    for i in range(len(lower) + 1):
        ok = i < len(lower) and lower[i] is not None and upper[i] is not None
        if ok:
            run.append(i)
            continue
        if len(run) >= 2:
            top = [f"{s.x(j):.1f},{s.y(float(upper[j])):.1f}" for j in run]  # type: ignore[arg-type]
            bottom = [f"{s.x(j):.1f},{s.y(float(lower[j])):.1f}" for j in reversed(run)]  # type: ignore[arg-type]
            polygons.append(" ".join(top + bottom))
        run = []
    return polygons


def _axes(s: _Scale, x_labels: Sequence[tuple[int, str]]) -> list[str]:
    out = []
    for k in range(4):
        v = s.lo + (s.hi - s.lo) * k / 3
        y = s.y(v)
        out.append(f'<line class="grid" x1="{PAD_L}" x2="{s.width - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="tick" x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt(v))}</text>')
    for i, label in x_labels:
        out.append(f'<text class="tick" x="{s.x(i):.1f}" y="{s.height - 6}" text-anchor="middle">{escape(label)}</text>')
    return out


def line_chart(lines: Sequence[Line], *, lower: Sequence[float | None] | None = None,
               upper: Sequence[float | None] | None = None, window: tuple[int, int] | None = None,
               x_labels: Sequence[tuple[int, str]] = (), width: int = 760, height: int = 260,
               title: str = "", chart_id: str = "") -> Markup:
    """Lines over a shared hourly x axis; an optional expected band and a shaded alert window."""
    n = max((len(line.values) for line in lines), default=0)
    known = [v for line in lines for v in _finite(line.values)]
    if lower is not None and upper is not None:
        known += _finite(lower) + _finite(upper)
    if n < 2 or not known:
        return Markup(f'<svg class="chart empty" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
                      f'<text x="{width / 2}" y="{height / 2}" text-anchor="middle" class="tick">—</text></svg>')
    s = _Scale(n, min(known), max(known), width, height)
    body = _axes(s, x_labels)
    if window is not None:
        a, b = max(0, window[0]), min(n - 1, window[1])
        if b >= a:
            body.append(f'<rect class="window" x="{s.x(a):.1f}" y="{PAD_T}" width="{max(2.0, s.x(b) - s.x(a)):.1f}" '
                        f'height="{height - PAD_T - PAD_B}"><title>alert</title></rect>')
    if lower is not None and upper is not None:
        body += [f'<polygon class="band" points="{p}"/>' for p in _band(lower, upper, s)]
    for line in lines:
        d = _path(line.values, s)
        if d:
            body.append(f'<path class="line {escape(line.css)}" data-series="{escape(line.key)}" d="{d}">'
                        f'<title>{escape(line.label)}</title></path>')
    ident = f' id="{escape(chart_id)}"' if chart_id else ""
    return Markup(f'<svg{ident} class="chart" viewBox="0 0 {width} {height}" preserveAspectRatio="none" role="img" '
                  f'aria-label="{escape(title)}">{"".join(body)}</svg>')


def bar_chart(labels: Sequence[str], stacks: Sequence[tuple[str, Sequence[float]]], *, grouped: bool = False,
              width: int = 760, height: int = 200, title: str = "", chart_id: str = "") -> Markup:
    """Daily bars: ``stacks`` is ``[(css class, values per label), ...]``, stacked or side by side."""
    n = len(labels)
    if n == 0:
        return Markup("")
    totals = [max((v[i] for _, v in stacks), default=0) if grouped else sum(v[i] for _, v in stacks) for i in range(n)]
    top = max(max(totals, default=0), 1.0)
    plot_w, plot_h = width - PAD_L - PAD_R, height - PAD_T - PAD_B
    slot = plot_w / n
    body = []
    for k in range(3):
        v = top * k / 2
        y = PAD_T + plot_h * (1 - v / top)
        body.append(f'<line class="grid" x1="{PAD_L}" x2="{width - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
                    f'<text class="tick" x="{PAD_L - 4}" y="{y + 4:.1f}" text-anchor="end">{escape(_fmt(v))}</text>')
    for i, label in enumerate(labels):
        x0 = PAD_L + slot * i + slot * 0.15
        bar_w = slot * 0.7 / (len(stacks) if grouped else 1)
        base = 0.0
        for k, (css, values) in enumerate(stacks):
            v = values[i]
            if v <= 0:
                continue
            h = plot_h * v / top
            x = x0 + (bar_w * k if grouped else 0)
            y = PAD_T + plot_h * (1 - (v if grouped else base + v) / top)
            body.append(f'<rect class="bar {escape(css)}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}">'
                        f'<title>{escape(label)} {escape(css)}: {escape(_fmt(v))}</title></rect>')
            if not grouped:
                base += v
        if n <= 16 or i % max(1, n // 10) == 0:
            body.append(f'<text class="tick" x="{PAD_L + slot * (i + 0.5):.1f}" y="{height - 6}" text-anchor="middle">{escape(label)}</text>')
    ident = f' id="{escape(chart_id)}"' if chart_id else ""
    return Markup(f'<svg{ident} class="chart bars" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
                  f'{"".join(body)}</svg>')


__all__ = ["Line", "bar_chart", "line_chart"]
