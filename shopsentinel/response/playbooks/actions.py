"""Built-in playbook actions, registered by key.

Each action is an ``async run(ctx) -> dict`` (the result stored on the step) plus a ``describe(ctx)``
used for dry runs, which records what would be done and calls nothing. Failures raise
:class:`ActionFailed` saying whether trying again later can help (timeouts, 429, 5xx) or not
(bad credentials, a refused payload); the runner retries only the first kind.

Platform writes (``lock_item``, ``unlock_item``, ``restore_price``) and reads (``crm_tag``) go
through the Taobao/JD router clients against the store's ``integrations.platforms`` entry.
``lock_item`` sets the SKU's sellable quantity to 0 and remembers the quantity it replaced
(checkpointed on the step before the platform is called, so a retry of the same action key never
remembers 0); ``unlock_item`` puts that quantity back.

Outbound webhooks are signed: ``X-ShopSentinel-Signature: sha256=HMAC(secret, "{ts}.{body}")`` with
``X-ShopSentinel-Timestamp`` and an ``Idempotency-Key`` (the step's action key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import polars as pl

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError
from shopsentinel.detect.rules import RulePack
from shopsentinel.response.playbooks.model import Integrations, PlatformApiConfig, WebhookConfig

if TYPE_CHECKING:
    from shopsentinel.sources.jd.client import JdClient
    from shopsentinel.sources.taobao.client import TaobaoClient

logger = logging.getLogger(__name__)
FrameLoader = Callable[[str, str, datetime, datetime], pl.DataFrame]


class ActionFailed(Exception):  # noqa: N818 - reads as "the action failed"
    def __init__(self, message: str, *, recoverable: bool) -> None:
        super().__init__(message)
        self.recoverable = recoverable


@dataclass
class ActionContext:
    """What an action may use: the alert, the run's shared state, its parameters and the outside world."""

    alert: dict[str, Any]
    run: dict[str, Any]
    params: dict[str, Any]
    integrations: Integrations
    http: httpx.AsyncClient
    now: datetime
    action_key: str
    frames: FrameLoader
    playbook: str = ""
    rca_text: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    run_id: int = 0
    saved: dict[str, Any] = field(default_factory=dict)
    """What this step already recorded (earlier attempts of the same action key included)."""
    checkpoint: Callable[[dict[str, Any]], None] = field(default=lambda _partial: None)
    """Merge ``partial`` into the step's result and commit it now, before calling the outside world."""
    platform_locks: list[dict[str, Any]] = field(default_factory=list)
    """Unreleased platform locks other runs hold on this alert's SKU (``{"run": id, **lock}``)."""
    rules: Callable[[], RulePack] | None = None
    """The service's active rule pack (stock tiers for ``erp_purchase``); None = the built-in pack."""


@dataclass(frozen=True)
class Action:
    key: str
    run: Callable[[ActionContext], Awaitable[dict[str, Any]]]
    describe: Callable[[ActionContext], dict[str, Any]]


ACTIONS: dict[str, Action] = {}


def action(key: str, describe: Callable[[ActionContext], dict[str, Any]]) -> Callable[
        [Callable[[ActionContext], Awaitable[dict[str, Any]]]], Callable[[ActionContext], Awaitable[dict[str, Any]]]]:
    def register(fn: Callable[[ActionContext], Awaitable[dict[str, Any]]]) -> Callable[[ActionContext], Awaitable[dict[str, Any]]]:
        ACTIONS[key] = Action(key, fn, describe)
        return fn

    return register


# --- HTTP helpers -----------------------------------------------------------------------------

def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code == 429 or response.status_code >= 500:
        raise ActionFailed(f"{what}: HTTP {response.status_code}", recoverable=True)
    if response.status_code >= 400:
        raise ActionFailed(f"{what}: HTTP {response.status_code} {response.text[:300]}", recoverable=False)
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"body": body}


async def _send(ctx: ActionContext, method: str, url: str, what: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = await ctx.http.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise ActionFailed(f"{what}: {type(exc).__name__}", recoverable=True) from exc
    return _check(response, what)


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _webhook(ctx: ActionContext, name: str) -> WebhookConfig:
    hook = ctx.integrations.webhooks.get(name)
    if hook is None:
        raise ActionFailed(f"no webhook {name!r} configured in integrations.webhooks", recoverable=False)
    return hook


async def post_signed(ctx: ActionContext, name: str, payload: dict[str, Any]) -> dict[str, Any]:
    hook = _webhook(ctx, name)
    body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode()
    stamp = int(ctx.now.timestamp())
    headers = {"Content-Type": "application/json", "X-ShopSentinel-Timestamp": str(stamp),
               "X-ShopSentinel-Signature": sign_webhook(hook.secret.get_secret_value(), stamp, body),
               "Idempotency-Key": ctx.action_key}
    return await _send(ctx, "POST", hook.url, f"webhook {name}", content=body, headers=headers)


def _title(ctx: ActionContext) -> tuple[str, str]:
    a = ctx.alert
    where = f"{a['platform']}/{a['store']}" + (f" SKU {a['sku']}" if a.get("sku") else "")
    zh = f"【{a['severity']}】{a['rule']} · {where} · {a['metric']}"
    return zh, a.get("message") or zh


def _event_payload(ctx: ActionContext, event: str, **extra: Any) -> dict[str, Any]:
    title, message = _title(ctx)
    return {"event": event, "title": title, "message": message, "root_cause": ctx.rca_text,
            "alert": ctx.alert, "playbook": ctx.playbook, **extra}


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
    return "jingdong.stock.write.updateSkuStock"  # [R] in PLATFORMS.md


# --- lock, unlock and notify --------------------------------------------------------------------

def _lock_base(ctx: ActionContext) -> dict[str, Any]:
    return {"platform": ctx.alert["platform"], "store": ctx.alert["store"], "sku": ctx.alert.get("sku", "")}


def _describe_lock(ctx: ActionContext) -> dict[str, Any]:
    config = _platform_or_none(ctx)
    if config is None or not ctx.alert.get("sku"):
        return {"would": "record the lock in ShopSentinel only (no platform API configured for this store, or no SKU)",
                "sku": ctx.alert.get("sku", "")}
    method = "taobao.item.quantity.update (type=1)" if config.platform == "taobao" else "jingdong.stock.write.updateSkuStock"
    return {"would": f"stop sales: read the SKU's sellable quantity, remember it, set it to 0 through {method}",
            "platform": config.platform, "sku": ctx.alert["sku"]}


@action("lock_item", _describe_lock)
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


def _describe_unlock(ctx: ActionContext) -> dict[str, Any]:
    lock = ctx.run.get("locked") or {}
    return {"would": "put the remembered sellable quantity back through the platform API (only if the SKU still shows 0)",
            "sku": ctx.alert.get("sku", ""), "quantity": lock.get("previous_quantity")}


@action("unlock_item", _describe_unlock)
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


def _describe_notify(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "POST signed webhook", "webhook": ctx.params.get("webhook", "im"),
            "payload": _event_payload(ctx, "playbook.notify")}


@action("notify", _describe_notify)
async def notify(ctx: ActionContext) -> dict[str, Any]:
    name = ctx.params.get("webhook", "im")
    if name not in ctx.integrations.webhooks:
        return {"recorded": True, "sent": False, "text": _title(ctx)[0]}  # in-app record only
    answer = await post_signed(ctx, name, _event_payload(ctx, "playbook.notify"))
    return {"recorded": True, "sent": True, "answer": answer}


# --- tickets ------------------------------------------------------------------------------------

def adf(paragraphs: list[str]) -> dict[str, Any]:
    """Atlassian Document Format: one paragraph per line of text."""
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]} for p in paragraphs if p]}


def _jira_body(ctx: ActionContext) -> dict[str, Any]:
    jira = ctx.integrations.jira
    title, message = _title(ctx)
    a = ctx.alert
    lines = [message, f"原因分析 Root cause: {ctx.rca_text}" if ctx.rca_text else "",
             f"当前 value {a.get('value')} · 预期 expected {a.get('expected')} · 开始 {a.get('starts_at')}",
             f"Playbook {ctx.playbook} · alert {a['id']}"]
    return {"fields": {"project": {"key": ctx.params.get("project_key") or (jira.project_key if jira else "OPS")},
                       "summary": title[:250], "issuetype": {"name": jira.issue_type if jira else "Task"},
                       "description": adf(lines), "labels": ["shopsentinel", a["platform"], a["rule"].replace(" ", "_")]}}


def _describe_jira(ctx: ActionContext) -> dict[str, Any]:
    base = ctx.integrations.jira.base_url if ctx.integrations.jira else "<jira not configured>"
    return {"would": f"POST {base}/rest/api/3/issue", "body": _jira_body(ctx)}


@action("jira_ticket", _describe_jira)
async def jira_ticket(ctx: ActionContext) -> dict[str, Any]:
    jira = ctx.integrations.jira
    if jira is None:
        raise ActionFailed("integrations.jira is not configured", recoverable=False)
    answer = await _send(ctx, "POST", f"{jira.base_url.rstrip('/')}/rest/api/3/issue", "jira",
                         json=_jira_body(ctx), auth=(jira.email, jira.api_token.get_secret_value()))
    return {"issue": answer.get("key", ""), "id": answer.get("id", "")}


def _describe_hook_ticket(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "POST signed webhook", "webhook": ctx.params.get("webhook", "teambition"),
            "payload": _event_payload(ctx, "ticket.create", owner=ctx.params.get("owner", ""))}


@action("webhook_ticket", _describe_hook_ticket)
async def webhook_ticket(ctx: ActionContext) -> dict[str, Any]:
    answer = await post_signed(ctx, ctx.params.get("webhook", "teambition"),
                               _event_payload(ctx, "ticket.create", owner=ctx.params.get("owner", "")))
    return {"answer": answer}


def _describe_cs(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "POST signed webhook", "webhook": ctx.params.get("webhook", "cs"),
            "payload": _event_payload(ctx, "cs.ticket", priority="urgent")}


@action("cs_ticket", _describe_cs)
async def cs_ticket(ctx: ActionContext) -> dict[str, Any]:
    answer = await post_signed(ctx, ctx.params.get("webhook", "cs"), _event_payload(ctx, "cs.ticket", priority="urgent"))
    return {"answer": answer}


MAX_CUSTOMERS = 500
TAOBAO_TRADE_FIELDS = "tid,created,buyer_open_uid,buyer_nick,orders"
JD_ORDER_FIELDS = "orderId,orderStartTime,itemInfoList,pin"


def _crm_payload(ctx: ActionContext) -> dict[str, Any]:
    a = ctx.alert
    return _event_payload(ctx, "crm.tag", tag=ctx.params.get("tag", "售后关怀"), care_flow=ctx.params.get("care_flow", ""),
                          orders={"platform": a["platform"], "store": a["store"], "sku": a.get("sku", ""),
                                  "since": a.get("starts_at")})


def _alert_start(ctx: ActionContext) -> datetime:
    return datetime.fromisoformat(str(ctx.alert["starts_at"]).replace("Z", "+00:00"))


async def affected_customers(ctx: ActionContext, config: PlatformApiConfig) -> tuple[list[str], int, str]:
    """Distinct buyer ids of the store's orders created since the alert started (only those with the
    alert's SKU when it has one), first seen first: ``(ids, orders matched, id type)``.

    Taobao: ``taobao.trades.sold.get`` → ``buyer_open_uid`` (``buyer_nick`` is masked nowadays and
    only a fallback); JD: ``jingdong.pop.order.search`` by creation time → ``pin`` [R]."""
    sku, start = ctx.alert.get("sku", ""), _alert_start(ctx)
    ids: dict[str, None] = {}
    matched = 0
    if config.platform == "taobao":
        id_type = "buyer_open_uid"
        for trade in await _taobao(ctx, config).sold_trades(start, ctx.now, TAOBAO_TRADE_FIELDS):
            if sku and not any(o.get("outer_sku_id") == sku for o in trade.get("orders", [])):
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
            matched += 1
            if order.get("pin"):
                ids.setdefault(str(order["pin"]))
    logger.debug("crm_tag %s: %d orders, %d customers", ctx.action_key, matched, len(ids))  # never the ids
    return list(ids), matched, id_type


def _describe_crm(ctx: ActionContext) -> dict[str, Any]:
    config = _platform_or_none(ctx)
    fetch = (f"read the orders since {ctx.alert.get('starts_at')} from the {config.platform} API and add their buyer ids"
             if config is not None else "no platform API for this store: post the order filter only")
    return {"would": "POST signed webhook", "webhook": ctx.params.get("webhook", "crm"), "customers": fetch,
            "payload": _crm_payload(ctx)}


@action("crm_tag", _describe_crm)
async def crm_tag(ctx: ActionContext) -> dict[str, Any]:
    """Tag the affected customers in the CRM: the buyer ids of the alert's orders (capped at
    ``params.max_customers``, default 500, with the total and a ``truncated`` flag) in the signed
    payload. Without a platform API for the store only the order filter is sent, as before."""
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


# --- ERP purchase suggestion --------------------------------------------------------------------

def _sku_series(ctx: ActionContext, metric: str, days: int) -> pl.DataFrame:
    a = ctx.alert
    start = ctx.now - timedelta(days=days)
    frame = ctx.frames(a["platform"], a["store"], start, ctx.now + timedelta(hours=1))
    return frame.filter((pl.col("metric") == metric) & (pl.col("sku") == a.get("sku", ""))).sort("ts")


@dataclass(frozen=True)
class StockTier:
    rule: str
    colour: str  # red / yellow / blue, or the rule id for a tier that names no colour
    cover_days_below: float


COLOURS = {"red": "红", "yellow": "黄", "blue": "蓝"}
SEVERITY_COLOUR = {"critical": "red", "warning": "yellow", "info": "blue"}
DEFAULT_TARGET_DAYS = 15.0


def stock_tiers(pack: RulePack, platform: str, store: str, sku: str) -> list[StockTier]:
    """The enabled ``forecast_cover`` rules on ``stock_cover_days`` that apply to this SKU, tightest
    first. The colour comes from the rule id (``stock.cover_red``) or else its severity."""
    tiers = []
    for rule in pack.enabled():
        scope = rule.scope
        if ((scope.platforms and platform not in scope.platforms) or (scope.stores and store not in scope.stores)
                or (scope.skus and sku not in scope.skus)):
            continue
        for cond in rule.conditions():
            if cond.type == "forecast_cover" and cond.metric == "stock_cover_days" and cond.cover_days_below:
                named = next((c for c in COLOURS if c in rule.id.lower()), None)
                colour = named or SEVERITY_COLOUR.get(str(rule.severity), rule.id)
                tiers.append(StockTier(rule.id, colour, float(cond.cover_days_below)))
    return sorted(tiers, key=lambda t: t.cover_days_below)


def _rule_pack(ctx: ActionContext) -> RulePack:
    if ctx.rules is not None:
        return ctx.rules()
    from shopsentinel.detect.rules import default_rules

    return default_rules()


def cover_target(ctx: ActionContext, cover_days: float | None, lead_days: float) -> dict[str, Any]:
    """Which tier the SKU is in now and the cover to order up to: ``params.target_cover_days``, else
    the widest tier's threshold (out of every tier) plus the ERP's lead time."""
    a = ctx.alert
    tiers = stock_tiers(_rule_pack(ctx), a["platform"], a["store"], a.get("sku", ""))
    now = next((t for t in tiers if cover_days is not None and cover_days < t.cover_days_below), None)
    out: dict[str, Any] = {"tier": now.colour if now else "none",
                           "tier_zh": COLOURS.get(now.colour, now.colour) if now else "无",
                           "tier_rule": now.rule if now else "",
                           "tiers": {t.rule: t.cover_days_below for t in tiers}, "lead_days": lead_days}
    if ctx.params.get("target_cover_days") is not None:
        out["target_cover_days"] = float(ctx.params["target_cover_days"])
        out["target_reason"] = f"params.target_cover_days = {out['target_cover_days']:g}"
    elif tiers:
        widest = tiers[-1]
        out["target_cover_days"] = widest.cover_days_below + lead_days
        out["target_reason"] = (f"lift out of every stock tier: widest tier {widest.rule} < {widest.cover_days_below:g} days"
                                + (f" + ERP lead time {lead_days:g} days" if lead_days else ""))
    else:
        out["target_cover_days"] = DEFAULT_TARGET_DAYS + lead_days
        out["target_reason"] = (f"no enabled stock tier applies: default {DEFAULT_TARGET_DAYS:g} days"
                                + (f" + ERP lead time {lead_days:g} days" if lead_days else ""))
    return out


def _describe_erp(ctx: ActionContext) -> dict[str, Any]:
    target = cover_target(ctx, None, 0.0)
    return {"would": "GET in-transit stock (and lead time) from the ERP, then POST a purchase suggestion if still short",
            "sku": ctx.alert.get("sku", ""), "target_cover_days": target["target_cover_days"],
            "target_reason": target["target_reason"] + " (+ the ERP's lead time, if it reports one)"}


@action("erp_purchase", _describe_erp)
async def erp_purchase(ctx: ActionContext) -> dict[str, Any]:
    erp = ctx.integrations.erp
    if erp is None:
        raise ActionFailed("integrations.erp is not configured", recoverable=False)
    sku = ctx.alert.get("sku", "")
    if not sku:
        raise ActionFailed("erp_purchase needs a SKU alert", recoverable=False)
    demand_days = int(ctx.params.get("demand_days", 14))
    sold = _sku_series(ctx, "units_sold", demand_days)
    stock = _sku_series(ctx, "stock", 2)
    daily = float(sold["value"].sum()) / demand_days if not sold.is_empty() else 0.0
    on_hand = float(stock["value"][-1]) if not stock.is_empty() else 0.0
    headers = {"Authorization": f"Bearer {erp.token.get_secret_value()}"}
    base = erp.base_url.rstrip("/")
    transit = await _send(ctx, "GET", f"{base}/api/v1/in-transit", "erp in-transit", params={"sku": sku}, headers=headers)
    in_transit = int(transit.get("in_transit", 0))
    lead_days = float(transit.get("lead_days") or 0.0)
    cover_days = on_hand / daily if daily else None
    target = cover_target(ctx, cover_days, lead_days)
    target_days = float(target["target_cover_days"])
    need = math.ceil(daily * target_days - on_hand - in_transit)
    result: dict[str, Any] = {"daily_demand": round(daily, 2), "on_hand": on_hand, "in_transit": in_transit,
                              "cover_days": round(cover_days, 2) if cover_days is not None else None,
                              **target, "suggested": max(need, 0)}
    if need <= 0:
        result["note"] = "在途与现有库存足够 / in-transit and on-hand stock cover the target"
        return result
    tier = f"{target['tier_zh']}色库存档 " if target["tier"] != "none" else ""
    answer = await _send(ctx, "POST", f"{base}/api/v1/purchase-suggestions", "erp suggestion", headers=headers,
                         json={"sku": sku, "store": ctx.alert["store"], "platform": ctx.alert["platform"], "quantity": need,
                               "reason": f"{tier}库存可售 {cover_days or 0:.1f} 天，目标 {target_days:g} 天（{target['target_reason']}）",
                               "idempotency_key": ctx.action_key})
    result["suggestion"] = answer.get("id", "")
    return result


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


def _describe_restore(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "restore the SKU price through the platform API", "platform": ctx.alert["platform"],
            "sku": ctx.alert.get("sku", ""), "price": restore_target(ctx)}


@action("restore_price", _describe_restore)
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


# --- ads: pause the anomalous plan and compare it with the good ones ---------------------------

def _describe_ads(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "pause ad plans with ROI below the floor and report them against the good plans",
            "store": ctx.alert["store"], "min_roi": ctx.params.get("min_roi", 1.0)}


def _roi(plan: dict[str, Any]) -> float:
    spend = float(plan.get("spend", 0) or 0)
    return float(plan.get("gmv", 0) or 0) / spend if spend else 0.0


@action("pause_ads", _describe_ads)
async def pause_ads(ctx: ActionContext) -> dict[str, Any]:
    ads = ctx.integrations.ads
    if ads is None:
        raise ActionFailed("integrations.ads is not configured", recoverable=False)
    headers = {"Authorization": f"Bearer {ads.token.get_secret_value()}"}
    base = ads.base_url.rstrip("/")
    plans = (await _send(ctx, "GET", f"{base}/api/v1/plans", "ads plans", params={"store": ctx.alert["store"]},
                         headers=headers)).get("plans", [])
    floor = float(ctx.params.get("min_roi", 1.0))
    active = [p for p in plans if p.get("status") != "paused"]
    bad = [p for p in active if _roi(p) < floor]
    good = [p for p in active if _roi(p) >= floor]
    paused = []
    for plan in bad:
        await _send(ctx, "POST", f"{base}/api/v1/plans/{plan['id']}/pause", "ads pause", headers=headers)
        paused.append(plan["id"])

    def row(p: dict[str, Any]) -> dict[str, Any]:
        clicks = float(p.get("clicks", 0) or 0)
        return {"id": p["id"], "name": p.get("name", ""), "spend": p.get("spend", 0), "roi": round(_roi(p), 2),
                "cpc": round(float(p.get("spend", 0) or 0) / clicks, 2) if clicks else None,
                "conversion": round(float(p.get("orders", 0) or 0) / clicks, 4) if clicks else None}

    report = {"paused": [row(p) for p in bad], "good": [row(p) for p in good],
              "good_median_roi": round(sorted(_roi(p) for p in good)[len(good) // 2], 2) if good else None}
    if ctx.params.get("report_webhook"):
        await post_signed(ctx, str(ctx.params["report_webhook"]), _event_payload(ctx, "ads.report", report=report))
    return {"paused": paused, "report": report}


__all__ = ["ACTIONS", "Action", "ActionContext", "ActionFailed", "StockTier", "adf", "affected_customers", "cover_target",
           "post_signed", "restore_target", "sign_webhook", "stock_tiers"]
