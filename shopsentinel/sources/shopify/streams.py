"""Shopify streams (GraphQL Admin API).

==========  ===============  ============  ====================================================
stream      primary key      cursor field  API (paging)
==========  ===============  ============  ====================================================
orders      order legacy id  updatedAt     orders(query:"updated_at:>=…", sortKey: UPDATED_AT)
inventory   sku              updatedAt     inventoryItems(query:"updated_at:>=…") + levels
sessions    (metric, hour)   hour          shopifyqlQuery FROM sessions … TIMESERIES hour
==========  ===============  ============  ====================================================

Connections are paged with ``first`` (≤ 250) / ``after`` and ``pageInfo{hasNextPage,endCursor}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from shopsentinel.sources.kit import Keyed, StreamSpec, TrafficPage, iso_z
from shopsentinel.sources.shopify import mapping
from shopsentinel.sources.shopify.client import ShopifyClient

ORDERS_QUERY = """
query Orders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name createdAt updatedAt processedAt cancelledAt
      displayFinancialStatus displayFulfillmentStatus
      totalPriceSet { shopMoney { amount currencyCode } }
      fulfillments(first: 5) { createdAt }
      lineItems(first: 50) { nodes { sku quantity originalTotalSet { shopMoney { amount currencyCode } } } }
    }
  }
}"""

INVENTORY_QUERY = """
query Inventory($first: Int!, $after: String, $query: String) {
  inventoryItems(first: $first, after: $after, query: $query) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id sku updatedAt
      variant { price }
      inventoryLevels(first: 10) {
        nodes { updatedAt location { id } quantities(names: ["available"]) { name quantity } }
      }
    }
  }
}"""

SESSIONS_QUERY = """
query Sessions($query: String!) {
  shopifyqlQuery(query: $query) { tableData { columns { name dataType displayName } rows } parseErrors }
}"""


def updated_between(start: datetime, end: datetime) -> str:
    return f"updated_at:>='{iso_z(start)}' AND updated_at:<='{iso_z(end)}'"


async def connection_pages(
    client: ShopifyClient, operation: str, query: str, root: str, to_record: Callable[[dict[str, Any]], Keyed],
    size: int, start: datetime, end: datetime,
) -> AsyncIterator[list[Keyed]]:
    variables: dict[str, Any] = {"first": size, "after": None, "query": updated_between(start, end)}
    while True:
        connection = (await client.query(operation, query, variables))[root]
        yield [to_record(node) for node in connection.get("nodes", [])]
        info = connection.get("pageInfo") or {}
        if not info.get("hasNextPage"):
            return
        variables = {**variables, "after": info["endCursor"]}


async def session_pages(
    client: ShopifyClient, tz: ZoneInfo, start: datetime, end: datetime
) -> AsyncIterator[list[Keyed]]:
    """ShopifyQL takes shop-local dates; rows outside the window are dropped by the cursor."""
    since, until = start.astimezone(tz).date().isoformat(), end.astimezone(tz).date().isoformat()
    shopifyql = (f"FROM sessions SHOW sessions, online_store_visitors, pageviews, conversion_rate "
                 f"SINCE {since} UNTIL {until} TIMESERIES hour")
    data = await client.query("Sessions", SESSIONS_QUERY, {"query": shopifyql})
    yield mapping.sessions(data["shopifyqlQuery"])


def hour_floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def stream_specs(
    client: ShopifyClient, *, tz: ZoneInfo, overlap: timedelta, traffic_overlap: timedelta, page_size: int
) -> list[StreamSpec]:
    orders = partial(connection_pages, client, "Orders", ORDERS_QUERY, "orders", mapping.order, page_size)
    inventory = partial(connection_pages, client, "Inventory", INVENTORY_QUERY, "inventoryItems",
                        mapping.inventory_item, page_size)
    return [
        StreamSpec("orders", "id", "updatedAt", orders, overlap),
        StreamSpec("inventory", "sku", "updatedAt", inventory, overlap),
        StreamSpec("sessions", "metric+hour", "hour", partial(session_pages, client, tz), traffic_overlap,
                   page_factory=lambda name: TrafficPage(stream=name), align_start=hour_floor),
    ]
