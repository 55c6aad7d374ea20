"""Metric definitions: every canonical base and derived metric, plus user composites.

Each metric has a stable id, zh/en names, a definition, unit, kind, level
(strategic 战略 / operational 运营 / basic 基础), the direction that is good, a category
(used by subscriptions and root-cause ranking) and, for derived metrics, a formula over other
metrics with the window it is computed over. Unknown metric names are accepted as custom
metrics: :meth:`Catalog.get` returns a ``custom`` definition instead of failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from shopsentinel.catalog.formula import Formula

Kind = Literal["count", "money", "ratio", "gauge", "duration"]
Level = Literal["strategic", "operational", "basic"]
Direction = Literal["up", "down", "neutral"]
Aggregation = Literal["sum", "last", "mean"]


@dataclass(frozen=True)
class MetricDefinition:
    id: str
    name_zh: str
    name_en: str
    definition: str
    unit: str
    kind: Kind
    level: Level
    good_direction: Direction
    category: str
    scope: Literal["store", "sku"] = "store"
    formula: str | None = None
    window_hours: int = 1
    source: str = "platform"
    version: int = 1
    author: str = "shopsentinel"
    changed_at: str = "2026-11-01T00:00:00Z"
    custom: bool = False

    @property
    def derived(self) -> bool:
        return self.formula is not None

    @property
    def aggregation(self) -> Aggregation:
        """How hourly buckets combine finer points: counts and money add up, gauges keep the last."""
        if self.kind in ("count", "money"):
            return "sum"
        if self.kind in ("gauge", "duration"):
            return "last"
        return "mean"

    @property
    def non_negative(self) -> bool:
        return not self.custom

    def inputs(self) -> list[str]:
        return Formula(self.formula).names() if self.formula else []

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _m(
    id: str, zh: str, en: str, definition: str, unit: str, kind: Kind, level: Level,
    good: Direction, category: str, **extra: object,
) -> MetricDefinition:
    return MetricDefinition(id, zh, en, definition, unit, kind, level, good, category, **extra)  # type: ignore[arg-type]


CANONICAL_METRICS: tuple[MetricDefinition, ...] = (
    # traffic 流量
    _m("uv", "访客数", "Unique visitors", "Distinct visitors in the hour (访客数 / 店铺浏览量(UV) / 观看人次)", "人", "count", "basic", "up", "traffic"),
    _m("pv", "浏览量", "Page views", "Page views in the hour", "次", "count", "basic", "up", "traffic"),
    _m("bounces", "跳失访客数", "Bounced visitors", "Visitors who left after one page", "人", "count", "basic", "down", "traffic"),
    # conversion & sales 转化与销售
    _m("orders", "下单数", "Orders", "Orders created in the hour", "单", "count", "operational", "up", "sales"),
    _m("paid_orders", "支付订单数", "Paid orders", "Orders paid in the hour", "单", "count", "operational", "up", "sales"),
    _m("gmv", "成交金额", "GMV", "Paid amount in the hour", "元", "money", "strategic", "up", "sales"),
    _m("payment_attempts", "支付尝试数", "Payment attempts", "Payment attempts in the hour", "次", "count", "basic", "up", "payment"),
    _m("payment_failures", "支付失败数", "Payment failures", "Failed payment attempts in the hour", "次", "count", "basic", "down", "payment"),
    # service & reputation 服务与口碑
    _m("refunds", "退款单数", "Refunds", "Refund requests created in the hour", "单", "count", "operational", "down", "service"),
    _m("refund_amount", "退款金额", "Refund amount", "Amount of refunds requested in the hour", "元", "money", "operational", "down", "service"),
    _m("reviews", "评价数", "Reviews", "Reviews received in the hour", "条", "count", "basic", "up", "service"),
    _m("negative_reviews", "差评数", "Negative reviews", "1–3 star reviews received in the hour", "条", "count", "basic", "down", "service"),
    _m("dsr", "店铺评分(DSR)", "Detailed seller rating", "Shop rating (lowest DSR item), 1–5", "分", "gauge", "operational", "up", "service"),
    _m("cs_response_seconds", "客服响应时长", "CS response time", "Average first response time of customer service", "秒", "duration", "operational", "down", "service"),
    _m("logistics_stale_orders", "物流停滞订单数", "Stale shipments", "Shipped orders with no tracking update for 48 h or more", "单", "count", "operational", "down", "logistics"),
    # ads 广告
    _m("ad_spend", "广告花费", "Ad spend", "Paid-traffic spend in the hour", "元", "money", "operational", "neutral", "ads"),
    _m("ad_clicks", "广告点击数", "Ad clicks", "Paid-traffic clicks in the hour", "次", "count", "basic", "up", "ads"),
    _m("ad_orders", "广告成交单数", "Ad orders", "Orders attributed to paid traffic", "单", "count", "basic", "up", "ads"),
    _m("ad_gmv", "广告成交金额", "Ad GMV", "GMV attributed to paid traffic", "元", "money", "operational", "up", "ads"),
    # goods & stock 商品与库存 (per SKU)
    _m("stock", "库存", "Stock", "Sellable units on hand for the SKU", "件", "gauge", "basic", "up", "stock", scope="sku"),
    _m("price", "售价", "Price", "Current selling price of the SKU", "元", "gauge", "basic", "neutral", "price", scope="sku"),
    _m("units_sold", "销量", "Units sold", "Units of the SKU sold in the hour", "件", "count", "basic", "up", "stock", scope="sku"),
    # derived 派生指标
    _m("conversion_rate", "下单转化率", "Order conversion rate", "Orders per visitor", "%", "ratio", "operational", "up", "conversion", formula="orders / uv"),
    _m("pay_conversion_rate", "支付转化率", "Pay conversion rate", "Paid orders per visitor", "%", "ratio", "operational", "up", "conversion", formula="paid_orders / uv"),
    _m("aov", "客单价", "Average order value", "GMV per paid order", "元", "ratio", "operational", "up", "sales", formula="gmv / paid_orders"),
    _m("order_value", "笔单价", "Average value per order", "GMV per order created (the order value where paid orders are not reported)", "元", "ratio", "operational", "up", "sales", formula="gmv / orders"),
    _m("refund_rate", "退款率", "Refund rate", "Refunds per paid order over 24 h", "%", "ratio", "operational", "down", "service", formula="refunds / paid_orders", window_hours=24),
    _m("payment_failure_rate", "支付失败率", "Payment failure rate", "Failed payment attempts per attempt", "%", "ratio", "operational", "down", "payment", formula="payment_failures / payment_attempts"),
    _m("negative_review_rate", "差评率", "Negative review rate", "Negative reviews per review over 24 h", "%", "ratio", "operational", "down", "service", formula="negative_reviews / reviews", window_hours=24),
    _m("ad_cpc", "平均点击花费", "Cost per click", "Ad spend per click", "元", "ratio", "operational", "down", "ads", formula="ad_spend / ad_clicks"),
    _m("ad_conversion_rate", "广告转化率", "Ad conversion rate", "Ad orders per ad click", "%", "ratio", "operational", "up", "ads", formula="ad_orders / ad_clicks"),
    _m("ad_roi", "广告投产比(ROI)", "Ad ROI", "Ad GMV per unit of spend", "倍", "ratio", "strategic", "up", "ads", formula="ad_gmv / ad_spend"),
    _m("bounce_rate", "跳失率", "Bounce rate", "Bounced visitors per visitor", "%", "ratio", "operational", "down", "traffic", formula="bounces / uv"),
    _m("stock_cover_days", "库存可售天数", "Days of stock cover", "Stock divided by the forecast daily units sold", "天", "gauge", "operational", "up", "stock", scope="sku", formula="stock / forecast_daily(units_sold)"),
    _m("sell_through_rate", "动销率", "Sell-through rate", "Units sold over 7 days per (units sold + stock)", "%", "ratio", "operational", "up", "stock", scope="sku", formula="units_sold / (units_sold + stock)", window_hours=168),
)


@dataclass
class Catalog:
    """The metric library with version history.

    >>> c = default_catalog()
    >>> c.get("uv").name_zh
    '访客数'
    >>> c.get("my_custom_kpi").custom
    True
    """

    _current: dict[str, MetricDefinition] = field(default_factory=dict)
    _history: dict[str, list[MetricDefinition]] = field(default_factory=dict)

    def __iter__(self) -> Iterator[MetricDefinition]:
        return iter(self._current.values())

    def __contains__(self, metric_id: object) -> bool:
        return metric_id in self._current

    def get(self, metric_id: str) -> MetricDefinition:
        found = self._current.get(metric_id)
        if found is not None:
            return found
        return MetricDefinition(
            metric_id, metric_id, metric_id, "Custom metric (not in the catalog)", "", "gauge",
            "basic", "neutral", "custom", custom=True, source="custom",
        )

    def history(self, metric_id: str) -> list[MetricDefinition]:
        return list(self._history.get(metric_id, []))

    def define(self, definition: MetricDefinition, *, author: str, at: datetime | None = None) -> MetricDefinition:
        """Add or change a definition. A change creates a new version; the old one stays readable."""
        for name in definition.inputs():
            if name not in self._current and not name.startswith("forecast_daily"):
                from shopsentinel.core.errors import CatalogError

                raise CatalogError(f"metric {definition.id!r}: formula uses unknown metric {name!r}")
        previous = self._current.get(definition.id)
        when = (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if previous is not None:
            same = replace(definition, version=previous.version, author=previous.author, changed_at=previous.changed_at)
            if same == previous:
                return previous
            definition = replace(definition, version=previous.version + 1, author=author, changed_at=when)
        else:
            definition = replace(definition, version=1, author=author, changed_at=when)
        self._current[definition.id] = definition
        self._history.setdefault(definition.id, []).append(definition)
        return definition

    def derived(self) -> list[MetricDefinition]:
        return [m for m in self if m.derived]

    def extend(self, definitions: Iterable[MetricDefinition], *, author: str) -> None:
        for d in definitions:
            self.define(d, author=author)


def default_catalog() -> Catalog:
    catalog = Catalog()
    for metric in CANONICAL_METRICS:
        catalog._current[metric.id] = metric
        catalog._history[metric.id] = [metric]
    return catalog
