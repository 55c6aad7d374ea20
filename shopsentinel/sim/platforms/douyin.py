"""A fake Doudian (抖店) open platform serving a :class:`Dataset` in native shapes.

It checks what the real gateway checks — app_key, the md5/hmac-sha256 signature over the fixed
parameter order, the ±10 min timestamp window (Unix seconds or GMT+8 string), access tokens and
their expiry — and answers business errors as HTTP 200 envelopes with ``code != 10000``.
Orders are paged from page 0 by ``update_time``; money is integer fen, times Unix seconds.
The error codes other than 10000 and 30001 are [R] (see sources/douyin/README.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
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
from shopsentinel.sim.platforms.dataset_intl import TokenBucket, TokenStore
from shopsentinel.sim.platforms.generic_faults import install_dropper
from shopsentinel.sources.base import Order, Refund, StockSnapshot

CHINA = ZoneInfo("Asia/Shanghai")
Json = dict[str, Any]
REFUND_STATUS_FOR_STATE = {"退款中": 2, "已退款": 3}


class Fault(Exception):
    def __init__(self, code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> None:
        super().__init__(msg)
        self.envelope = {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg, "data": None}


@dataclass
class DouyinSim:
    dataset: Dataset
    clock: Clock
    app_key: str
    app_secret: str
    shop_id: str
    tokens: TokenStore
    bucket: TokenBucket
    skew: timedelta = timedelta(minutes=10)
    calls: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def fail_next(self, code: int, msg: str, sub_code: str = "", sub_msg: str = "") -> None:
        self.faults.append(Fault(code, msg, sub_code, sub_msg))


def native_order_status(order: Order) -> tuple[int, int]:
    """``(order_status, refund_status)``; odd order ids use the rarer twin codes (105, 101)."""
    odd = sum(map(ord, order.order_id)) % 2 == 1
    refund = REFUND_STATUS_FOR_STATE.get(order.status, 0)
    base = {"待付款": 1, "待发货": 105 if odd else 2, "在途": 101 if odd else 3, "已完成": 5, "已取消": 4}
    if order.status == "退款中":
        return (3 if order.shipped_at else 2), refund
    if order.status == "已退款":
        return 4, refund
    return base[order.status], refund


def _unix(moment: datetime | None) -> int:
    return int(moment.timestamp()) if moment else 0


def _fen(amount: float) -> int:
    return round(amount * 100)


def render_order(order: Order) -> Json:
    status, refund = native_order_status(order)
    return {
        "order_id": order.order_id,
        "order_status": status,
        "order_status_desc": {1: "待支付", 105: "已支付", 2: "备货中", 101: "部分发货", 3: "已发货",
                              4: "已取消", 5: "已完成"}[status],
        "create_time": _unix(order.created_at),
        "update_time": _unix(order.updated_at or order.created_at),
        "pay_time": _unix(order.paid_at),
        "ship_time": _unix(order.shipped_at),
        "pay_amount": _fen(order.amount),
        "sku_order_list": [
            {"sku_id": 7_000_000 + i, "code": line.sku, "item_num": line.quantity, "pay_amount": _fen(line.amount),
             "after_sale_info": {"after_sale_status": 12 if refund == 3 else (6 if refund else 0),
                                 "refund_status": refund}}
            for i, line in enumerate(order.lines)
        ],
    }


def render_refund(refund: Refund) -> Json:
    return {"aftersale_info": {
        "aftersale_id": refund.refund_id, "related_id": refund.order_id,
        "create_time": _unix(refund.created_at), "update_time": _unix(refund.created_at),
        "refund_amount": _fen(refund.amount), "refund_status": REFUND_STATUS_FOR_STATE.get(refund.status, 1),
    }}


def products(stock: list[StockSnapshot]) -> dict[str, list[StockSnapshot]]:
    """Two SKUs per product, in SKU order."""
    grouped: dict[str, list[StockSnapshot]] = {}
    for i, snap in enumerate(sorted(stock, key=lambda s: s.sku)):
        grouped.setdefault(str(3_000_000_000 + i // 2), []).append(snap)
    return grouped


def _page(items: list[Any], params: Json, first: int) -> tuple[list[Any], int, int]:
    page, size = int(params.get("page", first)), int(params.get("size", 20))
    if size > 100 or size < 1 or page < first:
        raise Fault(40004, "参数错误", "isv.parameter-invalid", f"page={page} size={size}")
    offset = (page - first) * size
    return items[offset:offset + size], page, size


def _window(params: Json, start_key: str, end_key: str) -> tuple[int, int]:
    return int(params.get(start_key, 0)), int(params.get(end_key, 2**40))


def handle_business(sim: DouyinSim, method: str, params: Json) -> Any:
    now = sim.clock.now()
    data = visible(sim.dataset, now)
    if method == "order.searchList":
        low, high = _window(params, "update_time_start", "update_time_end")
        rows = sorted((render_order(o) for o in data.orders), key=lambda r: (r["update_time"], r["order_id"]))
        rows = [r for r in rows if low <= r["update_time"] <= high]
        chunk, page, size = _page(rows, params, 0)
        return {"shop_order_list": chunk, "total": len(rows), "page": page, "size": size}
    if method == "afterSale.List":
        low, high = _window(params, "update_start_time", "update_end_time")
        items = sorted((render_refund(r) for r in data.refunds), key=lambda i: i["aftersale_info"]["update_time"])
        items = [i for i in items if low <= i["aftersale_info"]["update_time"] <= high]
        chunk, page, size = _page(items, params, 0)
        return {"items": chunk, "total": len(items), "has_more": (page + 1) * size < len(items)}
    if method == "product.listV2":
        rows = [{"product_id": pid, "name": f"商品{pid}", "status": 0} for pid in products(data.stock)]
        chunk, page, size = _page(rows, params, 1)
        return {"data": chunk, "total": len(rows), "page": page, "size": size}
    if method == "sku.list":
        skus = products(data.stock).get(str(params.get("product_id")))
        if skus is None:
            raise Fault(50002, "业务处理失败", "isv.business-failed:product-not-found", "商品不存在")
        return [{"id": 8_000_000 + i, "code": s.sku, "product_id": params["product_id"], "stock_num": s.quantity,
                 "price": _fen(s.price or 0)} for i, s in enumerate(skus)]
    raise Fault(40001, "接口不存在", "isv.method-not-found", method)


def _check_timestamp(sim: DouyinSim, raw: str) -> None:
    try:
        when = (datetime.fromtimestamp(int(raw), UTC) if raw.isdigit()
                else datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA))
    except ValueError as exc:
        raise Fault(40003, "timestamp格式错误", "isv.parameter-invalid:timestamp", raw) from exc
    if abs(when - sim.clock.now()) > sim.skew:
        raise Fault(40003, "请求已过期", "isv.timestamp-expired", raw)


def _check_signature(sim: DouyinSim, q: dict[str, str]) -> None:
    if q.get("app_key") != sim.app_key:
        raise Fault(40002, "app_key不存在", "isv.app-key-invalid")
    s = (f"{sim.app_secret}app_key{q['app_key']}method{q.get('method', '')}param_json{q.get('param_json', '')}"
         f"timestamp{q.get('timestamp', '')}v{q.get('v', '')}{sim.app_secret}").encode()
    method = q.get("sign_method", "md5")
    expected = (hashlib.md5(s).hexdigest() if method == "md5"
                else hmac.new(sim.app_secret.encode(), s, hashlib.sha256).hexdigest())
    if not hmac.compare_digest(expected, q.get("sign", "")):
        raise Fault(40002, "签名校验失败", "isv.sign-invalid", "sign check failed")


def dispatch(sim: DouyinSim, path: str, q: dict[str, str]) -> Any:
    method = q.get("method", "")
    if method.replace(".", "/") != path:
        raise Fault(40001, "method与路径不一致", "isv.method-invalid", method)
    _check_signature(sim, q)
    _check_timestamp(sim, q.get("timestamp", ""))
    params = json.loads(q.get("param_json") or "{}")
    if method in ("token.create", "token.refresh"):
        if method == "token.create" and (params.get("grant_type") != "authorization_self"
                                         or str(params.get("shop_id")) != sim.shop_id):
            raise Fault(30001, "授权失败", "isv.app-permissions-insufficient", "shop not authorized")
        if method == "token.refresh" and params.get("refresh_token") not in sim.tokens.refresh:
            raise Fault(30005, "refresh_token无效", "isv.refresh-token-invalid")
        token, refresh = sim.tokens.issue("dy")
        return {"access_token": token, "expires_in": int(sim.tokens.lifetime.total_seconds()),
                "refresh_token": refresh, "scope": "SCOPE", "shop_id": sim.shop_id, "shop_name": "测试店"}
    status = sim.tokens.check(q.get("access_token", ""))
    if status == "expired":
        raise Fault(30002, "access_token已过期", "isv.access-token-expired")
    if status == "unknown":
        raise Fault(30005, "access_token不存在", "isv.access-token-no-exist")
    if not sim.bucket.take(1):
        raise Fault(90000, "调用频率超限", "isv.frequency-limited", "请稍后重试")
    if sim.faults:
        raise sim.faults.pop(0)
    return handle_business(sim, method, params)


def create_app(
    dataset: Dataset,
    *,
    clock: Clock,
    app_key: str = "dy-app",
    app_secret: str = "dy-secret",
    shop_id: str = "4463798",
    token_lifetime: timedelta = timedelta(days=7),
    calls_per_second: float = 50.0,
    burst: float = 50.0,
) -> Starlette:
    """The fake gateway; its state (tokens, calls, injected faults) is ``app.state.sim``."""
    sim = DouyinSim(dataset, clock, app_key, app_secret, shop_id, TokenStore(clock, token_lifetime),
                    TokenBucket(clock, calls_per_second, burst))

    async def endpoint(request: Request) -> JSONResponse:
        sim.calls.append(request.url.path)
        try:
            data = dispatch(sim, request.path_params["path"], dict(request.query_params))
        except Fault as fault:
            return JSONResponse({**fault.envelope, "log_id": f"log{len(sim.calls)}"})
        return JSONResponse({"code": 10000, "msg": "success", "sub_code": "", "sub_msg": "", "data": data,
                             "log_id": f"log{len(sim.calls)}"})

    app = Starlette(routes=[Route("/{path:path}", endpoint, methods=["GET", "POST"])])
    app.state.sim = sim
    install_dropper(app)  # app.state.drops.drop_next(n): the next n connections drop mid-response
    return app
