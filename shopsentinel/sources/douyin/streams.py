"""Doudian streams: orders and after-sales by ``update_time``, SKU stock by full scan.

=========  ==============  ===============  ==============================================
stream     primary key     cursor field     API (paging)
=========  ==============  ===============  ==============================================
orders     order_id        update_time      order.searchList (page 0, then last → 0; size ≤ 100)
refunds    aftersale_id    update_time      afterSale.List (page from 0, has_more)
stock      sku code        (quantity,price) product.listV2 (page from 1) → sku.list
=========  ==============  ===============  ==============================================
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from shopsentinel.core.clock import Clock
from shopsentinel.sources.douyin import mapping
from shopsentinel.sources.douyin.client import DouyinClient
from shopsentinel.sources.kit import Keyed, StreamSpec

Mapper = Callable[[dict[str, Any]], Keyed]


async def paged(
    client: DouyinClient,
    method: str,
    params: dict[str, Any],
    *,
    items_key: str,
    to_record: Mapper,
    first_page: int = 0,
    size: int = 100,
) -> AsyncIterator[list[Keyed]]:
    """Walk ``page`` from ``first_page`` until ``has_more`` is false or ``total`` is reached."""
    page = first_page
    while True:
        data = await client.call(method, {**params, "page": page, "size": size})
        items = data.get(items_key) or []
        yield [to_record(item) for item in items]
        read = (page - first_page + 1) * size
        more = data.get("has_more") if "has_more" in data else read < int(data.get("total", 0))
        if not items or not more:
            return
        page += 1


async def paged_backward(
    client: DouyinClient, method: str, params: dict[str, Any], *, items_key: str, to_record: Mapper, size: int
) -> AsyncIterator[list[Keyed]]:
    """Page 0 (for ``total``), then the last page down to page 0 again.

    Records updated while we page leave the window (their new ``update_time`` is past its end) and
    shift later records one place forward. Walking forward that would skip a record at each page
    boundary; walking backward it only repeats one, which the cursor's seen-versions drop.
    """
    data = await client.call(method, {**params, "page": 0, "size": size})
    yield [to_record(item) for item in data.get(items_key) or []]
    last = (int(data.get("total", 0)) - 1) // size
    for page in range(last, -1, -1) if last > 0 else ():
        data = await client.call(method, {**params, "page": page, "size": size})
        yield [to_record(item) for item in data.get(items_key) or []]


def order_pages(client: DouyinClient, size: int, start: datetime, end: datetime) -> AsyncIterator[list[Keyed]]:
    window = {"update_time_start": int(start.timestamp()), "update_time_end": int(end.timestamp()),
              "order_by": "update_time", "order_asc": True}
    return paged_backward(client, "order.searchList", window, items_key="shop_order_list", to_record=mapping.order,
                          size=size)


def refund_pages(client: DouyinClient, size: int, start: datetime, end: datetime) -> AsyncIterator[list[Keyed]]:
    window = {"update_start_time": int(start.timestamp()), "update_end_time": int(end.timestamp()),
              "order_by": ["update_time asc"]}
    return paged(client, "afterSale.List", window, items_key="items", to_record=mapping.refund, size=size)


async def stock_pages(
    client: DouyinClient, clock: Clock, size: int, start: datetime, end: datetime
) -> AsyncIterator[list[Keyed]]:
    """One page per product page: every SKU of those products with its current stock."""
    async for products in paged(client, "product.listV2", {}, items_key="data", to_record=_product,
                                first_page=1, size=size):
        records: list[Keyed] = []
        for product in products:
            data = await client.call("sku.list", {"product_id": product.key})
            now = clock.now()
            records.extend(mapping.stock(sku, now) for sku in data.get("data") or [])
        yield records


def _product(item: dict[str, Any]) -> Keyed:
    return Keyed(str(item["product_id"]), "", None, None)


def stream_specs(client: DouyinClient, clock: Clock, *, overlap: timedelta, page_size: int) -> list[StreamSpec]:
    return [
        StreamSpec("orders", "order_id", "update_time", partial(order_pages, client, page_size), overlap),
        StreamSpec("refunds", "aftersale_id", "update_time", partial(refund_pages, client, page_size), overlap),
        StreamSpec("stock", "sku", "quantity+price", partial(stock_pages, client, clock, page_size), overlap),
    ]
