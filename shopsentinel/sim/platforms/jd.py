"""A fake JOS router (``/routerjson``) and OAuth refresh (``/oauth2/refresh_token``) serving a Dataset.

It checks app key, the MD5 signature over the params including ``360buy_param_json``, the ±6 min
GMT+8 timestamp window and the access token; throttles; pages with ``page``/``page_size`` (≤ 50)
and ``orderTotal``; honours ``optional_fields``; answers HTTP 200 with ``error_response`` (gateway
layer) or ``apiResult.success=false`` (business layer). Error code numbers follow the connector's
assumptions (:mod:`shopsentinel.sources.jd.client`). Unpaid orders are not served: the real
``pop.order.search`` has no unpaid state.

Writes (used by the response playbooks): ``jingdong.price.write.updateSkuJdPrice`` and
``jingdong.ware.stock.sku.set`` (``req.skuStocks[{skuId, stockNum}]`` → ``returnType{success,
obj.updateStockResult[…]}``, the successor JOS names for the retired ``jingdong.stock.write.updateSkuStock``;
shapes as in JD's public SDK ports) append a new stock snapshot, so the change shows in
``searchSkuList`` and the connector's stock stream. Orders carry the buyer's ``pin`` (asked for
through ``optional_fields``; see :func:`buyer_pin`, ``buyers`` overrides it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import timedelta

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
from shopsentinel.sources.jd import client as codes
from shopsentinel.sources.kit import format_china_time, format_money, parse_china_time, sign_params

# Standard state → the orderState this fake emits (待付款 is never served).
NATIVE_ORDER_STATE: dict[str, str] = {
    "待发货": "WAIT_SELLER_STOCK_OUT",
    "在途": "WAIT_GOODS_RECEIVE_CONFIRM",
    "已完成": "FINISHED_L",
    "退款中": "LOCKED",
    "已取消": "TRADE_CANCELED",
    "已退款": "TRADE_CANCELED",  # paid, then cancelled: carries paymentConfirmTime
}
MAX_PAGE_SIZE = 50


class JosError(Exception):
    def __init__(self, code: str, en_desc: str, zh_desc: str) -> None:
        super().__init__(en_desc)
        self.body = {"code": code, "en_desc": en_desc, "zh_desc": zh_desc}


def buyer_pin(order_id: str) -> str:
    """The buyer account (``pin``) this fake gives an order (unless ``buyers`` names one)."""
    return "jd_" + hashlib.md5(f"jd-buyer-{order_id}".encode()).hexdigest()[:12]


def render_order(order: Order) -> Json:
    info: Json = {
        "orderId": order.order_id,
        "venderId": "10001",
        "orderState": NATIVE_ORDER_STATE[order.status],
        "orderPayment": format_money(order.amount),
        "orderTotalPrice": format_money(order.amount),
        "freightPrice": "0.00",
        "orderStartTime": format_china_time(order.created_at),
        "modified": format_china_time(order.updated_at or order.created_at),
        "itemInfoList": [
            {"skuId": str(1000 + i), "outerSkuId": line.sku, "skuName": line.sku, "wareId": "900",
             "jdPrice": format_money(line.amount / line.quantity), "itemTotal": str(line.quantity)}
            for i, line in enumerate(order.lines)
        ],
    }  # fmt: skip
    if order.paid_at is not None:
        info["paymentConfirmTime"] = format_china_time(order.paid_at)
    return info


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
    timestamp_tolerance: timedelta = timedelta(minutes=6),
    buyers: Mapping[str, str] | None = None,
) -> Starlette:
    fake = RouterFake.open(app_key=app_key, clock=clock, access_token=access_token, refresh_token=refresh_token,
                           token_ttl=token_ttl, tolerance=timestamp_tolerance, rate_limit=rate_limit)
    log, credentials, gate = fake.log, fake.credentials, fake.gate
    rejections = {
        "app_key_missing": JosError(codes.CODE_APP_KEY_INVALID, "app_key is missing", "缺少app_key"),
        "app_key_invalid": JosError(codes.CODE_APP_KEY_INVALID, "invalid app_key", "无效的app_key"),
        "sign_invalid": JosError(codes.CODE_SIGN_INVALID, "invalid sign", "签名无效"),
        "timestamp_invalid": JosError(codes.CODE_TIMESTAMP_INVALID, "timestamp out of range", "时间戳无效"),
        "token_missing": JosError(codes.CODE_TOKEN_INVALID, "access_token is missing", "缺少access_token"),
        "token_unknown": JosError(codes.CODE_TOKEN_INVALID, "invalid access_token", "无效的access_token"),
        "token_expired": JosError(codes.CODE_TOKEN_INVALID, "access_token expired", "access_token已过期"),
    }

    def order_search(business: Json) -> Json:
        size, page = int(business.get("page_size", 10)), int(business.get("page", 1))
        if size > MAX_PAGE_SIZE or page < 1:
            raise JosError(codes.CODE_BAD_PARAMETER, f"page_size must be <= {MAX_PAGE_SIZE}", "分页参数错误")
        if not business.get("optional_fields"):
            return {"searchorderinfo_result": {"apiResult": {
                "success": False, "numberCode": 10100011, "chineseErrCode": "optional_fields不能为空",
                "englishErrCode": "optional_fields is required"}}}  # fmt: skip
        start, end = parse_china_time(business["start_date"]), parse_china_time(business["end_date"])
        if end - start > timedelta(days=31):
            raise JosError(codes.CODE_BAD_PARAMETER, "date range must be within one month", "时间范围不能超过一个月")
        by_created = str(business.get("date_type", "0")) == "1"
        states = set(str(business.get("order_state", "")).split(","))
        orders = [
            o for o in visible(dataset, clock.now()).orders
            if o.status in NATIVE_ORDER_STATE and NATIVE_ORDER_STATE[o.status] in states
            and between(o.created_at if by_created else (o.updated_at or o.created_at), start, end)
        ]  # fmt: skip
        orders.sort(key=lambda o: (o.created_at, o.order_id))
        chunk, total, _ = page_of(orders, page, size)
        fields = str(business["optional_fields"]).split(",")
        return {"searchorderinfo_result": {
            "apiResult": {"success": True, "numberCode": 10100000, "chineseErrCode": "成功", "englishErrCode": "success"},
            "orderInfoList": [project({**render_order(o), "pin": (buyers or {}).get(o.order_id) or buyer_pin(o.order_id)},
                                      fields) for o in chunk], "orderTotal": total}}  # fmt: skip

    def sku_list(business: Json) -> Json:
        size, page = int(business.get("page_size", 20)), int(business.get("page", 1))
        snaps = sorted(visible(dataset, clock.now()).stock, key=lambda s: s.sku)
        chunk, total, _ = page_of(snaps, page, size)
        rows = [
            {"skuId": 1000 + i + (page - 1) * size, "wareId": 900, "outerId": s.sku, "jdPrice": format_money(s.price or 0.0),
             "stockNum": s.quantity, "modified": format_china_time(s.at)} for i, s in enumerate(chunk)
        ]  # fmt: skip
        fields = str(business.get("field", "")).split(",") if business.get("field") else None
        return {"page": {"data": [project(r, fields) if fields else r for r in rows], "totalItem": total,
                         "pageNo": page, "pageSize": size}}  # fmt: skip

    def update_price(business: Json) -> Json:
        """``jingdong.price.write.updateSkuJdPrice``: skuId (as listed by searchSkuList) + jdPrice."""
        snaps = sorted(visible(dataset, clock.now()).stock, key=lambda s: s.sku)
        index = int(business.get("skuId", 0) or 0) - 1000
        try:
            price = float(business.get("jdPrice", ""))
        except ValueError:
            raise JosError(codes.CODE_BAD_PARAMETER, "jdPrice must be a number", "价格格式错误") from None
        if not 0 <= index < len(snaps) or price <= 0:
            return {"updateskujdprice_result": {"success": False, "resultCode": "2001", "resultMessage": "sku or price invalid"}}
        dataset.stock.append(StockSnapshot(snaps[index].sku, clock.now(), snaps[index].quantity, round(price, 2)))
        return {"updateskujdprice_result": {"success": True, "resultCode": "0", "skuId": 1000 + index,
                                            "jdPrice": format_money(price)}}

    def update_stock(business: Json) -> Json:
        """``jingdong.ware.stock.sku.set``: ``req.skuStocks`` of ``{skuId (as listed by searchSkuList),
        stockNum ≥ 0}``; each SKU is answered on its own in ``updateStockResult``."""
        snaps = sorted(visible(dataset, clock.now()).stock, key=lambda s: s.sku)
        request = business.get("req")
        if not isinstance(request, dict) or not isinstance(request.get("skuStocks"), list) or not request["skuStocks"]:
            raise JosError(codes.CODE_BAD_PARAMETER, "req.skuStocks is required", "缺少 req.skuStocks")
        results = []
        for entry in request["skuStocks"]:
            sku_id = entry.get("skuId") if isinstance(entry, dict) else None
            quantity = entry.get("stockNum") if isinstance(entry, dict) else None
            index = sku_id - 1000 if isinstance(sku_id, int) else -1
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0 or not 0 <= index < len(snaps):
                results.append({"data": str(sku_id), "success": False, "storeId": 0, "message": "sku or stockNum invalid"})
                continue
            dataset.stock.append(StockSnapshot(snaps[index].sku, clock.now(), quantity, snaps[index].price))
            results.append({"data": str(sku_id), "success": True, "storeId": 0})
        return {"returnType": {"success": any(r["success"] for r in results), "code": "0",
                               "obj": {"updateStockResult": results}}}

    handlers: dict[str, Callable[[Json], Json]] = {
        "jingdong.pop.order.search": order_search,
        "jingdong.sku.read.searchSkuList": sku_list,
        "jingdong.price.write.updateSkuJdPrice": update_price,
        "jingdong.ware.stock.sku.set": update_stock,
    }

    def handle(params: dict[str, str]) -> Json:
        method = params.get("method", "")
        sent_at = parsed_or_none(parse_china_time, params.get("timestamp", ""))
        try:
            gate.check(params.get("app_key"), params.get("sign") == sign_params(params, app_secret), sent_at,
                       params.get("access_token"), True)  # fmt: skip
        except Rejected as rejected:
            if rejected.kind == "throttled":
                seconds = int(rejected.ban_seconds)
                raise JosError(codes.CODE_THROTTLED, f"call limit exceeded, retry after {seconds} seconds",
                               f"调用频率超限，请{seconds}秒后重试") from None  # fmt: skip
            raise rejections[rejected.kind] from None
        if method not in handlers:
            raise JosError("10", "method not found", "方法不存在")
        try:
            business = json.loads(params.get("360buy_param_json") or "{}")
        except ValueError:
            raise JosError(codes.CODE_BAD_PARAMETER, "360buy_param_json is not JSON", "参数格式错误") from None
        return {"code": "0", **handlers[method](business)}

    async def router(request: Request) -> JSONResponse:
        params = await form_of(request)
        log.calls.append((params.get("method", ""), params))
        try:
            body = handle(params)
        except JosError as exc:
            return JSONResponse({"error_response": exc.body})
        return JSONResponse({params["method"].replace(".", "_") + "_responce": body})

    async def refresh(request: Request) -> JSONResponse:
        params = await form_of(request)
        log.calls.append(("oauth2.refresh_token", params))
        if params.get("app_key") != app_key or params.get("app_secret") != app_secret:
            return JSONResponse({"code": 402, "msg": "invalid app_key or app_secret"})
        pair = credentials.rotate(params.get("refresh_token", ""))
        if params.get("grant_type") != "refresh_token" or pair is None:
            return JSONResponse({"code": 403, "msg": "invalid refresh_token"})
        return JSONResponse({"code": 0, "access_token": pair[0], "refresh_token": pair[1], "token_type": "bearer",
                             "expires_in": int(token_ttl.total_seconds()), "scope": "snsapi_base"})  # fmt: skip

    return fake.app([
        Route("/routerjson", router, methods=["GET", "POST"]),
        Route("/oauth2/refresh_token", refresh, methods=["GET", "POST"]),
    ])  # fmt: skip
