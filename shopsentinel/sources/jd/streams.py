"""JOS streams.

=======  ============================================  ===============================  ===========
stream   API                                           time filter (window ≤ 1 day)     primary key
=======  ============================================  ===============================  ===========
orders   jingdong.pop.order.search (date_type=0)       start_date / end_date, modified  order_id
stock    jingdong.sku.read.searchSkuList [R]            none: full scan, changes only    sku@at
=======  ============================================  ===============================  ===========

Refunds (``jingdong.asc.*``) and reviews (``PopCommentJsfService``) are not implemented: their
names are unconfirmed and their shapes undocumented in PLATFORMS.md (see README).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from shopsentinel.sources.jd import mapping
from shopsentinel.sources.jd.client import JdClient, JdConfig, check_api_result
from shopsentinel.sources.kit import RawPage, SnapshotStream, Stream, WindowedStream, raw_page

ORDER_METHOD = "jingdong.pop.order.search"
SKU_METHOD = "jingdong.sku.read.searchSkuList"
OPTIONAL_FIELDS = "orderId,orderState,orderPayment,orderTotalPrice,orderStartTime,paymentConfirmTime,modified,itemInfoList"
ALL_ORDER_STATES = "WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM,WAIT_SELLER_DELIVERY,PAUSE,FINISHED_L,TRADE_CANCELED,LOCKED,POP_ORDER_PAUSE"
SKU_FIELDS = "skuId,wareId,outerId,jdPrice,stockNum,modified"


def build_streams(client: JdClient, config: JdConfig) -> Sequence[Stream]:
    size = config.page_size

    async def orders(start: datetime, end: datetime, page: int) -> RawPage:
        params = {
            "start_date": start, "end_date": end, "date_type": 0, "order_state": ALL_ORDER_STATES,
            "optional_fields": OPTIONAL_FIELDS, "page": page, "page_size": size,
        }  # fmt: skip
        body = await client.call(ORDER_METHOD, params)
        result = body.get("searchorderinfo_result") or {}
        check_api_result(ORDER_METHOD, result)
        return raw_page(result.get("orderInfoList") or [], page, size, total=int(result.get("orderTotal") or 0))

    async def skus(page: int) -> RawPage:
        body = await client.call(SKU_METHOD, {"page": page, "page_size": size, "field": SKU_FIELDS})
        listing = body.get("page") or {}
        return raw_page(listing.get("data") or [], page, size, total=int(listing.get("totalItem") or 0))

    return (
        WindowedStream("orders", fetch=orders, to_entities=mapping.order_info_to_orders, page_size=size),
        SnapshotStream("stock", fetch=skus, to_entities=lambda sku, _observed: mapping.sku_to_snapshots(sku)),
    )
