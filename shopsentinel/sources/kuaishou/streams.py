"""Kuaishou streams: orders and refunds by update time, paged with ``pcursor`` [R].

=========  ============  ============  =====================================================
stream     primary key   cursor field  API (paging)
=========  ============  ============  =====================================================
orders     oid           updateTime    open.seller.order.pcursor.list (pcursor, "nomore" ends)
refunds    refundId      updateTime    open.seller.order.refund.pcursor.list (same)
=========  ============  ============  =====================================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from shopsentinel.sources.kit import Keyed, StreamSpec
from shopsentinel.sources.kuaishou import mapping
from shopsentinel.sources.kuaishou.client import KuaishouClient

END_OF_PAGES = "nomore"
QUERY_BY_UPDATE_TIME = 2  # queryType [R]


async def pcursor_pages(
    client: KuaishouClient, method: str, params: dict[str, Any], *, items_key: str,
    to_record: Callable[[dict[str, Any]], Keyed], size: int,
) -> AsyncIterator[list[Keyed]]:
    """Follow ``pcursor`` from "" until the API answers ``nomore`` (or repeats itself)."""
    cursor = ""
    while True:
        data = await client.call(method, {**params, "pcursor": cursor, "pageSize": size})
        items = data.get(items_key) or []
        yield [to_record(item) for item in items]
        following = str(data.get("pcursor") or "")
        if not items or following in ("", END_OF_PAGES, cursor):
            return
        cursor = following


def _window(start: datetime, end: datetime) -> dict[str, Any]:
    return {"beginTime": int(start.timestamp() * 1000), "endTime": int(end.timestamp() * 1000),
            "queryType": QUERY_BY_UPDATE_TIME}


def order_pages(client: KuaishouClient, size: int, start: datetime, end: datetime) -> AsyncIterator[list[Keyed]]:
    return pcursor_pages(client, "open.seller.order.pcursor.list", {**_window(start, end), "type": 1, "sort": 1},
                         items_key="orderList", to_record=mapping.order, size=size)


def refund_pages(client: KuaishouClient, size: int, start: datetime, end: datetime) -> AsyncIterator[list[Keyed]]:
    return pcursor_pages(client, "open.seller.order.refund.pcursor.list", {**_window(start, end), "type": 9},
                         items_key="refundOrderInfoList", to_record=mapping.refund, size=size)


def stream_specs(client: KuaishouClient, *, overlap: timedelta, page_size: int) -> list[StreamSpec]:
    return [
        StreamSpec("orders", "oid", "updateTime", partial(order_pages, client, page_size), overlap),
        StreamSpec("refunds", "refundId", "updateTime", partial(refund_pages, client, page_size), overlap),
    ]
