"""A fake third-party aggregator API (the kind R1.3's generic source reads), serving a :class:`Dataset`.

It is deliberately unlike any marketplace, and each endpoint differs from the others, so one fake
exercises every knob of the generic source's config:

=====================  ===========================  ===============================  ==========================
endpoint               window params                paging                           shape
=====================  ===========================  ===============================  ==========================
GET /api/v1/orders     updated_from/to, Unix s      page + page_size                 GMT+8 wall-clock strings, fen
GET /api/v1/refunds    since_ms/until_ms, epoch ms  next_cursor token                yuan strings
GET /api/v1/reviews    from/to, ISO-8601            offset + limit, total            nested order number
GET /api/v1/stock      changed_from/to, ISO-8601    ``Link: <…>; rel="next"``        bare JSON array, price in fen
GET /api/v1/traffic    from_ms/to_ms                page + size, has_more flag       metrics, conversion in %
=====================  ===========================  ===============================  ==========================

It verifies the configured auth (bearer token, API key header/query, or the HMAC-SHA256 signature of
:mod:`shopsentinel.sources.generic.signing` with a ±5 min timestamp), throttles with a token bucket
on the injected clock (HTTP 429 with ``Retry-After``), can fail the next requests with 5xx
(``fail_next``) and drop the next connections (``app.state.drops.drop_next``).
:func:`aggregator_config` is the config a store owner would write for this API.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shopsentinel.core.clock import Clock
from shopsentinel.sim.platforms.dataset import Dataset, visible
from shopsentinel.sim.platforms.dataset_intl import HourlyTraffic, TokenBucket
from shopsentinel.sim.platforms.generic_faults import install_dropper
from shopsentinel.sources.base import Order, Refund, Review, StockSnapshot
from shopsentinel.sources.generic import signing

Json = dict[str, Any]
AuthKind = Literal["none", "bearer", "api_key", "hmac"]
CHINA = ZoneInfo("Asia/Shanghai")
WALL = "%Y-%m-%d %H:%M:%S"
STATUS_FOR_STATE = {"待付款": "WAIT_PAY", "待发货": "WAIT_SHIP", "在途": "SHIPPED", "已完成": "FINISHED",
                    "已取消": "CLOSED", "退款中": "REFUNDING", "已退款": "REFUNDED"}
MAX_PAGE_SIZE = 100


class Refused(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"code": self.status, "error": self.error, "message": self.message}, self.status,
                            headers=self.headers)


@dataclass
class GenericSim:
    dataset: Dataset
    traffic: list[HourlyTraffic]
    clock: Clock
    auth: AuthKind
    secret: str
    key_id: str
    api_key_name: str
    bucket: TokenBucket | None
    skew: timedelta = timedelta(minutes=5)
    calls: list[str] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    throttled: int = 0

    def fail_next(self, count: int = 1, status: int = 503) -> None:
        self.failures.extend([status] * count)


# ---------------------------------------------------------------- rendering


def _wall(moment: datetime | None) -> str | None:
    return moment.astimezone(CHINA).strftime(WALL) if moment else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fen(amount: float | None) -> int:
    return round((amount or 0.0) * 100)


def render_order(order: Order) -> Json:
    return {
        "order_no": order.order_id,
        "created": _wall(order.created_at),
        "modified": _wall(order.updated_at or order.created_at),
        "status": STATUS_FOR_STATE[order.status],
        "payment": {"paid": _wall(order.paid_at) or "", "amount_fen": _fen(order.amount)},
        "shipping": {"shipped": _wall(order.shipped_at), "last_track": _wall(order.last_tracking_at)},
        "items": [{"sku_code": line.sku, "qty": line.quantity, "amount_fen": _fen(line.amount)} for line in order.lines],
    }


def render_refund(refund: Refund) -> Json:
    return {"refund_id": refund.refund_id, "order_no": refund.order_id, "created_ms": int(refund.created_at.timestamp() * 1000),
            "amount": f"{refund.amount:.2f}", "state": STATUS_FOR_STATE.get(refund.status, refund.status)}


def render_review(review: Review) -> Json:
    return {"id": review.review_id, "order": {"no": review.order_id}, "time": _iso(review.created_at), "rating": review.stars}


def render_stock(snap: StockSnapshot) -> Json:
    return {"sku": snap.sku, "quantity": snap.quantity, "price_fen": _fen(snap.price), "snapshot_at": _iso(snap.at)}


def conversion_percent(hour: HourlyTraffic) -> float:
    return round(100 * hour.units_ordered / hour.sessions, 2) if hour.sessions else 0.0


def render_traffic(hour: HourlyTraffic) -> Json:
    return {"hour": _iso(hour.hour), "stats": {"visitors": hour.visitors, "views": hour.pageviews,
                                              "cvr_pct": conversion_percent(hour)}}


# ---------------------------------------------------------------- checks


def _int(params: Any, name: str, default: int) -> int:
    raw = params.get(name)
    try:
        return default if raw is None else int(raw)
    except ValueError:
        raise Refused(400, "bad_request", f"{name} must be an integer") from None


def _size(params: Any, name: str) -> int:
    size = _int(params, name, 20)
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise Refused(400, "bad_request", f"{name} must be 1..{MAX_PAGE_SIZE}")
    return size


def _time(params: Any, name: str, kind: str, default: datetime) -> datetime:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        if kind == "s":
            return datetime.fromtimestamp(int(raw), UTC)
        if kind == "ms":
            return datetime.fromtimestamp(int(raw) / 1000, UTC)
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
    except (ValueError, OverflowError):
        raise Refused(400, "bad_request", f"{name}: bad time {raw!r}") from None


async def check_auth(sim: GenericSim, request: Request) -> None:
    if sim.auth == "none":
        return
    if sim.auth == "bearer":
        if request.headers.get("authorization") != f"Bearer {sim.secret}":
            raise Refused(401, "invalid_token", "missing or invalid bearer token")
        return
    if sim.auth == "api_key":
        sent = request.headers.get(sim.api_key_name) or request.query_params.get(sim.api_key_name)
        if sent != sim.secret:
            raise Refused(401, "invalid_api_key", f"missing or invalid {sim.api_key_name}")
        return
    if request.headers.get("x-key-id") != sim.key_id:
        raise Refused(401, "unknown_key", "unknown X-Key-Id")
    timestamp = request.headers.get("x-timestamp", "")
    try:
        sent_at = datetime.fromtimestamp(int(timestamp), UTC)
    except ValueError:
        raise Refused(401, "bad_timestamp", "X-Timestamp must be Unix seconds") from None
    if abs(sent_at - sim.clock.now()) > sim.skew:
        raise Refused(401, "stale_timestamp", "X-Timestamp outside ±5 min")
    canonical = signing.canonical_string(request.method, request.url.path, request.query_params.multi_items(),
                                         timestamp, await request.body())
    if not signing.verify(sim.secret, canonical, request.headers.get("x-signature", "")):
        raise Refused(401, "bad_signature", "signature mismatch")


def check_rate(sim: GenericSim) -> None:
    if sim.bucket is not None and not sim.bucket.take(1):
        sim.throttled += 1
        wait = math.ceil((1 - sim.bucket.level()) / sim.bucket.rate) if sim.bucket.rate > 0 else 1
        raise Refused(429, "rate_limited", "too many requests", {"Retry-After": str(max(wait, 1))})
    if sim.failures:
        status = sim.failures.pop(0)
        raise Refused(status, "unavailable", "upstream unavailable", {"Retry-After": "2"})


# ---------------------------------------------------------------- endpoints


def orders(sim: GenericSim, data: Dataset, q: Any) -> Json:
    low, high = _time(q, "updated_from", "s", data.start), _time(q, "updated_to", "s", sim.clock.now())
    rows = sorted((o for o in data.orders if low <= (o.updated_at or o.created_at) <= high),
                  key=lambda o: ((o.updated_at or o.created_at), o.order_id))
    page, size = _int(q, "page", 1), _size(q, "page_size")
    chunk = rows[(page - 1) * size: page * size]
    return {"code": 0, "data": {"total": len(rows), "list": [render_order(o) for o in chunk]}}


def refunds(sim: GenericSim, data: Dataset, q: Any) -> Json:
    low, high = _time(q, "since_ms", "ms", data.start), _time(q, "until_ms", "ms", sim.clock.now())
    rows = sorted((r for r in data.refunds if low <= r.created_at <= high), key=lambda r: (r.created_at, r.refund_id))
    size = _size(q, "limit")
    cursor = q.get("cursor")
    try:
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except ValueError:
        raise Refused(400, "bad_cursor", "cursor is not one we issued") from None
    following = offset + size
    token = base64.urlsafe_b64encode(str(following).encode()).decode() if following < len(rows) else None
    return {"refunds": [render_refund(r) for r in rows[offset:following]], "next_cursor": token}


def reviews(sim: GenericSim, data: Dataset, q: Any) -> Json:
    low, high = _time(q, "from", "iso", data.start), _time(q, "to", "iso", sim.clock.now())
    rows = sorted((r for r in data.reviews if low <= r.created_at <= high), key=lambda r: (r.created_at, r.review_id))
    offset, size = _int(q, "offset", 0), _size(q, "limit")
    return {"total": len(rows), "items": [render_review(r) for r in rows[offset: offset + size]]}


def stock(sim: GenericSim, data: Dataset, request: Request) -> Response:
    q = request.query_params
    low, high = _time(q, "changed_from", "iso", data.start), _time(q, "changed_to", "iso", sim.clock.now())
    rows = sorted((s for s in data.stock if low <= s.at <= high), key=lambda s: (s.at, s.sku))
    page, size = _int(q, "page", 1), _size(q, "per_page")
    headers = {}
    if page * size < len(rows):
        following = request.url.include_query_params(page=page + 1)
        headers["Link"] = f'<{following}>; rel="next"'
    return JSONResponse([render_stock(s) for s in rows[(page - 1) * size: page * size]], headers=headers)


def traffic_rows(sim: GenericSim, q: Any) -> Json:
    now = sim.clock.now()
    low, high = _time(q, "from_ms", "ms", datetime.min.replace(tzinfo=UTC)), _time(q, "to_ms", "ms", now)
    rows = [h for h in sim.traffic if low <= h.hour <= high and h.hour <= now]
    page, size = _int(q, "page", 1), _size(q, "size")
    return {"data": {"rows": [render_traffic(h) for h in rows[(page - 1) * size: page * size]],
                     "has_more": page * size < len(rows)}}


def create_app(
    dataset: Dataset,
    *,
    clock: Clock,
    traffic: list[HourlyTraffic] | None = None,
    auth: AuthKind = "hmac",
    secret: str = "agg-secret",
    key_id: str = "agg-key",
    api_key_name: str = "X-API-Key",
    requests_per_second: float | None = None,
    burst: float = 10.0,
) -> Starlette:
    """The fake aggregator; its state is ``app.state.sim``, its drop switch ``app.state.drops``."""
    bucket = TokenBucket(clock, requests_per_second, burst) if requests_per_second else None
    sim = GenericSim(dataset, traffic or [], clock, auth, secret, key_id, api_key_name, bucket)

    async def endpoint(request: Request) -> Response:
        name = request.path_params["name"]
        sim.calls.append(name)
        try:
            await check_auth(sim, request)
            check_rate(sim)
            data = visible(sim.dataset, sim.clock.now())
            q = request.query_params
            if name == "orders":
                return JSONResponse(orders(sim, data, q))
            if name == "refunds":
                return JSONResponse(refunds(sim, data, q))
            if name == "reviews":
                return JSONResponse(reviews(sim, data, q))
            if name == "stock":
                return stock(sim, data, request)
            if name == "traffic":
                return JSONResponse(traffic_rows(sim, q))
            raise Refused(404, "not_found", f"no endpoint {name!r}")
        except Refused as refused:
            return refused.response()

    app = Starlette(routes=[Route("/api/v1/{name}", endpoint, methods=["GET"])])
    app.state.sim = sim
    install_dropper(app)
    return app


def aggregator_config(*, auth: AuthKind = "hmac", key_id: str = "agg-key", api_key_name: str = "X-API-Key",
                      api_key_in: str = "header", page_size: int = 20, traffic: bool = True) -> dict[str, Any]:
    """The generic-source config (as a store owner would write it) for this fake; add
    ``store``, ``base_url``, ``start`` and ``app_secret``."""
    auth_block: dict[str, Any] = {"type": auth}
    if auth == "hmac":
        auth_block["key_id"] = key_id
    elif auth == "api_key":
        auth_block |= {"name": api_key_name, "location": api_key_in}
    streams: list[dict[str, Any]] = [
        {"kind": "orders", "path": "/api/v1/orders", "records": "data.list",
         "pagination": {"type": "page", "size": page_size},
         "incremental": {"from_param": "updated_from", "to_param": "updated_to", "format": "epoch_s"},
         "time_format": WALL, "time_zone": "Asia/Shanghai",
         "fields": {"id": "order_no", "created_at": "created", "updated_at": "modified",
                    "paid_at": {"path": "payment.paid", "optional": True},
                    "shipped_at": {"path": "shipping.shipped", "optional": True},
                    "last_tracking_at": {"path": "shipping.last_track", "optional": True},
                    "amount": {"path": "payment.amount_fen", "unit": "fen_to_yuan"}, "state": "status"},
         "lines": "items", "line_fields": {"sku": "sku_code", "quantity": "qty",
                                           "amount": {"path": "amount_fen", "unit": "fen_to_yuan"}},
         "state_map": {native: state for state, native in STATUS_FOR_STATE.items()}},
        {"kind": "refunds", "path": "/api/v1/refunds", "records": "refunds",
         "pagination": {"type": "cursor", "next": "next_cursor", "size_param": "limit", "size": page_size},
         "incremental": {"from_param": "since_ms", "to_param": "until_ms", "format": "epoch_ms"},
         "fields": {"id": "refund_id", "order_id": "order_no", "created_at": {"path": "created_ms", "format": "epoch_ms"},
                    "amount": "amount", "state": "state"},
         "state_map": {"REFUNDING": "退款中", "REFUNDED": "已退款"}},
        {"kind": "reviews", "path": "/api/v1/reviews", "records": "items",
         "pagination": {"type": "offset", "size": page_size, "total": "total"},
         "incremental": {"from_param": "from", "to_param": "to"},
         "fields": {"id": "id", "order_id": "order.no", "created_at": "time", "stars": "rating"}},
        {"kind": "stock", "path": "/api/v1/stock", "records": "",
         "pagination": {"type": "link", "size_param": "per_page", "size": page_size},
         "incremental": {"from_param": "changed_from", "to_param": "changed_to"},
         "fields": {"sku": "sku", "at": "snapshot_at", "quantity": "quantity",
                    "price": {"path": "price_fen", "unit": "fen_to_yuan"}}},
    ]
    if traffic:
        streams.append(
            {"kind": "metrics", "name": "traffic", "path": "/api/v1/traffic", "records": "data.rows",
             "pagination": {"type": "page", "size_param": "size", "size": page_size, "has_more": "data.has_more"},
             "incremental": {"from_param": "from_ms", "to_param": "to_ms", "format": "epoch_ms", "overlap_minutes": 120},
             "fields": {"ts": "hour"},
             "metrics": {"uv": "stats.visitors", "pv": "stats.views",
                         "platform_conversion_rate": {"path": "stats.cvr_pct", "unit": "percent_to_ratio"}}})
    return {"auth": auth_block, "streams": streams, "max_retries": 6}
