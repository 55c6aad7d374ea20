"""Backtest preview of an edited rule pack (R3.6 "start loose, then tighten"): how often would each
changed rule have fired over the last N days of the service's stored points, next to the current
version's firings. Same engine as live evaluation and the backtest: points → clean → panel →
``evaluate_panel``; nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from shopsentinel.catalog import Catalog
from shopsentinel.core.types import CalendarEvent, StoreInfo
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.rules import Rule, RulePack
from shopsentinel.ingest.clean import clean
from shopsentinel.runtime.evaluation import HOUR, floor_hour
from shopsentinel.store.points import PointStore
from shopsentinel.store.state import StoreRow


@dataclass
class PreviewResult:
    rules: list[str]
    days: list[str]
    current: list[int]
    edited: list[int]
    stores: int

    @property
    def current_total(self) -> int:
        return sum(self.current)

    @property
    def edited_total(self) -> int:
        return sum(self.edited)


def changed_rules(current: RulePack, edited: RulePack) -> list[str]:
    """Ids of rules that are new or differ; every rule of the edited pack when nothing differs."""
    before = {r.id: r.model_dump(mode="json") for r in current.rules}
    changed = [r.id for r in edited.rules if before.get(r.id) != r.model_dump(mode="json")]
    return changed or [r.id for r in edited.rules]


def _counts(rules: list[Rule], frame: pl.DataFrame, infos: list[StoreInfo], calendar: list[CalendarEvent], catalog: Catalog,
            start: datetime, hours: int, days: int) -> list[int]:
    counts = [0] * days
    if not rules or frame.is_empty():
        return counts
    cleaned, _ = clean(frame, catalog)
    cleaned = cleaned.filter(pl.col("metric").is_in([m for m in cleaned.get_column("metric").unique().to_list() if m in catalog]))
    panel = build_panel(cleaned, infos, calendar, catalog, start=start, hours=hours)
    for event in evaluate_panel(panel, rules, catalog):
        day = int((event.start - start) // timedelta(days=1))
        if 0 <= day < days:
            counts[day] += 1
    return counts


def preview(points: PointStore, stores: list[StoreRow], calendar: list[CalendarEvent], catalog: Catalog,
            current: RulePack, edited: RulePack, now: datetime, *, days: int = 30, shard: int = 40,
            rule_ids: list[str] | None = None) -> PreviewResult:
    """Firings per day (by episode start) of the changed rules, current version vs edited version."""
    ids = rule_ids or changed_rules(current, edited)
    old = [r for r in current.rules if r.id in ids]
    new = [r for r in edited.rules if r.id in ids]
    end = floor_hour(now)
    start = (end - timedelta(days=days)).replace(hour=0)
    hours = int((end - start) // HOUR)
    n_days = (hours + 23) // 24
    current_counts, edited_counts = [0] * n_days, [0] * n_days
    with_points = [s for s in stores if s.first_point_at is not None]
    for i in range(0, len(with_points), max(1, shard)):
        members = with_points[i : i + shard]
        infos = [StoreInfo(r.store, r.platform, r.name, r.timezone) for r in members]
        frames = [points.frame(r.platform, r.store, start, end) for r in members]
        frame = pl.concat(frames) if frames else pl.DataFrame()
        for total, rules in ((current_counts, old), (edited_counts, new)):
            for d, n in enumerate(_counts(rules, frame, infos, calendar, catalog, start, hours, n_days)):
                total[d] += n
    labels = [f"{start + timedelta(days=d):%m-%d}" for d in range(n_days)]
    return PreviewResult(ids, labels, current_counts, edited_counts, len(with_points))


__all__ = ["PreviewResult", "changed_rules", "preview"]
