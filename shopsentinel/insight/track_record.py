"""The stock-out forecasts' track record: every hourly forecast of a SKU at some risk is kept; once its
72 hours have passed its outcome is read off the SKU's stock points; the settled forecasts teach the
recalibration map (:mod:`shopsentinel.insight.recalibrate`) and give the reliability report that says
whether "85%" has meant 85% for this company.

Forecasts are made once per closed hour, so one SKU's forecasts overlap: each counts as 1/72 of an
observation in the fit (a 72-hour window counts once).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from shopsentinel.insight.predict import HORIZON_HOURS
from shopsentinel.insight.predict_service import SkuRisk
from shopsentinel.insight.recalibrate import FLOOR, SupplyRecalibration, fit_by_supply
from shopsentinel.store.response_state import StockoutForecastRow
from shopsentinel.store.state import PointRow

HORIZON = timedelta(hours=HORIZON_HOURS)
MEMORY = timedelta(days=180)  # the map learns from the last half year of settled forecasts
FIT_ROWS = 200_000  # the newest settled forecasts the map is fitted on (about 2,800 windows: plenty)
KEEP = timedelta(days=400)  # forecasts older than this are deleted (the report looks back a year at most)
WEIGHT = 1 / HORIZON_HOURS  # one forecast per hour and SKU: each 72-hour window counts once
SETTLE_PER_ROUND = 5000
BUCKETS = (0.05, 0.3, 0.5, 0.7, 0.85, 0.95, 1.0001)


def record(session: Session, platform: str, store: str, made_at: datetime, risks: Iterable[SkuRisk]) -> int:
    """Keep this hour's forecasts (those at ``FLOOR`` or more, with stock on hand); a repeated hour
    adds nothing. Returns how many were added."""
    have = set(session.scalars(select(StockoutForecastRow.sku).where(
        StockoutForecastRow.platform == platform, StockoutForecastRow.store == store,
        StockoutForecastRow.made_at == made_at)))
    added = 0
    for risk in risks:
        f = risk.forecast
        raw = f.raw_probability if f.raw_probability is not None else f.probability
        if risk.sku in have or f.stock <= 0 or raw < FLOOR:
            continue
        session.add(StockoutForecastRow(platform=platform, store=store, sku=risk.sku, made_at=made_at, probability=raw,
                                        calibrated=f.probability, stock=f.stock, supply=f.supply))
        added += 1
    return added


def settle(session: Session, now: datetime, limit: int = SETTLE_PER_ROUND) -> int:
    """Fill in the outcome of forecasts whose 72 hours have passed: did the SKU's stock reach zero
    within them? Without a single stock point in the window the outcome stays unknown."""
    rows = session.scalars(select(StockoutForecastRow).where(
        StockoutForecastRow.settled_at.is_(None), StockoutForecastRow.made_at <= now - HORIZON)
        .order_by(StockoutForecastRow.made_at).limit(limit)).all()
    by_sku: dict[tuple[str, str, str], list[StockoutForecastRow]] = {}
    for row in rows:
        by_sku.setdefault((row.platform, row.store, row.sku), []).append(row)
    for (platform, store, sku), group in by_sku.items():
        first = int(min(r.made_at for r in group).timestamp())
        last = int((max(r.made_at for r in group) + HORIZON).timestamp())
        levels = session.execute(select(PointRow.ts, PointRow.value).where(
            PointRow.platform == platform, PointRow.store == store, PointRow.sku == sku, PointRow.metric == "stock",
            PointRow.ts > first, PointRow.ts <= last)).all()
        ts = np.array([t for t, _ in levels], dtype=np.int64)
        values = np.array([v for _, v in levels], dtype=float)
        for row in group:
            start = int(row.made_at.timestamp())
            inside = (ts > start) & (ts <= start + HORIZON_HOURS * 3600)
            row.ran_out = bool((values[inside] <= 0).any()) if inside.any() else None
            row.settled_at = now
    return len(rows)


def prune(session: Session, now: datetime) -> int:
    """Delete forecasts older than :data:`KEEP`; returns how many."""
    gone = session.execute(delete(StockoutForecastRow).where(StockoutForecastRow.made_at < now - KEEP))
    return int(getattr(gone, "rowcount", 0) or 0)


def _settled(session: Session, since: datetime, until: datetime,
             limit: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    query = select(StockoutForecastRow.probability, StockoutForecastRow.calibrated, StockoutForecastRow.ran_out,
                   StockoutForecastRow.supply).where(
        StockoutForecastRow.ran_out.is_not(None), StockoutForecastRow.made_at >= since,
        StockoutForecastRow.made_at <= until - HORIZON)
    if limit is not None:
        query = query.order_by(StockoutForecastRow.made_at.desc()).limit(limit)
    rows = session.execute(query).all()
    raw = np.array([r[0] for r in rows], dtype=float)
    said = np.array([r[1] for r in rows], dtype=float)
    ran_out = np.array([bool(r[2]) for r in rows], dtype=float)
    supply = np.array([r[3] for r in rows], dtype=object)
    return raw, said, ran_out, supply


def fit(session: Session, now: datetime) -> SupplyRecalibration:
    """The maps from the model's probability to the one that came true, per supply state, from the
    settled forecasts of the last :data:`MEMORY` (the identity while there are none)."""
    raw, _, ran_out, supply = _settled(session, now - MEMORY, now, FIT_ROWS)
    return fit_by_supply(raw, ran_out, supply.astype(str), WEIGHT)


def report(session: Session, since: datetime, now: datetime) -> dict[str, Any]:
    """Reliability of the settled forecasts made since ``since``: per bucket of what the service said,
    how many, the mean forecast and the share that ran out; and the headline: of forecasts at 85% or
    more, how many ran out."""
    raw, said, ran_out, _ = _settled(session, since, now)
    table = []
    for lo, hi in zip(BUCKETS[:-1], BUCKETS[1:], strict=True):
        inside = (said >= lo) & (said < hi)
        if inside.any():
            table.append({"bucket": f"{lo:.2f}–{min(hi, 1.0):.2f}", "forecasts": int(inside.sum()),
                          "mean_forecast": round(float(said[inside].mean()), 3),
                          "ran_out": round(float(ran_out[inside].mean()), 3)})
    high = said >= 0.85
    current = fit(session, now)
    return {"since": since, "forecasts": int(said.size), "stock_outs": int(ran_out.sum()),
            "given_85_or_more": int(high.sum()),
            "ran_out_when_85_or_more": round(float(ran_out[high].mean()), 3) if high.any() else None,
            "model_given_85_or_more": int((raw >= 0.85).sum()),
            "model_ran_out_when_85_or_more": round(float(ran_out[raw >= 0.85].mean()), 3) if (raw >= 0.85).any() else None,
            "reliability": table,
            "recalibration": current.as_dict()}


__all__ = ["KEEP", "MEMORY", "WEIGHT", "fit", "prune", "record", "report", "settle"]
