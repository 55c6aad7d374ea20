"""Value types of the synthetic fleet: the spec that drives it, the per-store profile and the labels.

They live apart from the simulation so that the scorer, the tests and the bench scripts can import
the vocabulary (metric names, incident types, label columns) without pulling in the generator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

STORE_METRICS: tuple[str, ...] = (
    "uv", "pv", "orders", "paid_orders", "gmv", "payment_attempts", "payment_failures", "refunds",
    "refund_amount", "reviews", "negative_reviews", "dsr", "ad_spend", "ad_clicks", "ad_orders", "ad_gmv",
    "logistics_stale_orders", "cs_response_seconds", "bounces",
)
SKU_METRICS: tuple[str, ...] = ("stock", "price", "units_sold")
# Metrics that are counts of events: integers, never negative (outside injected impossible values).
COUNT_METRICS: frozenset[str] = frozenset({
    "uv", "pv", "orders", "paid_orders", "payment_attempts", "payment_failures", "refunds", "reviews",
    "negative_reviews", "ad_clicks", "ad_orders", "logistics_stale_orders", "bounces", "stock", "units_sold",
})

INCIDENT_TYPES: tuple[str, ...] = (
    "traffic_crash", "conversion_drop", "order_burst", "refund_surge", "payment_failures",
    "bad_review_surge", "stock_out", "price_error", "ad_anomaly", "logistics_stuck", "dsr_drop",
)
# Incident types drawn as a variant of another type, with the same placement and draws (so adding
# one moves nothing else in a fleet): an ad account on a daily budget spends as usual while its
# cost per click climbs and its conversion falls, where the plain ad anomaly's spend runs away.
INCIDENT_VARIANTS: dict[str, str] = {"ad_budget_squeeze": "ad_anomaly"}
LABEL_TYPES: tuple[str, ...] = INCIDENT_TYPES + tuple(INCIDENT_VARIANTS)
TRAP_TYPES: tuple[str, ...] = (
    "outage", "metric_outage", "duplicate", "conflicting_duplicate", "impossible_value", "aftermath",
    "dst", "zero_hours", "price_change", "level_shift", "maintenance", "pre_promo_lull",
    "post_promotion",
)

INCIDENT_COLUMNS: tuple[str, ...] = (
    "id", "type", "platform", "store", "sku", "metrics", "start", "end", "severity_hint",
)
TRAP_COLUMNS: tuple[str, ...] = ("type", "platform", "store", "sku", "metric", "start", "end")
CALENDAR_COLUMNS: tuple[str, ...] = ("start", "end", "platform", "store", "name", "kind")
STORE_COLUMNS: tuple[str, ...] = ("store", "platform", "name", "timezone")

METRICS_SCHEMA: dict[str, pl.DataType] = {
    "ts": pl.Datetime("us", "UTC"),
    "platform": pl.String(),
    "store": pl.String(),
    "metric": pl.String(),
    "value": pl.Float64(),
    "sku": pl.String(),
}

DEFAULT_START = datetime(2026, 8, 1, tzinfo=UTC)


@dataclass(frozen=True)
class FleetSpec:
    """What fleet to simulate. Equal specs give byte-identical fleets.

    ``incident_rate`` is the expected number of labelled incidents per store per week; the default
    gives roughly three per store over the 16-week default run. The trap switches exist so that a
    test or a tuning session can look at clean data first and add one kind of dirt at a time.
    """

    stores: int = 24
    days: int = 112
    start: datetime = DEFAULT_START
    seed: int = 7
    skus_per_store: tuple[int, int] = (3, 6)
    incident_rate: float = 0.19
    burn_in_days: int = 14
    outages: bool = True
    duplicates: bool = True
    duplicate_rate: float = 0.003
    conflicting_duplicates: bool = True
    impossible_values: bool = True
    level_shifts: bool = True
    price_changes: bool = True
    # Share of purchase orders that land late (a realism switch for the stock-out forecast's
    # calibration; off by default because the detection scorer has no label for near misses).
    late_delivery_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.stores < 1 or self.days < 7:
            raise ValueError("a fleet needs at least one store and seven days")
        if self.start.tzinfo is None or self.start.utcoffset() != UTC.utcoffset(None):
            raise ValueError("FleetSpec.start must be an aware UTC datetime")
        if self.start.minute or self.start.second or self.start.microsecond:
            raise ValueError("FleetSpec.start must be on the hour")
        low, high = self.skus_per_store
        if not 1 <= low <= high:
            raise ValueError("skus_per_store must be (low, high) with 1 <= low <= high")

    @property
    def hours(self) -> int:
        return self.days * 24


@dataclass(frozen=True)
class StoreProfile:
    """Hidden parameters of one store; only id, platform, name and timezone reach stores.csv."""

    index: int
    store: str
    platform: str
    name: str
    timezone: str
    region: str  # "cn" or "west": which daily-profile template the store follows
    peak_orders: float  # expected orders in the busiest hour of an ordinary day
    conversion: float
    aov: float
    weekend_factor: float
    drift: float  # total relative trend over the run, e.g. +0.15
    has_ads: bool
    dsr_daily: bool  # True: the platform publishes DSR once per local day


@dataclass(frozen=True)
class CalendarEvent:
    """An announced event; ``store`` empty means every store of the platform."""

    start: int  # hour index, inclusive
    end: int  # hour index, exclusive
    platform: str
    store: str
    name: str
    kind: str  # promotion | holiday | maintenance
    traffic: float  # multiplier on traffic at the event's strongest point
    conversion: float
    discount: float  # price multiplier on SKUs during the event (1.0 = no discount)

    def applies_to(self, store: StoreProfile) -> bool:
        return self.platform == store.platform and self.store in ("", store.store)


@dataclass(frozen=True)
class IncidentLabel:
    id: str
    type: str
    platform: str
    store: str
    sku: str
    metrics: tuple[str, ...]
    start: int
    end: int  # exclusive hour index
    severity_hint: str


@dataclass(frozen=True)
class TrapLabel:
    type: str
    platform: str
    store: str
    sku: str
    metric: str  # one metric, several joined by ";" or "" for every metric of the store
    start: int
    end: int  # exclusive hour index; start == end - 1 for single points


@dataclass
class Fleet:
    """A generated fleet: the detector reads metrics, stores and calendar; the scorer reads the labels."""

    spec: FleetSpec
    metrics: pl.DataFrame
    stores: pl.DataFrame
    calendar: pl.DataFrame
    incidents: pl.DataFrame
    traps: pl.DataFrame
    profiles: list[StoreProfile] = field(default_factory=list)
