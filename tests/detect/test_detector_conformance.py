"""Conformance of every registered detector (found in the registry, so a new one is covered).

Each detector is scored and decided on small synthetic fleets of three Shanghai stores and must be
causal, deterministic, robust to gaps and NaN, silent on constant and perfectly periodic series,
and better than random at finding events injected into a noisy fleet. Injections are chosen per
detector type (:data:`INJECTIONS`); a registered type without one fails the suite.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from shopsentinel.catalog import default_catalog
from shopsentinel.core.types import StoreInfo
from shopsentinel.detect.detectors import Decision, Score
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.registry import REGISTRY, DetectorSpec
from shopsentinel.detect.rules import CONDITION_MODELS, Condition
from shopsentinel.detect.series import SeriesResolver, SeriesView
from tests.detect.conftest import LOCAL_SHAPE

START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
DAYS = 35
HOURS = DAYS * 24
EVENT_DAYS = range(28, 35)  # the last week: every detector has learned by then (Isolation Forest needs 4 weeks)
STORES = [StoreInfo(f"s{i}", "tmall", f"s{i}", "Asia/Shanghai") for i in (1, 2, 3)]
LEVELS = (400.0, 800.0, 1200.0)  # visitors per hour at the daily peak
SKU = "A"


@dataclass
class Event:
    store: int
    start: int
    end: int


def _shape(pattern: str) -> np.ndarray:
    """Hourly profile (T): flat, daily cycle, or daily × weekly cycle (weekends 20% busier)."""
    hours = np.arange(HOURS)
    if pattern == "constant":
        return np.ones(HOURS)
    daily = LOCAL_SHAPE[(hours + 8) % 24]
    if pattern == "daily":
        return daily
    weekday = ((hours + 8) // 24) % 7  # 0 = Monday, local time
    return daily * np.where(weekday >= 5, 1.2, 1.0)


def world(pattern: str, rng: np.random.Generator | None = None) -> dict[tuple[int, str, str], np.ndarray]:
    """Raw metrics of the fleet: (store, metric, sku) → hourly values. Exact when ``rng`` is None."""
    shape = _shape(pattern)
    out: dict[tuple[int, str, str], np.ndarray] = {}
    for s, level in enumerate(LEVELS):
        def draw(mean: np.ndarray) -> np.ndarray:
            return rng.poisson(mean).astype(float) if rng is not None else mean.copy()

        uv = draw(level * shape)
        orders = draw(0.05 * uv)
        paid = draw(0.9 * orders)
        failures = draw(0.03 * orders)
        out[(s, "uv", "")] = uv
        out[(s, "orders", "")] = orders
        out[(s, "paid_orders", "")] = paid
        out[(s, "gmv", "")] = paid * 120.0
        out[(s, "payment_attempts", "")] = orders.copy()
        out[(s, "payment_failures", "")] = failures
        # One SKU restocked every local midnight to ten days of its (mean) demand.
        sold = draw(0.5 * 0.05 * level * shape)
        daily_demand = float(np.mean(0.5 * 0.05 * level * shape)) * 24
        local_day = (np.arange(HOURS) + 8) // 24
        sold_today = np.array([sold[: i + 1][local_day[: i + 1] == local_day[i]].sum() for i in range(HOURS)])
        out[(s, "units_sold", SKU)] = sold
        out[(s, "stock", SKU)] = 10 * daily_demand - (sold_today if pattern != "constant" else 0.0)
    return out


def frame(data: dict[tuple[int, str, str], np.ndarray]) -> pl.DataFrame:
    ts = [START + timedelta(hours=i) for i in range(HOURS)]
    parts = [
        pl.DataFrame({"ts": ts, "platform": "tmall", "store": STORES[s].store, "sku": sku, "metric": metric, "value": values})
        for (s, metric, sku), values in data.items()
    ]
    return pl.concat(parts).with_columns(pl.col("ts").dt.cast_time_unit("us")).drop_nulls("value").filter(pl.col("value").is_not_nan())


# --------------------------------------------------------------------------- injections per type

def _event_hours(rng: np.random.Generator, length: int) -> list[tuple[int, int]]:
    """One event a day in the last week, starting in the local daytime (10:00–17:00)."""
    return [(day * 24 + int(rng.integers(2, 10)), day * 24 + int(rng.integers(2, 10)) + length) for day in EVENT_DAYS]


def _spikes_and_dips(data: dict[tuple[int, str, str], np.ndarray], rng: np.random.Generator, *, dips: bool) -> list[Event]:
    events = []
    for s in range(len(STORES)):
        x = data[(s, "orders", "")]
        for i, (a, _) in enumerate(_event_hours(rng, 3)):
            b = a + 3
            if dips and i % 2:
                x[a:b] = 0.0
            else:
                x[a:b] = x[a:b] * 3 + 200
            events.append(Event(s, a, b))
    return events


def _stock_outs(data: dict[tuple[int, str, str], np.ndarray], rng: np.random.Generator) -> list[Event]:
    events = []
    for s in range(len(STORES)):
        stock = data[(s, "stock", SKU)]
        for a, _ in _event_hours(rng, 6):
            stock[a : a + 6] = stock[a : a + 6] * 0.01
            events.append(Event(s, a, a + 6))
    return events


def _odd_combinations(data: dict[tuple[int, str, str], np.ndarray], rng: np.random.Generator) -> list[Event]:
    events = []
    for s in range(len(STORES)):
        for a, _ in _event_hours(rng, 4):
            data[(s, "gmv", "")][a : a + 4] *= 5  # AOV five times its usual
            attempts = data[(s, "payment_attempts", "")][a : a + 4]
            data[(s, "payment_failures", "")][a : a + 4] = np.round(attempts * 0.6)
            events.append(Event(s, a, a + 4))
    return events


def _giant_orders(data: dict[tuple[int, str, str], np.ndarray], rng: np.random.Generator) -> list[Event]:
    """One order worth 30× the hour's whole GMV (a mistyped quantity) once a day."""
    events = []
    for s in range(len(STORES)):
        gmv = data[(s, "gmv", "")]
        for a, _ in _event_hours(rng, 1):
            gmv[a] = gmv[a] * 31
            events.append(Event(s, a, a + 1))
    return events


Injection = Callable[[dict[tuple[int, str, str], np.ndarray], np.random.Generator], list[Event]]
INJECTIONS: dict[str, Injection] = {
    "threshold": lambda d, r: _spikes_and_dips(d, r, dips=False),
    "change": lambda d, r: _spikes_and_dips(d, r, dips=True),
    "zscore": lambda d, r: _spikes_and_dips(d, r, dips=True),
    "seasonal_band": lambda d, r: _spikes_and_dips(d, r, dips=True),
    "ets": lambda d, r: _spikes_and_dips(d, r, dips=True),
    "auto": lambda d, r: _spikes_and_dips(d, r, dips=True),
    "forecast_cover": _stock_outs,
    "isolation_forest": _odd_combinations,
    "beyond_history": _giant_orders,
}

TYPES = sorted(REGISTRY)


# --------------------------------------------------------------------------- running a detector

def run(kind: str, data: dict[tuple[int, str, str], np.ndarray], hours: int = HOURS) -> tuple[SeriesView, Score, Decision]:
    spec: DetectorSpec[Condition] = REGISTRY[kind]
    cond = spec.example_condition()
    catalog = default_catalog()
    panel = build_panel(frame(data), STORES, [], catalog, start=START, hours=hours)
    resolver = SeriesResolver(panel, catalog)
    view = resolver.view(cond.metric, cond.window, cond.demand_days)
    assert view is not None and view.values.shape[1] > 0, f"{kind}: the fixture has no {cond.metric}"
    score = spec.scorer.score(view, cond, resolver, 0)
    return view, score, spec.decider.decide(score, cond)


def noisy(kind: str, seed: int = 7) -> tuple[dict[tuple[int, str, str], np.ndarray], list[Event]]:
    rng = np.random.default_rng(seed)
    data = world("weekly", rng)
    return data, INJECTIONS[kind](data, rng)


def _arrays(obj: Score | Decision) -> dict[str, np.ndarray]:
    return {f.name: getattr(obj, f.name) for f in fields(obj) if isinstance(getattr(obj, f.name), np.ndarray)}


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))


# --------------------------------------------------------------------------- the suite

def test_every_registered_type_has_an_injection_and_a_condition_model() -> None:
    assert set(REGISTRY) == set(INJECTIONS), "add an injection for every registered detector type"
    for kind, spec in REGISTRY.items():
        assert CONDITION_MODELS[kind] is spec.condition
        cond = spec.example_condition()
        assert cond.type == kind


@pytest.mark.parametrize("kind", TYPES)
def test_deterministic(kind: str) -> None:
    data, _ = noisy(kind)
    first, second = run(kind, data), run(kind, {k: v.copy() for k, v in data.items()})
    for a, b in zip(first[1:], second[1:], strict=True):
        for name, arr in _arrays(a).items():
            assert _same(arr, _arrays(b)[name]), f"{kind}: {type(a).__name__}.{name} differs between two identical runs"


@pytest.mark.parametrize("kind", TYPES)
def test_causal(kind: str) -> None:
    """Truncating the future changes no past score or decision."""
    data, _ = noisy(kind)
    _, full_score, full = run(kind, data)
    assert full.fire.any(), f"{kind}: nothing fires on the injected fleet, the causality check would be vacuous"
    for cut in (HOURS - 100, HOURS - 31):
        _, score, decision = run(kind, data, hours=cut)
        for whole, part in ((full_score, score), (full, decision)):
            for name, arr in _arrays(part).items():
                assert _same(arr, _arrays(whole)[name][:cut]), f"{kind}: {type(part).__name__}.{name} before hour {cut} depends on later data"


@pytest.mark.parametrize("kind", TYPES)
def test_gaps_and_nan(kind: str) -> None:
    """Missing hours and NaN raise nothing and are never decided."""
    data, _ = noisy(kind)
    rng = np.random.default_rng(3)
    for key, values in data.items():
        values[rng.random(HOURS) < 0.05] = np.nan  # scattered missing points
        values[HOURS - 60 : HOURS - 40] = np.nan  # an outage of every feed
        if key[0] == 1:
            values[24 * 10 : 24 * 12] = np.nan  # one store silent for two days
    view, score, decision = run(kind, data)
    missing = np.isnan(view.values)
    assert missing[HOURS - 60 : HOURS - 40].all()
    assert not (decision.fire & missing).any(), f"{kind}: fires on missing hours"
    assert not (decision.known & missing).any(), f"{kind}: judges missing hours"
    assert not (score.outside & score.known & missing).any()


# A cycle is learnable once seen three times: silence is required from then on (plus a day).
LEARNED_AFTER = {"constant": 0, "daily": 4 * 24, "weekly": 3 * 168 + 24}


@pytest.mark.parametrize("pattern", ["constant", "daily", "weekly"])
@pytest.mark.parametrize("kind", TYPES)
def test_silent_on_constant_and_periodic_series(kind: str, pattern: str) -> None:
    view, _, decision = run(kind, world(pattern))
    learned = LEARNED_AFTER[pattern]
    assert decision.known[learned:].any(), f"{kind}: judged nothing, the check would be vacuous"
    hours, cols = np.nonzero(decision.fire[learned:])
    hours = hours + learned
    assert hours.size == 0, f"{kind} fires on a {pattern} series: {list(zip(hours[:5].tolist(), cols[:5].tolist(), strict=True))}"


@pytest.mark.parametrize("kind", TYPES)
def test_beats_random_on_injected_events(kind: str) -> None:
    data, events = noisy(kind)
    view, _, decision = run(kind, data)
    col_of = {int(s): j for j, s in enumerate(view.store_index)}
    first = min(e.start for e in events) - 24
    region = decision.fire[first:]
    n_fire, cells = int(region.sum()), region.size
    found, chance = [], []
    for e in events:
        j = col_of[e.store]
        stop = e.end + 2  # a late firing still counts (windows, persistence of the injection)
        found.append(bool(decision.fire[e.start : stop, j].any()))
        width = stop - e.start
        # Probability that n_fire cells drawn at random from the region hit this event's cells.
        miss = np.prod([(cells - n_fire - i) / (cells - i) for i in range(width)]) if n_fire <= cells - width else 0.0
        chance.append(1.0 - miss)
    recall, random_recall = float(np.mean(found)), float(np.mean(chance))
    inside = np.zeros(decision.fire.shape, dtype=bool)
    for e in events:
        inside[e.start : e.end + 2, col_of[e.store]] = True
    precision = float((decision.fire & inside)[first:].sum()) / max(n_fire, 1)
    base_rate = float(inside[first:].mean())  # the precision of firing at random
    assert recall >= 0.6, f"{kind}: found only {recall:.0%} of {len(events)} injected events"
    assert recall > random_recall, f"{kind}: recall {recall:.0%} vs random {random_recall:.0%} with {n_fire} firing hours"
    assert precision >= min(0.9, 2 * base_rate), f"{kind}: {precision:.0%} of firing hours are in events, random {base_rate:.0%}"
