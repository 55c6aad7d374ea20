"""A fake Kuaishou e-shop (快手小店) open platform serving a :class:`Dataset` in native shapes.

It checks what PLATFORMS.md §5 documents — ``appkey``, the MD5 / HMAC-SHA256 signature over the
sorted ``k=v`` string plus ``&signSecret=``, the Unix-millisecond ``timestamp`` (±10 min) — and
access tokens with expiry and rotating refresh tokens (``GET /oauth2/refresh_token`` [R]). Answers
are HTTP 200 with ``result`` (1 = success; the error numbers are [R], see sources/kuaishou/README.md).
Orders and refunds are paged by ``pcursor`` ("nomore" ends); money is integer fen, times Unix ms.
``app.state.drops.drop_next(n)`` drops the next connections.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shopsentinel.core.clock import Clock
from shopsentinel.sim.platforms.dataset import Dataset, visible
from shopsentinel.sim.platforms.dataset_intl import TokenBucket, TokenStore
from shopsentinel.sim.platforms.generic_faults import install_dropper
from shopsentinel.sources.base import Order, Refund
from shopsentinel.sources.kuaishou.signing import sign_params

Json = dict[str, Any]
MAX_PAGE_SIZE = 100


class Fault(Exception):
    def __init__(self, result: int, message: str) -> None:
        super().__init__(message)
        self.body = {"result": result, "error_msg": message, "code": str(result)}


@dataclass
class KuaishouSim:
    dataset: Dataset
    clock: Clock
    app_key: str
    app_secret: str
    sign_secret: str
    tokens: TokenStore
    bucket: TokenBucket
    skew: timedelta = timedelta(minutes=10)
    calls: list[str] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)

    def fail_next(self, result: int, message: str) -> None:
        self.faults.append(Fault(result, message))


def _ms(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1000) if moment else 0


def _fen(amount: float) -> int:
    return round(amount * 100)


def native_status(order: Order) -> tuple[int, int]:
    """``(status, refundStatus)``; odd order ids finish as 50 (已收货), even ones as 70 (交易成功)."""
    if order.status == "退款中":
        return (40 if order.shipped_at else 30), 1
    if order.status == "已退款":
        return 80, 2
    odd = sum(map(ord, order.order_id)) % 2 == 1
    return {"待付款": 10, "待发货": 30, "在途": 40, "已完成": 50 if odd else 70, "已取消": 80}[order.status], 0


def render_order(order: Order) -> Json:
    status, refund = native_status(order)
    return {
        "orderBaseInfo": {
            "oid": int(order.order_id) if order.order_id.isdigit() else order.order_id,
            "status": status, "refundStatus": refund, "createTime": _ms(order.created_at),
            "updateTime": _ms(order.updated_at or order.created_at), "payTime": _ms(order.paid_at),
            "sendTime": _ms(order.shipped_at), "totalFee": _fen(order.amount),
        },
        "orderItemList": [{"skuNick": line.sku, "num": line.quantity, "itemFee": _fen(line.amount)} for line in order.lines],
    }


def render_refund(refund: Refund) -> Json:
    return {"refundId": refund.refund_id, "oid": refund.order_id, "createTime": _ms(refund.created_at),
            "updateTime": _ms(refund.created_at), "refundFee": _fen(refund.amount),
            "status": 2 if refund.status == "已退款" else 1}


def _paged(rows: list[Json], params: Json, key: str) -> Json:
    size = int(params.get("pageSize", 20))
    if not 1 <= size <= MAX_PAGE_SIZE:
        raise Fault(40, f"pageSize must be 1..{MAX_PAGE_SIZE}")
    cursor = str(params.get("pcursor") or "")
    try:
        offset = int(base64.urlsafe_b64decode(cursor.encode()).decode()) if cursor else 0
    except ValueError:
        raise Fault(40, "invalid pcursor") from None
    following = offset + size
    token = base64.urlsafe_b64encode(str(following).encode()).decode() if following < len(rows) else "nomore"
    return {key: rows[offset:following], "pcursor": token}


def _window(params: Json) -> tuple[int, int]:
    if params.get("queryType") != 2:
        raise Fault(40, "queryType must be 2 (update time) in this fake")
    return int(params["beginTime"]), int(params["endTime"])


def dispatch(sim: KuaishouSim, path: str, q: dict[str, str]) -> Json:
    method = q.get("method", "")
    if method.replace(".", "/") != path:
        raise Fault(40, f"method {method!r} does not match the path")
    if q.get("appkey") != sim.app_key:
        raise Fault(20, "appkey不存在")
    if q.get("sign", "") != sign_params(q, sim.sign_secret):
        raise Fault(17, "签名校验失败")
    try:
        sent = datetime.fromtimestamp(int(q.get("timestamp", "")) / 1000, UTC)
    except ValueError:
        raise Fault(21, "timestamp格式错误") from None
    if abs(sent - sim.clock.now()) > sim.skew:
        raise Fault(21, "请求已过期")
    if sim.tokens.check(q.get("access_token", "")) != "ok":
        raise Fault(24, "access_token已过期或无效")
    if not sim.bucket.take(1):
        raise Fault(30, "调用频率超限")
    if sim.faults:
        raise sim.faults.pop(0)
    params: Json = json.loads(q.get("param") or "{}")
    data = visible(sim.dataset, sim.clock.now())
    if method == "open.seller.order.pcursor.list":
        low, high = _window(params)
        rows = sorted((render_order(o) for o in data.orders),
                      key=lambda r: (r["orderBaseInfo"]["updateTime"], str(r["orderBaseInfo"]["oid"])))
        rows = [r for r in rows if low <= r["orderBaseInfo"]["updateTime"] <= high]
        return _paged(rows, params, "orderList")
    if method == "open.seller.order.refund.pcursor.list":
        low, high = _window(params)
        rows = sorted((render_refund(r) for r in data.refunds), key=lambda r: (r["updateTime"], r["refundId"]))
        return _paged([r for r in rows if low <= r["updateTime"] <= high], params, "refundOrderInfoList")
    raise Fault(40, f"接口不存在 {method}")


def create_app(
    dataset: Dataset,
    *,
    clock: Clock,
    app_key: str = "ks-app",
    app_secret: str = "ks-secret",
    sign_secret: str = "ks-sign-secret",
    refresh_token: str = "ks-refresh-0",
    token_lifetime: timedelta = timedelta(hours=48),
    calls_per_second: float = 50.0,
    burst: float = 50.0,
) -> Starlette:
    """The fake gateway; its state (tokens, calls, faults) is ``app.state.sim``."""
    tokens = TokenStore(clock, token_lifetime)
    tokens.refresh.add(refresh_token)
    sim = KuaishouSim(dataset, clock, app_key, app_secret, sign_secret, tokens, TokenBucket(clock, calls_per_second, burst))

    async def refresh(request: Request) -> JSONResponse:
        sim.calls.append("refresh_token")
        q = request.query_params
        if q.get("app_id") != sim.app_key or q.get("app_secret") != sim.app_secret:
            return JSONResponse({"result": 101, "error": "invalid_client", "error_msg": "app_id或app_secret错误"})
        spent = q.get("refresh_token", "")
        if q.get("grant_type") != "refresh_token" or spent not in sim.tokens.refresh:
            return JSONResponse({"result": 102, "error": "invalid_grant", "error_msg": "refresh_token无效"})
        sim.tokens.refresh.discard(spent)
        access, renewed = sim.tokens.issue("ks")
        return JSONResponse({"result": 1, "access_token": access, "refresh_token": renewed,
                             "expires_in": int(sim.tokens.lifetime.total_seconds()), "scopes": ["merchant_order"]})

    async def endpoint(request: Request) -> JSONResponse:
        path = request.path_params["path"]
        sim.calls.append(path.replace("/", "."))
        try:
            data = dispatch(sim, path, dict(request.query_params))
        except Fault as fault:
            return JSONResponse(fault.body)
        return JSONResponse({"result": 1, "data": data})

    app = Starlette(routes=[Route("/oauth2/refresh_token", refresh, methods=["GET"]),
                            Route("/{path:path}", endpoint, methods=["GET"])])
    app.state.sim = sim
    install_dropper(app)
    return app
