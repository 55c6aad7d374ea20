"""PDD records → ShopSentinel entities. The state tables are plain dicts: read and edit them here.

An order's standard state comes from two numbers: ``order_status`` (shipping progress) and
``refund_status`` (after-sale), the latter overriding when a refund is under way or done.
Order money is in yuan (numbers), refund money in fen [R]; times are GMT+8 strings.
"""

from __future__ import annotations

from datetime import datetime

from shopsentinel.core.errors import PlatformError
from shopsentinel.sources.base import Order, OrderLine, Refund, StockSnapshot
from shopsentinel.sources.kit import (
    Record,
    field_of,
    parse_china_time,
    parse_money,
    parse_optional_china_time,
)

PLATFORM = "pdd"

# order_status → standard state. The order API only lists confirmed (paid/grouped) orders.
ORDER_STATUS_TO_STATE: dict[int, str] = {
    1: "待发货",  # awaiting shipment
    2: "在途",  # shipped, awaiting sign-off
    3: "已完成",  # signed
}
# refund_status → standard state overriding order_status (1 = no refund or refund closed).
REFUND_STATUS_TO_STATE: dict[int, str | None] = {
    1: None,
    2: "退款中",  # after-sale in progress
    3: "退款中",  # refunding
    4: "已退款",
}
# after_sales_status of pdd.refund.list.increment.get → Refund.status [R].
AFTER_SALES_STATUS_TO_STATE: dict[int, str] = {
    2: "退款中", 3: "退款中", 4: "退款中", 5: "退款中", 7: "退款中", 8: "退款中",
    6: "已拒绝", 9: "已关闭", 11: "已关闭", 12: "已关闭",
    10: "已退款",
}  # fmt: skip


def order_state(order_status: int, refund_status: int) -> str:
    if order_status not in ORDER_STATUS_TO_STATE or refund_status not in REFUND_STATUS_TO_STATE:
        raise PlatformError(
            f"pdd: unmapped order_status={order_status} refund_status={refund_status}; add it to the tables in mapping.py"
        )
    return REFUND_STATUS_TO_STATE[refund_status] or ORDER_STATUS_TO_STATE[order_status]


def order_to_orders(order: Record) -> list[Order]:
    status, refund = int(field_of(order, "order_status", PLATFORM)), int(order.get("refund_status") or 1)
    lines = tuple(
        OrderLine(
            sku=str(item.get("outer_id") or item.get("sku_id")),
            quantity=int(item.get("goods_count") or 0),
            amount=parse_money(parse_money(item.get("goods_price")) * int(item.get("goods_count") or 0)),
        )
        for item in order.get("item_list") or []
    )
    return [
        Order(
            order_id=str(field_of(order, "order_sn", PLATFORM)),
            created_at=parse_china_time(field_of(order, "created_time", PLATFORM)),
            status=order_state(status, refund),
            amount=parse_money(order.get("pay_amount")),
            paid_at=parse_optional_china_time(order.get("confirm_time")),
            updated_at=parse_optional_china_time(order.get("updated_at")),
            shipped_at=parse_optional_china_time(order.get("shipping_time")),
            lines=lines,
            native_status=f"order_status={status},refund_status={refund}",
        )
    ]


def refund_to_refunds(refund: Record) -> list[Refund]:
    native = int(field_of(refund, "after_sales_status", PLATFORM))
    return [
        Refund(
            refund_id=str(field_of(refund, "id", PLATFORM)),
            order_id=str(field_of(refund, "order_sn", PLATFORM)),
            created_at=parse_china_time(field_of(refund, "created_time", PLATFORM)),
            amount=parse_money(int(refund.get("refund_amount") or 0) / 100),  # fen → yuan
            status=AFTER_SALES_STATUS_TO_STATE.get(native, str(native)),
        )
    ]


def goods_to_snapshots(goods: Record, observed_at: datetime) -> list[StockSnapshot]:
    """SKU quantities of one goods record. ``pdd.goods.list.get`` carries neither prices nor a
    modification time: price stays None and ``at`` is when the scan observed it."""
    return [
        StockSnapshot(
            sku=str(sku.get("outer_id") or sku.get("sku_id")), at=observed_at, quantity=int(sku.get("sku_quantity") or 0)
        )
        for sku in goods.get("sku_list") or []
    ]
