"""Validate pushed points one by one: good points are kept, bad ones rejected with a reason.

The rules are the import rules of :mod:`shopsentinel.ingest.reader` and
:mod:`shopsentinel.ingest.clean`: ISO-8601 times with ``Z`` or an offset, numeric finite values,
non-empty platform/store/metric, no negative counts/stock/amounts, gauges inside their range.

>>> points, rejected = validate_points([{"ts": "2026-11-11T02:00:00Z", "platform": "tmall",
...     "store": "s1", "metric": "orders", "value": -1}], default_catalog())
>>> rejected[0].reason
'impossible negative value -1.0 for orders'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from shopsentinel.catalog import Catalog, default_catalog
from shopsentinel.core.types import Point
from shopsentinel.ingest.clean import BOUNDED
from shopsentinel.runtime.evaluation import floor_hour
from shopsentinel.runtime.parts import ServiceParts
from shopsentinel.store.repository import audit, note_points

REQUIRED = ("ts", "platform", "store", "metric", "value")


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str


class _Bad(Exception):
    pass


def _text(raw: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = raw.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _Bad(f"{name} must be a string")
    value = value.strip()
    if required and not value:
        raise _Bad(f"{name} is empty")
    return value


def _ts(value: Any) -> datetime:
    if not isinstance(value, str):
        raise _Bad("ts must be an ISO-8601 string")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text)
    except ValueError:
        raise _Bad(f"timestamp {value!r} is not ISO-8601 with Z or an offset") from None
    if parsed.tzinfo is None:
        raise _Bad(f"timestamp {value!r} has no Z or UTC offset")
    return parsed.astimezone(UTC)


def _value(value: Any) -> float:
    if isinstance(value, bool) or value is None:
        raise _Bad(f"value {value!r} is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _Bad(f"value {value!r} is not a number") from None
    if not math.isfinite(number):
        raise _Bad(f"value {value!r} is not a finite number")
    return number


def validate_point(raw: Any, catalog: Catalog) -> Point:
    if not isinstance(raw, dict):
        raise _Bad("a point is an object {ts, platform, store, metric, value, sku}")
    missing = [f for f in REQUIRED if f not in raw]
    if missing:
        raise _Bad(f"missing field {missing[0]}")
    ts = _ts(raw["ts"])
    platform, store, metric = _text(raw, "platform"), _text(raw, "store"), _text(raw, "metric")
    sku = _text(raw, "sku", required=False)
    value = _value(raw["value"])
    if metric in catalog and catalog.get(metric).non_negative and value < 0:
        raise _Bad(f"impossible negative value {value} for {metric}")
    if metric in BOUNDED:
        low, high = BOUNDED[metric]
        if not low <= value <= high:
            raise _Bad(f"{value} outside the range [{low}, {high}] of {metric}")
    return Point(ts=ts, platform=platform, store=store, metric=metric, value=value, sku=sku)


def validate_points(items: list[Any], catalog: Catalog) -> tuple[list[Point], list[Rejection]]:
    points: list[Point] = []
    rejected: list[Rejection] = []
    for i, raw in enumerate(items):
        try:
            points.append(validate_point(raw, catalog))
        except _Bad as exc:
            rejected.append(Rejection(i, str(exc)))
    return points, rejected


def store_spans(points: list[Point]) -> dict[tuple[str, str], tuple[datetime, datetime]]:
    """Earliest and latest point time of each store in a batch."""
    spans: dict[tuple[str, str], tuple[datetime, datetime]] = {}
    for p in points:
        key = (p.platform, p.store)
        lo, hi = spans.get(key, (p.ts, p.ts))
        spans[key] = (min(lo, p.ts), max(hi, p.ts))
    return spans


def frame_to_raw(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Canonical point rows (connectors, exports, push) as the raw objects ``POST /points`` takes."""
    return [{**row, "ts": row["ts"].isoformat()} for row in frame.iter_rows(named=True)]


def write_points(service: ServiceParts, session: Session, points: list[Point], *, user: str, now: datetime) -> None:
    """The one write path of validated points: point store, store registry (+ audit), metrics,
    re-evaluation queue. Commits ``session``.

    A store is queued for prompt evaluation only when its stored data changed in an hour that has
    closed (evaluation judges closed hours): an identical resend is load, not news, and a running
    total of the current hour is judged when the hour closes — by the scheduler's own pass, which
    also catches stores that fall silent.
    """
    spans = store_spans(points)
    changed = service.points.upsert_in(session.connection(), points)  # the request's one connection
    registered = note_points(session, spans, now)
    for row in registered:
        audit(session, user, "store.register", f"{row.platform}/{row.store}", now, timezone=row.timezone)
    session.commit()
    service.points.invalidate(changed)
    judged_until = floor_hour(service.clock.now())
    fresh = {key for key, earliest in changed.items() if earliest < judged_until}
    if fresh:
        service.scheduler.enqueue(sorted(fresh))


__all__ = ["Rejection", "default_catalog", "frame_to_raw", "store_spans", "validate_point", "validate_points",
           "write_points"]
