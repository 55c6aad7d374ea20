"""The evaluation grid: every series of a shard of stores on one hourly UTC axis.

A :class:`Panel` holds one ``T × S`` float matrix per metric (NaN = no data: a gap is never read
as zero), which series (store, SKU) each column is, and each store's local clock (UTC offset,
hour of day, weekday) so daily and weekly seasonality follow the store's own time zone across
DST changes. Detectors work on whole matrices at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from shopsentinel.catalog import Catalog
from shopsentinel.core.types import CalendarEvent, StoreInfo

HOUR = timedelta(hours=1)


@dataclass
class MetricMatrix:
    name: str
    values: np.ndarray  # T × S, float64, NaN where no data
    store_index: np.ndarray  # S, index into Panel.stores
    skus: list[str]
    cadence_hours: np.ndarray  # S, typical spacing of the series' points

    @property
    def width(self) -> int:
        return int(self.values.shape[1])


@dataclass
class Panel:
    start: datetime
    hours: int
    stores: list[StoreInfo]
    offsets: np.ndarray  # T × n_stores, UTC offset in hours
    metrics: dict[str, MetricMatrix] = field(default_factory=dict)
    events: list[tuple[CalendarEvent, int]] = field(default_factory=list)  # (event, store index)
    observed: np.ndarray | None = None  # T × n_stores: the store sent any point in the hour
    closed: np.ndarray | None = None  # T × n_stores: outside the store's declared opening hours (None: none declared)

    def time_at(self, index: int) -> datetime:
        return self.start + index * HOUR

    def times(self) -> list[datetime]:
        return [self.start + i * HOUR for i in range(self.hours)]

    def local_hour(self) -> np.ndarray:
        utc_hour = (np.arange(self.hours) + self.start.hour)[:, None]
        return np.floor(utc_hour + self.offsets).astype(int) % 24

    def local_weekday(self) -> np.ndarray:
        """T × n_stores local weekday (Monday = 0) of each hour."""
        epoch_hours = int(self.start.timestamp() // 3600)
        local = np.floor((np.arange(self.hours) + epoch_hours)[:, None] + self.offsets).astype(np.int64)
        return (local // 24 + 3) % 7  # 1970-01-01 was a Thursday

    def closed_window(self, window: int) -> np.ndarray | None:
        """T × n_stores: every hour of the ``window`` ending here is a declared closed hour."""
        if self.closed is None:
            return None
        if window <= 1:
            return self.closed
        counts = np.cumsum(np.vstack([np.zeros((1, self.closed.shape[1])), self.closed]), axis=0)
        t = np.arange(self.hours)
        lo = np.clip(t + 1 - window, 0, None)
        return (counts[t + 1] - counts[lo]) >= (t + 1 - lo)[:, None]

    def event_mask(self, kinds: tuple[str, ...], tail_hours: int = 0) -> np.ndarray:
        """T × n_stores: True inside events of these kinds, extended by ``tail_hours`` after each."""
        mask = np.zeros((self.hours, len(self.stores)), dtype=bool)
        for event, store_idx in self.events:
            if event.kind not in kinds:
                continue
            a = int((event.start - self.start) // HOUR)
            b = int(-(-(event.end - self.start) // HOUR)) + tail_hours
            a, b = max(a, 0), min(b, self.hours)
            if a < b:
                mask[a:b, store_idx] = True
        return mask

    def event_names(self, index: int, store_idx: int) -> list[str]:
        t = self.time_at(index)
        return [e.name for e, s in self.events if s == store_idx and e.start <= t < e.end]


@lru_cache(maxsize=256)
def _offsets_for_zone(zone: str, start: datetime, hours: int) -> np.ndarray:
    tz = ZoneInfo(zone)
    out = np.empty(hours, dtype=float)
    for i in range(hours):
        offset = (start + i * HOUR).astimezone(tz).utcoffset()
        out[i] = offset.total_seconds() / 3600.0 if offset is not None else 0.0
    return out


def build_panel(
    metrics: pl.DataFrame,
    stores: list[StoreInfo],
    calendar: list[CalendarEvent],
    catalog: Catalog,
    *,
    start: datetime,
    hours: int,
) -> Panel:
    """Arrange clean points of the given stores on the hourly grid [start, start + hours)."""
    start = start.astimezone(UTC)
    offsets = np.stack([_offsets_for_zone(s.timezone, start, hours) for s in stores], axis=1) if stores else np.zeros((hours, 0))
    panel = Panel(start=start, hours=hours, stores=stores, offsets=offsets)
    panel.closed = _declared_closed(panel)
    store_pos = {(s.platform, s.store): i for i, s in enumerate(stores)}
    for event in calendar:
        for i, s in enumerate(stores):
            if event.applies_to(s.platform, s.store):
                panel.events.append((event, i))
    if metrics.height == 0 or not stores:
        panel.observed = np.zeros((hours, len(stores)), dtype=bool)
        return panel

    start_naive = start.replace(tzinfo=None)
    df = metrics.with_columns(
        ((pl.col("ts").dt.replace_time_zone(None) - pl.lit(start_naive)).dt.total_seconds() // 3600).cast(pl.Int64).alias("_h"),
    ).filter((pl.col("_h") >= 0) & (pl.col("_h") < hours))

    observed = np.zeros((hours, len(stores)), dtype=bool)
    per_store_hours = df.select("platform", "store", "_h").unique()
    for (platform, store), sub in per_store_hours.group_by(["platform", "store"]):
        pos = store_pos.get((str(platform), str(store)))
        if pos is not None:
            observed[sub.get_column("_h").to_numpy(), pos] = True
    panel.observed = observed

    names = df.get_column("metric").unique().sort().to_list()
    sum_metrics = [m for m in names if catalog.get(m).aggregation == "sum"]
    mean_metrics = [m for m in names if catalog.get(m).aggregation == "mean"]
    hourly = (
        df.sort("ts")
        .group_by(["platform", "store", "sku", "metric", "_h"], maintain_order=True)
        .agg(
            pl.col("value").sum().alias("_sum"),
            pl.col("value").last().alias("_last"),
            pl.col("value").mean().alias("_mean"),
            pl.len().alias("_n"),
        )
        .with_columns(
            pl.when(pl.col("metric").is_in(sum_metrics)).then(pl.col("_sum"))
            .when(pl.col("metric").is_in(mean_metrics)).then(pl.col("_mean"))
            .otherwise(pl.col("_last")).alias("value")
        )
    )
    for (metric,), sub in hourly.group_by(["metric"]):
        keys = sub.select("platform", "store", "sku").unique().sort("platform", "store", "sku")
        keys = keys.with_columns(
            pl.struct("platform", "store").map_elements(lambda r: store_pos.get((r["platform"], r["store"]), -1), return_dtype=pl.Int64).alias("_store"),
        ).filter(pl.col("_store") >= 0).with_row_index("_col")
        joined = sub.join(keys, on=["platform", "store", "sku"], how="inner")
        values = np.full((hours, keys.height), np.nan)
        values[joined.get_column("_h").to_numpy(), joined.get_column("_col").to_numpy()] = joined.get_column("value").to_numpy()
        cadence = (
            joined.sort("_col", "_h")
            .group_by("_col")
            .agg(pl.col("_h").diff().median().fill_null(1).alias("_cad"))
            .sort("_col")
            .get_column("_cad")
            .to_numpy()
            .astype(float)
        )
        cadence = np.clip(np.nan_to_num(cadence, nan=1.0), 1.0, 24.0 * 7)
        values = _fill_slow_gauges(values, cadence, catalog.get(str(metric)).aggregation == "last")
        panel.metrics[str(metric)] = MetricMatrix(
            name=str(metric),
            values=values,
            store_index=keys.get_column("_store").to_numpy().astype(int),
            skus=keys.get_column("sku").to_list(),
            cadence_hours=cadence,
        )
    return panel


def _declared_closed(panel: Panel) -> np.ndarray | None:
    """Hours outside each store's declared opening hours (local time); None when no store declares any."""
    grids = [s.open_hours() for s in panel.stores]
    if all(g is None for g in grids):
        return None
    weekday, hour = panel.local_weekday(), panel.local_hour()
    closed = np.zeros((panel.hours, len(panel.stores)), dtype=bool)
    for j, grid in enumerate(grids):
        if grid is not None:
            table = np.asarray(grid, dtype=bool)
            closed[:, j] = ~table[weekday[:, j], hour[:, j]]
    return closed


def _fill_slow_gauges(values: np.ndarray, cadence: np.ndarray, is_gauge: bool) -> np.ndarray:
    """A gauge reported daily (e.g. DSR) holds its value until the next report, never beyond
    its own cadence: a longer silence stays a gap."""
    if not is_gauge:
        return values
    slow = np.nonzero(cadence > 1)[0]
    for col in slow:
        limit = int(round(cadence[col]))
        series = values[:, col]
        idx = np.where(~np.isnan(series), np.arange(len(series)), -1)
        last = np.maximum.accumulate(idx)
        ok = (last >= 0) & (np.arange(len(series)) - last < limit)
        filled = np.where(ok, series[np.clip(last, 0, None)], np.nan)
        values[:, col] = filled
    return values
