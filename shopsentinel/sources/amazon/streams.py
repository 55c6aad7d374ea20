"""SP-API streams.

===================  ==================  =================  ===========================================
stream               primary key         cursor field       API (paging)
===================  ==================  =================  ===========================================
orders               AmazonOrderId       LastUpdateDate     getOrders LastUpdatedAfter/Before, NextToken
inventory            sellerSku           lastUpdatedTime    getInventorySummaries startDateTime, nextToken
sales_traffic        (metric, day)       date               createReport → getReport → document (gzip)
===================  ==================  =================  ===========================================

``LastUpdatedBefore`` must be ≥ 2 minutes in the past (data lags ~2 min), so the connector ends
every orders/inventory window 2 minutes before now and re-reads an overlap window next time.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from shopsentinel.core.errors import PlatformError
from shopsentinel.sources.amazon import mapping
from shopsentinel.sources.amazon.client import AmazonClient
from shopsentinel.sources.kit import Keyed, Sleep, StreamSpec, TrafficPage, iso_z, utc

DATA_LAG = timedelta(minutes=2)
REPORT_TYPE = "GET_SALES_AND_TRAFFIC_REPORT"
REPORT_FAILED = frozenset({"CANCELLED", "FATAL"})
MAX_RESTARTS = 3


async def order_pages(
    client: AmazonClient, marketplace: str, size: int, start: datetime, end: datetime
) -> AsyncIterator[list[Keyed]]:
    params: dict[str, Any] = {"MarketplaceIds": marketplace, "LastUpdatedAfter": iso_z(start),
                              "LastUpdatedBefore": iso_z(end), "MaxResultsPerPage": size}
    while True:
        payload = (await client.request("GET", "/orders/v0/orders", params=params)).get("payload") or {}
        yield [mapping.order(o) for o in payload.get("Orders", [])]
        if not payload.get("NextToken"):
            return
        params = {"MarketplaceIds": marketplace, "NextToken": payload["NextToken"]}


async def inventory_pages(
    client: AmazonClient, marketplace: str, start: datetime, end: datetime
) -> AsyncIterator[list[Keyed]]:
    base = {"granularityType": "Marketplace", "granularityId": marketplace, "marketplaceIds": marketplace,
            "details": "true", "startDateTime": iso_z(start)}
    params: dict[str, Any] = dict(base)
    restarts = 0
    while True:
        try:
            body = await client.request("GET", "/fba/inventory/v1/summaries", params=params)
        except PlatformError as exc:
            # The nextToken dies after 30 s (a long throttle wait outlives it): start the listing
            # again; the cursor's seen-versions drop what the earlier pages already emitted.
            if "nextToken" not in params or "expired" not in str(exc).lower() or restarts >= MAX_RESTARTS:
                raise
            params, restarts = dict(base), restarts + 1
            continue
        yield [mapping.inventory(s) for s in (body.get("payload") or {}).get("inventorySummaries", [])]
        token = (body.get("pagination") or {}).get("nextToken")
        if not token:
            return
        params = {**base, "nextToken": token}  # startDateTime is resent with the token


async def traffic_pages(
    client: AmazonClient, marketplace: str, tz: ZoneInfo, sleep: Sleep, poll_seconds: float,
    start: datetime, end: datetime,
) -> AsyncIterator[list[Keyed]]:
    """Create a DAY-granularity report over ``[start, end]``, poll until DONE, parse the document."""
    # Resent if the connection drops: at worst Amazon generates one more report nobody polls (it
    # costs createReport quota, nothing else), while not resending failed the whole stream under load.
    created = await client.request("POST", "/reports/2021-06-30/reports", body={
        "reportType": REPORT_TYPE, "marketplaceIds": [marketplace],
        "dataStartTime": iso_z(start), "dataEndTime": iso_z(end),
        "reportOptions": {"dateGranularity": "DAY", "asinGranularity": "PARENT"},
    }, resend=True)
    report_id = created["reportId"]
    while True:
        report = await client.request("GET", f"/reports/2021-06-30/reports/{report_id}")
        status = report.get("processingStatus")
        if status == "DONE":
            break
        if status in REPORT_FAILED:
            raise PlatformError(f"amazon report {report_id} ended {status}", code=str(status))
        await sleep(poll_seconds)
    document = await client.request("GET", f"/reports/2021-06-30/documents/{report['reportDocumentId']}")
    raw = await client.download(document["url"])
    if document.get("compressionAlgorithm") == "GZIP":
        raw = gzip.decompress(raw)
    yield mapping.sales_and_traffic(raw, tz)


def local_midnight(tz: ZoneInfo, moment: datetime) -> datetime:
    return utc(moment.astimezone(tz).replace(hour=0, minute=0, second=0, microsecond=0))


def stream_specs(
    client: AmazonClient, *, marketplace: str, tz: ZoneInfo, sleep: Sleep, overlap: timedelta,
    traffic_overlap: timedelta, page_size: int, report_poll_seconds: float,
) -> list[StreamSpec]:
    return [
        StreamSpec("orders", "AmazonOrderId", "LastUpdateDate",
                   partial(order_pages, client, marketplace, page_size), overlap, end_lag=DATA_LAG),
        StreamSpec("inventory", "sellerSku", "lastUpdatedTime",
                   partial(inventory_pages, client, marketplace), overlap, end_lag=DATA_LAG),
        StreamSpec("sales_traffic", "metric+day", "date",
                   partial(traffic_pages, client, marketplace, tz, sleep, report_poll_seconds),
                   traffic_overlap, page_factory=lambda name: TrafficPage(stream=name),
                   align_start=partial(local_midnight, tz)),
    ]
