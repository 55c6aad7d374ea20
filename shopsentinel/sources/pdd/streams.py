"""PDD streams.

=======  ============================================  ===================================  ===========
stream   API                                           time filter                          primary key
=======  ============================================  ===================================  ===========
orders   pdd.order.list.get (first sync)               start/end_confirm_at, ≤ 24 h         order_id
         pdd.order.number.list.increment.get (then)    start/end_updated_at, ≤ 24 h [R]
refunds  pdd.refund.list.increment.get [R]             start/end_updated_at, ≤ 30 min [R]   refund_id
stock    pdd.goods.list.get                            none: full scan, changes only        sku@at
=======  ============================================  ===================================  ===========

Time filters are unix seconds. Reviews are not in the confirmed merchant API set (see README).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from shopsentinel.sources.kit import (
    FetchWindow,
    RawPage,
    SnapshotStream,
    Stream,
    WindowedStream,
    raw_page,
    unix_seconds,
)
from shopsentinel.sources.pdd import mapping
from shopsentinel.sources.pdd.client import PddClient, PddConfig

REFUND_MAX_WINDOW = timedelta(minutes=30)
ALL_ORDERS = {"order_status": 5, "refund_status": 5}


def _windowed(
    client: PddClient, api_type: str, list_key: str, time_keys: tuple[str, str], fixed: dict[str, Any], size: int
) -> FetchWindow:
    async def fetch(start: datetime, end: datetime, page: int) -> RawPage:
        params = {**fixed, time_keys[0]: unix_seconds(start), time_keys[1]: unix_seconds(end), "page": page, "page_size": size}
        body = await client.call(api_type, params)
        records = body.get(list_key) or []
        if "has_next" in body:
            return raw_page(records, page, size, has_next=bool(body["has_next"]))
        return raw_page(records, page, size, total=int(body.get("total_count") or 0))

    return fetch


def build_streams(client: PddClient, config: PddConfig) -> Sequence[Stream]:
    size = config.page_size

    async def goods(page: int) -> RawPage:
        body = await client.call("pdd.goods.list.get", {"page": page, "page_size": size})
        return raw_page(body.get("goods_list") or [], page, size, total=int(body.get("total_count") or 0))

    return (
        WindowedStream(
            "orders",
            fetch=_windowed(
                client, "pdd.order.number.list.increment.get", "order_sn_list", ("start_updated_at", "end_updated_at"),
                {**ALL_ORDERS, "is_lucky_flag": 0, "use_has_next": True}, size,
            ),  # fmt: skip
            backfill=_windowed(client, "pdd.order.list.get", "order_list", ("start_confirm_at", "end_confirm_at"), ALL_ORDERS, size),
            to_entities=mapping.order_to_orders,
            page_size=size,
        ),
        WindowedStream(
            "refunds",
            fetch=_windowed(client, "pdd.refund.list.increment.get", "refund_list", ("start_updated_at", "end_updated_at"),
                            {"after_sales_status": 1, "after_sales_type": 1}, size),  # fmt: skip
            to_entities=mapping.refund_to_refunds,
            page_size=size,
            max_window=REFUND_MAX_WINDOW,
        ),
        SnapshotStream("stock", fetch=goods, to_entities=mapping.goods_to_snapshots),
    )
