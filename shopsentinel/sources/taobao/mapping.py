"""TOP records → ShopSentinel entities. The state tables are plain dicts: read and edit them here.

Money arrives as yuan strings (``"12.30"``), times as GMT+8 ``yyyy-MM-dd HH:mm:ss``; both are
normalized (float yuan, UTC). Unknown native states raise a clear error instead of guessing.
"""

from __future__ import annotations

from shopsentinel.core.errors import PlatformError
from shopsentinel.sources.base import Order, OrderLine, Refund, Review, StockSnapshot
from shopsentinel.sources.kit import (
    Record,
    field_of,
    parse_china_time,
    parse_money,
    parse_optional_china_time,
)

PLATFORM = "taobao"

# Trade.status → standard order state (ORDER_STATES).
TRADE_STATUS_TO_STATE: dict[str, str] = {
    "TRADE_NO_CREATE_PAY": "待付款",  # no Alipay trade created yet
    "WAIT_BUYER_PAY": "待付款",
    "PAY_PENDING": "待付款",  # foreign-card payment being confirmed
    "WAIT_PRE_AUTH_CONFIRM": "待付款",  # 0-yuan purchase pre-authorization
    "WAIT_SELLER_SEND_GOODS": "待发货",  # paid, awaiting shipment
    "SELLER_CONSIGNED_PART": "待发货",  # part shipped; the rest still awaits shipment
    "WAIT_BUYER_CONFIRM_GOODS": "在途",  # shipped
    "TRADE_BUYER_SIGNED": "已完成",  # cash on delivery, signed by the buyer
    "TRADE_FINISHED": "已完成",
    "TRADE_CLOSED": "已退款",  # closed after payment = refunded in full
    "TRADE_CLOSED_BY_TAOBAO": "已取消",  # closed before payment
}

# Sub-order refund_status values that make an open trade count as 退款中.
REFUND_IN_PROGRESS: frozenset[str] = frozenset({"WAIT_SELLER_AGREE", "WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS"})

# Refund.status (refunds.receive.get) → Refund.status of the entity.
REFUND_STATUS_TO_STATE: dict[str, str] = {
    "WAIT_SELLER_AGREE": "退款中",
    "WAIT_BUYER_RETURN_GOODS": "退款中",
    "WAIT_SELLER_CONFIRM_GOODS": "退款中",
    "SELLER_REFUSE_BUYER": "已拒绝",
    "CLOSED": "已关闭",
    "SUCCESS": "已退款",
}

# TradeRate.result → stars. TOP only has three levels; 3 and below count as negative.
RATE_RESULT_TO_STARS: dict[str, int] = {"good": 5, "neutral": 3, "bad": 1}


def order_state(trade_status: str, refund_statuses: list[str]) -> str:
    """Standard state of a trade; a refund in progress on any sub-order overrides open states."""
    if trade_status not in TRADE_STATUS_TO_STATE:
        raise PlatformError(f"taobao: unmapped trade status {trade_status!r}; add it to TRADE_STATUS_TO_STATE")
    state = TRADE_STATUS_TO_STATE[trade_status]
    if state not in ("已退款", "已取消") and any(s in REFUND_IN_PROGRESS for s in refund_statuses):
        return "退款中"
    return state


def trade_to_orders(trade: Record) -> list[Order]:
    sub_orders: list[Record] = trade.get("orders") or []
    status = str(field_of(trade, "status", PLATFORM))
    refunds = [str(sub.get("refund_status", "NO_REFUND")) for sub in sub_orders]
    in_progress = [r for r in refunds if r in REFUND_IN_PROGRESS]
    lines = tuple(
        OrderLine(
            sku=str(sub.get("outer_sku_id") or sub.get("sku_id") or sub.get("num_iid")),
            quantity=int(sub.get("num", 0)),
            amount=parse_money(sub.get("payment")),
        )
        for sub in sub_orders
    )
    return [
        Order(
            order_id=str(field_of(trade, "tid", PLATFORM)),
            created_at=parse_china_time(field_of(trade, "created", PLATFORM)),
            status=order_state(status, refunds),
            amount=parse_money(trade.get("payment")),
            paid_at=parse_optional_china_time(trade.get("pay_time")),
            updated_at=parse_optional_china_time(trade.get("modified")),
            shipped_at=parse_optional_china_time(trade.get("consign_time")),
            lines=lines,
            native_status="+".join([status, *in_progress[:1]]),
        )
    ]


def refund_to_refunds(refund: Record) -> list[Refund]:
    native = str(field_of(refund, "status", PLATFORM))
    return [
        Refund(
            refund_id=str(field_of(refund, "refund_id", PLATFORM)),
            order_id=str(field_of(refund, "tid", PLATFORM)),
            created_at=parse_china_time(field_of(refund, "created", PLATFORM)),
            amount=parse_money(refund.get("refund_fee")),
            status=REFUND_STATUS_TO_STATE.get(native, native),
        )
    ]


def rate_to_reviews(rate: Record) -> list[Review]:
    """One review per rated sub-order: the sub-order id (``oid``) is the review's id."""
    result = str(field_of(rate, "result", PLATFORM))
    return [
        Review(
            review_id=str(field_of(rate, "oid", PLATFORM)),
            order_id=str(field_of(rate, "tid", PLATFORM)),
            created_at=parse_china_time(field_of(rate, "created", PLATFORM)),
            stars=RATE_RESULT_TO_STARS.get(result, 3),
        )
    ]


def item_to_snapshots(item: Record) -> list[StockSnapshot]:
    """SKU quantities and prices of one item (``item.seller.get`` with ``sku``); items without SKUs
    count as one SKU keyed by the item's merchant code."""
    skus: list[Record] = item.get("skus") or [item]
    return [
        StockSnapshot(
            sku=str(sku.get("outer_id") or sku.get("sku_id") or item.get("num_iid")),
            at=parse_china_time(field_of(sku, "modified", PLATFORM)),
            quantity=int(sku.get("quantity", sku.get("num")) or 0),
            price=parse_money(sku.get("price")),
        )
        for sku in skus
    ]
