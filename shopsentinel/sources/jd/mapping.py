"""JOS records → ShopSentinel entities. The state table is a plain dict: read and edit it here.

Money arrives as yuan strings, times as GMT+8 ``yyyy-MM-dd HH:mm:ss``; both are normalized.
"""

from __future__ import annotations

from shopsentinel.core.errors import PlatformError
from shopsentinel.sources.base import Order, OrderLine, StockSnapshot
from shopsentinel.sources.kit import (
    Record,
    field_of,
    parse_china_time,
    parse_money,
    parse_optional_china_time,
)

PLATFORM = "jd"

# orderState → standard order state (ORDER_STATES). pop.order.search has no unpaid state.
ORDER_STATE_TO_STATE: dict[str, str] = {
    "WAIT_SELLER_STOCK_OUT": "待发货",  # awaiting outbound
    "WAIT_SELLER_DELIVERY": "待发货",  # cross-border: awaiting delivery
    "PAUSE": "待发货",  # on hold before shipping
    "POP_ORDER_PAUSE": "待发货",  # POP business pause, before shipping
    "WAIT_GOODS_RECEIVE_CONFIRM": "在途",  # shipped
    "FINISHED_L": "已完成",
    "LOCKED": "退款中",  # locked by a cancel / after-sale request
    "TRADE_CANCELED": "已取消",  # becomes 已退款 when the order had been paid (CANCELED_AFTER_PAYMENT)
}
CANCELED_AFTER_PAYMENT = "已退款"


def order_state(native: str, paid: bool) -> str:
    if native not in ORDER_STATE_TO_STATE:
        raise PlatformError(f"jd: unmapped orderState {native!r}; add it to ORDER_STATE_TO_STATE")
    state = ORDER_STATE_TO_STATE[native]
    return CANCELED_AFTER_PAYMENT if native == "TRADE_CANCELED" and paid else state


def order_info_to_orders(info: Record) -> list[Order]:
    native = str(field_of(info, "orderState", PLATFORM))
    paid_at = parse_optional_china_time(info.get("paymentConfirmTime"))
    lines = tuple(
        OrderLine(
            sku=str(item.get("outerSkuId") or item.get("skuId")),
            quantity=int(item.get("itemTotal") or 0),
            amount=parse_money(parse_money(item.get("jdPrice")) * int(item.get("itemTotal") or 0)),
        )
        for item in info.get("itemInfoList") or []
    )
    return [
        Order(
            order_id=str(field_of(info, "orderId", PLATFORM)),
            created_at=parse_china_time(field_of(info, "orderStartTime", PLATFORM)),
            status=order_state(native, paid_at is not None),
            amount=parse_money(info.get("orderPayment")),
            paid_at=paid_at,
            updated_at=parse_optional_china_time(info.get("modified")),
            lines=lines,
            native_status=native,
        )
    ]


def sku_to_snapshots(sku: Record) -> list[StockSnapshot]:
    return [
        StockSnapshot(
            sku=str(sku.get("outerId") or field_of(sku, "skuId", PLATFORM)),
            at=parse_china_time(field_of(sku, "modified", PLATFORM)),
            quantity=int(sku.get("stockNum") or 0),
            price=parse_money(sku.get("jdPrice")),
        )
    ]
