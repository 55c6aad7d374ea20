"""Fixtures of the response-loop tests: the service fixtures (SQLite and PostgreSQL apps on a manual
clock) plus helpers that write synthetic points and alerts straight into a service's state."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import numpy as np

from shopsentinel.core.types import Point
from shopsentinel.runtime.ingest import store_spans
from shopsentinel.store.repository import note_points
from shopsentinel.store.state import AlertRow, IncidentRow
from tests.support.service import ADMIN_TOKEN, START, Api, api, api_factory, clock, database_url, make_api  # noqa: F401

HOUR = timedelta(hours=1)


def funnel_points(platform: str, store: str, start: datetime, hours: int, *, seed: int = 1,
                  uv: Callable[[int], float] = lambda h: 1.0, conversion: Callable[[int], float] = lambda h: 1.0,
                  aov: Callable[[int], float] = lambda h: 1.0, payment: Callable[[int], float] = lambda h: 1.0) -> list[Point]:
    """Hourly uv, orders, paid_orders, gmv with a daily cycle; the callables scale each hour."""
    rng = np.random.default_rng(seed)
    points = []
    for h in range(hours):
        ts = start + h * HOUR
        daily = 0.6 + 0.4 * np.sin(2 * np.pi * (ts.hour - 6) / 24) ** 2
        visitors = float(rng.poisson(2000 * daily * uv(h)))
        orders = float(rng.binomial(int(visitors), min(0.9, 0.05 * conversion(h))))
        paid = float(rng.binomial(int(orders), 0.95 * payment(h)))
        gmv = round(paid * 120.0 * aov(h), 2)
        points += [Point(ts, platform, store, "uv", visitors), Point(ts, platform, store, "orders", orders),
                   Point(ts, platform, store, "paid_orders", paid), Point(ts, platform, store, "gmv", gmv)]
    return points


def sku_points(platform: str, store: str, sku: str, start: datetime, hours: int, *, seed: int = 2,
               price: Callable[[int], float] = lambda h: 99.0, stock_out_from: int | None = None) -> list[Point]:
    rng = np.random.default_rng(seed)
    points, stock = [], 5000.0
    for h in range(hours):
        ts = start + h * HOUR
        out = stock_out_from is not None and h >= stock_out_from
        sold = 0.0 if out else float(rng.poisson(6))
        stock = 0.0 if out else stock - sold
        points += [Point(ts, platform, store, "units_sold", sold, sku), Point(ts, platform, store, "stock", stock, sku),
                   Point(ts, platform, store, "price", price(h), sku)]
    return points


def add_alert(client: Api, *, alert_id: str, metric: str, start: datetime, end: datetime | None = None,
              rule: str = "gmv.drop", store: str = "tm-1", platform: str = "tmall", sku: str = "",
              category: str = "sales", incident: str = "", value: float | None = 50.0, expected: float | None = 100.0,
              root_rank: int = 0, state: str = "firing") -> None:
    with client.service.sessions() as session:
        session.add(AlertRow(id=alert_id, rule=rule, severity="critical", kind="business", category=category,
                             platform=platform, store=store, sku=sku, metric=metric, state=state, starts_at=start,
                             ends_at=end, value=value, expected=expected, incident=incident, root_rank=root_rank,
                             created_at=start, updated_at=start))
        if incident and session.get(IncidentRow, incident) is None:
            session.add(IncidentRow(id=incident, platform=platform, store=store, root_alert_id=alert_id,
                                    starts_at=start, updated_at=start))
        session.commit()


def upsert(client: Api, points: Iterable[Point]) -> None:
    """Store points and register their stores, as the service's write path does."""
    points = list(points)
    client.service.points.upsert(points)
    with client.service.sessions() as session:
        note_points(session, store_spans(points), client.service.clock.now())
        session.commit()
