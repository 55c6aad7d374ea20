"""Predictions over the live service's points: stock-out risk per SKU, a store's 7-day sales
forecast and what-if checks (see :mod:`shopsentinel.insight.predict` for the models)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl
from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.insight.predict import (
    HORIZON_HOURS,
    PROFILE_WEEKS,
    DailyForecast,
    StockoutForecast,
    WhatIfResult,
    daily_forecast,
    stockout_risk,
    what_if,
)
from shopsentinel.insight.recalibrate import IDENTITY_BY_SUPPLY, SupplyRecalibration
from shopsentinel.insight.supply import DELIVERY_WEEKS, ReorderPoint, SupplierRecord, read_deliveries
from shopsentinel.store.points import PointStore
from shopsentinel.store.state import CalendarRow, PointRow, StoreRow

HOUR = timedelta(hours=1)
HISTORY = timedelta(weeks=PROFILE_WEEKS)
STOCK_HISTORY = timedelta(weeks=DELIVERY_WEEKS)  # longer: deliveries every two weeks need months to show a rhythm


@dataclass(frozen=True)
class StoreClock:
    zone: ZoneInfo

    def hour_of_week(self, at: datetime) -> int:
        local = at.astimezone(self.zone)
        return local.weekday() * 24 + local.hour

    def midnight(self, at: datetime) -> datetime:
        local = at.astimezone(self.zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(at.tzinfo)


def _store_clock(session: Session, platform: str, store: str) -> StoreClock:
    zone = session.scalar(select(StoreRow.timezone).where(StoreRow.platform == platform, StoreRow.store == store))
    return StoreClock(ZoneInfo(zone or "Asia/Shanghai"))


def _hourly(frame: pl.DataFrame, metric: str, sku: str, start: datetime, hours: int) -> np.ndarray:
    part = frame.filter((pl.col("metric") == metric) & (pl.col("sku") == sku))
    values = np.full(hours, np.nan)
    if part.is_empty():
        return values
    index = (part["ts"].dt.epoch("s").to_numpy() - int(start.timestamp())) // 3600
    keep = (index >= 0) & (index < hours)
    values[index[keep].astype(int)] = part["value"].to_numpy()[keep]
    return values


def promotion_mask(session: Session, platform: str, store: str, start: datetime, hours: int) -> np.ndarray:
    mask = np.zeros(hours, dtype=bool)
    rows = session.scalars(select(CalendarRow).where(CalendarRow.kind == "promotion", CalendarRow.ends_at > start,
                                                     CalendarRow.starts_at < start + hours * HOUR)).all()
    for row in rows:
        if row.platform not in ("", platform) or row.store not in ("", store):
            continue
        lo = max(int((row.starts_at - start) // HOUR), 0)
        hi = min(int((row.ends_at - start) // HOUR), hours)
        mask[lo:hi] = True
    return mask


@dataclass(frozen=True)
class SkuRisk:
    sku: str
    forecast: StockoutForecast


def stock_levels(session: Session, platform: str, store: str, now: datetime,
                 sku: str | None = None) -> dict[str, np.ndarray]:
    """End-of-hour stock of the store's SKUs (or one) over the last :data:`STOCK_HISTORY`, up to and
    including ``now``'s hour: one read along the points' key. Stock is a gauge: a snapshot holds until
    the next one (platforms report it every few hours, or when it changes), so the hours between hold
    the last value — a delivery between two snapshots six hours apart is a rise, not a gap."""
    start = now - STOCK_HISTORY
    hours = int(STOCK_HISTORY // HOUR) + 1
    query = select(PointRow.sku, PointRow.ts, PointRow.value).where(
        PointRow.platform == platform, PointRow.store == store, PointRow.metric == "stock", PointRow.sku != "",
        PointRow.ts >= int(start.timestamp()), PointRow.ts <= int(now.timestamp()))
    if sku is not None:
        query = query.where(PointRow.sku == sku)
    levels: dict[str, np.ndarray] = {}
    for name, ts, value in session.execute(query):
        series = levels.setdefault(name, np.full(hours, np.nan))
        series[(ts - int(start.timestamp())) // 3600] = value
    return {name: hold(series) for name, series in levels.items()}


def hold(series: np.ndarray) -> np.ndarray:
    """Each unknown hour takes the last known value before it (hours before the first stay unknown).

    >>> hold(np.array([np.nan, 5.0, np.nan, np.nan, 2.0, np.nan]))
    array([nan,  5.,  5.,  5.,  2.,  2.])
    """
    known = ~np.isnan(series)
    index = np.where(known, np.arange(series.size), 0)
    np.maximum.accumulate(index, out=index)
    held = series[index]
    held[: int(np.argmax(known)) if known.any() else series.size] = np.nan
    return held


def sku_stockout(session: Session, points: PointStore, platform: str, store: str, sku: str, now: datetime, *,
                 in_transit: Sequence[tuple[int, float]] = (), service_level: float = 0.95,
                 frame: pl.DataFrame | None = None, calibration: SupplyRecalibration = IDENTITY_BY_SUPPLY,
                 levels: np.ndarray | None = None, supplier: SupplierRecord | None = None,
                 reorder: ReorderPoint | None = None) -> StockoutForecast | None:
    """P(stock-out within 72 h) for one SKU; None without sales history or a stock level.

    In-transit stock comes from the caller (ERP) or, when present, the ``in_transit`` metric of the
    SKU (units arriving, assumed to land within a day); without either, the SKU's deliveries read
    from its stock history (``levels``, :func:`stock_levels`) count, judged by ``supplier`` (how
    deliveries come at this store; :func:`store_stockouts` pools its SKUs). ``calibration`` maps the
    model's probability through the track record of forecasts made in the same supply state
    (:mod:`shopsentinel.insight.track_record`); the model's own stays in ``raw_probability``.
    """
    now = now.replace(minute=0, second=0, microsecond=0)
    start = now - HISTORY
    hours = int(HISTORY // HOUR)
    if frame is None:
        frame = points.frame(platform, store, start, now + HOUR)
    if levels is None or supplier is None:  # called for one SKU: read the store's stock for both
        store_levels = stock_levels(session, platform, store, now)
        levels = store_levels.get(sku) if levels is None else levels
        supplier = store_supplier(store_levels, frame, start) if supplier is None else supplier
        reorder = store_reorder_point(store_levels, frame, start) if reorder is None else reorder
    sold = _hourly(frame, "units_sold", sku, start, hours)
    if levels is None or np.all(np.isnan(sold)) or np.all(np.isnan(levels)):
        return None
    stock = levels[-(hours + 1):]
    sold = np.where(stock[:hours] == 0, np.nan, sold)  # sales while empty say nothing about demand
    arriving = list(in_transit)
    transit_metric = _hourly(frame, "in_transit", sku, start, hours + 1)
    if not arriving and np.any(~np.isnan(transit_metric)):
        last = float(transit_metric[~np.isnan(transit_metric)][-1])
        if last > 0:
            arriving = [(24, last)]
    clock = _store_clock(session, platform, store)
    promo = promotion_mask(session, platform, store, start, hours + HORIZON_HOURS)
    forecast = stockout_risk(sold, stock=float(levels[~np.isnan(levels)][-1]), in_transit=arriving,
                             promo_past=promo[:hours], promo_future=promo[hours:],
                             first_hour_of_week=clock.hour_of_week(start), service_level=service_level,
                             seed=int(now.timestamp()) // 3600, stock_history=levels[:-1], supplier=supplier,
                             reorder=reorder)
    return replace(forecast, probability=round(calibration(forecast.probability, forecast.supply), 4),
                   raw_probability=forecast.probability)


def store_supplier(levels: dict[str, np.ndarray], frame: pl.DataFrame, start: datetime) -> SupplierRecord:
    """How deliveries come at this store: every SKU's deliveries over its stock history, pooled."""
    hours = int(HISTORY // HOUR)
    return SupplierRecord.pool(read_deliveries(history[:-1], _hourly(frame, "units_sold", sku, start, hours))
                               for sku, history in levels.items())


def store_reorder_point(levels: dict[str, np.ndarray], frame: pl.DataFrame, start: datetime) -> ReorderPoint | None:
    """The cover at which this store's SKUs are restocked, every SKU's deliveries pooled."""
    hours = int(HISTORY // HOUR)
    return ReorderPoint.pool(read_deliveries(history[:-1], _hourly(frame, "units_sold", sku, start, hours))
                             for sku, history in levels.items())


def store_stockouts(session: Session, points: PointStore, platform: str, store: str, now: datetime,
                    min_probability: float = 0.0, calibration: SupplyRecalibration = IDENTITY_BY_SUPPLY) -> list[SkuRisk]:
    now = now.replace(minute=0, second=0, microsecond=0)
    frame = points.frame(platform, store, now - HISTORY, now + HOUR)
    levels = stock_levels(session, platform, store, now)
    supplier = store_supplier(levels, frame, now - HISTORY)
    reorder = store_reorder_point(levels, frame, now - HISTORY)
    skus = sorted(set(frame.filter(pl.col("metric") == "units_sold")["sku"].to_list()) - {""})
    out = []
    for sku in (s for s in skus if s in levels):  # without stock points there is nothing to forecast
        forecast = sku_stockout(session, points, platform, store, sku, now, frame=frame, calibration=calibration,
                                levels=levels.get(sku), supplier=supplier, reorder=reorder)
        if forecast is not None and forecast.probability >= min_probability:
            out.append(SkuRisk(sku, forecast))
    return sorted(out, key=lambda r: -r.forecast.probability)


def sales_forecast(session: Session, points: PointStore, platform: str, store: str, now: datetime, *,
                   metric: str = "gmv", days: int = 7) -> list[DailyForecast]:
    """Next ``days`` local calendar days (today first) with an 80% interval."""
    clock = _store_clock(session, platform, store)
    anchor = clock.midnight(now)
    start = anchor - HISTORY
    hours = int(HISTORY // HOUR)
    frame = points.frame(platform, store, start, anchor)
    history = _hourly(frame, metric, "", start, hours)
    if np.all(np.isnan(history)):
        return []
    promo = promotion_mask(session, platform, store, start, hours + days * 24)
    local_anchor = anchor.astimezone(clock.zone)
    return daily_forecast(history, first_hour_of_week=clock.hour_of_week(start), start=local_anchor, days=days,
                          promo_past=promo[:hours], promo_future=promo[hours:], seed=int(anchor.timestamp()) // 3600)


def store_what_if(points: PointStore, platform: str, store: str, now: datetime, *, price_change_pct: float,
                  uplift_pct: float, elasticity: float) -> WhatIfResult:
    """Daily totals of the last 28 days against their bands after the planned change."""
    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    frame = points.frame(platform, store, end - timedelta(days=28), end).filter(pl.col("sku") == "")
    daily = (frame.with_columns(pl.col("ts").dt.truncate("1d").alias("day"))
             .group_by("metric", "day").agg(pl.col("value").sum()).sort("day"))
    series = {m: rows["value"].to_numpy() for (m,), rows in daily.group_by("metric", maintain_order=True)}
    if "gmv" in series and "paid_orders" in series and len(series["gmv"]) == len(series["paid_orders"]):
        series["aov"] = series["gmv"] / np.where(series["paid_orders"] > 0, series["paid_orders"], np.nan)
    if "paid_orders" in series and "uv" in series and len(series["uv"]) == len(series["paid_orders"]):
        series["pay_conversion_rate"] = series["paid_orders"] / np.where(series["uv"] > 0, series["uv"], np.nan)
    return what_if(series, price_change_pct=price_change_pct, uplift_pct=uplift_pct, elasticity=elasticity)


__all__ = ["SkuRisk", "hold", "promotion_mask", "sales_forecast", "sku_stockout", "stock_levels", "store_stockouts",
           "store_reorder_point", "store_supplier", "store_what_if"]
