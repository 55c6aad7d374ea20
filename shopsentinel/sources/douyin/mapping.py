"""Doudian records → base.py entities. Money is integer fen; times are Unix seconds.

The state tables below are the contract documented in README.md; an after-sale refund state on
any SKU order overrides the order status (a paid order being refunded is 退款中, not 待发货).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shopsentinel.core.errors import PlatformError
from shopsentinel.sources.base import Order, OrderLine, Refund, StockSnapshot
from shopsentinel.sources.kit import Keyed, iso_z

# order_status → standard state (PLATFORMS.md §3, the ints are [R]).
ORDER_STATUS: dict[int, str] = {
    1: "待付款",  # 待确认/待支付
    105: "待发货",  # 已支付
    2: "待发货",  # 备货中
    101: "在途",  # 部分发货
    3: "在途",  # 已发货
    4: "已取消",
    5: "已完成",
}
# sku_order_list[].after_sale_info.refund_status → overriding state; 0 (none) and 4 (failed) do not override.
REFUND_STATUS: dict[int, str | None] = {0: None, 1: "退款中", 2: "退款中", 3: "已退款", 4: None}
AFTERSALE_REFUND_STATE: dict[int, str] = {1: "退款中", 2: "退款中", 3: "已退款", 4: "退款失败"}


def fen(value: Any) -> float:
    """Integer fen → yuan: ``fen(12345) == 123.45``."""
    return int(value) / 100


def unix(value: Any) -> datetime | None:
    """Unix seconds → UTC; 0 / missing means "not happened yet"."""
    return datetime.fromtimestamp(int(value), UTC) if value else None


def order_state(record: dict[str, Any]) -> tuple[str, str]:
    """``(standard state, native status string)`` for one ``shop_order_list`` record."""
    status = int(record["order_status"])
    refunds = [int((s.get("after_sale_info") or {}).get("refund_status") or 0) for s in record.get("sku_order_list", [])]
    native = str(status) + "".join(f"/refund:{r}" for r in sorted(set(refunds)) if r)
    for refund in sorted(refunds, reverse=True):  # 3 (refunded) beats 1–2 (in progress)
        if refund not in REFUND_STATUS:
            raise PlatformError(f"douyin: unknown refund_status {refund} on order {record.get('order_id')}")
        if REFUND_STATUS[refund]:
            return str(REFUND_STATUS[refund]), native
    if status not in ORDER_STATUS:
        raise PlatformError(f"douyin: unknown order_status {status} on order {record.get('order_id')}")
    return ORDER_STATUS[status], native


def order(record: dict[str, Any]) -> Keyed:
    state, native = order_state(record)
    updated = unix(record["update_time"])
    entity = Order(
        order_id=str(record["order_id"]),
        created_at=unix(record["create_time"]) or datetime.fromtimestamp(0, UTC),
        status=state,
        amount=fen(record.get("pay_amount", 0)),
        paid_at=unix(record.get("pay_time")),
        updated_at=updated,
        shipped_at=unix(record.get("ship_time")),
        lines=tuple(
            OrderLine(sku=str(s.get("code") or s.get("sku_id")), quantity=int(s["item_num"]), amount=fen(s["pay_amount"]))
            for s in record.get("sku_order_list", [])
        ),
        native_status=native,
    )
    return Keyed(entity.order_id, iso_z(updated) if updated else "", updated, entity)


def refund(item: dict[str, Any]) -> Keyed:
    info = item["aftersale_info"]
    updated = unix(info["update_time"])
    entity = Refund(
        refund_id=str(info["aftersale_id"]),
        order_id=str(info["related_id"]),
        created_at=unix(info["create_time"]) or datetime.fromtimestamp(0, UTC),
        amount=fen(info.get("refund_amount", 0)),
        status=AFTERSALE_REFUND_STATE.get(int(info.get("refund_status", 0)), str(info.get("refund_status"))),
    )
    return Keyed(entity.refund_id, iso_z(updated) if updated else "", updated, entity)


def stock(sku: dict[str, Any], observed_at: datetime) -> Keyed:
    """A ``sku.list`` row; it has no change time, so the version is its quantity and price."""
    entity = StockSnapshot(
        sku=str(sku.get("code") or sku["id"]), at=observed_at, quantity=int(sku["stock_num"]), price=fen(sku["price"])
    )
    return Keyed(entity.sku, f"{entity.quantity}|{sku['price']}", None, entity)
