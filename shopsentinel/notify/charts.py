"""The metric chart a message carries: value and expected band around an alert, as a PNG drawn on
the server (matplotlib, Agg backend — no display, no browser).

A :class:`ChartSpec` is plain data (it travels in the outbox payload with the message), so the
image a chat app fetches through the signed chart link and the image attached to the e-mail are
drawn from the same numbers by the same function: the same PNG, byte for byte (no timestamp or
software tag is written into the file).

>>> spec = ChartSpec(title="uv tmall/tm-1", points=[ChartPoint(ts="2026-11-11T00:00:00Z", value=10, lower=80, upper=120)])
>>> png = render_png(spec)
>>> png[:8] == PNG_SIGNATURE, png_size(png)
(True, (640, 280))
"""

from __future__ import annotations

import io
import struct
import threading
from datetime import UTC, datetime
from functools import cache
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
WIDTH_PX, HEIGHT_PX, DPI = 640, 280, 100
CJK_FONTS = ("Noto Sans CJK SC", "Noto Serif CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC", "Microsoft YaHei",
             "PingFang SC")
_LOCK = threading.Lock()  # pyplot-free, but font caches and rcParams are process-wide


class ChartPoint(BaseModel):
    """One hour: the value, and what was expected (band ``lower``–``upper``), any of them missing."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    ts: str  # ISO-8601 UTC
    value: float | None = None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None


class ChartSpec(BaseModel):
    """What to draw: the series, the title, where the alert started (a marker) and the reader's zone."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    title: str
    points: list[ChartPoint] = Field(min_length=1)
    marker_ts: str | None = None
    timezone: str = "Asia/Shanghai"
    lang: str = "zh"


def _moment(ts: str) -> datetime:
    moment = datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@cache
def _cjk_font() -> str | None:
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in names), None)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def render_png(spec: ChartSpec) -> bytes:
    """The chart as a ``WIDTH_PX`` × ``HEIGHT_PX`` PNG: the value line, the expected line and the band
    between lower and upper, times in ``spec.timezone``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import DateFormatter, date2num
    from matplotlib.figure import Figure

    zone = ZoneInfo(spec.timezone)
    times = [float(date2num(_moment(p.ts).astimezone(zone).replace(tzinfo=None))) for p in spec.points]
    with _LOCK:
        font = _cjk_font() if spec.lang == "zh" else None
        # Chinese labels need a CJK font; a machine without one gets the English labels, never boxes.
        labels = ("当前", "预期", "正常范围", "开始") if font else ("value", "expected", "expected band", "start")
        figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        lower = [_nan(p.lower) for p in spec.points]
        upper = [_nan(p.upper) for p in spec.points]
        if any(p.lower is not None and p.upper is not None for p in spec.points):
            axes.fill_between(times, lower, upper, color="#90caf9", alpha=0.45, linewidth=0, label=labels[2])
        if any(p.expected is not None for p in spec.points):
            axes.plot(times, [_nan(p.expected) for p in spec.points], color="#1e88e5", linestyle="--", linewidth=1,
                      label=labels[1])
        axes.plot(times, [_nan(p.value) for p in spec.points], color="#e53935", linewidth=1.6, marker="o" if len(times) < 3 else None,
                  label=labels[0])
        if spec.marker_ts:
            axes.axvline(float(date2num(_moment(spec.marker_ts).astimezone(zone).replace(tzinfo=None))), color="#757575", linewidth=0.8,
                         linestyle=":", label=labels[3])
        axes.set_title(spec.title if font or spec.title.isascii() else spec.title.encode("ascii", "replace").decode(),
                       fontdict={"family": font, "fontsize": 10} if font else {"fontsize": 10})
        axes.xaxis.set_major_formatter(DateFormatter("%m-%d %H:%M"))
        axes.tick_params(labelsize=7)
        axes.grid(True, linewidth=0.3, alpha=0.6)
        axes.legend(loc="upper left", prop={"family": font, "size": 7} if font else {"size": 7})
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=DPI, metadata={"Software": None})
    return out.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (raises ``ValueError`` for anything not a PNG)."""
    if len(png) < 24 or png[:8] != PNG_SIGNATURE or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", png[16:24])
    return width, height


__all__ = ["PNG_SIGNATURE", "ChartPoint", "ChartSpec", "png_size", "render_png"]
