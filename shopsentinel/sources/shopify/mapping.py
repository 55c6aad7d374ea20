"""Shopify GraphQL nodes → base.py entities and traffic points.

Money is ``MoneyV2{amount: decimal string, currencyCode}``; times are ISO-8601 (UTC ``Z``;
ShopifyQL rows carry the shop's offset). State precedence, documented in README.md:
``cancelledAt`` → 已取消; else the financial status table; ``None`` there means "paid — ask the
fulfillment status table".
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shopsentinel.core.errors import PlatformError
from shopsentinel.sources.base import Order, OrderLine, StockSnapshot
from shopsentinel.sources.kit import Keyed, TrafficPoint, iso_z, parse_iso

FINANCIAL_STATUS: dict[str, str | None] = {
    "PENDING": "待付款",
    "PARTIALLY_PAID": "待付款",
    "AUTHORIZED": None,  # payment secured (captured at fulfillment): treat as paid
    "PAID": None,
    "PARTIALLY_REFUNDED": "退款中",
    "REFUNDED": "已退款",
    "VOIDED": "已取消",
    "EXPIRED": "已取消",
}
FULFILLMENT_STATUS: dict[str, str] = {
    "UNFULFILLED": "待发货",
    "OPEN": "待发货",
    "PENDING_FULFILLMENT": "待发货",
    "IN_PROGRESS": "待发货",
    "ON_HOLD": "待发货",
    "SCHEDULED": "待发货",
    "REQUEST_DECLINED": "待发货",
    "PARTIALLY_FULFILLED": "在途",
    "FULFILLED": "已完成",  # shipped; Shopify has no order-level "delivered"
    "RESTOCKED": "已取消",
}
PAID_STATES = frozenset({"待发货", "在途", "已完成", "退款中", "已退款"})

# ShopifyQL ``FROM sessions`` column → canonical metric (uv/pv base; the rest custom).
TRAFFIC_METRICS: dict[str, str] = {
    "online_store_visitors": "uv",
    "pageviews": "pv",
    "sessions": "sessions",
    "conversion_rate": "platform_conversion_rate",
}


def money(value: dict[str, Any] | None) -> float:
    """``{"shopMoney": {"amount": "12.30", ...}}`` or a bare MoneyV2 → ``12.3``."""
    if not value:
        return 0.0
    inner = value.get("shopMoney", value)
    return float(inner.get("amount", 0))


def legacy_id(gid: str) -> str:
    """``gid://shopify/Order/450789469`` → ``450789469``."""
    return gid.rsplit("/", 1)[-1]


def order_state(node: dict[str, Any]) -> tuple[str, str]:
    financial, fulfillment = str(node.get("displayFinancialStatus")), str(node.get("displayFulfillmentStatus"))
    native = f"{financial}/{fulfillment}" + ("/CANCELLED" if node.get("cancelledAt") else "")
    if financial not in FINANCIAL_STATUS or fulfillment not in FULFILLMENT_STATUS:
        raise PlatformError(f"shopify: unknown order status {native} on {node.get('id')}")
    if node.get("cancelledAt"):
        return "已取消", native
    return FINANCIAL_STATUS[financial] or FULFILLMENT_STATUS[fulfillment], native


def _time(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None


def order(node: dict[str, Any]) -> Keyed:
    state, native = order_state(node)
    updated = parse_iso(node["updatedAt"])
    fulfillments = sorted(f["createdAt"] for f in node.get("fulfillments") or [])
    entity = Order(
        order_id=legacy_id(node["id"]),
        created_at=parse_iso(node["createdAt"]),
        status=state,
        amount=money(node.get("totalPriceSet")),
        paid_at=_time(node.get("processedAt")) if state in PAID_STATES else None,
        updated_at=updated,
        shipped_at=_time(fulfillments[0]) if fulfillments else None,
        lines=tuple(
            OrderLine(sku=str(li.get("sku") or ""), quantity=int(li["quantity"]), amount=money(li.get("originalTotalSet")))
            for li in (node.get("lineItems") or {}).get("nodes", [])
        ),
        native_status=native,
    )
    return Keyed(entity.order_id, iso_z(updated), updated, entity)


def inventory_item(node: dict[str, Any]) -> Keyed:
    """Available units summed over locations; the change time is the latest of item and levels."""
    levels = (node.get("inventoryLevels") or {}).get("nodes", [])
    quantity = sum(q["quantity"] for level in levels for q in level.get("quantities", []) if q["name"] == "available")
    updated = max([parse_iso(node["updatedAt"]), *(parse_iso(level["updatedAt"]) for level in levels)])
    price = (node.get("variant") or {}).get("price")
    entity = StockSnapshot(sku=str(node.get("sku") or legacy_id(node["id"])), at=updated, quantity=int(quantity),
                           price=float(price) if price is not None else None)
    return Keyed(entity.sku, f"{iso_z(updated)}|{quantity}|{price}", updated, entity)


def shopifyql_rows(table: dict[str, Any]) -> list[dict[str, Any]]:
    """``tableData.rows`` as dicts, whether the API sent objects or positional arrays."""
    names = [c["name"] for c in table.get("columns", [])]
    return [row if isinstance(row, dict) else dict(zip(names, row, strict=False)) for row in table.get("rows", [])]


def sessions(result: dict[str, Any]) -> list[Keyed]:
    if result.get("parseErrors"):
        raise PlatformError(f"shopify ShopifyQL parse errors: {result['parseErrors']}", code="SHOPIFYQL_PARSE_ERROR")
    records: list[Keyed] = []
    for row in shopifyql_rows(result.get("tableData") or {}):
        hour = parse_iso(str(row["hour"]))
        for column, metric in TRAFFIC_METRICS.items():
            if row.get(column) is not None:
                point = TrafficPoint(metric, float(row[column]), hour)
                records.append(Keyed(f"{metric}@{iso_z(hour)}", f"{iso_z(hour)}|{point.value}", hour, point))
    return records
