"""A fake Shopify Admin GraphQL API serving a :class:`Dataset`.

It checks ``X-Shopify-Access-Token`` (401 with the real message), mints expiring tokens at
``/admin/oauth/access_token`` [R], charges query cost against a leaky bucket on the injected clock
and reports it in ``extensions.cost`` (``THROTTLED`` errors with HTTP 200 or 429), pages
connections with opaque cursors (``first`` ≤ 250) and answers ShopifyQL ``FROM sessions``.
It does not parse GraphQL: it dispatches on the root field and honours the variables.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shopsentinel.core.clock import Clock
from shopsentinel.sim.platforms.dataset import Dataset, visible
from shopsentinel.sim.platforms.dataset_intl import HourlyTraffic, TokenBucket, TokenStore
from shopsentinel.sim.platforms.generic_faults import install_dropper
from shopsentinel.sources.base import Order, StockSnapshot

Json = dict[str, Any]
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
# Standard state → (financial, fulfillment) twins; odd order ids get the second one.
_NATIVE: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "待付款": (("PENDING", "UNFULFILLED"), ("PARTIALLY_PAID", "UNFULFILLED")),
    "待发货": (("PAID", "UNFULFILLED"), ("AUTHORIZED", "ON_HOLD")),
    "在途": (("PAID", "PARTIALLY_FULFILLED"), ("PAID", "PARTIALLY_FULFILLED")),
    "已完成": (("PAID", "FULFILLED"), ("PAID", "FULFILLED")),
    "已取消": (("VOIDED", "UNFULFILLED"), ("EXPIRED", "RESTOCKED")),
    "退款中": (("PARTIALLY_REFUNDED", "FULFILLED"), ("PARTIALLY_REFUNDED", "UNFULFILLED")),
    "已退款": (("REFUNDED", "FULFILLED"), ("REFUNDED", "RESTOCKED")),
}
_FILTER = re.compile(r"updated_at:(>=|<=)'?([0-9T:\-+Z.]+)'?")


class GraphQLError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class ShopifySim:
    dataset: Dataset
    traffic: list[HourlyTraffic]
    clock: Clock
    tz: ZoneInfo
    client_id: str
    client_secret: str
    tokens: TokenStore
    bucket: TokenBucket
    throttle_status_code: int = 200
    calls: list[str] = field(default_factory=list)
    throttled: int = 0
    faults: list[GraphQLError] = field(default_factory=list)

    def fail_next(self, message: str, code: str) -> None:
        self.faults.append(GraphQLError(message, code))

    def webhook(self, topic: str, order: Order) -> tuple[bytes, dict[str, str]]:
        """A webhook delivery as Shopify sends it: raw body plus the Base64 HMAC header."""
        body = json.dumps({"id": int(order.order_id), "updated_at": _iso(order.updated_at)}).encode()
        digest = base64.b64encode(hmac.new(self.client_secret.encode(), body, hashlib.sha256).digest()).decode()
        return body, {"X-Shopify-Topic": topic, "X-Shopify-Hmac-Sha256": digest}


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _money(amount: float) -> Json:
    return {"shopMoney": {"amount": f"{amount:.2f}", "currencyCode": "USD"}}


def native_status(order: Order) -> tuple[str, str]:
    return _NATIVE[order.status][sum(map(ord, order.order_id)) % 2]


def render_order(order: Order) -> Json:
    financial, fulfillment = native_status(order)
    return {
        "id": f"gid://shopify/Order/{order.order_id}", "name": f"#{order.order_id[-4:]}",
        "createdAt": _iso(order.created_at), "updatedAt": _iso(order.updated_at or order.created_at),
        "processedAt": _iso(order.paid_at or order.created_at),
        "cancelledAt": _iso(order.updated_at) if order.status == "已取消" else None,
        "displayFinancialStatus": financial, "displayFulfillmentStatus": fulfillment,
        "totalPriceSet": _money(order.amount),
        "fulfillments": [{"createdAt": _iso(order.shipped_at)}] if order.shipped_at else [],
        "lineItems": {"nodes": [{"sku": li.sku, "quantity": li.quantity, "originalTotalSet": _money(li.amount)}
                                for li in order.lines]},
    }


def render_inventory_item(snap: StockSnapshot, index: int) -> Json:
    return {"id": f"gid://shopify/InventoryItem/{9000 + index}", "sku": snap.sku, "updatedAt": _iso(snap.at),
            "variant": {"price": f"{snap.price or 0:.2f}"},
            "inventoryLevels": {"nodes": [
                {"updatedAt": _iso(snap.at), "location": {"id": f"gid://shopify/Location/{loc}"},
                 "quantities": [{"name": "available", "quantity": part}]}
                for loc, part in ((1, snap.quantity // 2), (2, snap.quantity - snap.quantity // 2))]}}


def _bounds(search: str | None) -> tuple[str, str]:
    low, high = "", "9999"
    for op, value in _FILTER.findall(search or ""):
        if op == ">=":
            low = value
        else:
            high = value
    return low, high


def connection(nodes: list[Json], variables: Json) -> Json:
    first = int(variables.get("first") or 0)
    if not 1 <= first <= 250:
        raise GraphQLError("The first argument must be between 1 and 250.", "BAD_REQUEST")
    after = variables.get("after")
    offset = int(base64.b64decode(after).decode().split(":")[1]) if after else 0
    chunk = nodes[offset:offset + first]
    end = offset + len(chunk)
    return {"pageInfo": {"hasNextPage": end < len(nodes),
                         "endCursor": base64.b64encode(f"cursor:{end}".encode()).decode() if chunk else None},
            "nodes": chunk}


def sessions_table(sim: ShopifySim, shopifyql: str) -> Json:
    found = re.search(r"FROM sessions SHOW (.+) SINCE (\S+) UNTIL (\S+) TIMESERIES hour", shopifyql)
    if not found:
        return {"tableData": None, "parseErrors": [f"cannot parse: {shopifyql}"]}
    since, until = (datetime.fromisoformat(d).replace(tzinfo=sim.tz) for d in found.group(2, 3))
    rows = [{"hour": h.hour.astimezone(sim.tz).isoformat(), "sessions": h.sessions,
             "online_store_visitors": h.visitors, "pageviews": h.pageviews,
             "conversion_rate": round(h.units_ordered / h.sessions, 4) if h.sessions else 0.0}
            for h in sim.traffic if since <= h.hour < until + timedelta(days=1) and h.hour <= sim.clock.now()]
    columns = [{"name": "hour", "dataType": "HOUR_TIMESTAMP", "displayName": "Hour"}] + [
        {"name": n, "dataType": "NUMBER", "displayName": n} for n in found.group(1).replace(" ", "").split(",")]
    return {"tableData": {"columns": columns, "rows": rows}, "parseErrors": []}


def execute(sim: ShopifySim, query: str, variables: Json) -> tuple[Json, float, float]:
    """``(data, requested cost, actual cost)`` for one operation."""
    first = int(variables.get("first") or 1)
    now = sim.clock.now()
    shown = visible(sim.dataset, now)
    low, high = _bounds(variables.get("query"))
    if "orders(" in query:
        rows = sorted(shown.orders, key=lambda o: (o.updated_at or o.created_at, o.order_id))
        nodes = [n for n in map(render_order, rows) if low <= n["updatedAt"] <= high]
        data = {"orders": connection(nodes, variables)}
        return data, 1 + 2 * first, 1 + 2 * len(data["orders"]["nodes"])
    if "inventoryItems(" in query:
        items = [render_inventory_item(s, i) for i, s in enumerate(sorted(shown.stock, key=lambda s: s.sku))]
        data = {"inventoryItems": connection([n for n in items if low <= n["updatedAt"] <= high], variables)}
        return data, 1 + 2 * first, 1 + 2 * len(data["inventoryItems"]["nodes"])
    if "shopifyqlQuery(" in query:
        return {"shopifyqlQuery": sessions_table(sim, str(variables.get("query")))}, 10, 10
    raise GraphQLError("Field is not defined on QueryRoot", "undefinedField")


def create_app(
    dataset: Dataset,
    *,
    clock: Clock,
    traffic: list[HourlyTraffic] | None = None,
    access_token: str = "shpat_static",
    client_id: str = "shp-client",
    client_secret: str = "shp-secret",
    refresh_token: str = "shprt_initial",
    shop_timezone: str = "America/New_York",
    token_lifetime: timedelta = timedelta(hours=1),
    bucket_size: float = 1000.0,
    restore_rate: float = 50.0,
    initially_available: float | None = None,
    throttle_status_code: int = 200,
) -> Starlette:
    """The fake shop; its state (tokens, bucket, calls, faults) is ``app.state.sim``."""
    tokens = TokenStore(clock, token_lifetime)
    tokens.access[access_token] = clock.now() + timedelta(days=3650)  # a custom app's non-expiring token
    tokens.refresh.add(refresh_token)
    bucket = TokenBucket(clock, restore_rate, bucket_size,
                         bucket_size if initially_available is None else initially_available)
    sim = ShopifySim(dataset, traffic or [], clock, ZoneInfo(shop_timezone), client_id, client_secret, tokens,
                     bucket, throttle_status_code)

    async def oauth(request: Request) -> JSONResponse:
        sim.calls.append("oauth")
        form = await request.json()
        if form.get("client_id") != sim.client_id or form.get("client_secret") != sim.client_secret:
            return JSONResponse({"error": "invalid_client", "error_description": "Client credentials are invalid"}, 400)
        if form.get("grant_type") == "refresh_token" and form.get("refresh_token") not in sim.tokens.refresh:
            return JSONResponse({"error": "invalid_grant", "error_description": "Refresh token is invalid"}, 400)
        token, refresh = sim.tokens.issue("shpat_")
        return JSONResponse({"access_token": token, "expires_in": int(sim.tokens.lifetime.total_seconds()),
                             "refresh_token": refresh, "refresh_token_expires_in": 7_776_000, "scope": "read_orders"})

    async def graphql(request: Request) -> JSONResponse:
        sim.calls.append("graphql")
        if sim.tokens.check(request.headers.get("X-Shopify-Access-Token", "")) != "ok":
            return JSONResponse({"errors": INVALID_TOKEN}, 401)
        payload = await request.json()
        query, variables = str(payload.get("query", "")), dict(payload.get("variables") or {})

        def cost(requested: float, actual: float | None) -> Json:
            return {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual, "throttleStatus": {
                "maximumAvailable": sim.bucket.capacity, "currentlyAvailable": sim.bucket.level(),
                "restoreRate": sim.bucket.rate}}}

        try:
            if sim.faults:
                raise sim.faults.pop(0)
            data, requested, actual = execute(sim, query, variables)
        except GraphQLError as err:
            return JSONResponse({"errors": [{"message": str(err), "extensions": {"code": err.code}}]})
        if not sim.bucket.take(requested):
            sim.throttled += 1
            body = {"errors": [{"message": "Throttled", "extensions": {
                "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                "extensions": cost(requested, None)}
            return JSONResponse(body, sim.throttle_status_code)
        sim.bucket.available += requested - actual  # refund the unused estimate, as Shopify does
        return JSONResponse({"data": data, "extensions": cost(requested, actual)})

    app = Starlette(routes=[
        Route("/admin/oauth/access_token", oauth, methods=["POST"]),
        Route("/admin/api/{version}/graphql.json", graphql, methods=["POST"]),
    ])
    app.state.sim = sim
    install_dropper(app)  # app.state.drops.drop_next(n): the next n connections drop mid-response
    return app
