"""What the Douyin, Amazon and Shopify fakes need beyond the shared :mod:`dataset`.

* :func:`make_traffic` — hourly sessions / visitors / page views / units for the report and
  ShopifyQL fakes (the shared dataset has no traffic; base.py has no traffic entity).
* :func:`only_states` — drop orders (and their refunds) in standard states a platform cannot
  express, e.g. Amazon's Orders API has no refund states.
* :class:`TokenStore` and :class:`TokenBucket` — the credential and rate-limit state of a fake.

>>> from datetime import UTC, datetime
>>> t = make_traffic(1, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 1, 3, tzinfo=UTC))
>>> [p.hour.hour for p in t], all(p.visitors <= p.sessions <= p.pageviews for p in t)
([0, 1, 2], True)
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from shopsentinel.core.clock import Clock
from shopsentinel.sim.platforms.dataset import Dataset


@dataclass(frozen=True, slots=True)
class HourlyTraffic:
    hour: datetime  # UTC start of the hour
    sessions: int
    visitors: int
    pageviews: int
    units_ordered: int


def make_traffic(seed: int, start: datetime, end: datetime) -> list[HourlyTraffic]:
    rng = random.Random(seed)
    hours: list[HourlyTraffic] = []
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while hour < end:
        sessions = rng.randint(40, 400)
        visitors = int(sessions * rng.uniform(0.6, 0.95))
        hours.append(HourlyTraffic(hour, sessions, visitors, int(sessions * rng.uniform(1.5, 4.0)),
                                   rng.randint(0, sessions // 10)))
        hour += timedelta(hours=1)
    return hours


def only_states(ds: Dataset, states: Iterable[str]) -> Dataset:
    allowed = set(states)
    orders = [o for o in ds.orders if o.status in allowed]
    kept = {o.order_id for o in orders}
    return replace(ds, orders=orders, refunds=[r for r in ds.refunds if r.order_id in kept])


@dataclass
class TokenStore:
    """Issued access tokens with expiry, plus the refresh tokens that may mint new ones."""

    clock: Clock
    lifetime: timedelta
    access: dict[str, datetime] = field(default_factory=dict)
    refresh: set[str] = field(default_factory=set)
    issued: int = 0

    def issue(self, prefix: str) -> tuple[str, str]:
        token, refresh = f"{prefix}{secrets.token_hex(8)}", f"{prefix}r{secrets.token_hex(8)}"
        self.access[token] = self.clock.now() + self.lifetime
        self.refresh.add(refresh)
        self.issued += 1
        return token, refresh

    def check(self, token: str) -> str:
        """``"ok"``, ``"expired"`` or ``"unknown"``."""
        expires = self.access.get(token)
        if expires is None:
            return "unknown"
        return "ok" if self.clock.now() < expires else "expired"

    def expire_all(self) -> None:
        self.access = dict.fromkeys(self.access, self.clock.now())


@dataclass
class TokenBucket:
    """A refilling bucket on the injected clock: Amazon's request tokens, Shopify's cost points."""

    clock: Clock
    rate: float  # units per second
    capacity: float
    available: float = -1.0
    _at: datetime | None = None

    def __post_init__(self) -> None:
        if self.available < 0:
            self.available = self.capacity

    def level(self) -> float:
        now = self.clock.now()
        if self._at is not None:
            self.available = min(self.capacity, self.available + (now - self._at).total_seconds() * self.rate)
        self._at = now
        return self.available

    def take(self, amount: float) -> bool:
        if self.level() + 1e-9 < amount:  # float refill must not miss by an ulp
            return False
        self.available -= amount
        return True
