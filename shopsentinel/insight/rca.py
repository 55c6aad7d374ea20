"""Root-cause analysis: why did the metric move?

The moved metric is decomposed along the metric tree, comparing the alert window with its
baseline (the same hours of the previous weeks, median per base metric):

* store level — ``GMV = UV × order conversion × payment success × AOV`` (``orders/uv``,
  ``paid_orders/orders``, ``gmv/paid_orders``); ``orders`` and ``paid_orders`` use the prefix of
  that chain, ``uv`` splits additively into paid (``ad_clicks``) and organic traffic;
* SKU level — ``revenue = in-stock share × units per in-stock hour × price``.

Multiplicative chains use LMDI (logarithmic mean Divisia): the effect of factor ``x_i`` is
``L(Y1, Y0) · ln(x_i1 / x_i0)`` with ``L(a, b) = (a − b) / (ln a − ln b)``, so the effects add up
to ``Y1 − Y0`` exactly (the Shapley split of a log-linear model). Contributors are ranked by
their share of the change. Related metrics moving in the window (bounce rate, payment failures,
inquiries, logistics complaints, ad spend …) are listed as correlated evidence, and the same SKU
or store on other platforms is checked for a simultaneous move.

>>> effects = lmdi([("traffic", 100.0, 50.0), ("aov", 10.0, 10.0)])
>>> round(sum(effects.values()), 6), round(effects["traffic"], 1)
(-500.0, -500.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import polars as pl

WEEK = timedelta(days=7)
MAX_WINDOW = timedelta(hours=48)
BASELINE_WEEKS = 3
PRICE_MOVE = 0.15  # a SKU price this far from its baseline is a candidate cause by itself
CORRELATED_MOVE = 0.3
MIN_COUNT_MOVE = 5.0
SURPRISE_SIGMAS = 3.0
SPREAD_FLOOR = 0.05  # ln units: three baseline weeks rarely agree closer than ±5%

FACTOR_NAMES: dict[str, tuple[str, str]] = {
    "traffic": ("访客数", "traffic (UV)"),
    "order_conversion": ("下单转化率", "order conversion"),
    "payment": ("支付成功率", "payment success"),
    "aov": ("客单价", "AOV"),
    "paid_traffic": ("付费流量", "paid traffic"),
    "organic_traffic": ("自然流量", "organic traffic"),
    "stock": ("库存可售", "in-stock availability"),
    "demand": ("需求", "demand"),
    "price": ("售价", "price"),
    "sku": ("单品销量", "SKU sales"),
}
METRIC_NAMES: dict[str, tuple[str, str]] = {
    "gmv": ("GMV", "GMV"), "orders": ("下单数", "Orders"), "paid_orders": ("支付订单数", "Paid orders"),
    "uv": ("访客数", "UV"), "pay_conversion_rate": ("支付转化率", "Pay conversion"),
    "conversion_rate": ("下单转化率", "Order conversion"), "aov": ("客单价", "AOV"),
    "units_sold": ("销量", "Units sold"), "stock": ("库存", "Stock"), "price": ("售价", "Price"),
    "stock_cover_days": ("库存可售天数", "Stock cover"), "revenue": ("单品销售额", "SKU revenue"),
}
# Related metrics read as evidence: (metric or ratio numerator, denominator or "").
CORRELATES: tuple[tuple[str, str, str, str], ...] = (
    ("bounce_rate", "bounces", "uv", "跳失率"),
    ("payment_failure_rate", "payment_failures", "payment_attempts", "支付失败率"),
    ("negative_reviews", "negative_reviews", "", "差评数"),
    ("refunds", "refunds", "", "退款单数"),
    ("cs_response_seconds", "cs_response_seconds", "", "客服响应时长"),
    ("logistics_stale_orders", "logistics_stale_orders", "", "物流停滞订单数"),
    ("ad_spend", "ad_spend", "", "广告花费"),
    ("ad_clicks", "ad_clicks", "", "广告点击数"),
    ("inquiries", "inquiries", "", "咨询量"),
    ("competitor_price", "competitor_price", "", "竞品价格"),
)
MEAN_METRICS = frozenset({"cs_response_seconds", "competitor_price", "price", "dsr"})
STORE_CHAIN = ("gmv", "paid_orders", "orders", "uv", "pay_conversion_rate", "conversion_rate", "aov")

FrameLoader = Callable[[str, str, datetime, datetime], pl.DataFrame]
"""``(platform, store, start, end) -> canonical frame`` (ts, platform, store, sku, metric, value)."""


@dataclass(frozen=True)
class Target:
    """What moved: a metric of a store (``sku`` empty) or of one SKU, over ``[start, end)``."""

    platform: str
    store: str
    metric: str
    start: datetime
    end: datetime
    sku: str = ""
    expected: float | None = None


@dataclass(frozen=True)
class Contributor:
    factor: str
    label_zh: str
    label_en: str
    before: float
    after: float
    effect: float  # in units of the target, sums to the target's change with the other factors
    share: float  # effect / change of the target (1.0 = explains all of it)
    sku: str = ""
    channel: str = ""  # traffic split: paid | organic

    @property
    def change_pct(self) -> float:
        return _pct(self.after, self.before)


@dataclass(frozen=True)
class MetricMove:
    metric: str
    label_zh: str
    before: float
    after: float
    change_pct: float
    platform: str = ""
    store: str = ""
    sku: str = ""


@dataclass
class RcaResult:
    platform: str
    store: str
    sku: str
    metric: str
    window_start: datetime
    window_end: datetime
    baseline_weeks: int
    before: float
    after: float
    contributors: list[Contributor] = field(default_factory=list)
    by_sku: list[Contributor] = field(default_factory=list)
    correlated: list[MetricMove] = field(default_factory=list)
    linked: list[MetricMove] = field(default_factory=list)
    text_zh: str = ""
    text_en: str = ""

    @property
    def change_pct(self) -> float:
        return _pct(self.after, self.before)

    @property
    def cause(self) -> str:
        """The top contributor's factor ("" when nothing could be decomposed)."""
        return self.contributors[0].factor if self.contributors else ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["window_start"] = f"{self.window_start:%Y-%m-%dT%H:%M:%SZ}"
        out["window_end"] = f"{self.window_end:%Y-%m-%dT%H:%M:%SZ}"
        out["change_pct"] = _round(self.change_pct)
        out["cause"] = self.cause
        for key in ("contributors", "by_sku"):
            for item, contributor in zip(out[key], getattr(self, key), strict=True):
                item["change_pct"] = _round(contributor.change_pct)
        finite: dict[str, Any] = _finite(out)
        return finite


def _finite(value: Any) -> Any:
    """JSON-safe: NaN and infinities become None (PostgreSQL's json rejects them)."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _round(x: float) -> float | None:
    return None if math.isnan(x) or math.isinf(x) else round(x, 4)


def _pct(after: float, before: float) -> float:
    if before == 0:
        return math.nan if after == 0 else math.inf
    return (after - before) / abs(before) * 100.0


def _log_mean(a: float, b: float) -> float:
    if a <= 0 or b <= 0:
        return (a + b) / 2
    if abs(a - b) < 1e-12 * max(a, b):
        return a
    return (a - b) / (math.log(a) - math.log(b))


def lmdi(factors: Sequence[tuple[str, float, float]]) -> dict[str, float]:
    """Split the change of a product of factors ``(name, before, after)`` into additive effects.

    Non-positive factors are floored at a tiny value so a collapse to zero stays finite.
    """
    floor = 1e-6
    before = math.prod(max(b, floor) for _, b, _ in factors)
    after = math.prod(max(a, floor) for _, _, a in factors)
    weight = _log_mean(after, before)
    return {name: weight * math.log(max(a, floor) / max(b, floor)) for name, b, a in factors}


# --- window sums ------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Agg:
    total: float
    mean: float
    hours: int
    positive_hours: int


def _aggregate(frame: pl.DataFrame, start: datetime, end: datetime) -> dict[tuple[str, str], _Agg]:
    part = frame.filter((pl.col("ts") >= start) & (pl.col("ts") < end))
    if part.is_empty():
        return {}
    grouped = part.group_by("metric", "sku").agg(
        pl.col("value").sum().alias("total"), pl.col("value").mean().alias("mean"),
        pl.len().alias("hours"), (pl.col("value") > 0).sum().alias("positive"),
    )
    return {(m, s or ""): _Agg(float(t), float(mu), int(h), int(p))
            for m, s, t, mu, h, p in grouped.select("metric", "sku", "total", "mean", "hours", "positive").iter_rows()}


@dataclass
class _Windows:
    """Aggregates of the window and of each baseline week with data."""

    window: dict[tuple[str, str], _Agg]
    weeks: list[dict[tuple[str, str], _Agg]]

    def after(self, metric: str, sku: str = "", how: str = "total") -> float | None:
        agg = self.window.get((metric, sku))
        return None if agg is None else _pick(agg, how)

    def before(self, metric: str, sku: str = "", how: str = "total") -> float | None:
        values = sorted(_pick(w[(metric, sku)], how) for w in self.weeks if (metric, sku) in w)
        if not values:
            return None
        mid = len(values) // 2
        return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2

    def pair(self, metric: str, sku: str = "", how: str = "total") -> tuple[float, float] | None:
        b, a = self.before(metric, sku, how), self.after(metric, sku, how)
        return None if a is None or b is None else (b, a)

    def skus(self, metric: str) -> list[str]:
        return sorted({s for (m, s) in self.window if m == metric and s})


def _pick(agg: _Agg, how: str) -> float:
    if how == "mean":
        return agg.mean
    if how == "in_stock":
        return agg.positive_hours / agg.hours if agg.hours else 0.0
    return agg.total


def _windows(frame: pl.DataFrame, start: datetime, end: datetime) -> _Windows:
    weeks = [_aggregate(frame, start - k * WEEK, end - k * WEEK) for k in range(1, BASELINE_WEEKS + 1)]
    return _Windows(_aggregate(frame, start, end), [w for w in weeks if w])


# --- decompositions ---------------------------------------------------------------------------

def _contributors(effects: dict[str, float], pairs: dict[str, tuple[float, float]], change: float,
                  sku: str = "") -> list[Contributor]:
    out = []
    for name, effect in effects.items():
        b, a = pairs[name]
        zh, en = FACTOR_NAMES.get(name, (name, name))
        share = effect / change if change else 0.0
        out.append(Contributor(name, zh, en, b, a, effect, share, sku))
    return sorted(out, key=lambda c: -abs(c.effect))


def _store_chain(w: _Windows, metric: str) -> tuple[float, float, list[Contributor]] | None:
    """GMV-tree decomposition of a store metric; None without the base metrics."""
    uv, orders, paid, gmv = w.pair("uv"), w.pair("orders"), w.pair("paid_orders"), w.pair("gmv")
    if uv is None:
        return None
    if orders is None and paid is not None:
        orders = paid
    pairs: dict[str, tuple[float, float]] = {"traffic": uv}
    if orders is not None:
        pairs["order_conversion"] = (_ratio(orders[0], uv[0]), _ratio(orders[1], uv[1]))
    if paid is not None and orders is not None:
        pairs["payment"] = (_ratio(paid[0], orders[0]), _ratio(paid[1], orders[1]))
    if gmv is not None and paid is not None:
        pairs["aov"] = (_ratio(gmv[0], paid[0]), _ratio(gmv[1], paid[1]))
    chain = {"uv": ["traffic"], "orders": ["traffic", "order_conversion"],
             "conversion_rate": ["order_conversion"], "paid_orders": ["traffic", "order_conversion", "payment"],
             "pay_conversion_rate": ["order_conversion", "payment"], "aov": ["aov"],
             "gmv": ["traffic", "order_conversion", "payment", "aov"]}[metric]
    used = [f for f in chain if f in pairs]
    if not used:
        return None
    before = math.prod(pairs[f][0] for f in used)
    after = math.prod(pairs[f][1] for f in used)
    effects = lmdi([(f, *pairs[f]) for f in used])
    contributors = _contributors(effects, pairs, after - before)
    surprise = {f: _surprise(w, f, pairs[f]) for f in used}
    # A factor that moves this much every week is a poor suspect: rank by effect × surprise.
    contributors.sort(key=lambda c: -abs(c.effect) * surprise[c.factor])
    if metric == "uv" and w.pair("ad_clicks") is not None:
        contributors = _traffic_channels(w, uv)
    return before, after, contributors


FACTOR_INPUTS = {"traffic": ("uv", ""), "order_conversion": ("orders", "uv"), "payment": ("paid_orders", "orders"),
                 "aov": ("gmv", "paid_orders")}


def _surprise(w: _Windows, factor: str, pair: tuple[float, float]) -> float:
    """How unusual the factor's move is against its own week-to-week spread, capped at 1:
    ``min(1, |ln(after/before)| / (SURPRISE_SIGMAS × spread))``."""
    top, bottom = FACTOR_INPUTS[factor]
    weekly = []
    for week in w.weeks:
        a = week.get((top, ""))
        b = week.get((bottom, "")) if bottom else None
        if a is None or (bottom and (b is None or b.total <= 0)) or a.total <= 0:
            continue
        weekly.append(a.total / b.total if b is not None else a.total)
    if len(weekly) < 2 or pair[0] <= 0 or pair[1] <= 0:
        return 1.0
    logs = [math.log(v) for v in weekly]
    centre = sorted(logs)[len(logs) // 2]
    spread = max(math.sqrt(sum((x - centre) ** 2 for x in logs) / len(logs)), SPREAD_FLOOR)
    return min(1.0, abs(math.log(pair[1] / pair[0])) / (SURPRISE_SIGMAS * spread))


def _traffic_channels(w: _Windows, uv: tuple[float, float]) -> list[Contributor]:
    """UV = paid (ad clicks) + organic: an additive split; both are the traffic factor."""
    ads = w.pair("ad_clicks") or (0.0, 0.0)
    paid = (min(ads[0], uv[0]), min(ads[1], uv[1]))
    organic = (uv[0] - paid[0], uv[1] - paid[1])
    change = uv[1] - uv[0]
    out = []
    for channel, (b, a) in (("paid", paid), ("organic", organic)):
        zh, en = FACTOR_NAMES[f"{channel}_traffic"]
        out.append(Contributor("traffic", zh, en, b, a, a - b, (a - b) / change if change else 0.0, channel=channel))
    return sorted(out, key=lambda c: -abs(c.effect))


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def _sku_chain(w: _Windows, sku: str) -> tuple[float, float, list[Contributor]] | None:
    """revenue = in-stock share × units per in-stock hour × price, for one SKU."""
    units = w.pair("units_sold", sku)
    if units is None:
        return None
    price = w.pair("price", sku, "mean") or (1.0, 1.0)
    in_stock = w.pair("stock", sku, "in_stock")
    pairs: dict[str, tuple[float, float]] = {}
    if in_stock is not None:
        # Half an hour of smoothing keeps a full stock-out finite; with no hour in stock the demand
        # rate is unknown, so it is held at its baseline and availability carries the change.
        share = ((in_stock[0] * 24 + 0.5) / 24.5, (in_stock[1] * 24 + 0.5) / 24.5)
        rate_before = units[0] / share[0]
        rate_after = units[1] / share[1] if in_stock[1] > 0 else rate_before
        share_after = units[1] / rate_after if rate_after else share[1]
        pairs["stock"] = (share[0], share_after)
        pairs["demand"] = (rate_before, rate_after)
    else:
        pairs["demand"] = units
    pairs["price"] = price
    before = math.prod(p[0] for p in pairs.values())
    after = math.prod(p[1] for p in pairs.values())
    effects = lmdi([(f, *p) for f, p in pairs.items()])
    moved_price = abs(math.log(max(price[1], 1e-9) / max(price[0], 1e-9))) >= math.log(1 + PRICE_MOVE)
    if moved_price and "demand" in effects:
        # A price error moves the units the other way: that demand response belongs to the price.
        if (price[1] - price[0]) * (pairs["demand"][1] - pairs["demand"][0]) < 0:
            effects["price"] += effects.pop("demand")
            pairs.pop("demand")
    contributors = _contributors(effects, pairs, after - before, sku)
    if moved_price and not any(c.factor == "price" and c.share > 0 for c in contributors[:1]):
        # The price moved far but revenue barely did (units compensated): the price is still the news.
        contributors.sort(key=lambda c: c.factor != "price")
    return before, after, contributors


def _by_sku(w: _Windows) -> list[Contributor]:
    """Each SKU's share of the change in total units sold (additive)."""
    rows = []
    for sku in w.skus("units_sold"):
        pair = w.pair("units_sold", sku)
        if pair is not None:
            rows.append((sku, pair))
    change = sum(a - b for _, (b, a) in rows)
    out = [Contributor("sku", "单品销量", "SKU sales", b, a, a - b, (a - b) / change if change else 0.0, sku)
           for sku, (b, a) in rows]
    return sorted(out, key=lambda c: -c.share)[:10]


def _correlated(w: _Windows) -> list[MetricMove]:
    moves = []
    for name, numerator, denominator, zh in CORRELATES:
        how = "mean" if numerator in MEAN_METRICS else "total"
        top = w.pair(numerator, "", how)
        if top is None:
            continue
        if denominator:
            bottom = w.pair(denominator)
            if bottom is None:
                continue
            top = (_ratio(top[0], bottom[0]), _ratio(top[1], bottom[1]))
        pct = _pct(top[1], top[0])
        if not denominator and how == "total" and abs(top[1] - top[0]) < MIN_COUNT_MOVE:
            continue  # 0 → 2 negative reviews is not news
        if not math.isnan(pct) and (math.isinf(pct) or abs(pct) >= CORRELATED_MOVE * 100):
            moves.append(MetricMove(name, zh, top[0], top[1], pct))
    return sorted(moves, key=lambda m: -abs(m.change_pct) if not math.isinf(m.change_pct) else -1e12)


# --- the analysis -----------------------------------------------------------------------------

def analyze(frame: pl.DataFrame, target: Target, *,
            linked_frames: Sequence[pl.DataFrame] = ()) -> RcaResult:
    """Decompose ``target``'s move over its window against the same hours of earlier weeks.

    ``frame`` holds the store's points from at least three weeks before ``target.start``;
    ``linked_frames`` are other stores (other platforms) checked for the same SKU or metric.
    """
    start, story = target.start, None
    if target.sku:
        # A stock incident is analysed from the hour the shelf emptied (the cover alerts fire days
        # before); why it emptied (a demand surge or a missing restock) is told separately.
        empty = _first_empty_hour(frame, target.sku, start, max(target.end, start + timedelta(hours=1)))
        if empty is not None:
            start = empty
            story = _before_stock_out(frame, target.sku, empty)
    end = min(max(target.end, start + timedelta(hours=1)), start + MAX_WINDOW)
    w = _windows(frame, start, end)
    result = RcaResult(target.platform, target.store, target.sku, target.metric, start, end, len(w.weeks),
                       math.nan, math.nan)
    decomposed = None
    if target.sku:
        decomposed = _sku_chain(w, target.sku)
        result.metric = "revenue" if decomposed else target.metric
    elif target.metric in STORE_CHAIN:
        decomposed = _store_chain(w, target.metric)
        result.by_sku = _by_sku(w)
    else:
        pair = w.pair(target.metric, "", "mean" if target.metric in MEAN_METRICS else "total")
        if pair is not None:
            result.before, result.after = pair
    if decomposed is not None:
        result.before, result.after, result.contributors = decomposed
    result.correlated = _correlated(w) if story is None else [story, *_correlated(w)]
    result.linked = _linked(target, start, end, linked_frames)
    result.text_zh, result.text_en = summary_texts(result)
    return result


def _first_empty_hour(frame: pl.DataFrame, sku: str, start: datetime, end: datetime) -> datetime | None:
    empty = frame.filter((pl.col("metric") == "stock") & (pl.col("sku") == sku) & (pl.col("value") <= 0)
                         & (pl.col("ts") >= start) & (pl.col("ts") < end))
    if empty.is_empty():
        return None
    first: datetime = empty["ts"].min()  # type: ignore[assignment]
    return first


def _before_stock_out(frame: pl.DataFrame, sku: str, empty: datetime) -> MetricMove | None:
    """Units sold in the three days before the stock-out against the same days of earlier weeks."""
    w = _windows(frame, empty - timedelta(hours=72), empty)
    pair = w.pair("units_sold", sku)
    if pair is None:
        return None
    return MetricMove("units_sold_before_stock_out", "断货前72小时销量", pair[0], pair[1], _pct(pair[1], pair[0]),
                      sku=sku)


def _linked(target: Target, start: datetime, end: datetime, frames: Sequence[pl.DataFrame]) -> list[MetricMove]:
    moves = []
    for other in frames:
        if other.is_empty():
            continue
        platform, store = str(other["platform"][0]), str(other["store"][0])
        w = _windows(other, start, end)
        metric, sku = ("units_sold", target.sku) if target.sku else (target.metric, "")
        pair = w.pair(metric, sku)
        if pair is None:
            continue
        pct = _pct(pair[1], pair[0])
        if not math.isnan(pct) and (math.isinf(pct) or abs(pct) >= CORRELATED_MOVE * 100):
            zh = METRIC_NAMES.get(metric, (metric, metric))[0]
            moves.append(MetricMove(metric, zh, pair[0], pair[1], pct, platform, store, sku))
    return moves


def _fmt_pct(pct: float) -> str:
    if math.isnan(pct):
        return "±0%"
    if math.isinf(pct):
        return "+∞%"
    return f"{pct:+.0f}%".replace("-", "−")


def summary_texts(result: RcaResult) -> tuple[str, str]:
    """One line each in Chinese and English, e.g. ``GMV −42%：下单转化率 −55% 解释了 80%``."""
    zh_name, en_name = METRIC_NAMES.get(result.metric, (result.metric, result.metric))
    head_zh = f"{zh_name} {_fmt_pct(result.change_pct)}"
    head_en = f"{en_name} {_fmt_pct(result.change_pct)}"
    if result.sku:
        head_zh, head_en = f"SKU {result.sku} {head_zh}", f"SKU {result.sku} {head_en}"
    if not result.contributors:
        return head_zh + "：暂无可分解的指标", head_en + ": nothing to decompose"
    top = result.contributors[0]
    where = ""
    if not result.sku and result.by_sku and result.by_sku[0].share >= 0.5 and top.factor != "traffic":
        where = result.by_sku[0].sku
    sku_zh = f"（SKU {where}）" if where else ""
    sku_en = f" (SKU {where})" if where else ""
    if 0 < top.share <= 1.5:
        zh_share, en_share = f"解释了 {top.share * 100:.0f}%", f" explains {top.share * 100:.0f}%"
    else:  # the target barely moved, or factors cancel out: show the effect instead of a share
        zh_share, en_share = f"影响 {top.effect:+,.0f}", f" effect {top.effect:+,.0f}"
    zh = f"{head_zh}：{top.label_zh} {_fmt_pct(top.change_pct)}{sku_zh}{zh_share}"
    en = f"{head_en}: {top.label_en} {_fmt_pct(top.change_pct)}{sku_en}{en_share}"
    if result.correlated:
        first = result.correlated[0]
        zh += f"；同时 {first.label_zh} {_fmt_pct(first.change_pct)}"
        en += f"; meanwhile {first.metric} {_fmt_pct(first.change_pct)}"
    if result.linked:
        other = result.linked[0]
        zh += f"；{other.platform}/{other.store} 同步 {_fmt_pct(other.change_pct)}"
        en += f"; {other.platform}/{other.store} moved {_fmt_pct(other.change_pct)} too"
    return zh, en


def incident_target(alerts: Sequence[Any], now: datetime | None = None) -> Target:
    """The target of an incident: its root alert's metric over the span of all its alerts.

    ``alerts`` carry ``platform, store, sku, metric, category, starts_at|start, ends_at|end,
    root_rank, expected`` (AlertRow or AlertEvent). A goods incident (stock, price) is analysed
    at its SKU; a funnel incident at the most downstream store metric it touched (GMV first).
    """
    if not alerts:
        raise ValueError("an incident needs at least one alert")
    root = min(alerts, key=lambda a: getattr(a, "root_rank", 99))
    starts = [_start(a) for a in alerts]
    ends = [_end(a, now) for a in alerts]
    start = min(starts)
    end = max(e for e in ends if e is not None) if any(e is not None for e in ends) else start + timedelta(hours=6)
    sku = next((a.sku for a in alerts if a.sku), "")
    if sku and all(a.sku == sku or not a.sku for a in alerts) and root.sku:
        return Target(root.platform, root.store, root.metric, start, end, sku=sku)
    metrics = {a.metric for a in alerts}
    funnel = {"traffic", "conversion", "sales", "payment"}
    fallback = "gmv" if getattr(root, "category", "") in funnel else root.metric
    metric = next((m for m in STORE_CHAIN if m in metrics), fallback)
    return Target(root.platform, root.store, metric, start, end, expected=getattr(root, "expected", None))


def _start(alert: Any) -> datetime:
    value: datetime = getattr(alert, "starts_at", None) or alert.start
    return value


def _end(alert: Any, now: datetime | None) -> datetime | None:
    value: datetime | None = getattr(alert, "ends_at", None) if hasattr(alert, "ends_at") else alert.end
    return value if value is not None else now


__all__ = [
    "Contributor",
    "FrameLoader",
    "MetricMove",
    "RcaResult",
    "Target",
    "analyze",
    "incident_target",
    "lmdi",
    "summary_texts",
]
