"""Custom metrics: the registered ``auto`` detector over every custom-metric series of a shard,
each at its own cadence (the backtest and the live evaluation call this)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import CalendarEvent, Severity, StoreInfo
from shopsentinel.detect.auto import AutoScorer
from shopsentinel.detect.episodes import episodes
from shopsentinel.detect.registry import REGISTRY
from shopsentinel.detect.rules import AutoCondition


def custom_metric_alerts(frame: pl.DataFrame, stores: list[StoreInfo], calendar: list[CalendarEvent], *, sensitivity: float = 1.0) -> list[AlertEvent]:
    """Run the registered ``auto`` detector over every custom-metric series of a shard."""
    spec = REGISTRY["auto"]
    scorer = spec.scorer
    assert isinstance(scorer, AutoScorer)
    out: list[AlertEvent] = []
    for (platform, store, sku, metric), sub in frame.group_by(["platform", "store", "sku", "metric"]):
        if sub.height < 24:
            continue
        times = sub.get_column("ts").dt.replace_time_zone(None).to_numpy().astype("datetime64[s]")
        cond = AutoCondition(metric=str(metric), type="auto", sensitivity=sensitivity)
        score = scorer.score_series(times, sub.get_column("value").to_numpy(), cond)
        result = spec.decider.decide(score, cond)
        assert score.times is not None
        eps = episodes(result.fire, result.clear, result.known, for_steps=1, keep_steps=3)
        for ep in eps:
            at = ep.start
            start = datetime.fromtimestamp(int(score.times[at].astype(np.int64)), UTC)
            end = datetime.fromtimestamp(int(score.times[ep.end].astype(np.int64)), UTC) if ep.end is not None else None
            value, expected = float(result.value[at, 0]), float(result.expected[at, 0])
            direction_zh = "偏高" if value > expected else "偏低"
            out.append(
                AlertEvent(
                    rule="custom.auto",
                    severity=Severity.WARNING,
                    kind="business",
                    category="custom",
                    platform=str(platform),
                    store=str(store),
                    sku=str(sku),
                    metric=str(metric),
                    start=start,
                    end=end,
                    value=value,
                    expected=expected,
                    lower=float(result.lower[at, 0]),
                    upper=float(result.upper[at, 0]),
                    message=f"【警告】{platform} {store}：自定义指标 {metric} {direction_zh}（当前 {value:.4g}，预期 {expected:.4g}，自动识别周期 {score.period} 个点）",
                    message_en=f"[warning] {platform} {store}: custom metric {metric} is {'high' if value > expected else 'low'} ({value:.4g}, expected {expected:.4g}; detected season {score.period} points)",
                )
            )
    return out
