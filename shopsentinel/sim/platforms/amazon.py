"""A fake Selling Partner API (and its Login-with-Amazon token endpoint) serving a :class:`Dataset`.

Behaves like SP-API where connectors can trip: LWA refresh-token exchange with ``invalid_client``
errors; ``x-amz-access-token`` checked for expiry (403); a token bucket per operation on the
injected clock (429 ``QuotaExceeded`` + ``x-amzn-RateLimit-Limit``); ``LastUpdatedBefore`` must be
two minutes old and changes become visible only after ``visibility_lag``; NextToken paging (FBA
tokens die after 30 s); reports created → IN_QUEUE → IN_PROGRESS → DONE → gzip JSON document.
"""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shopsentinel.core.clock import Clock
from shopsentinel.sim.platforms.dataset import Dataset, visible
from shopsentinel.sim.platforms.dataset_intl import HourlyTraffic, TokenBucket, TokenStore
from shopsentinel.sim.platforms.generic_faults import install_dropper
from shopsentinel.sources.base import Order

Json = dict[str, Any]
# (rate per second, burst) per operation — PLATFORMS.md §6.
DEFAULT_LIMITS: dict[str, tuple[float, float]] = {
    "getOrders": (0.0167, 20), "getInventorySummaries": (2.0, 2), "createReport": (0.0167, 15),
    "getReport": (2.0, 15), "getReportDocument": (0.0167, 15),
}
STATES = ("待付款", "待发货", "在途", "已完成", "已取消")  # what the Orders API can express
_NATIVE = {"待付款": ("Pending", "PendingAvailability"), "待发货": ("Unshipped", "InvoiceUnconfirmed"),
           "在途": ("PartiallyShipped", "PartiallyShipped"), "已完成": ("Shipped", "Shipped"),
           "已取消": ("Canceled", "Unfulfillable")}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: str = "", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}
        self.body = {"errors": [{"code": code, "message": message, "details": details}]}


@dataclass
class AmazonSim:
    dataset: Dataset
    traffic: list[HourlyTraffic]
    clock: Clock
    client_id: str
    client_secret: str
    refresh_token: str
    marketplace: str
    tz: ZoneInfo
    tokens: TokenStore
    buckets: dict[str, TokenBucket]
    visibility_lag: timedelta
    report_seconds: float
    page_size_inventory: int = 20
    calls: list[str] = field(default_factory=list)
    reports: dict[str, Json] = field(default_factory=dict)
    faults: list[ApiError] = field(default_factory=list)

    def fail_next(self, status: int, code: str, message: str) -> None:
        self.faults.append(ApiError(status, code, message))


def native_status(order: Order) -> str:
    return _NATIVE[order.status][sum(map(ord, order.order_id)) % 2]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(text: str | None, name: str) -> datetime:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError as exc:
        raise ApiError(400, "InvalidInput", f"Invalid {name}", str(text)) from exc


def _token(data: Json) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()


def _untoken(token: str) -> Json:
    try:
        return dict(json.loads(base64.urlsafe_b64decode(token.encode())))
    except ValueError as exc:
        raise ApiError(400, "InvalidInput", "Invalid NextToken", token) from exc


def render_order(order: Order, marketplace: str) -> Json:
    record: Json = {"AmazonOrderId": order.order_id, "PurchaseDate": _iso(order.created_at),
                    "LastUpdateDate": _iso(order.updated_at or order.created_at), "OrderStatus": native_status(order),
                    "FulfillmentChannel": "AFN", "MarketplaceId": marketplace,
                    "NumberOfItemsShipped": 0, "NumberOfItemsUnshipped": sum(li.quantity for li in order.lines)}
    if order.status != "待付款":  # Pending orders carry no OrderTotal
        record["OrderTotal"] = {"CurrencyCode": "USD", "Amount": f"{order.amount:.2f}"}
    return record


def get_orders(sim: AmazonSim, q: dict[str, str]) -> Json:
    if q.get("MarketplaceIds") != sim.marketplace:
        raise ApiError(400, "InvalidInput", "Invalid MarketplaceIds", q.get("MarketplaceIds", ""))
    now = sim.clock.now()
    if "NextToken" in q:
        window = _untoken(q["NextToken"])
    else:
        before = _parse(q.get("LastUpdatedBefore", _iso(now - timedelta(minutes=2))), "LastUpdatedBefore")
        if before > now - timedelta(minutes=2):
            raise ApiError(400, "InvalidInput", "LastUpdatedBefore must be at least 2 minutes before now")
        size = int(q.get("MaxResultsPerPage", 100))
        if not 1 <= size <= 100:
            raise ApiError(400, "InvalidInput", "MaxResultsPerPage must be 1..100")
        window = {"after": _iso(_parse(q.get("LastUpdatedAfter"), "LastUpdatedAfter")), "before": _iso(before),
                  "offset": 0, "size": size}
    low, high = _parse(window["after"], "after"), _parse(window["before"], "before")
    shown = visible(sim.dataset, now - sim.visibility_lag).orders
    rows = sorted((o for o in shown if low <= (o.updated_at or o.created_at) <= high), key=lambda o: o.order_id)
    offset, size = int(window["offset"]), int(window["size"])
    payload: Json = {"Orders": [render_order(o, sim.marketplace) for o in rows[offset:offset + size]],
                     "LastUpdatedBefore": window["before"]}
    if offset + size < len(rows):
        payload["NextToken"] = _token({**window, "offset": offset + size})
    return {"payload": payload}


def get_inventory(sim: AmazonSim, q: dict[str, str]) -> Json:
    if q.get("granularityId") != sim.marketplace or q.get("granularityType") != "Marketplace":
        raise ApiError(400, "InvalidInput", "Invalid granularity")
    now = sim.clock.now()
    start = _parse(q["startDateTime"], "startDateTime") if "startDateTime" in q else None
    offset = 0
    if "nextToken" in q:
        token = _untoken(q["nextToken"])
        if now - _parse(token["issued"], "nextToken") > timedelta(seconds=30):
            raise ApiError(400, "InvalidInput", "The nextToken has expired", "nextToken is valid for 30 seconds")
        if token["start"] != (q.get("startDateTime") and _iso(start or now)):
            raise ApiError(400, "InvalidInput", "startDateTime must be resent with nextToken")
        offset = int(token["offset"])
    stock = sorted(visible(sim.dataset, now - sim.visibility_lag).stock, key=lambda s: s.sku)
    rows = [s for s in stock if start is None or s.at >= start]
    size = sim.page_size_inventory
    summaries = [{"asin": f"B0{zlib.crc32(s.sku.encode()) % 10**8:08d}", "fnSku": f"X00{s.sku}", "sellerSku": s.sku,
                  "condition": "NewItem", "lastUpdatedTime": _iso(s.at), "totalQuantity": s.quantity + 3,
                  "inventoryDetails": {"fulfillableQuantity": s.quantity, "inboundWorkingQuantity": 0,
                                       "reservedQuantity": {"totalReservedQuantity": 3}}}
                 for s in rows[offset:offset + size]]
    body: Json = {"payload": {"granularity": {"granularityType": "Marketplace", "granularityId": sim.marketplace},
                              "inventorySummaries": summaries}, "pagination": {}}
    if offset + size < len(rows):
        body["pagination"]["nextToken"] = _token({"offset": offset + size, "issued": _iso(now),
                                                  "start": q.get("startDateTime") and _iso(start or now)})
    return body


def sales_and_traffic_document(sim: AmazonSim, start: datetime, end: datetime) -> Json:
    days: dict[str, list[HourlyTraffic]] = defaultdict(list)
    for hour in sim.traffic:
        if start <= hour.hour < end:
            days[hour.hour.astimezone(sim.tz).date().isoformat()].append(hour)
    rows = []
    for day, hours in sorted(days.items()):
        sessions, views, units = (sum(getattr(h, f) for h in hours) for f in ("sessions", "pageviews", "units_ordered"))
        browser = sessions * 3 // 5
        rows.append({"date": day,
                     "salesByDate": {"orderedProductSales": {"amount": units * 19.99, "currencyCode": "USD"},
                                     "unitsOrdered": units, "totalOrderItems": units},
                     "trafficByDate": {"browserPageViews": views // 2, "mobileAppPageViews": views - views // 2,
                                       "pageViews": views, "browserSessions": browser,
                                       "mobileAppSessions": sessions - browser, "sessions": sessions,
                                       "unitSessionPercentage": round(100 * units / sessions, 2) if sessions else 0.0}})
    return {"reportSpecification": {"reportType": "GET_SALES_AND_TRAFFIC_REPORT", "dataStartTime": _iso(start),
                                    "dataEndTime": _iso(end), "marketplaceIds": [sim.marketplace]},
            "salesAndTrafficByDate": rows, "salesAndTrafficByAsin": []}


def reports(sim: AmazonSim, request: Request, body: Json | None) -> tuple[int, Json]:
    now, parts = sim.clock.now(), request.url.path.split("/")
    if request.method == "POST":
        if body is None or body.get("reportType") != "GET_SALES_AND_TRAFFIC_REPORT":
            raise ApiError(400, "InvalidInput", "Unsupported reportType")
        report_id = str(50_000 + len(sim.reports))
        sim.reports[report_id] = {"start": _parse(body["dataStartTime"], "dataStartTime"),
                                  "end": _parse(body["dataEndTime"], "dataEndTime"), "created": now}
        return 202, {"reportId": report_id}
    if parts[3] == "documents":
        report = sim.reports.get(parts[4].removeprefix("doc-"))
        if report is None:
            raise ApiError(404, "NotFound", "Report document not found")
        return 200, {"reportDocumentId": parts[4], "compressionAlgorithm": "GZIP",
                     "url": f"{request.base_url}report-documents/{parts[4]}.json.gz?X-Amz-Expires=300"}
    report = sim.reports.get(parts[4])
    if report is None:
        raise ApiError(404, "NotFound", "Report not found")
    age = (now - report["created"]).total_seconds()
    status = "IN_QUEUE" if age < sim.report_seconds / 2 else ("IN_PROGRESS" if age < sim.report_seconds else "DONE")
    answer = {"reportId": parts[4], "reportType": "GET_SALES_AND_TRAFFIC_REPORT", "processingStatus": status}
    return 200, answer | ({"reportDocumentId": f"doc-{parts[4]}"} if status == "DONE" else {})


def operation(request: Request) -> str:
    path = request.url.path
    if path.startswith("/orders/"):
        return "getOrders"
    if path.startswith("/fba/"):
        return "getInventorySummaries"
    if "/documents/" in path:
        return "getReportDocument"
    return "createReport" if request.method == "POST" else "getReport"


def create_app(
    dataset: Dataset,
    *,
    clock: Clock,
    traffic: list[HourlyTraffic] | None = None,
    client_id: str = "amzn1.application-oa2-client.test",
    client_secret: str = "amzn-secret",
    refresh_token: str = "Atzr|refresh",
    marketplace: str = "ATVPDKIKX0DER",
    marketplace_timezone: str = "America/Los_Angeles",
    token_lifetime: timedelta = timedelta(hours=1),
    rate_limits: dict[str, tuple[float, float]] | None = None,
    visibility_lag: timedelta = timedelta(minutes=2),
    report_seconds: float = 40.0,
    inventory_page_size: int = 20,
) -> Starlette:
    """The fake LWA + SP-API; its state (tokens, calls, reports, faults) is ``app.state.sim``."""
    limits = {**DEFAULT_LIMITS, **(rate_limits or {})}
    sim = AmazonSim(dataset, traffic or [], clock, client_id, client_secret, refresh_token, marketplace,
                    ZoneInfo(marketplace_timezone), TokenStore(clock, token_lifetime),
                    {op: TokenBucket(clock, rate, burst) for op, (rate, burst) in limits.items()},
                    visibility_lag, report_seconds, inventory_page_size)

    async def lwa(request: Request) -> JSONResponse:
        sim.calls.append("lwa")
        form = await request.form()
        if form.get("client_id") != sim.client_id or form.get("client_secret") != sim.client_secret:
            return JSONResponse({"error": "invalid_client", "error_description": "Client authentication failed"}, 401)
        if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != sim.refresh_token:
            return JSONResponse({"error": "invalid_grant", "error_description": "The request has an invalid grant"}, 400)
        token, _ = sim.tokens.issue("Atza|")
        return JSONResponse({"access_token": token, "refresh_token": sim.refresh_token, "token_type": "bearer",
                             "expires_in": int(sim.tokens.lifetime.total_seconds())})

    async def document(request: Request) -> Response:
        report = sim.reports.get(request.path_params["doc"].removeprefix("doc-"))
        if report is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, media_type="application/xml")
        raw = json.dumps(sales_and_traffic_document(sim, report["start"], report["end"])).encode()
        return Response(gzip.compress(raw), media_type="application/octet-stream")

    async def api(request: Request) -> JSONResponse:
        op = operation(request)
        sim.calls.append(op)
        rate = {"x-amzn-RateLimit-Limit": str(sim.buckets[op].rate)}
        try:
            status = sim.tokens.check(request.headers.get("x-amz-access-token", ""))
            if status != "ok":
                details = "The access token you provided has expired." if status == "expired" else ""
                raise ApiError(403, "Unauthorized", "Access to requested resource is denied.", details)
            if not sim.buckets[op].take(1):
                raise ApiError(429, "QuotaExceeded", "You exceeded your quota for the requested resource.")
            if sim.faults:
                raise sim.faults.pop(0)
            q = dict(request.query_params)
            if op == "getOrders":
                code, body = 200, get_orders(sim, q)
            elif op == "getInventorySummaries":
                code, body = 200, get_inventory(sim, q)
            else:
                code, body = reports(sim, request, await request.json() if request.method == "POST" else None)
        except ApiError as err:
            return JSONResponse(err.body, err.status, headers={**rate, **err.headers})
        return JSONResponse(body, code, headers=rate)

    app = Starlette(routes=[
        Route("/auth/o2/token", lwa, methods=["POST"]),
        Route("/report-documents/{doc}.json.gz", document),
        Route("/{path:path}", api, methods=["GET", "POST"]),
    ])
    app.state.sim = sim
    install_dropper(app)  # app.state.drops.drop_next(n): the next n connections drop mid-response
    return app
