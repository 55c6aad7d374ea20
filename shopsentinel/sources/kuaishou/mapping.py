"""Kuaishou records → base.py entities. Money is integer fen (分); times are Unix milliseconds.

Order ``status`` codes and the ``refundStatus`` override are [R] (see README.md): a paid order with
a refund in progress is 退款中, a refunded one 已退款, whatever its fulfilment status says.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shopsentinel.core.errors import PlatformError
from shopsentinel.sources.base import Order, OrderLine, Refund
from shopsentinel.sources.kit import Keyed, iso_z

# orderBaseInfo.status → standard state [R].
ORDER_STATUS: dict[int, str] = {
    10: "待付款",  # 待付款
    30: "待发货",  # 已付款, 待发货
    40: "在途",  # 已发货
    50: "已完成",  # 已收货
    70: "已完成",  # 交易成功
    80: "已取消",  # 交易关闭
}
# orderBaseInfo.refundStatus → overriding state [R]; 0 = no refund.
REFUND_STATUS: dict[int, str | None] = {0: None, 1: "退款中", 2: "已退款"}
# refund record status → Refund.status [R].
REFUND_RECORD_STATUS: dict[int, str] = {1: "退款中", 2: "已退款"}


def fen(value: Any) -> float:
    """Integer fen → yuan: ``fen(12345) == 123.45``."""
    return int(value) / 100


def millis(value: Any) -> datetime | None:
    """Unix milliseconds → UTC; 0 / missing means "not happened yet"."""
    return datetime.fromtimestamp(int(value) / 1000, UTC) if value else None


def _required(record: dict[str, Any], name: str, where: str) -> Any:
    if record.get(name) in (None, ""):
        raise PlatformError(f"kuaishou: {where} lacks {name!r}")
    return record[name]


def order_state(base: dict[str, Any]) -> tuple[str, str]:
    """``(standard state, native "status/refundStatus")`` of one ``orderBaseInfo``."""
    status, refund = int(_required(base, "status", "orderBaseInfo")), int(base.get("refundStatus") or 0)
    if status not in ORDER_STATUS:
        raise PlatformError(f"kuaishou: unknown order status {status} on order {base.get('oid')}")
    if refund not in REFUND_STATUS:
        raise PlatformError(f"kuaishou: unknown refundStatus {refund} on order {base.get('oid')}")
    return REFUND_STATUS[refund] or ORDER_STATUS[status], f"{status}/{refund}"


def order(record: dict[str, Any]) -> Keyed:
    base = _required(record, "orderBaseInfo", "order")
    oid = str(_required(base, "oid", "orderBaseInfo"))
    state, native = order_state(base)
    updated = millis(base.get("updateTime")) or millis(_required(base, "createTime", "orderBaseInfo"))
    created = millis(base["createTime"])
    if created is None or updated is None:  # pragma: no cover - _required guarantees createTime
        raise PlatformError(f"kuaishou: order {oid} has no createTime")
    lines = tuple(OrderLine(str(item["skuNick"]), int(item["num"]), fen(item["itemFee"]))
                  for item in record.get("orderItemList") or [])
    entity = Order(order_id=oid, created_at=created, status=state, amount=fen(base.get("totalFee") or 0),
                   paid_at=millis(base.get("payTime")), updated_at=updated, shipped_at=millis(base.get("sendTime")),
                   lines=lines, native_status=native)
    return Keyed(oid, iso_z(updated), updated, entity)


def refund(record: dict[str, Any]) -> Keyed:
    refund_id = str(_required(record, "refundId", "refund"))
    created = millis(_required(record, "createTime", "refund"))
    updated = millis(record.get("updateTime")) or created
    if created is None or updated is None:  # pragma: no cover
        raise PlatformError(f"kuaishou: refund {refund_id} has no createTime")
    status = int(record.get("status") or 0)
    entity = Refund(refund_id, str(_required(record, "oid", "refund")), created, fen(record.get("refundFee") or 0),
                    REFUND_RECORD_STATUS.get(status, str(status)))
    return Keyed(refund_id, iso_z(updated), updated, entity)
