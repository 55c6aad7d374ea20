"""Playbook actions that call the store's platform API (Taobao/TOP, JD/JOS router clients, built
from the store's ``integrations.platforms`` entry): ``lock_item`` / ``unlock_item`` (sellable
quantity to 0 and back), ``crm_tag`` (buyer ids of the affected orders) and ``restore_price``.

``lock_item`` remembers the quantity it replaced, checkpointed on the step before the platform is
called, so a retry of the same action key never remembers 0. Listed in
:data:`~shopsentinel.actions.registry.ACTIONS`.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import polars as pl

from shopsentinel.actions.base import ActionContext, ActionFailed
from shopsentinel.actions.builtin import event_payload, post_signed
from shopsentinel.actions.config import PlatformApiConfig
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError

if TYPE_CHECKING:
    from shopsentinel.sources.jd.client import JdClient
    from shopsentinel.sources.taobao.client import TaobaoClient

logger = logging.getLogger(__name__)

# --- platform clients -------------------------------------------------------------------------

def _platform_or_none(ctx: ActionContext) -> PlatformApiConfig | None:
    config = ctx.integrations.platforms.get(ctx.alert["platform"])
    if config is None or (config.stores and ctx.alert["store"] not in config.stores):
        return None
    return config


def _platform(ctx: ActionContext) -> PlatformApiConfig:
    config = _platform_or_none(ctx)
    if config is None:
        raise ActionFailed(f"no platform API configured for {ctx.alert['platform']}/{ctx.alert['store']}", recoverable=False)
    return config


def _taobao(ctx: ActionContext, config: PlatformApiConfig) -> TaobaoClient:
    from shopsentinel.sources.taobao.client import TaobaoClient, TaobaoConfig

    return TaobaoClient(TaobaoConfig(store=ctx.alert["store"], start=ctx.now, base_url=config.base_url,
                                     app_key=config.app_key, app_secret=config.app_secret,
                                     access_token=config.access_token), clock=ManualClock(ctx.now), http=ctx.http)


def _jd(ctx: ActionContext, config: PlatformApiConfig) -> JdClient:
    from shopsentinel.sources.jd.client import JdClient, JdConfig

    return JdClient(JdConfig(store=ctx.alert["store"], start=ctx.now, base_url=config.base_url, app_key=config.app_key,
                             app_secret=config.app_secret, access_token=config.access_token),
                    clock=ManualClock(ctx.now), http=ctx.http)


def _platform_failure(exc: SourceError) -> ActionFailed:
    if isinstance(exc, ThrottledError):
        return ActionFailed(str(exc), recoverable=True)
    if isinstance(exc, AuthError):
        return ActionFailed(str(exc), recoverable=False)
    recoverable = isinstance(exc, PlatformError) and ("transport error" in str(exc) or "HTTP 5" in str(exc))
    return ActionFailed(str(exc), recoverable=recoverable)


async def _sku_stock(ctx: ActionContext, config: PlatformApiConfig, sku: str) -> tuple[dict[str, Any], int]:
    """(how to address the SKU at the platform, its sellable quantity now)."""
    if config.platform == "taobao":
        found = await _taobao(ctx, config).find_sku_stock(sku)
        if found is None:
            raise ActionFailed(f"taobao: SKU {sku} is not on sale", recoverable=False)
        return {"api": "taobao", "num_iid": found.num_iid, "sku_id": found.sku_id}, found.quantity
    found_jd = await _jd(ctx, config).find_sku_stock(sku)
    if found_jd is None:
        raise ActionFailed(f"jd: SKU {sku} not found", recoverable=False)
    return {"api": "jd", "sku_id": found_jd.sku_id}, found_jd.quantity


async def _set_quantity(ctx: ActionContext, config: PlatformApiConfig, where: dict[str, Any], quantity: int) -> str:
    """Set the SKU's sellable quantity (absolute); returns the platform method used."""
    if config.platform == "taobao":
        await _taobao(ctx, config).update_sku_quantity(int(where["num_iid"]), int(where["sku_id"]), quantity)
        return "taobao.item.quantity.update"
    await _jd(ctx, config).update_sku_stock(int(where["sku_id"]), quantity)
    return "jingdong.ware.stock.sku.set"


# --- lock and unlock ---------------------------------------------------------------------------

def _lock_base(ctx: ActionContext) -> dict[str, Any]:
    return {"platform": ctx.alert["platform"], "store": ctx.alert["store"], "sku": ctx.alert.get("sku", "")}


def describe_lock(ctx: ActionContext) -> dict[str, Any]:
    config = _platform_or_none(ctx)
    if config is None or not ctx.alert.get("sku"):
        return {"would": "record the lock in ShopSentinel only (no platform API configured for this store, or no SKU)",
                "sku": ctx.alert.get("sku", "")}
    method = "taobao.item.quantity.update (type=1)" if config.platform == "taobao" else "jingdong.ware.stock.sku.set"
    return {"would": f"stop sales: read the SKU's sellable quantity, remember it, set it to 0 through {method}",
            "platform": config.platform, "sku": ctx.alert["sku"]}


async def lock_item(ctx: ActionContext) -> dict[str, Any]:
    """Stop sales of the alert's SKU at the platform (sellable quantity → 0), remembering the quantity.

    Idempotent: the quantity is checkpointed before the write, so a retry of the same action key
    reuses it (and skips the write when the SKU already shows 0); a lock another run still holds on
    the same SKU is adopted (its remembered quantity), never taken again.
    """
    base, sku = _lock_base(ctx), ctx.alert.get("sku", "")
    config = _platform_or_none(ctx)
    if config is None or not sku:
        ctx.run["locked"] = {**base, "platform_locked": False}
        return {"locked": True, "platform_locked": False, "sku": sku,
                "note": "只在 ShopSentinel 内锁定 / recorded in ShopSentinel only: "
                        + ("the alert has no SKU" if not sku else "no platform API configured for this store")
                        + "; sales continue at the platform"}
    if ctx.platform_locks:
        held = ctx.platform_locks[0]
        ctx.run["locked"] = {**{k: v for k, v in held.items() if k not in ("run", "released", "kept")},
                             "adopted_from": held["run"], "locked_at": held.get("locked_at")}
        return {"locked": True, "platform_locked": True, "sku": sku, "called_platform": False,
                "already_locked_by_run": held["run"], "previous_quantity": held.get("previous_quantity")}
    try:
        where, current = await _sku_stock(ctx, config, sku)
        remembered = ctx.saved.get("previous_quantity")
        previous = int(remembered) if remembered is not None else current
        if remembered is None:
            ctx.checkpoint({"previous_quantity": previous, **where})
        called = current != 0
        if called:
            await _set_quantity(ctx, config, where, 0)
    except SourceError as exc:
        raise _platform_failure(exc) from exc
    ctx.run["locked"] = {**base, **where, "platform_locked": True, "previous_quantity": previous,
                         "locked_at": f"{ctx.now:%Y-%m-%dT%H:%M:%SZ}"}
    result: dict[str, Any] = {"locked": True, "platform_locked": True, "sku": sku, "previous_quantity": previous,
                              "quantity": 0, "called_platform": called, **where}
    if not called:
        result["note"] = ("已为 0，未重复锁定 / the SKU already shows 0: not written again"
                          + (" (an earlier attempt of this step locked it)" if remembered is not None else ""))
    return result


def describe_unlock(ctx: ActionContext) -> dict[str, Any]:
    lock = ctx.run.get("locked") or {}
    return {"would": "put the remembered sellable quantity back through the platform API (only if the SKU still shows 0)",
            "sku": ctx.alert.get("sku", ""), "quantity": lock.get("previous_quantity")}


async def unlock_item(ctx: ActionContext) -> dict[str, Any]:
    """Undo ``lock_item``: set the SKU back to the quantity the lock remembered.

    Nothing can be sold while the quantity is 0, so the remembered quantity is restored as it was
    (no sales are subtracted or invented). If the SKU no longer shows 0 — someone restocked it by
    hand, an ERP sync wrote a new number, or an earlier attempt of this step already restored it —
    that number is left alone: the platform's current stock wins over our memory.
    """
    lock = ctx.run.get("locked")
    if not lock:
        return {"unlocked": False, "note": "this run holds no lock"}
    released_runs = [r for r in (ctx.run_id, lock.get("adopted_from")) if r]
    if lock.get("released"):
        return {"unlocked": True, "called_platform": False, "note": "already released", "released_runs": released_runs}
    config = _platform_or_none(ctx)
    if not lock.get("platform_locked") or config is None:
        ctx.run["locked"] = {**lock, "released": True, "released_at": f"{ctx.now:%Y-%m-%dT%H:%M:%SZ}"}
        return {"unlocked": True, "platform_unlocked": False, "called_platform": False,
                "note": "the lock was recorded in ShopSentinel only", "released_runs": released_runs}
    quantity = int(lock.get("previous_quantity") or 0)
    try:
        where, current = await _sku_stock(ctx, config, lock["sku"])
        called = current == 0 and quantity != 0
        if called:
            await _set_quantity(ctx, config, where, quantity)
    except SourceError as exc:
        raise _platform_failure(exc) from exc
    ctx.run["locked"] = {**lock, "released": True, "released_at": f"{ctx.now:%Y-%m-%dT%H:%M:%SZ}"}
    result: dict[str, Any] = {"unlocked": True, "platform_unlocked": True, "sku": lock["sku"], "from": current,
                              "to": quantity if current == 0 else current, "called_platform": called,
                              "released_runs": released_runs}
    if current != 0:
        result["note"] = (f"库存已不是 0（现为 {current}），未覆盖 / the SKU shows {current}, not 0: "
                          "left as it is (restocked meanwhile, or already restored)")
    return result


# --- CRM: tag the customers of the affected orders ------------------------------------------

MAX_CUSTOMERS = 500
TAOBAO_TRADE_FIELDS = "tid,created,status,buyer_open_uid,buyer_nick,orders"
JD_ORDER_FIELDS = "orderId,orderStartTime,orderState,paymentConfirmTime,itemInfoList,pin"
REFUND_STATES = frozenset({"退款中", "已退款"})  # ``params.orders: refunded`` keeps orders in these standard states


def _crm_payload(ctx: ActionContext) -> dict[str, Any]:
    a = ctx.alert
    return event_payload(ctx, "crm.tag", tag=ctx.params.get("tag", "售后关怀"), care_flow=ctx.params.get("care_flow", ""),
                          orders={"platform": a["platform"], "store": a["store"], "sku": a.get("sku", ""),
                                  "since": a.get("starts_at"), "only": ctx.params.get("orders", "all")})


def _alert_start(ctx: ActionContext) -> datetime:
    return datetime.fromisoformat(str(ctx.alert["starts_at"]).replace("Z", "+00:00"))


async def affected_customers(ctx: ActionContext, config: PlatformApiConfig) -> tuple[list[str], int, str]:
    """Distinct buyer ids of the store's orders created since the alert started (only those with the
    alert's SKU when it has one; with ``params.orders: refunded`` only orders being or having been
    refunded, read through the connectors' own state mapping), first seen first:
    ``(ids, orders matched, id type)``.

    Taobao: ``taobao.trades.sold.get`` → ``buyer_open_uid`` (``buyer_nick`` is masked nowadays and
    only a fallback); JD: ``jingdong.pop.order.search`` by creation time → ``pin``."""
    from shopsentinel.sources.jd.mapping import order_state as jd_state
    from shopsentinel.sources.taobao.mapping import order_state as taobao_state

    sku, start, refunds_only = ctx.alert.get("sku", ""), _alert_start(ctx), ctx.params.get("orders") == "refunded"
    ids: dict[str, None] = {}
    matched = 0
    if config.platform == "taobao":
        id_type = "buyer_open_uid"
        for trade in await _taobao(ctx, config).sold_trades(start, ctx.now, TAOBAO_TRADE_FIELDS):
            lines = [o for o in trade.get("orders", []) if not sku or o.get("outer_sku_id") == sku]
            if not lines or (refunds_only and taobao_state(str(trade.get("status", "")), [
                    str(o.get("refund_status", "NO_REFUND")) for o in lines]) not in REFUND_STATES):
                continue
            matched += 1
            buyer = trade.get("buyer_open_uid") or trade.get("buyer_nick")
            if buyer:
                ids.setdefault(str(buyer))
    else:
        id_type = "pin"
        for order in await _jd(ctx, config).search_orders(start, ctx.now, JD_ORDER_FIELDS):
            if sku and not any(i.get("outerSkuId") == sku for i in order.get("itemInfoList", [])):
                continue
            if refunds_only and jd_state(str(order.get("orderState", "")),
                                         bool(order.get("paymentConfirmTime"))) not in REFUND_STATES:
                continue
            matched += 1
            if order.get("pin"):
                ids.setdefault(str(order["pin"]))
    logger.debug("crm_tag %s: %d orders, %d customers", ctx.action_key, matched, len(ids))  # never the ids
    return list(ids), matched, id_type


def describe_crm(ctx: ActionContext) -> dict[str, Any]:
    config = _platform_or_none(ctx)
    fetch = (f"read the orders since {ctx.alert.get('starts_at')} from the {config.platform} API and add their buyer ids"
             if config is not None else "no platform API for this store: post the order filter only")
    return {"would": "POST signed webhook", "webhook": ctx.params.get("webhook", "crm"), "customers": fetch,
            "payload": _crm_payload(ctx)}


async def crm_tag(ctx: ActionContext) -> dict[str, Any]:
    """Tag the affected customers in the CRM: the buyer ids of the alert's orders (capped at
    ``params.max_customers``, default 500, with the total and a ``truncated`` flag) in the signed
    payload; ``params.orders: refunded`` keeps only the buyers whose orders are being or were
    refunded (售后关怀 after a refund surge). Without a platform API for the store only the order
    filter is sent, as before."""
    payload = _crm_payload(ctx)
    config = _platform_or_none(ctx)
    if config is None:
        answer = await post_signed(ctx, ctx.params.get("webhook", "crm"), payload)
        return {"answer": answer, "customers_source": "none",
                "note": "未配置平台 API，只发送订单筛选条件 / no platform API configured for this store: "
                        "sent the order filter only, no customer ids"}
    try:
        ids, matched, id_type = await affected_customers(ctx, config)
    except SourceError as exc:
        raise _platform_failure(exc) from exc
    cap = int(ctx.params.get("max_customers", MAX_CUSTOMERS))
    payload.update(customers=ids[:cap], total=len(ids), truncated=len(ids) > cap, customer_id_type=id_type)
    answer = await post_signed(ctx, ctx.params.get("webhook", "crm"), payload)
    return {"answer": answer, "customers_source": config.platform, "orders_matched": matched, "customers": len(ids),
            "sent": min(len(ids), cap), "truncated": len(ids) > cap, "customer_id_type": id_type}


# --- price-floor guard: restore the price through the platform API ---------------------------

def restore_target(ctx: ActionContext) -> float | None:
    """The price to restore: ``params.price``, else the median price of the week before the alert."""
    if ctx.params.get("price"):
        return float(ctx.params["price"])
    starts = _alert_start(ctx)
    a = ctx.alert
    frame = ctx.frames(a["platform"], a["store"], starts - timedelta(days=7), starts)
    prices = frame.filter((pl.col("metric") == "price") & (pl.col("sku") == a.get("sku", "")))["value"]
    if prices.is_empty():
        expected = a.get("expected")
        return float(expected) if expected else None
    median = prices.median()
    return round(float(median), 2) if isinstance(median, int | float) else None


def describe_restore(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "restore the SKU price through the platform API", "platform": ctx.alert["platform"],
            "sku": ctx.alert.get("sku", ""), "price": restore_target(ctx)}


async def restore_price(ctx: ActionContext) -> dict[str, Any]:
    config = _platform(ctx)
    sku = ctx.alert.get("sku", "")
    price = restore_target(ctx)
    if not sku or price is None or price <= 0:
        raise ActionFailed("restore_price needs a SKU alert and a known price to restore", recoverable=False)
    try:
        if config.platform == "taobao":
            tb = _taobao(ctx, config)
            found = await tb.find_sku(sku)
            if found is None:
                raise ActionFailed(f"taobao: SKU {sku} is not on sale", recoverable=False)
            answer = await tb.update_sku_price(found[0], found[1], price)
            return {"platform": "taobao", "sku": sku, "from": found[2], "to": price, "answer": answer}
        jd = _jd(ctx, config)
        found_jd = await jd.find_sku(sku)
        if found_jd is None:
            raise ActionFailed(f"jd: SKU {sku} not found", recoverable=False)
        answer = await jd.update_sku_price(found_jd[0], price)
        return {"platform": "jd", "sku": sku, "from": found_jd[1], "to": price, "answer": answer}
    except SourceError as exc:
        raise _platform_failure(exc) from exc


__all__ = ["affected_customers", "crm_tag", "describe_crm", "describe_lock", "describe_restore", "describe_unlock",
           "lock_item", "restore_price", "restore_target", "unlock_item"]
