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
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from shopsentinel.catalog import Catalog, default_catalog
from shopsentinel.core.settings import Settings
from shopsentinel.core.types import Point
from shopsentinel.ingest.clean import BOUNDED
from shopsentinel.runtime.evaluation import floor_hour
from shopsentinel.runtime.parts import ServiceParts
from shopsentinel.store.repository import audit, note_points, stores_by_key

REQUIRED = ("ts", "platform", "store", "metric", "value")
MAX_ID_CHARS = 128  # platform, store, metric and sku
MAX_ABS_VALUE = 1e15  # far beyond any GMV in fen; 1e308 would overflow every sum and chart downstream


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str


@dataclass(frozen=True)
class PointLimits:
    """What a point must satisfy beyond its shape: a time inside ``[now - max_age, now + max_future]``
    (when ``now`` is given) and ``|value| <= max_abs``."""

    now: datetime | None = None
    max_age: timedelta = timedelta(days=730)
    max_future: timedelta = timedelta(hours=24)
    max_abs: float = MAX_ABS_VALUE

    @classmethod
    def from_settings(cls, settings: Settings, now: datetime) -> PointLimits:
        return cls(now=now, max_age=timedelta(days=settings.point_max_age_days),
                   max_future=timedelta(hours=settings.point_max_future_hours), max_abs=settings.point_max_abs_value)


NO_WINDOW = PointLimits()


class _Bad(Exception):
    pass


def _shown(value: Any, limit: int = 40) -> str:
    """A value quoted in a reason: short (``repr`` escapes lone surrogates)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 130:
        return f"<{len(str(abs(value)))}-digit integer>"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _unicode(name: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Bad(f"{name} 含无效 Unicode（孤立代理项） / {name} holds invalid Unicode (a lone surrogate)") from None
    if "\x00" in value:
        raise _Bad(f"{name} 含 NUL 字符 / {name} holds a NUL character")


def _text(raw: dict[str, Any], name: str, *, required: bool = True) -> str:
    value = raw.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _Bad(f"{name} must be a string")
    _unicode(name, value)
    value = value.strip()
    if required and not value:
        raise _Bad(f"{name} is empty")
    if len(value) > MAX_ID_CHARS:
        raise _Bad(f"{name} 过长（{len(value)} 字符，上限 {MAX_ID_CHARS}） / {name} is {len(value)} characters, "
                   f"at most {MAX_ID_CHARS}")
    return value


def _ts(value: Any, limits: PointLimits) -> datetime:
    if not isinstance(value, str):
        raise _Bad("ts must be an ISO-8601 string")
    _unicode("ts", value)
    text = value.strip()
    try:
        if len(text) > 64:
            raise ValueError
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text)
    except ValueError:
        raise _Bad(f"timestamp {_shown(value)} is not ISO-8601 with Z or an offset") from None
    if parsed.tzinfo is None:
        raise _Bad(f"timestamp {_shown(value)} has no Z or UTC offset")
    try:
        ts = parsed.astimezone(UTC)
        ts.timestamp()
    except (OverflowError, ValueError, OSError):
        raise _Bad(f"时间 {_shown(value)} 超出可表示范围 / timestamp {_shown(value)} is out of range") from None
    if limits.now is not None:
        earliest, latest = limits.now - limits.max_age, limits.now + limits.max_future
        if not earliest <= ts <= latest:
            raise _Bad(f"时间 {_shown(value)} 不在 {earliest:%Y-%m-%dT%H:%M}Z 至 {latest:%Y-%m-%dT%H:%M}Z 之间 / "
                       f"timestamp {_shown(value)} is outside {earliest:%Y-%m-%dT%H:%M}Z … {latest:%Y-%m-%dT%H:%M}Z "
                       "(service clock minus the allowed age, plus the allowed lead)")
    return ts


def _value(value: Any, limits: PointLimits) -> float:
    if isinstance(value, bool) or value is None:
        raise _Bad(f"value {_shown(value)} is not a number")
    if isinstance(value, str):
        _unicode("value", value)
        if len(value) > 64:
            raise _Bad(f"value {_shown(value)} is not a number")
    try:
        number = float(value)
    except OverflowError:
        raise _Bad(f"数值 {_shown(value)} 过大 / value {_shown(value)} is too large") from None
    except (TypeError, ValueError):
        raise _Bad(f"value {_shown(value)} is not a number") from None
    if not math.isfinite(number):
        raise _Bad(f"数值 {_shown(value)} 不是有限数 / value {_shown(value)} is not a finite number")
    if abs(number) > limits.max_abs:
        raise _Bad(f"数值 {number:g} 超出 ±{limits.max_abs:g} / value {number:g} is beyond ±{limits.max_abs:g}")
    return number


def validate_point(raw: Any, catalog: Catalog, limits: PointLimits = NO_WINDOW) -> Point:
    if not isinstance(raw, dict):
        raise _Bad("a point is an object {ts, platform, store, metric, value, sku}")
    missing = [f for f in REQUIRED if f not in raw]
    if missing:
        raise _Bad(f"missing field {missing[0]}")
    ts = _ts(raw["ts"], limits)
    platform, store, metric = _text(raw, "platform"), _text(raw, "store"), _text(raw, "metric")
    sku = _text(raw, "sku", required=False)
    value = _value(raw["value"], limits)
    if metric in catalog and catalog.get(metric).non_negative and value < 0:
        raise _Bad(f"impossible negative value {value} for {metric}")
    if metric in BOUNDED:
        low, high = BOUNDED[metric]
        if not low <= value <= high:
            raise _Bad(f"{value} outside the range [{low}, {high}] of {metric}")
    return Point(ts=ts, platform=platform, store=store, metric=metric, value=value, sku=sku)


def validate_points(items: list[Any], catalog: Catalog, limits: PointLimits = NO_WINDOW,
                    ) -> tuple[list[Point], list[Rejection]]:
    """Each point on its own: the good ones are returned, each bad one is a :class:`Rejection` with
    its reason. ``limits`` with ``now`` set also rejects times outside the service's window."""
    points: list[Point] = []
    rejected: list[Rejection] = []
    for i, raw in enumerate(items):
        try:
            points.append(validate_point(raw, catalog, limits))
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
    live, later = triage(changed, points, floor_hour(service.clock.now()), service.settings.late_data_hours)
    if live:
        service.scheduler.enqueue(live)
    if later:
        service.scheduler.enqueue_backlog(later)


def announce_written(service: ServiceParts, session: Session, changed: dict[tuple[str, str], datetime],
                     latest: dict[tuple[str, str], datetime], created: Iterable[tuple[str, str]], *, user: str,
                     now: datetime) -> None:
    """After a bulk write into the metric store (a sync; :meth:`PointStore.write` already registered
    the stores and invalidated the cache): audit the stores it registered, commit ``session``, and
    queue the stores whose data moved, as :func:`write_points` does."""
    for row in stores_by_key(session, created):
        audit(session, user, "store.register", f"{row.platform}/{row.store}", now, timezone=row.timezone)
    session.commit()
    judged_until = floor_hour(service.clock.now())
    closed = {k: min(v, judged_until - timedelta(hours=1)) for k, v in latest.items()}
    live, later = triage_latest(changed, closed, judged_until, service.settings.late_data_hours)
    if live:
        service.scheduler.enqueue(live)
    if later:
        service.scheduler.enqueue_backlog(later)


def triage(changed: dict[tuple[str, str], datetime], points: list[Point], judged_until: datetime,
           late_data_hours: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Which changed stores are live news and which a backfill: a store whose batch reaches the live
    edge (a closed hour within ``late_data_hours`` of the last one) is judged first; one whose changes
    lie only further back (history pushed for the past) waits behind live news in the backlog — its
    past hours can no longer create alerts, only baselines move. Changes to the open hour alone are
    judged when it closes.

    >>> from datetime import UTC
    >>> now = datetime(2026, 11, 11, 12, tzinfo=UTC)
    >>> pts = [Point(ts=now - timedelta(hours=1), platform="tmall", store="live", metric="uv", value=1.0),
    ...        Point(ts=now - timedelta(days=20), platform="tmall", store="old", metric="uv", value=1.0)]
    >>> triage({("tmall", "live"): now - timedelta(hours=1), ("tmall", "old"): now - timedelta(days=20)},
    ...        pts, now, late_data_hours=6)
    ([('tmall', 'live')], [('tmall', 'old')])
    """
    latest: dict[tuple[str, str], datetime] = {}
    for p in points:
        key = (p.platform, p.store)
        if key in changed and p.ts < judged_until and (key not in latest or p.ts > latest[key]):
            latest[key] = p.ts
    return triage_latest(changed, latest, judged_until, late_data_hours)


def triage_latest(changed: dict[tuple[str, str], datetime], latest: dict[tuple[str, str], datetime],
                  judged_until: datetime, late_data_hours: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """:func:`triage` given each store's latest closed-hour point time (``latest``) instead of the points."""
    edge = judged_until - timedelta(hours=max(1, late_data_hours))
    live = sorted(key for key, earliest in changed.items() if earliest < judged_until and latest.get(key, earliest) >= edge)
    later = sorted(key for key, earliest in changed.items() if earliest < judged_until and latest.get(key, earliest) < edge)
    return live, later


__all__ = ["MAX_ABS_VALUE", "MAX_ID_CHARS", "PointLimits", "Rejection", "announce_written", "default_catalog",
           "frame_to_raw", "store_spans", "triage", "triage_latest", "validate_point", "validate_points", "write_points"]
