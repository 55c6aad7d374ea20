"""Deliveries read off stock histories and the store's supplier record: a late truck at a store whose
trucks are often late may still come; at a punctual store, a truck that late means the supplier failed."""

from __future__ import annotations

import numpy as np
import pytest

from shopsentinel.insight.predict import stockout_risk
from shopsentinel.insight.supply import (
    Deliveries,
    ReorderPoint,
    SupplierRecord,
    read_deliveries,
    rhythm_arrivals,
    supply_state,
)


def fortnightly(late_hours: list[int], now: int, size: float = 700.0) -> Deliveries:
    """A delivery 14 days (336 h) after the one before, each later by the given hours."""
    times = np.cumsum([336 + late for late in late_hours])
    return Deliveries(times, np.full(times.size, size), now)


def test_deliveries_are_read_off_the_stock_history() -> None:
    sold = np.full(24 * 10, 2.0)
    level = 100 - np.cumsum(sold)
    level[100:] += 300  # a delivery at hour 100 …
    level[101:] += 50  # … booked over two hours
    level[200:] += 3  # three returns put back on the shelf: not a delivery
    found = read_deliveries(level, sold)
    assert found.times.tolist() == [100] and found.sizes.round().tolist() == [350]
    assert found.now == level.size and found.typical is None
    shorter = read_deliveries(level, sold[-50:])  # sales known for the last hours only
    assert shorter.times.tolist() == [100]


def test_an_overdue_truck_may_still_come_where_trucks_are_often_late() -> None:
    punctual = [fortnightly([0, 0, 0, 0, 0, 0], now=2100 + k * 7) for k in range(8)]
    tardy = [fortnightly([0, 0, 72, 0, 48, 96], now=2100 + k * 7) for k in range(8)]
    # This SKU's truck is 36 hours late: it waited 1.1 typical intervals.
    overdue = fortnightly([0, 0, 0, 0, 0], now=336 * 5 + 336 + 36)
    assert supply_state(overdue, announced=False) == "overdue"
    rng = np.random.default_rng(3)
    at_punctual = rhythm_arrivals(overdue, SupplierRecord.pool([*punctual, overdue]), 72, 4000, rng)
    at_tardy = rhythm_arrivals(overdue, SupplierRecord.pool([*tardy, overdue]), 72, 4000, rng)
    came_punctual = (at_punctual.sum(axis=1) > 0).mean()
    came_tardy = (at_tardy.sum(axis=1) > 0).mean()
    assert came_punctual < 0.05  # nothing this late ever came here: the supplier failed
    assert came_tardy > 0.5  # deliveries here are often 1–3 days late


def test_the_record_counts_open_waits_and_keeps_a_chance_that_nothing_comes() -> None:
    own = fortnightly([0, 0, 0], now=336 * 3 + 100)
    alone = SupplierRecord.pool([own])
    assert alone.events.tolist() == [1.0, 1.0] and alone.censored.round(3).tolist() == [0.298]
    assert float(alone.survival(1.5)) == pytest.approx(1 / 3)  # two intervals at risk plus the one that never comes
    waiting = SupplierRecord.pool([own, fortnightly([0, 0], now=336 * 2 + 1000)])  # one SKU waits ~3 intervals
    assert float(waiting.survival(1.5)) > float(alone.survival(1.5))


def test_a_store_record_reaches_the_forecast() -> None:
    hours = 1130
    sold = np.full(hours, 4.0)
    level = np.zeros(hours)
    stock = 738.0
    for t in range(hours):
        if t in (100, 436, 772):  # every 336 h; the next one was due at 1108: 22 h late now
            stock += 1344.0
        stock -= 4.0
        level[t] = stock
    assert level[-1] == 250.0  # about 2.6 days of sales left
    own_only = stockout_risk(sold, stock=250.0, stock_history=level, seed=2)
    tardy = SupplierRecord(np.array([1.0, 1.0, 1.05, 1.1, 1.12, 1.15, 1.2, 1.25]), np.zeros(0))
    with_store = stockout_risk(sold, stock=250.0, stock_history=level, supplier=tardy, seed=2)
    assert own_only.supply == with_store.supply == "overdue"
    assert own_only.restock_chance == 0.0 and own_only.probability > 0.9  # its own record: never this late
    assert with_store.restock_chance > 0.5
    assert with_store.probability < own_only.probability - 0.3


def test_a_sku_with_one_delivery_is_supplied_like_the_store_s_others() -> None:
    others = [fortnightly([0, 0, 0, 0], now=336 * 4 + 100 + k) for k in range(5)]
    record = SupplierRecord.pool(others)
    assert record.typical_hours == 336.0
    new = Deliveries(np.array([1000]), np.array([500.0]), now=1000 + 300)  # one delivery, 300 h ago
    assert new.typical is None and record.typical_for(new) == 336.0
    assert supply_state(new, announced=False, record=record) == "rhythm"
    assert supply_state(new, announced=False) == "unknown"  # judged alone: no rhythm yet
    arrivals = rhythm_arrivals(new, record, 72, 2000, np.random.default_rng(4))
    assert (arrivals.sum(axis=1) > 0).mean() > 0.6  # the next one is due in about 36 h
    never = Deliveries(np.zeros(0, dtype=np.int64), np.zeros(0), now=2016)
    assert record.typical_for(never) is None and supply_state(never, announced=False, record=record) == "unknown"


def reorder_history(cycles: int, *, rate: float = 2.0, cover_at_delivery: float = 48.0, size: float = 600.0,
                    jitter: list[float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Hourly sales and end-of-hour stock of a SKU the seller restocks on a level: each delivery lands
    when ``cover_at_delivery`` hours of sales are left (± ``jitter`` hours), then it sells down again."""
    level, sold, stock = [], [], cover_at_delivery * rate + size
    for k in range(cycles):
        left = (cover_at_delivery + (jitter[k % len(jitter)] if jitter else 0.0)) * rate
        while stock > left:
            stock -= rate
            sold.append(rate)
            level.append(stock)
        stock += size
        level[-1] = stock
    return np.array(sold), np.array(level)


def test_a_sku_restocked_at_a_level_is_not_called_a_stock_out_at_that_level() -> None:
    """The seller always restocks with about two days left: at three days left nothing is wrong yet,
    though 72 hours of sales exceed the stock — the calendar rhythm alone cannot see it (irregular
    intervals: demand, not a weekday, sets them)."""
    sold, level = reorder_history(6, jitter=[-4.0, 3.0, 0.0, 5.0, -2.0, -5.0])
    sold, level = sold[:-100], level[:-100]  # now: 100 hours after the last delivery … sell further down
    tail = np.full(int((level[-1] - 60 * 2.0) / 2.0), 2.0)
    sold = np.concatenate([sold, tail])
    level = np.concatenate([level, level[-1] - np.cumsum(tail)])
    own = read_deliveries(level, sold)
    assert own.cover_before is not None and np.nanmin(own.cover_before) > 40
    assert ReorderPoint.read(own) is not None
    f = stockout_risk(sold, stock=float(level[-1]), stock_history=level, seed=3)
    assert f.stock < 72 * 2.0 and f.supply == "rhythm"  # 60 h left, every past delivery came at ~48 h
    assert f.probability < 0.5 and f.restock_chance > 0.5
    # the same SKU at 30 hours of stock: below every cover it was ever restocked at — a real risk
    more = np.full(int((level[-1] - 30 * 2.0) / 2.0), 2.0)
    late_sold = np.concatenate([sold, more])
    late_level = np.concatenate([level, level[-1] - np.cumsum(more)])
    g = stockout_risk(late_sold, stock=float(late_level[-1]), stock_history=late_level, seed=3)
    assert g.supply == "overdue" and g.probability > 0.85


def test_a_calendar_rhythm_is_kept_when_it_reads_deliveries_better() -> None:
    """Deliveries every 7 days to the hour while the covers they found scatter: the calendar wins."""
    covers = np.array([20.0, 80.0, 45.0, 110.0])
    own = Deliveries(np.array([100, 268, 436, 604]), np.full(4, 300.0), 700, covers)
    assert ReorderPoint.read(own) is None
    level_like = Deliveries(np.array([100, 230, 436, 560]), np.full(4, 300.0), 700, np.array([47.0, 50.0, 49.0, 52.0]))
    assert ReorderPoint.read(level_like) is not None


def test_reorder_thresholds_keep_a_chance_that_none_comes() -> None:
    point = ReorderPoint(np.array([40.0, 45.0, 50.0, 55.0]))
    draws = point.thresholds(60.0, 20000, np.random.default_rng(1))
    assert abs(float(np.isinf(draws).mean()) - 1 / 5) < 0.02  # four covers ahead, one pseudo-observation
    assert set(np.unique(draws[np.isfinite(draws)])) == {40.0, 45.0, 50.0, 55.0}
    assert np.isinf(point.thresholds(42.0, 1000, np.random.default_rng(1))).mean() > 0.4  # only 40 still ahead
    assert point.overdue(39.0) and not point.overdue(41.0)


def test_a_sku_without_deliveries_of_its_own_is_judged_by_the_store_reorder_point() -> None:
    """Platforms give no stock history, so in a store's first week most SKUs have not been restocked
    under our eyes: one that has not is judged by the covers its siblings were restocked at."""
    siblings = [read_deliveries(*reversed(reorder_history(4, jitter=[j, -j, 2.0, -3.0]))) for j in (1.0, 4.0)]
    pool = ReorderPoint.pool(siblings)
    assert pool is not None and 40 < float(np.median(pool.covers)) < 56
    sold = np.full(24 * 10, 2.0)
    for hours_left, supply, risky in ((60, "rhythm", False), (30, "overdue", True)):
        level = hours_left * 2.0 + np.cumsum(sold[::-1])[::-1] - sold  # sold down to hours_left of cover, no delivery
        f = stockout_risk(sold, stock=float(level[-1]), stock_history=level, reorder=pool, seed=5)
        assert f.supply == supply and (f.probability > 0.85) == risky, (hours_left, f)
    alone = stockout_risk(sold, stock=60 * 2.0, stock_history=60 * 2.0 + np.cumsum(sold[::-1])[::-1] - sold, seed=5)
    assert alone.supply == "unknown" and alone.probability > 0.85  # without the store's record: nothing assumed
