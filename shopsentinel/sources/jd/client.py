"""JOS HTTP client: signed POSTs to ``routerjson``, both error layers → exceptions, token refresh.

JOS reports errors in two layers: the gateway ``error_response{code, zh_desc, en_desc}`` and,
inside a successful envelope, a business ``apiResult{success: false, numberCode, …}``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import httpx
from pydantic import Field, SecretStr

from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError
from shopsentinel.sources.jd.signing import signed_request
from shopsentinel.sources.kit import RouterClient, RouterConfig, TokenExpiredError, Tokens

# Gateway codes. PLATFORMS.md documents the envelope but not these numbers: they are assumptions
# to confirm in the JOS console (edit here; the fake imports them).
CODE_TIMESTAMP_INVALID = "12"
CODE_SIGN_INVALID = "14"
CODE_APP_KEY_INVALID = "15"
CODE_TOKEN_INVALID = "19"  # zh_desc/en_desc tell "expired" apart from "invalid"
CODE_THROTTLED = "61"
CODE_BAD_PARAMETER = "67"
AUTH_CODES = {CODE_SIGN_INVALID, CODE_APP_KEY_INVALID, CODE_TOKEN_INVALID}
_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*(?:s\b|sec|seconds?|秒)", re.IGNORECASE)


# jingdong.pop.order.search: every orderState, and the widest date range one query may span.
ORDER_STATES = "WAIT_SELLER_STOCK_OUT,WAIT_GOODS_RECEIVE_CONFIRM,WAIT_SELLER_DELIVERY,PAUSE,FINISHED_L,TRADE_CANCELED,LOCKED,POP_ORDER_PAUSE"
MAX_ORDER_RANGE = timedelta(days=30)


class JdSkuStock(NamedTuple):
    """One SKU as the playbooks see it (``find_sku_stock``)."""

    sku_id: int
    quantity: int
    price: float


class JdConfig(RouterConfig):
    base_url: str = "https://api.jd.com/routerjson"
    oauth_url: str = Field(default="https://open-oauth.jd.com/oauth2", description="OAuth base (refresh_token)")
    page_size: int = Field(default=50, ge=1, le=50)


def response_root(method: str) -> str:
    """``jingdong.pop.order.search`` → ``jingdong_pop_order_search_responce`` (sic)."""
    return method.replace(".", "_") + "_responce"


def error_from_envelope(method: str, error: dict[str, Any]) -> SourceError:
    code = str(error.get("code", ""))
    zh, en = str(error.get("zh_desc", "")), str(error.get("en_desc", ""))
    text = f"jd {method}: {en or zh}" + (f" ({zh})" if zh and en else "")
    if code == CODE_THROTTLED:
        found = _SECONDS.search(en) or _SECONDS.search(zh)
        return ThrottledError(f"[{code}] {text}", retry_after=float(found.group(1)) if found else 1.0)
    if code == CODE_TOKEN_INVALID and ("过期" in zh or "expired" in en.lower()):
        return TokenExpiredError(f"[{code}] {text}")
    if code in AUTH_CODES:
        return AuthError(f"[{code}] {text}")
    return PlatformError(text, code=code)


def check_api_result(method: str, result: dict[str, Any]) -> None:
    """The business layer: ``apiResult.success == false`` is an error even inside a 200 envelope."""
    api = result.get("apiResult")
    if isinstance(api, dict) and api.get("success") is False:
        message = api.get("englishErrCode") or api.get("chineseErrCode") or "business error"
        raise PlatformError(f"jd {method}: {message}", code=str(api.get("numberCode", "")))


class JdClient(RouterClient):
    platform = "jd"
    nested_business = True
    config: JdConfig

    def _signed_form(self, method: str, business: dict[str, Any], token: str | None) -> dict[str, str]:
        return signed_request(
            method, business, app_key=self.config.app_key, secret=self.secret, access_token=token, timestamp=self.clock.now()
        )

    def _unwrap(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if "error_response" in body:
            raise error_from_envelope(method, body["error_response"])
        root = response_root(method)
        if not isinstance(body.get(root), dict):
            raise PlatformError(f"jd {method}: response lacks {root!r}")
        result: dict[str, Any] = body[root]
        return result

    async def _refresh_tokens(self, refresh_token: str) -> Tokens:
        """``/oauth2/refresh_token`` ([R] in PLATFORMS.md: path and answer shape to confirm). Sent as a
        POST form so the app secret never shows up in a logged URL."""
        form = {
            "app_key": self.config.app_key,
            "app_secret": self.secret,
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
        }
        try:
            response = await self._http.post(f"{self.config.oauth_url}/refresh_token", data=form)
            token = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise AuthError(f"jd: token refresh failed: {type(exc).__name__}") from exc
        if not isinstance(token, dict) or not token.get("access_token"):
            detail = token.get("msg", "no access_token") if isinstance(token, dict) else "bad answer"
            raise AuthError(f"jd: token refresh failed: [{token.get('code') if isinstance(token, dict) else ''}] {detail}")
        return Tokens(
            access_token=SecretStr(str(token["access_token"])),
            refresh_token=SecretStr(str(token["refresh_token"])) if token.get("refresh_token") else None,
            expires_at=self.clock.now() + timedelta(seconds=int(token.get("expires_in", 0))),
        )

    # --- writes used by the response playbooks (price-floor guard) -------------------------------

    async def find_sku(self, outer_id: str, *, page_size: int = 50) -> tuple[int, float] | None:
        """``(skuId, jdPrice)`` of the SKU whose merchant code is ``outer_id``."""
        found = await self.find_sku_stock(outer_id, page_size=page_size)
        return None if found is None else (found.sku_id, found.price)

    async def update_sku_price(self, sku_id: int, price: float) -> dict[str, Any]:
        """``jingdong.price.write.updateSkuJdPrice``; a business refusal raises PlatformError."""
        body = await self.call("jingdong.price.write.updateSkuJdPrice", {"skuId": sku_id, "jdPrice": f"{price:.2f}"})
        result: dict[str, Any] = body.get("updateskujdprice_result", {})
        if not result.get("success"):
            raise PlatformError(f"jd updateSkuJdPrice: {result.get('resultMessage', 'refused')}",
                                code=str(result.get("resultCode", "")))
        return result

    async def find_sku_stock(self, outer_id: str, *, page_size: int = 50) -> JdSkuStock | None:
        """The SKU whose merchant code is ``outer_id`` with its stock (``stockNum``) and price."""
        page = 1
        while True:
            body = await self.call("jingdong.sku.read.searchSkuList", {"page": page, "page_size": page_size})
            result = body.get("page", {})
            for row in result.get("data", []):
                if row.get("outerId") == outer_id:
                    return JdSkuStock(int(row["skuId"]), int(row.get("stockNum") or 0), float(row["jdPrice"]))
            if page * page_size >= int(result.get("totalItem", 0)):
                return None
            page += 1

    async def update_sku_stock(self, sku_id: int, quantity: int) -> dict[str, Any]:
        """``jingdong.ware.stock.sku.set``: set one SKU's sellable stock (``req.skuStocks[{skuId,
        stockNum}]``; the answer is ``returnType{success, obj.updateStockResult[{data, success,
        message}]}``). JOS marks the older ``jingdong.stock.write.updateSkuStock`` 推下线 (being retired)
        in favour of this one (seen in JD's public SDK ports). A refusal, overall or for the SKU,
        raises PlatformError."""
        body = await self.call("jingdong.ware.stock.sku.set", {"req": {"skuStocks": [{"skuId": sku_id, "stockNum": quantity}]}})
        answer: dict[str, Any] = body.get("returnType", {})
        rows = (answer.get("obj") or {}).get("updateStockResult") or []
        mine = next((r for r in rows if str(r.get("data")) == str(sku_id)), None)
        if not answer.get("success") or mine is None or not mine.get("success"):
            reason = (mine or {}).get("message") or answer.get("message") or "refused"
            raise PlatformError(f"jd ware.stock.sku.set: {reason}", code=str(answer.get("code", "")))
        return mine

    async def search_orders(self, start: datetime, end: datetime, fields: str, *, by_created: bool = True,
                            max_pages: int = 50) -> list[dict[str, Any]]:
        """``jingdong.pop.order.search`` over ``[start, end]`` in ranges of at most 30 days, every order
        state; ``fields`` is the ``optional_fields`` list (the buyer account is ``pin``, as in JD's
        public SDK ports and clients; newer apps may get ``open_id_buyer`` instead)."""
        orders: list[dict[str, Any]] = []
        low = start
        while low <= end:
            high = min(low + MAX_ORDER_RANGE, end)
            for page in range(1, max_pages + 1):
                body = await self.call("jingdong.pop.order.search", {
                    "start_date": low, "end_date": high, "date_type": 1 if by_created else 0, "order_state": ORDER_STATES,
                    "optional_fields": fields, "page": page, "page_size": self.config.page_size})
                result = body.get("searchorderinfo_result", {})
                check_api_result("jingdong.pop.order.search", result)
                orders += result.get("orderInfoList", [])
                if page * self.config.page_size >= int(result.get("orderTotal", 0)):
                    break
            if high >= end:
                break
            low = high + timedelta(seconds=1)
        return orders
