"""Response loop, part three: efficacy (precision, recall, MTTA/MTTR, fatigue, heatmap, patterns,
backtested suggestions; recording missed incidents) and predictions (stock-out risk, sales
forecast, what-if)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from shopsentinel.api.deps import DbSession, Editor, Now, Reader, ServiceDep
from shopsentinel.api.schemas import ApiTime
from shopsentinel.insight import efficacy, track_record
from shopsentinel.insight.predict_service import sales_forecast, sku_stockout, store_stockouts, store_what_if
from shopsentinel.runtime.suggestions import rule_suggestions
from shopsentinel.store.repository import audit
from shopsentinel.store.response_state import MissedIncidentRow

router = APIRouter(prefix="/api/v1", tags=["efficacy", "predictions"])


@router.get("/efficacy")
def efficacy_report(session: DbSession, _reader: Reader, now: Now, days: int = Query(default=30, ge=1, le=365),
                    fatigue_limit: int = Query(default=30, ge=1, le=10_000)) -> dict[str, Any]:
    """Precision per rule, recall, MTTA/MTTR, alerts per recipient per day, weak spots and patterns."""
    return efficacy.report(session, now - timedelta(days=days), now, fatigue_limit=fatigue_limit)


@router.get("/efficacy/suggestions")
def efficacy_suggestions(session: DbSession, service: ServiceDep, _reader: Reader, now: Now,
                         days: int = Query(default=30, ge=1, le=120)) -> dict[str, Any]:
    """Rules to tighten or loosen from their feedback, each backtested over stored points."""
    found = rule_suggestions(session, service, now, days)
    return {"items": [s.__dict__ for s in found]}


class MissedIn(BaseModel):
    platform: str = Field(min_length=1)
    store: str = Field(min_length=1)
    metric: str = ""
    category: str = ""
    starts_at: ApiTime
    ends_at: ApiTime | None = None
    note: str = ""


@router.post("/efficacy/missed-incidents", status_code=status.HTTP_201_CREATED)
def record_missed(body: MissedIn, session: DbSession, principal: Editor, now: Now) -> dict[str, Any]:
    """Record an incident the alerts missed (counts against recall and in the heatmap)."""
    if body.starts_at.tzinfo is None or (body.ends_at is not None and body.ends_at.tzinfo is None):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "times need Z or a UTC offset")
    row = MissedIncidentRow(platform=body.platform, store=body.store, metric=body.metric, category=body.category,
                            starts_at=body.starts_at, ends_at=body.ends_at, note=body.note, created_by=principal.user,
                            created_at=now)
    session.add(row)
    session.flush()
    audit(session, principal.user, "efficacy.missed", f"{body.platform}/{body.store}", now, id=row.id, metric=body.metric)
    session.commit()
    return {"id": row.id, **body.model_dump(mode="json")}


@router.get("/predictions/stockouts")
def stockouts(session: DbSession, service: ServiceDep, _reader: Reader, now: Now, platform: str, store: str,
              min_probability: float = Query(default=0.0, ge=0, le=1)) -> dict[str, Any]:
    """Every SKU of a store: P(stock-out within 72 h) recalibrated on the forecasts' track record (the
    model's own in ``raw_probability``), hours to stock-out, safety stock."""
    risks = store_stockouts(session, service.points, platform, store, now, min_probability,
                            calibration=track_record.fit(session, now))
    return {"items": [{"sku": r.sku, **r.forecast.as_dict()} for r in risks]}


@router.get("/predictions/stockouts/{platform}/{store}/{sku}")
def stockout_one(platform: str, store: str, sku: str, session: DbSession, service: ServiceDep, _reader: Reader, now: Now,
                 in_transit: float = Query(default=0, ge=0), arrives_in_hours: int = Query(default=24, ge=0, le=720),
                 service_level: float = Query(default=0.95, gt=0.5, lt=1)) -> dict[str, Any]:
    arriving = [(arrives_in_hours, in_transit)] if in_transit else []
    forecast = sku_stockout(session, service.points, platform, store, sku, now, in_transit=arriving,
                            service_level=service_level, calibration=track_record.fit(session, now))
    if forecast is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no sales and stock history for {platform}/{store}/{sku}")
    text_zh = f"SKU {sku} 72小时内断货概率 {forecast.probability:.0%}"
    text_en = f"SKU {sku}: {forecast.probability:.0%} chance of a stock-out within 72 h"
    return {"sku": sku, **forecast.as_dict(), "text_zh": text_zh, "text_en": text_en}


@router.get("/predictions/track-record")
def stockout_track_record(session: DbSession, _reader: Reader, now: Now,
                          days: int = Query(default=90, ge=1, le=365)) -> dict[str, Any]:
    """How the stock-out forecasts of the last ``days`` turned out: reliability by bucket, of those at
    85% or more how many ran out (as said, and as the model alone would have said), the current map."""
    return track_record.report(session, now - timedelta(days=days), now)


@router.get("/predictions/sales/{platform}/{store}")
def sales(platform: str, store: str, session: DbSession, service: ServiceDep, _reader: Reader, now: Now,
          metric: str = "gmv", days: int = Query(default=7, ge=1, le=28)) -> dict[str, Any]:
    """The next days' totals of ``metric`` with an 80% interval."""
    items = sales_forecast(session, service.points, platform, store, now, metric=metric, days=days)
    if not items:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {metric} history for {platform}/{store}")
    return {"metric": metric, "interval": 0.8, "items": [i.__dict__ for i in items]}


class WhatIfIn(BaseModel):
    platform: str
    store: str
    price_change_pct: float = Field(default=0.0, gt=-100, le=1000)
    uplift_pct: float = Field(default=0.0, ge=-100, le=10_000)
    elasticity: float = Field(default=-1.5, le=0, ge=-10)


@router.post("/predictions/what-if")
def what_if(body: WhatIfIn, service: ServiceDep, _reader: Reader, now: Now) -> dict[str, Any]:
    """Which daily metrics would leave their usual band after a price change or campaign."""
    result = store_what_if(service.points, body.platform, body.store, now, price_change_pct=body.price_change_pct,
                           uplift_pct=body.uplift_pct, elasticity=body.elasticity)
    return result.as_dict()


__all__ = ["router"]
