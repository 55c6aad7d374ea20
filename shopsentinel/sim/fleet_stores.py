"""Who is in the fleet and what the calendar announces, plus each store's clock.

Store parameters are drawn from the fleet seed alone, so a chunked run (a few stores at a time) sees
exactly the same stores and calendar as the in-memory run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

from shopsentinel.sim.fleet_model import CalendarEvent, FleetSpec, StoreProfile

CN_TZ = "Asia/Shanghai"
# (platform, id prefix, timezone, region) cycled to fill the fleet; the first 24 are the default fleet.
_STORE_MIX: tuple[tuple[str, str, str], ...] = (
    ("tmall", "tm", CN_TZ), ("jd", "jd", CN_TZ), ("taobao", "tb", CN_TZ), ("douyin", "dy", CN_TZ),
    ("pdd", "pdd", CN_TZ), ("amazon", "amz-us", "America/Los_Angeles"), ("tmall", "tm", CN_TZ),
    ("shopify", "shp-us", "America/New_York"), ("jd", "jd", CN_TZ), ("amazon", "amz-de", "Europe/Berlin"),
    ("douyin", "dy", CN_TZ), ("taobao", "tb", CN_TZ), ("pdd", "pdd", CN_TZ),
    ("shopify", "shp-au", "Australia/Sydney"), ("tmall", "tm", CN_TZ), ("jd", "jd", CN_TZ),
    ("amazon", "amz-us", "America/Los_Angeles"), ("douyin", "dy", CN_TZ), ("taobao", "tb", CN_TZ),
    ("amazon", "amz-de", "Europe/Berlin"), ("pdd", "pdd", CN_TZ), ("shopify", "shp-us", "America/New_York"),
    ("tmall", "tm", CN_TZ), ("jd", "jd", CN_TZ),
)
_NAME_ZH = {"tmall": "天猫", "taobao": "淘宝", "jd": "京东", "douyin": "抖店", "pdd": "拼多多",
            "amazon": "Amazon", "shopify": "Shopify"}
_AOV_RANGE = {"tmall": (120, 400), "taobao": (50, 200), "jd": (150, 600), "douyin": (60, 220),
              "pdd": (20, 80), "amazon": (25, 90), "shopify": (40, 150)}
_CONVERSION_RANGE = {"tmall": (0.02, 0.05), "taobao": (0.015, 0.04), "jd": (0.025, 0.06),
                     "douyin": (0.01, 0.035), "pdd": (0.04, 0.08), "amazon": (0.07, 0.13),
                     "shopify": (0.012, 0.035)}
MIN_PEAK_ORDERS, MAX_PEAK_ORDERS = 2.0, 4000.0

# Relative activity by local hour. China: trough 3-6am, humps at 10-11, 14-16 and the biggest at 21.
CN_DAILY = np.array([0.55, 0.32, 0.18, 0.10, 0.07, 0.07, 0.12, 0.25, 0.45, 0.70, 0.90, 0.90,
                     0.72, 0.75, 0.85, 0.88, 0.80, 0.70, 0.68, 0.78, 0.92, 1.00, 0.95, 0.78])
# Western stores: quiet nights, a lunch bump and the main evening peak at 20:00.
WEST_DAILY = np.array([0.35, 0.20, 0.12, 0.08, 0.07, 0.09, 0.18, 0.32, 0.45, 0.55, 0.62, 0.68,
                       0.74, 0.72, 0.68, 0.66, 0.68, 0.74, 0.85, 0.95, 1.00, 0.94, 0.75, 0.55])
PEAK_LOCAL_HOUR = {"cn": 21, "west": 20}


def build_stores(spec: FleetSpec) -> list[StoreProfile]:
    """Draw the fleet's stores: a platform mix, and sizes spread log-uniformly from tiny to huge.

    Sizes are stratified (one draw per quantile band, then shuffled) so that every fleet of a dozen
    stores or more has both stores with a handful of orders at peak and stores with thousands.
    """
    rng = np.random.default_rng([spec.seed, 0xF1EE7])
    n = spec.stores
    slots = [_STORE_MIX[i % len(_STORE_MIX)] for i in range(n)]
    per_prefix: dict[str, int] = {}
    for _, prefix, _ in slots:
        per_prefix[prefix] = per_prefix.get(prefix, 0) + 1
    strata = (rng.permutation(n) + rng.uniform(0.05, 0.95, n)) / n
    peaks = MIN_PEAK_ORDERS * (MAX_PEAK_ORDERS / MIN_PEAK_ORDERS) ** strata
    seen: dict[str, int] = {}
    stores: list[StoreProfile] = []
    for i, (platform, prefix, tz) in enumerate(slots):
        seen[prefix] = seen.get(prefix, 0) + 1
        number = seen[prefix]
        if prefix in ("amz-us", "amz-de", "shp-us", "shp-au"):
            store_id = f"{prefix}-{number}"
        elif prefix == "tm" and number == 1:
            store_id = "tm-flagship"
        else:
            store_id = f"{prefix}-{number:0{max(2, len(str(per_prefix[prefix])))}d}"
        lo, hi = _AOV_RANGE[platform]
        clo, chi = _CONVERSION_RANGE[platform]
        region = "cn" if tz == CN_TZ else "west"
        stores.append(StoreProfile(
            index=i, store=store_id, platform=platform,
            name=f"{_NAME_ZH[platform]} {store_id}", timezone=tz, region=region,
            peak_orders=float(peaks[i]), conversion=float(rng.uniform(clo, chi)),
            aov=float(np.exp(rng.uniform(np.log(lo), np.log(hi)))),
            weekend_factor=float(rng.uniform(0.8, 1.25)), drift=float(rng.uniform(-0.2, 0.2)),
            has_ads=bool(rng.random() < 0.85 or peaks[i] > 200), dsr_daily=bool(rng.random() < 0.6),
        ))
    return stores


def _hour_index(spec: FleetSpec, when: datetime) -> int:
    return int((when - spec.start).total_seconds() // 3600)


_SPRING_FESTIVAL = {2025: (1, 29), 2026: (2, 17), 2027: (2, 6), 2028: (1, 26), 2029: (2, 13), 2030: (2, 3)}


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> int:
    """Day of month of the n-th given weekday (Monday = 0), e.g. Thanksgiving = 4th Thursday."""
    first = datetime(year, month, 1).weekday()
    return 1 + (weekday - first) % 7 + 7 * (n - 1)


def build_calendar(spec: FleetSpec, stores: list[StoreProfile]) -> list[CalendarEvent]:
    """The announced events of the run: 双11 and other promotions, holidays and maintenance windows.

    Intensities are hidden parameters (drawn from the fleet seed); the detector sees only the window.
    Annual events are laid out for the start year and the next, so any start date gets its share;
    events wholly outside the run are dropped and partial ones are clipped.
    """
    rng = np.random.default_rng([spec.seed, 0xCA1])
    cn = ("tmall", "taobao", "jd", "douyin", "pdd")
    utc = spec.start.tzinfo
    events: list[CalendarEvent] = []

    def add(start: int, end: int, platform: str, store: str, name: str, kind: str, traffic: float,
            conversion: float = 1.0, discount: float = 1.0) -> None:
        if end > 0 and start < spec.hours:
            events.append(CalendarEvent(start, end, platform, store, name, kind, traffic, conversion, discount))

    for year in (spec.start.year, spec.start.year + 1):
        def at(month: int, day: int, hour: int = 16, year: int = year) -> int:
            """Hour index of a UTC time; 16:00 UTC is midnight in China."""
            return _hour_index(spec, datetime(year, month, day, hour, tzinfo=utc))

        def local_midnight(tz: str, month: int, day: int, plus_days: int = 0, year: int = year) -> int:
            local = datetime(year, month, day) + timedelta(days=plus_days)
            return _hour_index(spec, local.replace(tzinfo=ZoneInfo(tz)).astimezone(utc))

        for platform in cn:
            add(at(5, 31), at(6, 18), platform, "", "618", "promotion", rng.uniform(1.3, 1.8), 1.1, rng.uniform(0.8, 0.92))
            add(at(6, 17), at(6, 18), platform, "", "618 主会场", "promotion", rng.uniform(2.5, 6.0),
                rng.uniform(1.2, 1.6), rng.uniform(0.75, 0.88))
            add(at(10, 31), at(11, 11), platform, "", "双11", "promotion", rng.uniform(1.3, 2.0), 1.15,
                rng.uniform(0.75, 0.9))
            add(at(11, 10), at(11, 11), platform, "", "双11 正式开售", "promotion", rng.uniform(3.0, 10.0),
                rng.uniform(1.3, 1.8), rng.uniform(0.7, 0.85))
            add(at(9, 30), at(10, 7), platform, "", "国庆节", "holiday", rng.uniform(0.82, 0.95))
            if year in _SPRING_FESTIVAL:
                month, day = _SPRING_FESTIVAL[year]
                eve = at(month, day) - 24
                add(eve - 24 * 3, eve + 24 * 6, platform, "", "春节", "holiday", rng.uniform(0.4, 0.7), 0.9)
        for platform in ("tmall", "taobao"):
            add(at(9, 5), at(9, 9), platform, "", "99划算节", "promotion", rng.uniform(1.5, 2.5), 1.2,
                rng.uniform(0.85, 0.95))
            add(at(12, 11), at(12, 12), platform, "", "双12", "promotion", rng.uniform(1.8, 3.5), 1.2,
                rng.uniform(0.8, 0.92))
        for platform in ("jd", "douyin"):
            add(at(8, 14), at(8, 18), platform, "", "818 好物节", "promotion", rng.uniform(1.5, 3.0), 1.2,
                rng.uniform(0.8, 0.92))
        prime_day, prime_october = rng.uniform(2.5, 4.5), rng.uniform(2.0, 3.5)
        thanksgiving = _nth_weekday(year, 11, 3, 4)
        for store in stores:
            tz = store.timezone
            if store.platform == "amazon":
                first = _nth_weekday(year, 7, 1, 2)
                add(local_midnight(tz, 7, first), local_midnight(tz, 7, first, 2), "amazon", store.store,
                    "Prime Day", "promotion", prime_day, 1.4, 0.75)
                first = _nth_weekday(year, 10, 1, 1)
                add(local_midnight(tz, 10, first), local_midnight(tz, 10, first, 2), "amazon", store.store,
                    "Prime Big Deal Days", "promotion", prime_october, 1.3, 0.8)
            if store.region == "west" and store.platform in ("amazon", "shopify"):
                add(local_midnight(tz, 11, thanksgiving, 1), local_midnight(tz, 11, thanksgiving, 5),
                    store.platform, store.store, "Black Friday / Cyber Monday", "promotion",
                    rng.uniform(2.5, 5.0), 1.3, 0.75)
                add(local_midnight(tz, 12, 24), local_midnight(tz, 12, 27), store.platform, store.store,
                    "Christmas", "holiday", rng.uniform(0.5, 0.8))
            if store.platform == "shopify" and tz.startswith("America/"):
                labor_day = _nth_weekday(year, 9, 0, 1)
                add(local_midnight(tz, 9, labor_day, -3), local_midnight(tz, 9, labor_day, 1), "shopify",
                    store.store, "Labor Day Sale", "promotion", rng.uniform(1.4, 2.0), 1.15, 0.85)
    # Maintenance windows sit at fixed offsets into the run so every run has some.
    jd_night = _hour_index(spec, spec.start.replace(hour=18)) + 24 * (spec.days * 2 // 5)
    add(jd_night, jd_night + 4, "jd", "", "平台系统维护", "maintenance", 0.35, 0.8)
    pdd_night = _hour_index(spec, spec.start.replace(hour=19)) + 24 * (spec.days * 3 // 4)
    add(pdd_night, pdd_night + 3, "pdd", "", "平台系统维护", "maintenance", 0.4, 0.85)
    shopify = [s for s in stores if s.platform == "shopify"]
    if shopify:
        zone = ZoneInfo(shopify[0].timezone)
        local = (spec.start + timedelta(days=spec.days * 2 // 9)).astimezone(zone).replace(hour=2, minute=0)
        begin = _hour_index(spec, local.astimezone(utc))
        add(begin, begin + 3, "shopify", shopify[0].store, "Theme migration", "maintenance", 0.1, 0.5)
    return [CalendarEvent(max(e.start, 0), min(e.end, spec.hours), e.platform, e.store, e.name, e.kind,
                          float(e.traffic), e.conversion, float(e.discount)) for e in events]


@dataclass(frozen=True)
class LocalClock:
    """Per-hour local wall-clock fields of one timezone over the run (DST handled by zoneinfo)."""

    hour: np.ndarray  # local hour 0..23 of each UTC hour
    weekday: np.ndarray  # local weekday, Monday = 0
    day: np.ndarray  # index of the local calendar day since the first local day of the run
    transitions: tuple[int, ...]  # hour indices where the UTC offset changes


@lru_cache(maxsize=64)
def local_clock(tz: str, start: datetime, hours: int) -> LocalClock:
    zone = ZoneInfo(tz)
    local_hour = np.empty(hours, dtype=np.int64)
    weekday = np.empty(hours, dtype=np.int64)
    ordinal = np.empty(hours, dtype=np.int64)
    offsets = np.empty(hours, dtype=np.int64)
    for i in range(hours):
        local = (start + timedelta(hours=i)).astimezone(zone)
        local_hour[i] = local.hour
        weekday[i] = local.weekday()
        ordinal[i] = local.toordinal()
        offset = local.utcoffset()
        offsets[i] = int(offset.total_seconds()) if offset is not None else 0
    transitions = tuple(int(i) for i in np.nonzero(np.diff(offsets))[0] + 1)
    for array in (local_hour, weekday, ordinal):
        array.setflags(write=False)
    return LocalClock(local_hour, weekday, ordinal - ordinal[0], transitions)
