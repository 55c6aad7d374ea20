"""A fake PDD router (``/api/router``) serving a Dataset the way Pinduoduo would.

It checks ``client_id``, the MD5 signature, the ±10 min unix-seconds timestamp and the access
token; throttles with error 70031 (no wait time given, like PDD); pages with ``page``/``page_size``
(≤ 100) and ``total_count`` (or ``has_next``); limits order windows to 24 h and refund windows to
30 min; answers HTTP 200 with ``error_response``; ``pdd.pop.auth.token.refresh`` rotates tokens.
Only confirmed (paid) orders are served, like ``pdd.order.list.get``. Error numbers follow the
connector's assumptions (:mod:`shopsentinel.sources.pdd.client`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shopsentinel.core.clock import Clock
from shopsentinel.sim.platforms.dataset import Dataset, visible
from shopsentinel.sim.platforms.gateway import (
    Json,
    RateLimit,
    Rejected,
    RouterFake,
    between,
    form_of,
    page_of,
    parsed_or_none,
)
from shopsentinel.sources.base import Order
from shopsentinel.sources.kit import format_china_time, sign_params
from shopsentinel.sources.pdd import client as codes

# Standard state → (order_status, refund_status) pairs this fake emits (picked by order id).
NATIVE_ORDER_STATUS: dict[str, tuple[tuple[int, int], ...]] = {
    "待发货": ((1, 1),),
    "在途": ((2, 1),),
    "已完成": ((3, 1),),
    "退款中": ((1, 2), (1, 3)),
    "已退款": ((1, 4),),
}
AFTER_SALES_STATUS: dict[str, int] = {"退款中": 3, "已退款": 10}
SKUS_PER_GOODS = 2


class PddError(Exception):
    def __init__(self, code: int, msg: str, sub_msg: str = "") -> None:
        super().__init__(msg)
        self.body = {"error_code": code, "error_msg": msg, "sub_code": str(code) if sub_msg else "", "sub_msg": sub_msg}


def render_order(order: Order) -> Json:
    options = NATIVE_ORDER_STATUS[order.status]
    status, refund = options[int(order.order_id) % len(options)]
    body: Json = {
        "order_sn": order.order_id, "order_status": status, "refund_status": refund,
        "pay_amount": order.amount, "goods_amount": order.amount, "discount_amount": 0.0, "postage": 0.0,
        "created_time": format_china_time(order.created_at),
        "updated_at": format_china_time(order.updated_at or order.created_at),
        "item_list": [
            {"goods_id": 500 + i, "sku_id": 7000 + i, "goods_name": line.sku, "outer_id": line.sku,
             "goods_price": round(line.amount / line.quantity, 2), "goods_count": line.quantity}
            for i, line in enumerate(order.lines)
        ],
    }  # fmt: skip
    for name, moment in (("confirm_time", order.paid_at), ("shipping_time", order.shipped_at)):
        if moment is not None:
            body[name] = format_china_time(moment)
    return body


def create_app(
    dataset: Dataset,
    *,
    app_key: str,
    app_secret: str,
    clock: Clock,
    rate_limit: RateLimit | None = None,
    access_token: str = "token-0",
    refresh_token: str = "refresh-0",
    token_ttl: timedelta = timedelta(hours=24),
    timestamp_tolerance: timedelta = timedelta(minutes=10),
) -> Starlette:
    """``app_key``/``app_secret`` are PDD's ``client_id``/``client_secret``."""
    fake = RouterFake.open(app_key=app_key, clock=clock, access_token=access_token, refresh_token=refresh_token,
                           token_ttl=token_ttl, tolerance=timestamp_tolerance, rate_limit=rate_limit)
    log, credentials, gate = fake.log, fake.credentials, fake.gate
    rejections = {
        "app_key_missing": PddError(codes.CODE_CLIENT_ID_INVALID, "client_id不能为空"),
        "app_key_invalid": PddError(codes.CODE_CLIENT_ID_INVALID, "client_id不存在"),
        "sign_invalid": PddError(codes.CODE_SIGN_INVALID, "签名错误"),
        "timestamp_invalid": PddError(codes.CODE_TIMESTAMP_INVALID, "timestamp已过期或超前"),
        "throttled": PddError(codes.CODE_THROTTLED, "调用过于频繁,请调低调用频率"),
        "token_missing": PddError(codes.CODE_TOKEN_INVALID, "access_token不能为空"),
        "token_unknown": PddError(codes.CODE_TOKEN_INVALID, "access_token不存在"),
        "token_expired": PddError(codes.CODE_TOKEN_EXPIRED, "access_token已过期"),
    }

    def window(params: dict[str, str], keys: tuple[str, str], max_span: timedelta) -> tuple[datetime, datetime]:
        try:
            start, end = (datetime.fromtimestamp(int(params[k]), UTC) for k in keys)
        except (KeyError, ValueError):
            raise PddError(codes.CODE_PARAMETER, "参数错误", f"{keys[0]}/{keys[1]} required") from None
        if end < start or end - start > max_span:
            raise PddError(codes.CODE_PARAMETER, "参数错误", f"time span must be within {int(max_span.total_seconds() // 60)} minutes")
        return start, end

    def paged(params: dict[str, str], key: str, rows: list[Json]) -> Json:
        page, size = int(params.get("page", "1")), int(params.get("page_size", "100"))
        if size > 100 or page < 1:
            raise PddError(codes.CODE_PARAMETER, "参数错误", "page_size must be <= 100")
        chunk, total, has_next = page_of(rows, page, size)
        body: Json = {key: chunk, "total_count": total}
        if params.get("use_has_next") == "true":
            body["has_next"] = has_next
        return body

    def confirmed_orders(params: dict[str, str], keys: tuple[str, str], by_confirm: bool) -> list[Json]:
        start, end = window(params, keys, timedelta(hours=24))
        orders = [
            o for o in visible(dataset, clock.now()).orders
            if o.paid_at is not None and o.status in NATIVE_ORDER_STATUS
            and between(o.paid_at if by_confirm else (o.updated_at or o.created_at), start, end)
        ]  # fmt: skip
        return [render_order(o) for o in sorted(orders, key=lambda o: (o.created_at, o.order_id))]

    def refunds(params: dict[str, str]) -> Json:
        start, end = window(params, ("start_updated_at", "end_updated_at"), timedelta(minutes=30))
        rows = sorted((r for r in visible(dataset, clock.now()).refunds if between(r.created_at, start, end)), key=lambda r: r.refund_id)
        return paged(params, "refund_list", [
            {"id": int(r.refund_id), "order_sn": r.order_id, "after_sales_status": AFTER_SALES_STATUS[r.status],
             "after_sales_type": 2, "refund_amount": round(r.amount * 100), "created_time": format_china_time(r.created_at),
             "updated_time": format_china_time(r.created_at)} for r in rows])  # fmt: skip

    def goods(params: dict[str, str]) -> Json:
        snaps = sorted(visible(dataset, clock.now()).stock, key=lambda s: s.sku)
        grouped = [snaps[i : i + SKUS_PER_GOODS] for i in range(0, len(snaps), SKUS_PER_GOODS)]
        return paged(params, "goods_list", [
            {"goods_id": 10_000 + i, "goods_name": f"goods {i}", "is_onsale": 1, "goods_quantity": sum(s.quantity for s in g),
             "sku_list": [{"sku_id": 70_000 + i * 10 + j, "outer_id": s.sku, "sku_quantity": s.quantity, "is_sku_onsale": 1}
                          for j, s in enumerate(g)]}
            for i, g in enumerate(grouped)])  # fmt: skip

    def token_refresh(params: dict[str, str]) -> Json:
        pair = credentials.rotate(params.get("refresh_token", ""))
        if pair is None:
            raise PddError(codes.CODE_PARAMETER, "参数错误", "refresh_token无效")
        return {"access_token": pair[0], "refresh_token": pair[1], "expires_in": int(token_ttl.total_seconds()),
                "owner_id": "1", "owner_name": "shop", "scope": ["pdd.order.list.get"]}  # fmt: skip

    handlers: dict[str, tuple[str, bool, Callable[[dict[str, str]], Json]]] = {
        "pdd.order.list.get": ("order_list_get_response", True, lambda p: paged(
            p, "order_list", confirmed_orders(p, ("start_confirm_at", "end_confirm_at"), True))),
        "pdd.order.number.list.increment.get": ("order_sn_increment_get_response", True, lambda p: paged(
            p, "order_sn_list", confirmed_orders(p, ("start_updated_at", "end_updated_at"), False))),
        "pdd.refund.list.increment.get": ("refund_increment_get_response", True, refunds),
        "pdd.goods.list.get": ("goods_list_get_response", True, goods),
        "pdd.pop.auth.token.refresh": ("pop_auth_token_refresh_response", False, token_refresh),
    }  # fmt: skip

    def handle(params: dict[str, str]) -> Json:
        root, needs_token, handler = handlers.get(params.get("type", ""), ("", False, None))
        sent_at = parsed_or_none(lambda text: datetime.fromtimestamp(int(text), UTC), params.get("timestamp", ""))
        try:
            gate.check(params.get("client_id"), params.get("sign") == sign_params(params, app_secret), sent_at,
                       params.get("access_token"), needs_token)  # fmt: skip
        except Rejected as rejected:
            raise rejections[rejected.kind] from None
        if handler is None:
            raise PddError(codes.CODE_PARAMETER, "参数错误", "unknown type")
        return {root: {**handler(params), "request_id": f"req-{len(log.calls)}"}}

    async def router(request: Request) -> JSONResponse:
        params = await form_of(request)
        log.calls.append((params.get("type", ""), params))
        try:
            return JSONResponse(handle(params))
        except PddError as exc:
            return JSONResponse({"error_response": {**exc.body, "request_id": f"req-{len(log.calls)}"}})

    return fake.app([Route("/api/router", router, methods=["POST"])])
