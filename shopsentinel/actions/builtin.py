"""Built-in playbook actions: plain ``async run(ctx)`` functions and their ``describe_*`` dry-run
counterparts (see :mod:`~shopsentinel.actions.base`); listed in :mod:`~shopsentinel.actions.registry`.

The actions that call the store's platform API (``lock_item``, ``unlock_item``, ``crm_tag``,
``restore_price``) live in :mod:`~shopsentinel.actions.platform`.

Outbound webhooks are signed: ``X-ShopSentinel-Signature: sha256=HMAC(secret, "{ts}.{body}")`` with
``X-ShopSentinel-Timestamp`` and an ``Idempotency-Key`` (the step's action key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import polars as pl

from shopsentinel.actions.base import ActionContext, ActionFailed
from shopsentinel.actions.config import WebhookConfig
from shopsentinel.detect.rules import RulePack

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


def event_payload(ctx: ActionContext, event: str, **extra: Any) -> dict[str, Any]:
    title, message = _title(ctx)
    return {"event": event, "title": title, "message": message, "root_cause": ctx.rca_text,
            "alert": ctx.alert, "playbook": ctx.playbook, **extra}


# --- notify -------------------------------------------------------------------------------------

def describe_notify(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "POST signed webhook", "webhook": ctx.params.get("webhook", "im"),
            "payload": event_payload(ctx, "playbook.notify")}


async def notify(ctx: ActionContext) -> dict[str, Any]:
    name = ctx.params.get("webhook", "im")
    if name not in ctx.integrations.webhooks:
        return {"recorded": True, "sent": False, "text": _title(ctx)[0]}  # in-app record only
    answer = await post_signed(ctx, name, event_payload(ctx, "playbook.notify"))
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


def describe_jira(ctx: ActionContext) -> dict[str, Any]:
    base = ctx.integrations.jira.base_url if ctx.integrations.jira else "<jira not configured>"
    return {"would": f"POST {base}/rest/api/3/issue", "body": _jira_body(ctx)}


async def jira_ticket(ctx: ActionContext) -> dict[str, Any]:
    jira = ctx.integrations.jira
    if jira is None:
        raise ActionFailed("integrations.jira is not configured", recoverable=False)
    answer = await _send(ctx, "POST", f"{jira.base_url.rstrip('/')}/rest/api/3/issue", "jira",
                         json=_jira_body(ctx), auth=(jira.email, jira.api_token.get_secret_value()))
    return {"issue": answer.get("key", ""), "id": answer.get("id", "")}


def describe_hook_ticket(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "POST signed webhook", "webhook": ctx.params.get("webhook", "teambition"),
            "payload": event_payload(ctx, "ticket.create", owner=ctx.params.get("owner", ""))}


async def webhook_ticket(ctx: ActionContext) -> dict[str, Any]:
    answer = await post_signed(ctx, ctx.params.get("webhook", "teambition"),
                               event_payload(ctx, "ticket.create", owner=ctx.params.get("owner", "")))
    return {"answer": answer}


def describe_cs(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "POST signed webhook", "webhook": ctx.params.get("webhook", "cs"),
            "payload": event_payload(ctx, "cs.ticket", priority="urgent")}


async def cs_ticket(ctx: ActionContext) -> dict[str, Any]:
    answer = await post_signed(ctx, ctx.params.get("webhook", "cs"), event_payload(ctx, "cs.ticket", priority="urgent"))
    return {"answer": answer}


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


def describe_erp(ctx: ActionContext) -> dict[str, Any]:
    target = cover_target(ctx, None, 0.0)
    return {"would": "GET in-transit stock (and lead time) from the ERP, then POST a purchase suggestion if still short",
            "sku": ctx.alert.get("sku", ""), "target_cover_days": target["target_cover_days"],
            "target_reason": target["target_reason"] + " (+ the ERP's lead time, if it reports one)"}


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


# --- ads: pause the anomalous plan and compare it with the good ones ---------------------------

def describe_ads(ctx: ActionContext) -> dict[str, Any]:
    return {"would": "pause ad plans with ROI below the floor and report them against the good plans",
            "store": ctx.alert["store"], "min_roi": ctx.params.get("min_roi", 1.0)}


def _roi(plan: dict[str, Any]) -> float:
    spend = float(plan.get("spend", 0) or 0)
    return float(plan.get("gmv", 0) or 0) / spend if spend else 0.0


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
        await post_signed(ctx, str(ctx.params["report_webhook"]), event_payload(ctx, "ads.report", report=report))
    return {"paused": paused, "report": report}


__all__ = ["StockTier", "adf", "cover_target", "cs_ticket", "describe_ads", "describe_cs", "describe_erp",
           "describe_hook_ticket", "describe_jira", "describe_notify", "erp_purchase", "event_payload", "jira_ticket",
           "notify", "pause_ads", "post_signed", "sign_webhook", "stock_tiers", "webhook_ticket"]
