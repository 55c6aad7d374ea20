"""What the stock-out forecast may assume about supply when no delivery is announced: the deliveries
read off a SKU's stock history, and how this store's deliveries come — on time, late or never.

A SKU's stock rises when a delivery lands (:func:`read_deliveries`). Its typical interval between
deliveries is the median of its past intervals; every past interval of every SKU of the store,
divided by its own SKU's typical interval, says how regular the store's suppliers are, and each SKU's
current wait (time since its last delivery, over its typical interval) is an interval still open. A
Kaplan–Meier estimate over these ratios (:class:`SupplierRecord`) gives the chance that a delivery
still comes after a given wait — so a SKU whose truck is a day late is not treated as if its supplier
had failed, unless deliveries at this store are never that late. One pseudo-observation that never
arrives keeps a small chance that the rhythm is broken (one in the number of intervals at risk, plus
one). With a single SKU's history the record is that SKU's own.

Many sellers do not restock on a calendar but on a level: the clerk orders when the cover falls to a
reorder point and the delivery lands a lead time later, so each delivery lands when the shelf holds
about the same few days of sales. :func:`read_deliveries` also keeps the cover (hours of the SKU's
sales of the week before) that each delivery found on the shelf; :class:`ReorderPoint` reads the
SKU's own covers and is used instead of the calendar rhythm when it pins the next delivery down
more tightly (its spread in hours against the intervals' spread): a SKU that has always been
restocked with two days left is not about to run out at three days left, and a SKU below every
cover it was ever restocked at is overdue.

>>> times = np.array([10, 34, 58, 82])  # daily deliveries
>>> own = Deliveries(times, np.full(4, 50.0), now=90)
>>> record = SupplierRecord.pool([own])
>>> own.typical, round(own.waited / own.typical, 2), round(float(record.survival(1.5)), 3)
(24.0, 0.33, 0.25)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

DELIVERY_WEEKS = 12  # stock history read for deliveries: a supplier every two weeks shows about six
MIN_DELIVERIES = 2  # one interval gives a SKU's typical interval; the store's record gives the spread
MIN_LEVEL_DELIVERIES = 3  # covers at delivery needed to read a reorder point (two give no spread)
COVER_HOURS = 7 * 24  # the sales a delivery's cover is measured in: the mean hour of the week before
DELIVERY_MERGE_HOURS = 6  # rises of stock this close together are one delivery (booked over two hours)
# What a forecast knew of supply: deliveries announced (ERP / in_transit metric); the SKU's delivery
# rhythm, with the next delivery still within its usual intervals; a rhythm whose next delivery is
# overdue (it may still come, as often as late deliveries at this store do); too few past deliveries
# to read a rhythm (nothing assumed). Recalibration learns each state's track record separately.
SUPPLY_STATES = ("announced", "rhythm", "overdue", "unknown")
GAP_CHANCE = 0.01  # a run of hours without a sale this unlikely at the SKU's usual rate is a stock-out


@dataclass(frozen=True)
class Deliveries:
    """One SKU's past deliveries: hour indices into its stock history, sizes, and ``now`` (the index of
    the current hour, i.e. the history's length)."""

    times: np.ndarray
    sizes: np.ndarray
    now: int
    cover_before: np.ndarray | None = None  # hours of sales on the shelf when each landed (NaN: unknown)

    @property
    def intervals(self) -> np.ndarray:
        return np.diff(self.times).astype(float)

    @property
    def typical(self) -> float | None:
        """Median hours between deliveries (None with fewer than :data:`MIN_DELIVERIES`)."""
        return float(np.median(self.intervals)) if self.times.size >= MIN_DELIVERIES else None

    @property
    def waited(self) -> float:
        return float(self.now - self.times[-1]) if self.times.size else float(self.now)

    @property
    def overdue(self) -> bool:
        """Waited at least as long as its longest past interval: late, or a supplier that failed."""
        return self.times.size >= MIN_DELIVERIES and self.waited >= float(self.intervals.max())


def read_deliveries(stock_history: np.ndarray, sold: np.ndarray) -> Deliveries:
    """Past deliveries: hours where the stock rose by more than a few hours of sales could explain
    (returns put back on the shelf are small and are ignored). ``sold`` is aligned with the history's
    end and may be shorter (hours before it count as an average hour's sales)."""
    level = np.asarray(stock_history, dtype=float)
    known = np.asarray(sold, dtype=float)[-level.size:]
    typical = float(np.nanmean(known)) if np.any(~np.isnan(known)) else 0.0
    units = np.full(level.size, typical)
    if known.size:
        units[-known.size:] = np.where(np.isnan(known), typical, known)
    rise = np.diff(level) + units[1:]
    hits = np.flatnonzero(np.nan_to_num(rise, nan=0.0) > max(2.0, 3.0 * typical)) + 1
    times: list[int] = []
    sizes: list[float] = []
    covers: list[float] = []
    for t in hits.tolist():
        if times and t - times[-1] <= DELIVERY_MERGE_HOURS:
            sizes[-1] += float(rise[t - 1])
        else:
            times.append(t)
            sizes.append(float(rise[t - 1]))
            rate = float(np.mean(units[max(t - COVER_HOURS, 0):t])) if t else 0.0
            covers.append(float(level[t - 1]) / rate if rate > 0 and not np.isnan(level[t - 1]) else np.nan)
    return Deliveries(np.array(times, dtype=np.int64), np.array(sizes), int(level.size), np.array(covers))


@dataclass(frozen=True)
class ReorderPoint:
    """A SKU restocked on a level: the covers (hours of sales on the shelf) its past deliveries found,
    sorted; ``spread`` is how far apart they are in hours."""

    covers: np.ndarray

    @classmethod
    def read(cls, own: Deliveries) -> ReorderPoint | None:
        """The SKU's reorder point when its deliveries show one: at least :data:`MIN_LEVEL_DELIVERIES`
        covers known, and their spread narrower than that of its intervals (a calendar rhythm reads a
        SKU delivered every Monday better)."""
        if own.cover_before is None:
            return None
        covers = own.cover_before[~np.isnan(own.cover_before)]
        if covers.size < MIN_LEVEL_DELIVERIES:
            return None
        point = cls(np.sort(covers))
        if own.intervals.size >= 2 and point.spread >= float(np.std(own.intervals)):
            return None
        return point

    @classmethod
    def pool(cls, skus: Iterable[Deliveries]) -> ReorderPoint | None:
        """The store's reorder point: every SKU's covers at delivery together (one purchasing clerk
        restocks them all), for a SKU with too few deliveries of its own — in a store's first weeks,
        when platforms give no stock history, that is every SKU. None with fewer than
        :data:`MIN_LEVEL_DELIVERIES` covers, or when the store's SKUs are restocked on a calendar
        (the covers spread wider than the intervals)."""
        covers, intervals = [], []
        for d in skus:
            if d.cover_before is not None:
                covers.append(d.cover_before[~np.isnan(d.cover_before)])
            intervals.append(d.intervals)
        known = np.sort(np.concatenate(covers)) if covers else np.zeros(0)
        if known.size < MIN_LEVEL_DELIVERIES:
            return None
        spread = np.concatenate(intervals) if intervals else np.zeros(0)
        if spread.size >= 2 and float(np.std(known)) >= float(np.std(spread)):
            return None
        return cls(known)

    @property
    def spread(self) -> float:
        return float(np.std(self.covers))

    def overdue(self, cover_now: float) -> bool:
        """Below every cover a delivery ever found while the shelf still held stock."""
        return not bool(np.any((self.covers > 0) & (self.covers < cover_now)))

    def thresholds(self, cover_now: float, simulations: int, rng: np.random.Generator) -> np.ndarray:
        """Each path's cover at which its next delivery lands (hours; ``-inf``: none comes before the
        shelf is empty). The covers above ``cover_now`` are past (a delivery would have come); of
        those still ahead, one is drawn, or — with one chance in their number plus one, the pseudo
        observation that never arrives — none. A cover of 0 or less (a delivery that came after a
        stock-out) rescues no path."""
        ahead = self.covers[self.covers < cover_now]
        pick = rng.integers(0, ahead.size + 1, simulations)
        chosen = np.where(pick < ahead.size, ahead[np.minimum(pick, max(ahead.size - 1, 0))] if ahead.size else -np.inf,
                          -np.inf)
        return np.where(chosen > 0, chosen, -np.inf)


@dataclass(frozen=True)
class SupplierRecord:
    """Intervals between deliveries at a store, each over its SKU's typical interval: completed ones
    (``events``) and the current waits (``censored``)."""

    events: np.ndarray
    censored: np.ndarray
    typical_hours: float | None = None  # the median of the SKUs' typical intervals: for a SKU with one delivery

    @classmethod
    def pool(cls, skus: Iterable[Deliveries]) -> SupplierRecord:
        events, censored, typicals = [], [], []
        for d in skus:
            typical = d.typical
            if typical is None or typical <= 0:
                continue
            events.append(d.intervals / typical)
            censored.append(d.waited / typical)
            typicals.append(typical)
        return cls(np.sort(np.concatenate(events)) if events else np.zeros(0), np.array(censored),
                   float(np.median(typicals)) if typicals else None)

    def typical_for(self, own: Deliveries) -> float | None:
        """The SKU's own typical interval; with a single delivery seen, the store's (a new SKU is
        supplied like the others until it shows its own rhythm); None with no delivery at all."""
        if own.typical is not None:
            return own.typical
        return self.typical_hours if own.times.size else None

    def steps(self) -> tuple[np.ndarray, np.ndarray]:
        """The Kaplan–Meier curve: event ratios and the survival just after each."""
        grid, deaths = np.unique(self.events, return_counts=True)
        at_risk = (self.events.size - np.searchsorted(self.events, grid, side="left")
                   + (self.censored[None, :] >= grid[:, None]).sum(axis=1) + 1)  # + 1: the one that never comes
        return grid, np.cumprod(1.0 - deaths / at_risk)

    def survival(self, ratio: float | np.ndarray) -> np.ndarray:
        """P(the next delivery comes later than ``ratio`` typical intervals after the last one)."""
        return _survival_at(*self.steps(), ratio)


def _survival_at(grid: np.ndarray, surviving: np.ndarray, ratio: float | np.ndarray) -> np.ndarray:
    index = np.searchsorted(grid, np.asarray(ratio, dtype=float), side="right")
    return np.where(index == 0, 1.0, surviving[np.maximum(index - 1, 0)] if grid.size else 1.0)


def rhythm_arrivals(own: Deliveries, record: SupplierRecord, horizon: int, simulations: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Units each path receives per hour of the horizon, when no delivery is announced.

    The next delivery is drawn from the store's record given how long this SKU has waited (in its own
    typical intervals); later ones after a further interval drawn from the record. Each brings one of
    the SKU's past delivery sizes. Paths may get nothing: the record's chance that a delivery this
    late never comes.
    """
    arrivals = np.zeros((simulations, horizon))
    typical = record.typical_for(own)
    if typical is None or record.events.size == 0:
        return arrivals
    waited = own.waited / typical
    grid, surviving = record.steps()
    left = float(_survival_at(grid, surviving, waited))
    later = grid > waited
    if left <= 0 or not later.any():
        return arrivals
    grid, surviving = grid[later], surviving[later]
    targets = rng.random(simulations) * left  # the delivery comes at the first ratio whose survival ≤ target
    index = np.searchsorted(-surviving, -targets, side="left")
    comes = index < grid.size
    at = np.where(comes, grid[np.minimum(index, grid.size - 1)] * typical - own.waited, np.inf)
    rows = np.arange(simulations)
    for _ in range(horizon):  # bounded: every interval is ≥ 1 hour
        inside = at < horizon
        if not inside.any():
            break
        np.add.at(arrivals, (rows[inside], np.maximum(at[inside], 0).astype(int)),
                  rng.choice(own.sizes, int(inside.sum())))
        at = np.where(inside, at + np.maximum(rng.choice(record.events, simulations) * typical, 1.0), at)
    return arrivals


def supply_state(own: Deliveries | None, announced: bool, record: SupplierRecord | None = None) -> str:
    """What a forecast assumed about supply: one of :data:`SUPPLY_STATES`."""
    if announced:
        return "announced"
    if own is None:
        return "unknown"
    if own.typical is None:  # one delivery: judged by the store's typical interval, if any
        typical = record.typical_for(own) if record is not None else None
        if typical is None:
            return "unknown"
        return "overdue" if own.waited >= typical else "rhythm"
    return "overdue" if own.overdue else "rhythm"


@dataclass(frozen=True)
class ShelfRecord:
    """Before any delivery is seen (no platform gives stock history, so a new store starts here): the
    SKU's sales history says whether its seller keeps it in stock. ``windows`` counts the past spans of
    ``horizon`` hours in which it sold at least today's stock — each would have emptied today's shelf
    unless a delivery came — and ``kept`` those in which it still never ran out (no sale-less run the
    SKU's rate makes unlikely, no hour at zero stock). The chance that a delivery comes in time is
    ``kept / (windows + 1)``: the module's one pseudo-observation that never arrives, so with no such
    span nothing is assumed.

    >>> steady = np.full(30 * 24, 2.0)  # 2 a day-hour, every hour for 30 days: restocked all along
    >>> record = ShelfRecord.read(steady, stock=100.0, horizon=72)
    >>> record.windows, record.kept, round(record.in_time, 3)
    (10, 10, 0.909)
    >>> gaps = steady.copy(); gaps[::72] = 0; gaps[40::144] = 0; gaps[100:106] = 0
    >>> ShelfRecord.read(gaps, stock=100.0, horizon=72).kept  # six hours without a sale at 2/h
    9
    """

    windows: int
    kept: int

    @property
    def in_time(self) -> float:
        return self.kept / (self.windows + 1)

    @classmethod
    def read(cls, sold: np.ndarray, stock: float, horizon: int, *, expected: np.ndarray | None = None,
             stock_history: np.ndarray | None = None) -> ShelfRecord:
        """``sold``: hourly units, oldest first (NaN unknown); ``expected``: the SKU's usual sales of
        each of those hours (its hour-of-week profile; the span's mean without it); ``stock_history``:
        end-of-hour stock ending where ``sold`` ends. Only spans before the stock was known count (once
        it is, deliveries are read off it); a span with an hour at zero stock is a stock-out."""
        sold = np.asarray(sold, dtype=float)
        usual = None if expected is None else np.asarray(expected, dtype=float)[-sold.size:]
        known = np.zeros(sold.size, dtype=bool)
        empty = np.zeros(sold.size, dtype=bool)
        if stock_history is not None:
            levels = np.asarray(stock_history, dtype=float)[-sold.size:]
            known[sold.size - levels.size:] = ~np.isnan(levels)
            empty[sold.size - levels.size:] = np.nan_to_num(levels, nan=1.0) <= 0
        windows = kept = 0
        for end in range(sold.size, horizon - 1, -horizon):  # disjoint spans, the latest first
            part, out = sold[end - horizon:end], empty[end - horizon:end]
            if not out.any() and (known[end - horizon:end].any() or np.isnan(part).any()):
                continue  # the stock was known (its deliveries tell), or sales unknown: no evidence
            if np.nansum(part) < stock and not out.any():
                continue  # today's shelf would have lasted this span without any delivery
            windows += 1
            rates = np.full(horizon, np.nanmean(part)) if usual is None else np.nan_to_num(usual[end - horizon:end])
            kept += int(not out.any() and not _sale_gap(np.nan_to_num(part), rates))
        return cls(windows, kept)


def _sale_gap(part: np.ndarray, rates: np.ndarray) -> bool:
    """A run of hours without a sale that the usual sales of those hours make less likely than
    :data:`GAP_CHANCE` over the whole span (Poisson ``exp(-expected units)``, against
    ``GAP_CHANCE / hours``: a span has as many chances of a quiet run as it has hours)."""
    limit = -np.log(GAP_CHANCE / max(part.size, 1))
    run = 0.0
    for units, rate in zip(part, rates, strict=True):
        run = run + float(rate) if units <= 0 else 0.0
        if run > limit:
            return True
    return False


__all__ = ["DELIVERY_WEEKS", "SUPPLY_STATES", "Deliveries", "ReorderPoint", "ShelfRecord", "SupplierRecord", "read_deliveries", "rhythm_arrivals", "supply_state"]
