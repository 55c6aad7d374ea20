"""TOP HTTP client: signed POSTs to the router, error envelopes → exceptions, token refresh."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from pydantic import Field, SecretStr

from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError
from shopsentinel.sources.kit import RouterClient, RouterConfig, SignMethod, TokenExpiredError, Tokens
from shopsentinel.sources.taobao.signing import signed_request

# trades.sold.get only returns these types by default; everything else must be asked for.
ALL_TRADE_TYPES: tuple[str, ...] = (
    "fixed", "auction", "guarantee_trade", "step", "independent_simple_trade", "independent_shop_trade",
    "auto_delivery", "ec", "cod", "game_equipment", "shopex_trade", "netcn_trade", "external_trade",
    "instant_trade", "b2c_cod", "hotel_trade", "super_market_trade", "super_market_cod_trade",
    "taohua", "waimai", "o2o_offlinetrade", "nopaid", "eticket", "tmall_i18n",
)  # fmt: skip
THROTTLED = "7"
AUTH_CODES = {"11", "12", "25", "26", "27", "28", "29"}
_BAN_SECONDS = re.compile(r"(\d+(?:\.\d+)?)\s*(?:more\s+)?seconds?", re.IGNORECASE)


class TaobaoSkuStock(NamedTuple):
    """One on-sale SKU as the playbooks see it (``find_sku_stock``)."""

    num_iid: int
    sku_id: int
    quantity: int
    price: float


class TaobaoConfig(RouterConfig):
    base_url: str = "https://gw.api.taobao.com/router/rest"
    sign_method: SignMethod = "md5"
    page_size: int = Field(default=100, ge=1, le=100)
    trade_types: tuple[str, ...] = ALL_TRADE_TYPES


def response_root(method: str) -> str:
    """``taobao.trades.sold.get`` → ``trades_sold_get_response`` (``tmall.*`` keeps its prefix)."""
    name = method.removeprefix("taobao.")
    return name.replace(".", "_") + "_response"


def error_from_envelope(method: str, error: dict[str, Any]) -> SourceError:
    code = str(error.get("code", ""))
    sub_code, sub_msg = str(error.get("sub_code", "")), str(error.get("sub_msg", ""))
    text = f"taobao {method}: {error.get('msg', 'error')}"
    if sub_code or sub_msg:
        text += f" ({sub_code}: {sub_msg})"
    if code == THROTTLED:
        found = _BAN_SECONDS.search(sub_msg)
        return ThrottledError(f"[{code}] {text}", retry_after=float(found.group(1)) if found else 1.0)
    if code == "27" and "expired" in sub_code:
        return TokenExpiredError(f"[{code}] {text}")
    if code in AUTH_CODES:
        return AuthError(f"[{code}] {text}")
    return PlatformError(text, code=code)


class TaobaoClient(RouterClient):
    platform = "taobao"
    config: TaobaoConfig

    def _signed_form(self, method: str, business: dict[str, Any], token: str | None) -> dict[str, str]:
        return signed_request(
            method,
            business,
            app_key=self.config.app_key,
            secret=self.secret,
            session=token,
            timestamp=self.clock.now(),
            sign_method=self.config.sign_method,
        )

    def _unwrap(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        if "error_response" in body:
            raise error_from_envelope(method, body["error_response"])
        root = response_root(method)
        if not isinstance(body.get(root), dict):
            raise PlatformError(f"taobao {method}: response lacks {root!r}")
        result: dict[str, Any] = body[root]
        return result

    async def _refresh_tokens(self, refresh_token: str) -> Tokens:
        """``taobao.top.auth.token.refresh``: the answer is a JSON string in ``token_result``."""
        method = "taobao.top.auth.token.refresh"
        try:
            body = await self._post(method, {"refresh_token": refresh_token}, authorized=False)
            token = json.loads(body["token_result"])
        except (PlatformError, KeyError, ValueError) as exc:
            raise AuthError(f"taobao: token refresh failed: {exc}") from exc
        return Tokens(
            access_token=SecretStr(token["access_token"]),
            refresh_token=SecretStr(token["refresh_token"]) if token.get("refresh_token") else None,
            expires_at=self.clock.now() + timedelta(seconds=int(token.get("expires_in", 0))),
        )

    # --- writes used by the response playbooks (price-floor guard) -------------------------------

    async def find_sku(self, outer_id: str, *, page_size: int = 100) -> tuple[int, int, float] | None:
        """``(num_iid, sku_id, price)`` of the on-sale SKU whose merchant code is ``outer_id``."""
        found = await self.find_sku_stock(outer_id, page_size=page_size)
        return None if found is None else (found.num_iid, found.sku_id, found.price)

    async def update_sku_price(self, num_iid: int, sku_id: int, price: float) -> dict[str, Any]:
        """``taobao.item.sku.price.update``: set one SKU's price (yuan, two decimals)."""
        body = await self.call("taobao.item.sku.price.update",
                               {"num_iid": num_iid, "sku_id": sku_id, "price": f"{price:.2f}"})
        sku: dict[str, Any] = body.get("sku", {})
        return sku

    async def find_sku_stock(self, outer_id: str, *, page_size: int = 100) -> TaobaoSkuStock | None:
        """The on-sale SKU whose merchant code is ``outer_id``, with its sellable quantity and price."""
        page = 1
        while True:
            body = await self.call("taobao.items.onsale.get", {"fields": "num_iid,skus", "page_no": page,
                                                                 "page_size": page_size, "use_has_next": "true"})
            for item in body.get("items", []):
                for sku in item.get("skus", []):
                    if sku.get("outer_id") == outer_id:
                        return TaobaoSkuStock(int(item["num_iid"]), int(sku["sku_id"]), int(sku.get("quantity") or 0),
                                              float(sku["price"]))
            if not body.get("has_next"):
                return None
            page += 1

    async def update_sku_quantity(self, num_iid: int, sku_id: int, quantity: int) -> dict[str, Any]:
        """``taobao.item.quantity.update`` with ``type=1`` (absolute, ≥ 0): set one SKU's sellable
        quantity. Returns the answer's ``item`` (``num_iid, num, modified, skus[...]``)."""
        body = await self.call("taobao.item.quantity.update",
                               {"num_iid": num_iid, "sku_id": sku_id, "quantity": quantity, "type": 1})
        item: dict[str, Any] = body.get("item", {})
        return item

    async def sold_trades(self, start: datetime, end: datetime, fields: str, *, page_size: int = 100,
                          max_pages: int = 50) -> list[dict[str, Any]]:
        """``taobao.trades.sold.get`` (by creation time, every trade type): the trades created in
        ``[start, end]``, at most ``max_pages`` pages."""
        trades: list[dict[str, Any]] = []
        for page in range(1, max_pages + 1):
            body = await self.call("taobao.trades.sold.get", {
                "fields": fields, "start_created": start, "end_created": end, "type": ",".join(self.config.trade_types),
                "page_no": page, "page_size": page_size, "use_has_next": "true"})
            trades += body.get("trades", [])
            if not body.get("has_next"):
                break
        return trades
