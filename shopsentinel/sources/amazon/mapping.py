"""SP-API records → base.py entities and traffic points.

Money is ``{CurrencyCode, Amount}`` with ``Amount`` a decimal string; times are ISO-8601 UTC.
The Orders API has no refund states (refunds live in the Finances API) and no delivery state:
``Shipped`` is Amazon's terminal state, so it maps to 已完成 (see README.md).
"""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shopsentinel.core.errors import PlatformError
from shopsentinel.sources.base import Order, StockSnapshot
from shopsentinel.sources.kit import Keyed, TrafficPoint, iso_z, parse_iso, utc

ORDER_STATUS: dict[str, str] = {
    "Pending": "待付款",  # placed, payment not yet authorised
    "PendingAvailability": "待付款",  # pre-order, not yet charged
    "Unshipped": "待发货",
    "InvoiceUnconfirmed": "待发货",  # shipped-by-seller awaiting invoice confirmation (before shipping)
    "PartiallyShipped": "在途",
    "Shipped": "已完成",
    "Canceled": "已取消",
    "Unfulfillable": "已取消",
}
UNPAID = frozenset({"待付款", "已取消"})

# sales-and-traffic report field → canonical metric (uv/pv base metrics; the rest are custom).
TRAFFIC_METRICS: dict[str, str] = {
    "sessions": "uv",
    "pageViews": "pv",
    "unitSessionPercentage": "unit_session_percentage",
}


def money(value: dict[str, Any] | None) -> float:
    """``{"CurrencyCode": "USD", "Amount": "12.30"}`` → ``12.3``; missing (Pending orders) → 0."""
    if not value:
        return 0.0
    return float(value.get("Amount", value.get("amount", 0)))


def order(record: dict[str, Any]) -> Keyed:
    native = str(record["OrderStatus"])
    if native not in ORDER_STATUS:
        raise PlatformError(f"amazon: unknown OrderStatus {native!r} on order {record.get('AmazonOrderId')}")
    state = ORDER_STATUS[native]
    created, updated = parse_iso(record["PurchaseDate"]), parse_iso(record["LastUpdateDate"])
    entity = Order(
        order_id=str(record["AmazonOrderId"]),
        created_at=created,
        status=state,
        amount=money(record.get("OrderTotal")),
        paid_at=None if state in UNPAID else created,  # Amazon charges at purchase; no separate pay time
        updated_at=updated,
        native_status=native,
    )
    return Keyed(entity.order_id, iso_z(updated), updated, entity)


def inventory(summary: dict[str, Any]) -> Keyed:
    """Sellable (fulfillable) units; FBA has no price, so ``price`` stays ``None``."""
    details = summary.get("inventoryDetails") or {}
    updated = parse_iso(summary["lastUpdatedTime"])
    quantity = int(details.get("fulfillableQuantity", summary.get("totalQuantity", 0)))
    entity = StockSnapshot(sku=str(summary["sellerSku"]), at=updated, quantity=quantity)
    return Keyed(entity.sku, f"{iso_z(updated)}|{quantity}", updated, entity)


def _page_views(traffic: dict[str, Any]) -> float | None:
    if "pageViews" in traffic:
        return float(traffic["pageViews"])
    parts = [traffic.get(k) for k in ("browserPageViews", "browerPageViews", "mobileAppPageViews")]
    present = [float(p) for p in parts if p is not None]  # the official example misspells browser
    return sum(present) if present else None


def sales_and_traffic(document: bytes | str, tz: ZoneInfo) -> list[Keyed]:
    """``GET_SALES_AND_TRAFFIC_REPORT`` (DAY granularity) → daily uv / pv / unit session points.

    Each row's ``date`` is a marketplace-local day; its points start at that day's local midnight.
    """
    report = json.loads(document)
    records: list[Keyed] = []
    for row in report.get("salesAndTrafficByDate", []):
        day = utc(datetime.combine(datetime.strptime(row["date"], "%Y-%m-%d").date(), time(), tz))
        hours = int((utc(day.astimezone(tz) + timedelta(days=1)) - day).total_seconds() // 3600)
        traffic = dict(row.get("trafficByDate") or {})
        views = _page_views(traffic)
        if views is not None:
            traffic["pageViews"] = views
        for field_name, metric in TRAFFIC_METRICS.items():
            if traffic.get(field_name) is None:
                continue
            point = TrafficPoint(metric, float(traffic[field_name]), day, hours)
            records.append(Keyed(f"{metric}@{iso_z(day)}", f"{iso_z(day)}|{point.value}", day, point))
    return records
