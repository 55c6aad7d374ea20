"""TOP streams: which API feeds each stream, with which time filter, fields and paging.

=========  ==========================================  =============================  ===========
stream     API                                         time filter (window ≤ 1 day)   primary key
=========  ==========================================  =============================  ===========
orders     trades.sold.get (first sync)                start_created / end_created    order_id
           trades.sold.increment.get (then)            start_modified / end_modified
refunds    refunds.receive.get                         start_modified / end_modified  refund_id
reviews    traderates.get (rate_type=get, role=buyer)  start_date / end_date          review_id
stock      items.onsale.get + item.seller.get (sku)    none: full scan, changes only  sku@at
=========  ==========================================  =============================  ===========
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from shopsentinel.sources.kit import FetchWindow, RawPage, SnapshotStream, Stream, WindowedStream, raw_page
from shopsentinel.sources.taobao import mapping
from shopsentinel.sources.taobao.client import TaobaoClient, TaobaoConfig

TRADE_FIELDS = "tid,type,status,payment,total_fee,created,pay_time,consign_time,end_time,modified,orders"
REFUND_FIELDS = "refund_id,tid,oid,status,refund_fee,total_fee,created,modified"
RATE_FIELDS = "tid,oid,role,result,created,content"
ONSALE_FIELDS = "num_iid,outer_id,num,price,modified"
ITEM_FIELDS = "num_iid,outer_id,num,price,modified,sku"
MAX_RATE_PAGE_SIZE = 150


async def _page(
    client: TaobaoClient, method: str, list_key: str, params: dict[str, Any], page: int, page_size: int, use_has_next: bool
) -> RawPage:
    body = await client.call(method, {**params, "page_no": page, "page_size": page_size, "use_has_next": use_has_next})
    records = body.get(list_key) or []
    if use_has_next:
        return raw_page(records, page, page_size, has_next=bool(body.get("has_next")))
    return raw_page(records, page, page_size, total=int(body.get("total_results") or 0))


def _windowed(
    client: TaobaoClient,
    method: str,
    list_key: str,
    time_keys: tuple[str, str],
    fixed: dict[str, Any],
    page_size: int,
    use_has_next: bool = True,
) -> FetchWindow:
    async def fetch(start: datetime, end: datetime, page: int) -> RawPage:
        params = {**fixed, time_keys[0]: start, time_keys[1]: end}
        return await _page(client, method, list_key, params, page, page_size, use_has_next)

    return fetch


def build_streams(client: TaobaoClient, config: TaobaoConfig) -> Sequence[Stream]:
    size = config.page_size
    trade = {"fields": TRADE_FIELDS, "type": ",".join(config.trade_types)}

    async def stock_page(page: int) -> RawPage:
        listing = await _page(client, "taobao.items.onsale.get", "items", {"fields": ONSALE_FIELDS}, page, size, True)
        details = []
        for item in listing.records:  # SKU quantities/prices need the per-item detail call
            body = await client.call("taobao.item.seller.get", {"num_iid": item["num_iid"], "fields": ITEM_FIELDS})
            details.append(body["item"])
        return RawPage(details, listing.has_next)

    return (
        WindowedStream(
            "orders",
            # increment is sorted by modified desc: read from the last page back (TOP's advice)
            fetch=_windowed(client, "taobao.trades.sold.increment.get", "trades", ("start_modified", "end_modified"), trade, size, False),
            backfill=_windowed(client, "taobao.trades.sold.get", "trades", ("start_created", "end_created"), trade, size),
            to_entities=mapping.trade_to_orders,
            page_size=size,
            backward=True,
        ),
        WindowedStream(
            "refunds",
            fetch=_windowed(client, "taobao.refunds.receive.get", "refunds", ("start_modified", "end_modified"), {"fields": REFUND_FIELDS}, size),
            to_entities=mapping.refund_to_refunds,
            page_size=size,
        ),
        WindowedStream(
            "reviews",
            fetch=_windowed(
                client, "taobao.traderates.get", "trade_rates", ("start_date", "end_date"),
                {"fields": RATE_FIELDS, "rate_type": "get", "role": "buyer"}, min(size, MAX_RATE_PAGE_SIZE),
            ),  # fmt: skip
            to_entities=mapping.rate_to_reviews,
            page_size=min(size, MAX_RATE_PAGE_SIZE),
        ),
        SnapshotStream("stock", fetch=stock_page, to_entities=lambda item, _observed: mapping.item_to_snapshots(item)),
    )
