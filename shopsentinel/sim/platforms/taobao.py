"""A fake TOP router (``/router/rest``) serving a :class:`Dataset` the way Taobao would.

It checks app key, signature (md5 / hmac / hmac-sha256), the ±10 min GMT+8 timestamp window and
the session; throttles with ``code 7`` and "ban will last N more seconds"; pages with
``page_no``/``page_size`` (``use_has_next`` or ``total_results``); honours ``fields`` and the
trade ``type`` filter; refuses increment windows over one day; answers HTTP 200 with
``error_response`` for every error. ``taobao.top.auth.token.refresh`` rotates tokens.

Writes (used by the response playbooks): ``taobao.item.sku.price.update`` and
``taobao.item.quantity.update`` (``type`` 1 absolute / 2 delta) append a new stock snapshot, so the
change shows in ``visible(...)``, the item listings and the connector's stock stream. Trades carry
``buyer_nick`` / ``buyer_open_uid`` (see :func:`buyer_open_uid`; ``buyers`` overrides them per order).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from itertools import groupby

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
    project,
)
from shopsentinel.sources.base import Order, StockSnapshot
from shopsentinel.sources.kit import format_china_time, format_money, parse_china_time, sign_params

# Standard state → the native trade statuses this fake emits for it (picked by order id).
NATIVE_TRADE_STATUS: dict[str, tuple[str, ...]] = {
    "待付款": ("WAIT_BUYER_PAY", "TRADE_NO_CREATE_PAY"),
    "待发货": ("WAIT_SELLER_SEND_GOODS", "SELLER_CONSIGNED_PART"),
    "在途": ("WAIT_BUYER_CONFIRM_GOODS",),
    "已完成": ("TRADE_FINISHED", "TRADE_BUYER_SIGNED"),
    "已取消": ("TRADE_CLOSED_BY_TAOBAO",),
    "退款中": ("WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_CONFIRM_GOODS"),
    "已退款": ("TRADE_CLOSED",),
}
NATIVE_REFUND_STATUS: dict[str, str] = {"退款中": "WAIT_SELLER_AGREE", "已退款": "SUCCESS"}
DEFAULT_TRADE_TYPES = {"guarantee_trade", "auto_delivery", "ec", "cod", "step"}
SKUS_PER_ITEM = 2


class TopError(Exception):
    def __init__(self, code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> None:
        super().__init__(msg)
        self.body = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}


def trade_type(order: Order) -> str:
    return "fixed" if int(order.order_id) % 2 else "guarantee_trade"


def render_trade(order: Order) -> Json:
    pick = int(order.order_id)
    options = NATIVE_TRADE_STATUS[order.status]
    if order.status == "退款中":  # the trade stays open; the sub-order carries the refund
        status = options[1 if order.shipped_at else 0]
    else:
        status = options[pick % len(options)]
    refund = NATIVE_REFUND_STATUS.get(order.status, "NO_REFUND")
    trade: Json = {
        "tid": pick,
        "type": trade_type(order),
        "status": status,
        "payment": format_money(order.amount),
        "total_fee": format_money(order.amount),
        "created": format_china_time(order.created_at),
        "modified": format_china_time(order.updated_at or order.created_at),
        "orders": [
            {"oid": pick * 100 + i + 1, "outer_sku_id": line.sku, "num": line.quantity,
             "payment": format_money(line.amount), "price": format_money(line.amount / line.quantity),
             "status": status, "refund_status": refund}
            for i, line in enumerate(order.lines)
        ],
    }  # fmt: skip
    for name, moment in (("pay_time", order.paid_at), ("consign_time", order.shipped_at)):
        if moment is not None:
            trade[name] = format_china_time(moment)
    return trade


def buyer_open_uid(order_id: str) -> str:
    """The buyer's stable open uid this fake gives an order (unless ``buyers`` names one)."""
    return "AAF" + hashlib.md5(f"tb-buyer-{order_id}".encode()).hexdigest()[:21].upper()


def buyer_nick(open_uid: str) -> str:
    """The masked nick TOP shows today (``t**8``-style): not a usable identifier on its own."""
    return f"t**{open_uid[-1]}"


def _items(stock: list[StockSnapshot]) -> dict[int, list[StockSnapshot]]:
    ordered = sorted(stock, key=lambda s: s.sku)
    return {
        10_000 + index: list(group)
        for index, (_, group) in enumerate(groupby(ordered, key=lambda s: _item_index(s.sku)))
    }


def _item_index(sku: str) -> int:
    digits = "".join(ch for ch in sku if ch.isdigit()) or "0"
    return (int(digits) - 1) // SKUS_PER_ITEM


def render_item(num_iid: int, skus: list[StockSnapshot]) -> Json:
    return {
        "num_iid": num_iid,
        "outer_id": f"ITEM-{num_iid}",
        "num": sum(s.quantity for s in skus),
        "price": format_money(min(s.price or 0.0 for s in skus)),
        "modified": format_china_time(max(s.at for s in skus)),
        "skus": [
            {"sku_id": num_iid * 10 + i, "outer_id": s.sku, "quantity": s.quantity,
             "price": format_money(s.price or 0.0), "modified": format_china_time(s.at)}
            for i, s in enumerate(skus)
        ],
    }  # fmt: skip


def create_app(
    dataset: Dataset,
    *,
    app_key: str,
    app_secret: str,
    clock: Clock,
    rate_limit: RateLimit | None = None,
    session: str = "session-0",
    refresh_token: str = "refresh-0",
    token_ttl: timedelta = timedelta(hours=12),
    timestamp_tolerance: timedelta = timedelta(minutes=10),
    buyers: Mapping[str, str] | None = None,
) -> Starlette:
    """The app; ``app.state.log`` records calls and ``app.state.credentials`` the live tokens.
    ``buyers`` maps order ids to buyer open uids (default: :func:`buyer_open_uid`)."""
    fake = RouterFake.open(app_key=app_key, clock=clock, access_token=session, refresh_token=refresh_token,
                           token_ttl=token_ttl, tolerance=timestamp_tolerance, rate_limit=rate_limit)
    log, credentials, gate = fake.log, fake.credentials, fake.gate

    def window(params: dict[str, str], start_key: str, end_key: str, max_span: timedelta | None) -> tuple[datetime, datetime]:
        if start_key not in params or end_key not in params:
            raise TopError(40, "Missing required arguments", "isv.missing-parameter", f"{start_key}/{end_key}")
        start, end = parse_china_time(params[start_key]), parse_china_time(params[end_key])
        if max_span is not None and end - start > max_span:
            raise TopError(41, "Invalid arguments", "isv.invalid-parameter", "time span must be within one day")
        return start, end

    def listing(params: dict[str, str], key: str, records: list[Json], max_size: int) -> Json:
        if "fields" not in params:
            raise TopError(40, "Missing required arguments", "isv.missing-parameter", "fields")
        page, size = int(params.get("page_no", "1")), int(params.get("page_size", "40"))
        if size > max_size or page < 1:
            raise TopError(41, "Invalid arguments", "isv.invalid-parameter", f"page_size must be <= {max_size}")
        chunk, total, has_next = page_of(records, page, size)
        body: Json = {key: [project(r, params["fields"].split(",")) for r in chunk]}
        body.update({"has_next": has_next} if params.get("use_has_next") == "true" else {"total_results": total})
        return body

    def trades(params: dict[str, str], by_created: bool) -> Json:
        keys = ("start_created", "end_created") if by_created else ("start_modified", "end_modified")
        start, end = window(params, *keys, None if by_created else timedelta(days=1))
        types = set(params["type"].split(",")) if params.get("type") else DEFAULT_TRADE_TYPES
        now = clock.now()
        orders = [
            o for o in visible(dataset, now).orders
            if trade_type(o) in types and between(o.created_at if by_created else (o.updated_at or o.created_at), start, end)
        ]  # fmt: skip
        orders.sort(key=lambda o: (o.created_at if by_created else (o.updated_at or o.created_at), o.order_id), reverse=True)
        return listing(params, "trades", [{**render_trade(o), **buyer_fields(o)} for o in orders], 100)

    def buyer_fields(order: Order) -> Json:
        uid = (buyers or {}).get(order.order_id) or buyer_open_uid(order.order_id)
        return {"buyer_open_uid": uid, "buyer_nick": buyer_nick(uid)}

    def refunds(params: dict[str, str]) -> Json:
        start, end = window(params, "start_modified", "end_modified", None)
        rows = sorted((r for r in visible(dataset, clock.now()).refunds if between(r.created_at, start, end)), key=lambda r: r.refund_id)
        return listing(params, "refunds", [
            {"refund_id": int(r.refund_id), "tid": int(r.order_id), "status": NATIVE_REFUND_STATUS[r.status],
             "refund_fee": format_money(r.amount), "created": format_china_time(r.created_at),
             "modified": format_china_time(r.created_at)} for r in rows], 100)  # fmt: skip

    def rates(params: dict[str, str]) -> Json:
        if params.get("rate_type") != "get" or params.get("role") != "buyer":
            return listing(params, "trade_rates", [], 150)
        start, end = window(params, "start_date", "end_date", None)
        if int(params.get("page_no", "1")) > 200:
            raise TopError(41, "Invalid arguments", "isv.invalid-parameter", "page_no must be <= 200")
        rows = sorted((r for r in visible(dataset, clock.now()).reviews if between(r.created_at, start, end)), key=lambda r: r.review_id)
        result = {5: "good", 4: "good", 3: "neutral"}
        return listing(params, "trade_rates", [
            {"tid": int(r.order_id), "oid": int(r.review_id), "role": "buyer", "result": result.get(r.stars, "bad"),
             "created": format_china_time(r.created_at), "content": "..."} for r in rows], 150)  # fmt: skip

    def items_onsale(params: dict[str, str]) -> Json:
        items = _items(visible(dataset, clock.now()).stock)
        return listing(params, "items", [render_item(k, v) for k, v in sorted(items.items())], 200)

    def item_seller(params: dict[str, str]) -> Json:
        items = _items(visible(dataset, clock.now()).stock)
        num_iid = int(params.get("num_iid", "0"))
        if num_iid not in items:
            raise TopError(15, "Remote service error", "isv.item-not-exist", f"item {num_iid} not found")
        fields = ["skus" if name == "sku" else name for name in params.get("fields", "").split(",")]
        return {"item": project(render_item(num_iid, items[num_iid]), fields)}

    def sku_price_update(params: dict[str, str]) -> Json:
        """``taobao.item.sku.price.update``: num_iid + sku_id + price; a new snapshot carries the price."""
        items = _items(visible(dataset, clock.now()).stock)
        num_iid, sku_id = int(params.get("num_iid", "0") or 0), int(params.get("sku_id", "0") or 0)
        if num_iid not in items:
            raise TopError(15, "Remote service error", "isv.item-not-exist", f"item {num_iid} not found")
        index = sku_id - num_iid * 10
        if not 0 <= index < len(items[num_iid]):
            raise TopError(15, "Remote service error", "isv.sku-not-exist", f"sku {sku_id} not found")
        try:
            price = float(params["price"])
        except (KeyError, ValueError):
            raise TopError(41, "Invalid arguments", "isv.invalid-parameter", "price must be a number") from None
        if price <= 0:
            raise TopError(41, "Invalid arguments", "isv.invalid-parameter", "price must be positive")
        current = items[num_iid][index]
        dataset.stock.append(StockSnapshot(current.sku, clock.now(), current.quantity, round(price, 2)))
        return {"sku": {"sku_id": sku_id, "num_iid": num_iid, "outer_id": current.sku, "price": format_money(price),
                        "modified": format_china_time(clock.now())}}

    def quantity_update(params: dict[str, str]) -> Json:
        """``taobao.item.quantity.update``: num_iid + (sku_id | outer_id) + quantity, type 1 absolute
        (≥ 0) or 2 delta (the result cannot drop below 0); a new snapshot carries the quantity."""
        items = _items(visible(dataset, clock.now()).stock)
        try:
            num_iid = int(params["num_iid"])
            quantity = int(params["quantity"])
            kind = int(params.get("type", "1") or 1)
        except (KeyError, ValueError):
            raise TopError(40, "Missing required arguments", "isv.missing-parameter", "num_iid/quantity") from None
        if num_iid not in items:
            raise TopError(15, "Remote service error", "isv.item-not-exist", f"item {num_iid} not found")
        skus = items[num_iid]
        if params.get("sku_id"):
            index = int(params["sku_id"]) - num_iid * 10
        elif params.get("outer_id"):
            index = next((i for i, s in enumerate(skus) if s.sku == params["outer_id"]), -1)
        else:
            raise TopError(40, "Missing required arguments", "isv.missing-parameter", "sku_id or outer_id")
        if not 0 <= index < len(skus):
            raise TopError(15, "Remote service error", "isv.sku-not-exist", "sku not found")
        if kind not in (1, 2):
            raise TopError(41, "Invalid arguments", "isv.invalid-parameter", "type must be 1 or 2")
        current = skus[index]
        new = quantity if kind == 1 else current.quantity + quantity
        if new < 0:
            raise TopError(41, "Invalid arguments", "isv.invalid-parameter", "quantity cannot drop below 0")
        dataset.stock.append(StockSnapshot(current.sku, clock.now(), new, current.price))
        modified = format_china_time(clock.now())
        others = sum(s.quantity for i, s in enumerate(skus) if i != index)
        return {"item": {"num_iid": num_iid, "num": others + new, "modified": modified,
                         "skus": [{"sku_id": num_iid * 10 + index, "quantity": new, "modified": modified}]}}

    def token_refresh(params: dict[str, str]) -> Json:
        pair = credentials.rotate(params.get("refresh_token", ""))
        if pair is None:
            raise TopError(15, "Remote service error", "isv.refresh-token-invalid", "refresh token is invalid")
        result = {"access_token": pair[0], "refresh_token": pair[1], "expires_in": int(token_ttl.total_seconds())}
        return {"token_result": json.dumps(result)}

    handlers: dict[str, tuple[bool, Callable[[dict[str, str]], Json] | None]] = {
        "taobao.trades.sold.get": (True, lambda p: trades(p, True)),
        "taobao.trades.sold.increment.get": (True, lambda p: trades(p, False)),
        "taobao.refunds.receive.get": (True, refunds),
        "taobao.traderates.get": (True, rates),
        "taobao.items.onsale.get": (True, items_onsale),
        "taobao.item.seller.get": (True, item_seller),
        "taobao.item.sku.price.update": (True, sku_price_update),
        "taobao.item.quantity.update": (True, quantity_update),
        "taobao.top.auth.token.refresh": (False, token_refresh),
    }

    rejections = {
        "app_key_missing": TopError(28, "Missing App Key"),
        "app_key_invalid": TopError(29, "Invalid App Key"),
        "sign_invalid": TopError(25, "Invalid Signature"),
        "timestamp_invalid": TopError(31, "Invalid Timestamp", "isv.invalid-timestamp", "timestamp out of the allowed window"),
        "token_missing": TopError(26, "Missing Session"),
        "token_unknown": TopError(27, "Invalid session", "invalid-sessionkey", "session unknown"),
        "token_expired": TopError(27, "Invalid session", "session-expired", "session expired"),
    }

    def check(params: dict[str, str]) -> Callable[[dict[str, str]], Json]:
        method = params.get("method", "")
        sign_method = params.get("sign_method", "md5")
        sign_ok = sign_method in ("md5", "hmac", "hmac-sha256") and params.get("sign") == sign_params(
            params, app_secret, sign_method  # type: ignore[arg-type]
        )
        sent_at = parsed_or_none(parse_china_time, params.get("timestamp", ""))
        needs_session, handler = handlers.get(method, (False, None))
        try:
            gate.check(params.get("app_key"), sign_ok, sent_at, params.get("session"), needs_session)
        except Rejected as rejected:
            if rejected.kind == "throttled":
                raise TopError(7, "App Call Limited", "accesscontrol.limited-by-app-access-count",
                               f"This ban will last for {int(rejected.ban_seconds)} more seconds") from None  # fmt: skip
            raise rejections[rejected.kind] from None
        if handler is None:
            raise TopError(22, "Invalid Method")
        return handler

    async def router(request: Request) -> JSONResponse:
        params = await form_of(request)
        log.calls.append((params.get("method", ""), params))
        method = params.get("method", "")
        request_id = f"req-{len(log.calls)}"
        try:
            body = check(params)(params)
        except TopError as exc:
            return JSONResponse({"error_response": {**exc.body, "request_id": request_id}})
        root = method.removeprefix("taobao.").replace(".", "_") + "_response"
        return JSONResponse({root: {**body, "request_id": request_id}})

    return fake.app([Route("/router/rest", router, methods=["GET", "POST"])])
