"""Store-level hourly signals: traffic, conversion, payments, refunds, reviews, ads, service gauges.

Every count is drawn from a Poisson or binomial around an expected value, so a store with three
orders at peak is as noisy as a real one. Expected values are products of independent factors
(daily and weekly cycles in local time, trend, calendar, level shifts, incidents); incidents act
on the factor they would act on in reality (a traffic crash on visitors, a checkout bug on
conversion) and the downstream metrics follow by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from shopsentinel.sim.fleet_model import StoreProfile
from shopsentinel.sim.fleet_plan import PlannedIncident, budget_factors
from shopsentinel.sim.fleet_stores import CN_DAILY, WEST_DAILY, LocalClock


def daily_profile(store: StoreProfile, rng: np.random.Generator) -> np.ndarray:
    """The store's own 24-hour shape: the regional template with its secondary humps jittered.

    The main peak (21:00 in China, 20:00 in the West) is left at 1.0 and every other hour is capped
    12 % below it, so the local peak hour is a property of the region, which the tests rely on.
    """
    if store.region == "cn":
        shape = CN_DAILY.copy()
        shape[9:13] *= rng.uniform(0.8, 1.02)
        shape[13:18] *= rng.uniform(0.8, 1.02)
        shape[0:8] *= rng.uniform(0.7, 1.3)
        peak = 21
    else:
        shape = WEST_DAILY.copy()
        shape[10:15] *= rng.uniform(0.8, 1.15)
        shape[0:7] *= rng.uniform(0.7, 1.3)
        peak = 20
    capped: np.ndarray = np.minimum(shape, 0.88)
    capped[peak] = 1.0
    return capped


def smooth_noise(rng: np.random.Generator, hours: int, sigma: float, memory: float) -> np.ndarray:
    """AR(1)-like log-noise (correlation ``memory`` per hour) so deviations persist for a while."""
    taps = memory ** np.arange(min(int(5 / (1 - memory)) + 1, 2000))
    white = rng.normal(0.0, sigma * np.sqrt(1 - memory**2), hours + taps.size - 1)
    noise: np.ndarray = np.convolve(white, taps, mode="valid")[:hours]
    return noise


def lag_kernel(rng: np.random.Generator, min_days: float, max_days: float) -> np.ndarray:
    """Delay distribution (by hour) between an order and its refund or review."""
    lags = np.arange(int(max_days * 24) + 1, dtype=float)
    mode = rng.uniform(min_days + 0.5, min_days + 2.0) * 24
    weights = np.where(lags >= min_days * 24, np.exp(-((np.log1p(lags) - np.log1p(mode)) ** 2) / 0.18), 0.0)
    kernel: np.ndarray = weights / weights.sum()
    return kernel


def lagged(series: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Expected follow-up events per hour; the history before the run is the first days replayed."""
    pad = series[: kernel.size]
    if pad.size < kernel.size:
        pad = np.resize(series, kernel.size)
    full = np.concatenate((pad, series))
    return np.convolve(full, kernel)[kernel.size: kernel.size + series.size]


@dataclass
class StoreDrivers:
    """Multiplicative drivers over the run, before incidents (calendar, trend, shifts)."""

    traffic: np.ndarray
    conversion: np.ndarray
    discount: np.ndarray
    service_load: np.ndarray  # customer-service pressure (promotions, aftermath)
    refund_rate: np.ndarray
    negative_rate: np.ndarray
    logistics: np.ndarray
    dsr_offset: np.ndarray
    activity: np.ndarray  # 0..1, the local daily profile per hour


@dataclass
class IncidentEffects:
    """Per-hour multipliers/overrides an incident applies; identity outside incidents."""

    traffic: np.ndarray
    conversion: np.ndarray
    failure_rate: np.ndarray  # NaN = the store's normal failure rate
    refunds: np.ndarray
    negative_rate: np.ndarray
    reviews: np.ndarray
    ad_clicks: np.ndarray
    ad_orders: np.ndarray
    logistics: np.ndarray
    dsr_target: np.ndarray  # NaN = normal DSR
    extra: dict[str, float] = field(default_factory=dict)
    ad_cpc: np.ndarray = field(default_factory=lambda: np.ones(0))  # cost-per-click multiplier

    @classmethod
    def identity(cls, hours: int) -> IncidentEffects:
        ones = np.ones(hours)
        return cls(ones.copy(), ones.copy(), np.full(hours, np.nan), ones.copy(), ones.copy(), ones.copy(),
                   ones.copy(), ones.copy(), ones.copy(), np.full(hours, np.nan), ad_cpc=ones.copy())

    def apply(self, incident: PlannedIncident, rng: np.random.Generator) -> None:
        """Imprint one incident. Outages and bugs hit at once; slower problems (a checkout
        regression spreading, complaints piling up) half the time build up over a few hours."""
        s, e, m = incident.start, incident.end, incident.magnitude
        gradual = incident.type in ("conversion_drop", "refund_surge", "bad_review_surge", "ad_anomaly",
                                    "ad_budget_squeeze") \
            and rng.random() < 0.5
        ramp = np.minimum(1.0, (np.arange(e - s) + 1) / rng.uniform(2, 5)) if gradual else np.ones(e - s)

        def toward(target: float) -> np.ndarray:
            return 1 + (target - 1) * ramp

        if incident.type == "traffic_crash":
            self.traffic[s:e] *= m
        elif incident.type == "conversion_drop":
            self.conversion[s:e] *= toward(m)
        elif incident.type == "order_burst":
            if incident.variant == "viral":
                self.traffic[s:e] *= np.sqrt(m)
                self.conversion[s:e] *= np.sqrt(m)
            else:
                self.conversion[s:e] *= m
        elif incident.type == "refund_surge":
            self.refunds[s:e] *= toward(m)
        elif incident.type == "payment_failures":
            self.failure_rate[s:e] = m
        elif incident.type == "bad_review_surge":
            self.negative_rate[s:e] *= toward(m)
            self.reviews[s:e] *= toward(1.3)
        elif incident.type == "ad_anomaly":
            self.ad_clicks[s:e] *= toward(m)
            self.ad_orders[s:e] *= toward(rng.uniform(0.2, 0.6))
        elif incident.type == "ad_budget_squeeze":
            # The daily budget caps spend: clicks cost k× as much, so k× fewer of them are bought,
            # and each converts j× worse — ad orders fall by k·j while spend stays where it was.
            cpc, conversion = budget_factors(m, float(rng.uniform(0.2, 0.6)))
            self.ad_cpc[s:e] *= toward(cpc)
            self.ad_clicks[s:e] /= toward(cpc)
            self.ad_orders[s:e] /= toward(cpc * conversion)
        elif incident.type == "logistics_stuck":
            build_up = np.minimum(1.0, (np.arange(e - s) + 1) / rng.uniform(3, 10))
            self.logistics[s:e] *= 1 + (m - 1) * build_up
        elif incident.type == "dsr_drop":
            self.dsr_target[s:e] = m


def expected_paid_orders(store: StoreProfile, drivers: StoreDrivers) -> np.ndarray:
    """Paid orders an ordinary hour would bring (calendar included, incidents and noise excluded):
    what a purchase planner forecasts from."""
    conversion = store.conversion * (0.85 + 0.25 * drivers.activity) * drivers.conversion
    expected: np.ndarray = store.peak_orders / store.conversion * drivers.activity * drivers.traffic * conversion * 0.93
    return expected


def store_level_metrics(store: StoreProfile, clock: LocalClock, drivers: StoreDrivers,
                        effects: IncidentEffects, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw all store-level metrics; returns float arrays keyed by canonical metric name."""
    hours = clock.hour.size
    activity = drivers.activity
    base_uv = store.peak_orders / store.conversion
    uv_expected = base_uv * activity * drivers.traffic * effects.traffic
    # Stores differ in how jumpy their traffic is (campaign-driven stores more than brand stores).
    uv = rng.poisson(uv_expected * np.exp(smooth_noise(rng, hours, rng.uniform(0.05, 0.14), rng.uniform(0.5, 0.85))))
    pages = rng.uniform(2.5, 6.0)
    pv = rng.poisson(uv * pages * np.exp(rng.normal(0, 0.05, hours)))
    bounces = rng.binomial(uv, rng.uniform(0.25, 0.55))

    hourly_conv = 0.85 + 0.25 * activity
    conv = store.conversion * hourly_conv * drivers.conversion * effects.conversion
    conv = np.clip(conv * np.exp(smooth_noise(rng, hours, 0.06, 0.5)), 0, 0.9)
    orders = rng.binomial(uv, conv)

    failure_base = rng.uniform(0.02, 0.05)
    failure = np.where(np.isnan(effects.failure_rate), failure_base, effects.failure_rate)
    retries = rng.uniform(0.05, 0.15) * np.where(np.isnan(effects.failure_rate), 1.0, 3.0)
    attempts = orders + rng.poisson(orders * retries)
    failures = rng.binomial(attempts, failure)
    pay_base = rng.uniform(0.88, 0.97)
    paid = rng.binomial(orders, np.clip(pay_base * (1 - failure) / (1 - failure_base), 0, 1))

    aov = store.aov * np.sqrt(drivers.discount) * np.exp(smooth_noise(rng, hours, 0.03, 0.98))
    order_value_spread = 0.5 / np.sqrt(np.maximum(paid, 1))
    gmv = np.round(paid * aov * np.exp(rng.normal(0, 1, hours) * order_value_spread), 2)

    normal_activity = activity / activity.mean()
    refund_kernel, review_kernel = lag_kernel(rng, 1, 7), lag_kernel(rng, 2, 10)
    refund_expected = lagged(paid.astype(float), refund_kernel) * rng.uniform(0.01, 0.04)
    refunds = rng.poisson(refund_expected * normal_activity * drivers.refund_rate * effects.refunds)
    refund_amount = np.round(refunds * store.aov * np.exp(rng.normal(0, 0.4, hours) / np.sqrt(np.maximum(refunds, 1))), 2)
    review_expected = lagged(paid.astype(float), review_kernel) * rng.uniform(0.05, 0.2)
    reviews = rng.poisson(review_expected * normal_activity * effects.reviews)
    negative_rate = rng.uniform(0.03, 0.08) * drivers.negative_rate * effects.negative_rate
    negative_reviews = rng.binomial(reviews, np.clip(negative_rate, 0, 0.9))

    if store.has_ads:
        ad_share = rng.uniform(0.08, 0.3)
        cpc = rng.uniform(0.6, 3.0) if store.region == "cn" else rng.uniform(0.4, 1.5)
        ad_clicks = rng.poisson(uv * ad_share * effects.ad_clicks)
        ad_spend = np.round(ad_clicks * cpc * effects.ad_cpc * np.exp(rng.normal(0, 0.08, hours)), 2)
        ad_orders = rng.binomial(orders, np.clip(ad_share * rng.uniform(1.0, 1.5) * effects.ad_orders, 0, 0.95))
        ad_gmv = np.round(ad_orders * aov * np.exp(rng.normal(0, 1, hours) * 0.5 / np.sqrt(np.maximum(ad_orders, 1))), 2)
    else:
        ad_clicks = ad_orders = np.zeros(hours, dtype=np.int64)
        ad_spend = ad_gmv = np.zeros(hours)

    daily_paid = np.convolve(np.concatenate((paid[:24], paid)).astype(float), np.ones(24), "valid")[:hours]
    stale_base = np.roll(daily_paid, 48) * rng.uniform(0.0005, 0.003)
    stale_base[:48] = daily_paid[:48] * rng.uniform(0.0005, 0.003)
    stale_expected = stale_base * drivers.logistics * effects.logistics
    # A stuck carrier is "far above normal" even for a small store: add a floor of about a dozen.
    stale_expected += 12.0 * (effects.logistics - 1) / max(float(effects.logistics.max()) - 1, 1e-9)
    logistics = rng.poisson(stale_expected * np.exp(smooth_noise(rng, hours, 0.15, 0.9)))

    # Night shift: thin staffing makes most stores slower at night; a few run a bot that is faster.
    night = np.where(clock.hour < 8, rng.uniform(1.4, 2.5) if rng.random() < 0.8 else rng.uniform(0.5, 0.8), 1.0)
    cs = rng.uniform(12, 60) * night * (1 + 0.2 * (activity - 0.6)) * drivers.service_load
    cs_response = np.round(cs * np.exp(smooth_noise(rng, hours, 0.15, 0.6)), 1)

    dsr = dsr_series(store, clock, drivers, effects, rng)
    return {
        "uv": uv, "pv": pv, "orders": orders, "paid_orders": paid, "gmv": gmv,
        "payment_attempts": attempts, "payment_failures": failures, "refunds": refunds,
        "refund_amount": refund_amount, "reviews": reviews, "negative_reviews": negative_reviews, "dsr": dsr,
        "ad_spend": ad_spend, "ad_clicks": ad_clicks, "ad_orders": ad_orders, "ad_gmv": ad_gmv,
        "logistics_stale_orders": logistics, "cs_response_seconds": cs_response, "bounces": bounces,
    }


def dsr_series(store: StoreProfile, clock: LocalClock, drivers: StoreDrivers, effects: IncidentEffects,
               rng: np.random.Generator) -> np.ndarray:
    """Detailed seller rating: a slow mean-reverting walk around the store's level, 4.66-4.95.

    Some platforms publish it once per local day (the value steps at local midnight), others hourly.
    A dsr_drop incident slides it down to its target over several hours and holds it there.
    """
    days = int(clock.day.max()) + 1
    walk = np.zeros(days)
    steps = rng.normal(0, 0.012, days)
    for d in range(1, days):
        walk[d] = 0.9 * walk[d - 1] + steps[d]
    level = np.clip(rng.uniform(4.72, 4.88) + walk, 4.66, 4.95)
    dsr = level[clock.day] + drivers.dsr_offset
    if not store.dsr_daily:
        dsr = dsr + rng.normal(0, 0.003, dsr.size)
    target = effects.dsr_target
    if np.any(~np.isnan(target)):
        idx = np.nonzero(~np.isnan(target))[0]
        for run in np.split(idx, np.nonzero(np.diff(idx) > 1)[0] + 1):
            ramp = np.minimum(1.0, (np.arange(run.size) + 1) / rng.uniform(6, 18))
            dsr[run] = dsr[run] - (dsr[run] - target[run]) * ramp
    published: np.ndarray = np.round(np.clip(dsr, 1.0, 5.0), 2 if store.dsr_daily else 3)
    return published
