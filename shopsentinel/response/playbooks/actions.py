"""Built-in playbook actions, registered by key.

Each action is an ``async run(ctx) -> dict`` (the result stored on the step) plus a ``describe(ctx)``
used for dry runs, which records what would be done and calls nothing. Failures raise
:class:`ActionFailed` saying whether trying again later can help (timeouts, 429, 5xx) or not
(bad credentials, a refused payload); the runner retries only the first kind.

Outbound webhooks are signed: ``X-ShopSentinel-Signature: sha256=HMAC(secret, "{ts}.{body}")`` with
``X-ShopSentinel-Timestamp`` and an ``Idempotency-Key`` (the step's action key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import polars as pl

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import AuthError, PlatformError, SourceError, ThrottledError
from shopsentinel.response.playbooks.model import Integrations, PlatformApiConfig, WebhookConfig

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


# --- lock and notify --------------------------------------------------------------------------

def _describe_lock(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "lock the item in ShopSentinel (no other playbook changes it until the run ends)",
            "sku": ctx.alert.get("sku", "")}


@action("lock_item", _describe_lock)
async def lock_item(ctx: ActionContext) -> dict[str, Any]:
    ctx.run["locked"] = {"platform": ctx.alert["platform"], "store": ctx.alert["store"], "sku": ctx.alert.get("sku", "")}
    return {"locked": True, "sku": ctx.alert.get("sku", "")}


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


def _crm_payload(ctx: ActionContext) -> dict[str, Any]:
    a = ctx.alert
    return _event_payload(ctx, "crm.tag", tag=ctx.params.get("tag", "售后关怀"), care_flow=ctx.params.get("care_flow", ""),
                          orders={"platform": a["platform"], "store": a["store"], "sku": a.get("sku", ""),
                                  "since": a.get("starts_at")})


def _describe_crm(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "POST signed webhook", "webhook": ctx.params.get("webhook", "crm"), "payload": _crm_payload(ctx)}


@action("crm_tag", _describe_crm)
async def crm_tag(ctx: ActionContext) -> dict[str, Any]:
    return {"answer": await post_signed(ctx, ctx.params.get("webhook", "crm"), _crm_payload(ctx))}


# --- ERP purchase suggestion --------------------------------------------------------------------

def _sku_series(ctx: ActionContext, metric: str, days: int) -> pl.DataFrame:
    a = ctx.alert
    start = ctx.now - timedelta(days=days)
    frame = ctx.frames(a["platform"], a["store"], start, ctx.now + timedelta(hours=1))
    return frame.filter((pl.col("metric") == metric) & (pl.col("sku") == a.get("sku", ""))).sort("ts")


def _describe_erp(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "GET in-transit stock from the ERP, then POST a purchase suggestion if still short",
            "sku": ctx.alert.get("sku", ""), "target_cover_days": ctx.params.get("target_cover_days", 15)}


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
    target_days = float(ctx.params.get("target_cover_days", 15))
    need = math.ceil(daily * target_days - on_hand - in_transit)
    result: dict[str, Any] = {"daily_demand": round(daily, 2), "on_hand": on_hand, "in_transit": in_transit,
                              "target_cover_days": target_days, "suggested": max(need, 0)}
    if need <= 0:
        result["note"] = "在途与现有库存足够 / in-transit and on-hand stock cover the target"
        return result
    answer = await _send(ctx, "POST", f"{base}/api/v1/purchase-suggestions", "erp suggestion", headers=headers,
                         json={"sku": sku, "store": ctx.alert["store"], "platform": ctx.alert["platform"], "quantity": need,
                               "reason": f"库存可售 {on_hand / daily if daily else 0:.1f} 天，目标 {target_days:g} 天",
                               "idempotency_key": ctx.action_key})
    result["suggestion"] = answer.get("id", "")
    return result


# --- price-floor guard: restore the price through the platform API ---------------------------

def _platform(ctx: ActionContext) -> PlatformApiConfig:
    config = ctx.integrations.platforms.get(ctx.alert["platform"])
    if config is None or (config.stores and ctx.alert["store"] not in config.stores):
        raise ActionFailed(f"no platform API configured for {ctx.alert['platform']}/{ctx.alert['store']}", recoverable=False)
    return config


def restore_target(ctx: ActionContext) -> float | None:
    """The price to restore: ``params.price``, else the median price of the week before the alert."""
    if ctx.params.get("price"):
        return float(ctx.params["price"])
    starts = datetime.fromisoformat(str(ctx.alert["starts_at"]).replace("Z", "+00:00"))
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


def _platform_failure(exc: SourceError) -> ActionFailed:
    if isinstance(exc, ThrottledError):
        return ActionFailed(str(exc), recoverable=True)
    if isinstance(exc, AuthError):
        return ActionFailed(str(exc), recoverable=False)
    recoverable = isinstance(exc, PlatformError) and ("transport error" in str(exc) or "HTTP 5" in str(exc))
    return ActionFailed(str(exc), recoverable=recoverable)


@action("restore_price", _describe_restore)
async def restore_price(ctx: ActionContext) -> dict[str, Any]:
    from pydantic import SecretStr

    from shopsentinel.sources.jd.client import JdClient, JdConfig
    from shopsentinel.sources.taobao.client import TaobaoClient, TaobaoConfig

    config = _platform(ctx)
    sku = ctx.alert.get("sku", "")
    price = restore_target(ctx)
    if not sku or price is None or price <= 0:
        raise ActionFailed("restore_price needs a SKU alert and a known price to restore", recoverable=False)
    clock = ManualClock(ctx.now)
    secret, token = config.app_secret, config.access_token
    try:
        if config.platform == "taobao":
            tb = TaobaoClient(TaobaoConfig(store=ctx.alert["store"], start=ctx.now, base_url=config.base_url,
                                           app_key=config.app_key, app_secret=secret,
                                           access_token=SecretStr(token.get_secret_value())), clock=clock, http=ctx.http)
            found = await tb.find_sku(sku)
            if found is None:
                raise ActionFailed(f"taobao: SKU {sku} is not on sale", recoverable=False)
            answer = await tb.update_sku_price(found[0], found[1], price)
            return {"platform": "taobao", "sku": sku, "from": found[2], "to": price, "answer": answer}
        jd = JdClient(JdConfig(store=ctx.alert["store"], start=ctx.now, base_url=config.base_url, app_key=config.app_key,
                               app_secret=secret, access_token=SecretStr(token.get_secret_value())), clock=clock, http=ctx.http)
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


__all__ = ["ACTIONS", "Action", "ActionContext", "ActionFailed", "adf", "post_signed", "restore_target", "sign_webhook"]
