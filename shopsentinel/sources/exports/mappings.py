"""Seller-console export layouts: which column of which console becomes which canonical metric.

This file is the data table to read and extend: one :class:`Console` per export, listing the
column names the console writes (several spellings allowed) and how each value is parsed.

Kinds of value:

* ``count``   — ``"1,234"`` → 1234
* ``money``   — ``"¥1,234.50"`` / ``"$1,234.50"`` / ``"1234.5"`` → 1234.5 (store currency, major units)
* ``ratio``   — ``"3.21%"`` → 0.0321 (a bare ``0.0321`` is kept as is)
* ``percent`` — ``"3.21%"`` → 3.21 (kept in percent points, like the Amazon connector's
  ``unit_session_percentage``)
* ``seconds`` — ``"35"``, ``"35秒"``, ``"00:01:05"`` → seconds

Metric names follow the catalog: base metrics where the meaning is the same (访客数 / 店铺浏览量(UV) /
观看人次 / Sessions → ``uv``); platform-computed ratios keep a ``platform_`` prefix so they never
collide with ShopSentinel's own derived metrics. 跳失率 is turned into the base metric ``bounces``
(跳失率 × 访客数), so ``bounce_rate`` stays derivable the same way on every platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["count", "money", "ratio", "percent", "seconds"]


@dataclass(frozen=True)
class Column:
    metric: str
    kind: Kind
    names: tuple[str, ...]  # header spellings, matched after trimming spaces


@dataclass(frozen=True)
class Console:
    key: str
    title: str
    platforms: tuple[str, ...]
    date_columns: tuple[str, ...]  # a date, or a date with time (hourly rows)
    hour_columns: tuple[str, ...] = ()  # an optional separate hour column (0–23, "13:00", "13时", "13:00-14:00")
    sku_columns: tuple[str, ...] = ()  # per-SKU reports
    date_formats: tuple[str, ...] = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S")
    columns: tuple[Column, ...] = field(default_factory=tuple)


def C(metric: str, kind: Kind, *names: str) -> Column:  # noqa: N802 - reads like a table row
    return Column(metric, kind, names)


BOUNCE_RATE = "bounce_rate"  # parsed, then emitted as ``bounces`` = rate × uv
CONSOLES: dict[str, Console] = {
    c.key: c
    for c in (
        Console("sycm", "生意参谋", ("tmall", "taobao"), ("统计日期", "日期"), ("小时", "时段"), ("商家编码",), columns=(
            C("uv", "count", "访客数"),
            C("pv", "count", "浏览量"),
            C("paid_buyers", "count", "支付买家数"),
            C("paid_orders", "count", "支付子订单数", "支付订单数"),
            C("gmv", "money", "支付金额"),
            C("platform_pay_conversion_rate", "ratio", "支付转化率"),
            C(BOUNCE_RATE, "ratio", "跳失率"),
            C("platform_aov", "money", "客单价"),
            C("refund_amount", "money", "成功退款金额"),
            C("avg_stay_seconds", "seconds", "平均停留时长"),
            C("cs_response_seconds", "seconds", "平均响应时长", "旺旺平均响应时长"),
            C("dsr_description", "count", "描述相符评分"),
        )),
        Console("jd_shangzhi", "京东商智", ("jd",), ("日期", "时间"), ("小时",), ("SKU",), columns=(
            C("uv", "count", "访客数", "店铺浏览量(UV)", "UV"),
            C("pv", "count", "浏览量", "店铺浏览量(PV)", "PV"),
            C("paid_orders", "count", "成交单量"),
            C("paid_buyers", "count", "成交客户数"),
            C("gmv", "money", "成交金额"),
            C("platform_pay_conversion_rate", "ratio", "成交转化率"),
            C(BOUNCE_RATE, "ratio", "跳失率"),
            C("platform_aov", "money", "客单价"),
        )),
        Console("douyin_compass", "抖店罗盘", ("douyin",), ("日期", "时间"), ("小时",), ("商品ID",), columns=(
            C("uv", "count", "观看人次"),
            C("product_exposure_users", "count", "商品曝光人数"),
            C("product_click_users", "count", "商品点击人数"),
            C("paid_orders", "count", "成交订单数"),
            C("paid_buyers", "count", "成交人数"),
            C("gmv", "money", "成交金额"),
            C("refund_amount", "money", "退款金额"),
            C("platform_pay_conversion_rate", "ratio", "成交转化率"),
        )),
        Console("pdd_qingbao", "多多情报通", ("pdd",), ("日期", "统计日期"), ("小时",), ("商品ID",), columns=(
            C("uv", "count", "访客数", "商品访客数"),
            C("pv", "count", "浏览量", "商品浏览量"),
            C("paid_orders", "count", "成交订单数", "支付订单数"),
            C("paid_buyers", "count", "成交买家数", "支付买家数"),
            C("gmv", "money", "成交金额", "支付金额"),
            C("platform_pay_conversion_rate", "ratio", "成交转化率", "支付转化率"),
            C("ad_spend", "money", "推广花费"),
        )),
        Console("amazon_business_reports", "Amazon Business Reports", ("amazon",), ("Date",), (), ("SKU",),
                date_formats=("%m/%d/%Y", "%m/%d/%y", "%Y-%m-%d"), columns=(
            C("uv", "count", "Sessions - Total", "Sessions"),
            C("pv", "count", "Page Views - Total", "Page Views"),
            C("units_ordered", "count", "Units Ordered"),
            C("gmv", "money", "Ordered Product Sales"),
            C("order_items", "count", "Total Order Items"),
            C("unit_session_percentage", "percent", "Unit Session Percentage"),
            C("buy_box_percentage", "percent", "Featured Offer (Buy Box) Percentage", "Buy Box Percentage"),
        )),
    )
}  # fmt: skip

# Columns a console writes that carry no metric (names, titles); they are ignored, not errors.
IGNORED_COLUMNS: frozenset[str] = frozenset({"店铺名称", "商品名称", "Title", "(Parent) ASIN", "(Child) ASIN", "商品标题"})


def console_for(key: str) -> Console:
    if key not in CONSOLES:
        raise KeyError(f"unknown export layout {key!r}; known: {', '.join(sorted(CONSOLES))}")
    return CONSOLES[key]
