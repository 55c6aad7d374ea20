"""Outgoing webhook in Alertmanager's webhook format (``version: "4"``), so FlashDuty, 夜莺 (Nightingale),
PagerDuty, Grafana OnCall, Keep — anything that takes an Alertmanager ``webhook_config`` — takes our
alerts as they are.

One POST per message (one group of alerts)::

    {"version": "4", "groupKey": "{}/{receiver=\\"default\\"}:{platform=\\"tmall\\", store=\\"tm-1\\"}",
     "truncatedAlerts": 0, "status": "firing", "receiver": "default",
     "groupLabels": {...}, "commonLabels": {...}, "commonAnnotations": {...},
     "externalURL": "https://alerts.example.com",
     "alerts": [{"status": "firing", "labels": {"alertname": "<rule>", "severity": ..., "store": ...,
                 "platform": ..., "metric": ..., "kind": ...}, "annotations": {"summary": ..., "description": ...},
                 "startsAt": "2026-11-11T02:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                 "generatorURL": "https://alerts.example.com/alerts/<id>", "fingerprint": "<id>"}]}

Labels are the alert's own (``alertname`` is the rule); annotations carry the Chinese text our templates
write (``summary``, ``description``) and ``runbook_url`` when the alert has one. ``endsAt`` is
``0001-01-01T00:00:00Z`` while an alert fires, as Alertmanager sends it. ``max_alerts`` (0 = all) cuts the
list like Alertmanager's and counts the rest in ``truncatedAlerts``. Optional ``Authorization``: HTTP
basic (``username`` + ``credentials``) or a bearer token (``credentials``), sealed at rest like every
channel secret and never shown.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from shopsentinel.core.types import Severity
from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.channels._http import raise_for_http_status, send_request
from shopsentinel.notify.templates import LABELS, format_number, format_time, platform_label, severity_label

VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Go's zero time: what Alertmanager sends as endsAt while firing
LABEL_FIELDS = ("severity", "store", "platform", "metric", "kind", "sku", "category", "incident")


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: SecretStr = Field(description="the receiver's webhook URL (may carry its own token)")
    auth: Literal["none", "basic", "bearer"] = Field("none", description="Authorization: none, HTTP basic or bearer")
    username: str = Field("", max_length=200, description="basic auth user name")
    credentials: SecretStr | None = Field(None, description="basic auth password or bearer token")
    receiver: str = Field("", max_length=200, description="receiver name in the payload (default: the route's receiver)")
    external_url: str = Field("", max_length=500, description="the alert center's address, for generatorURL / externalURL")
    max_alerts: int = Field(0, ge=0, le=10_000, description="at most this many alerts per message (0 = all)")
    timeout_seconds: float = Field(10.0, gt=0, le=120)

    @model_validator(mode="after")
    def _auth(self) -> Config:
        if self.auth != "none" and (self.credentials is None or not self.credentials.get_secret_value()):
            raise ValueError(f"credentials: required for auth={self.auth}")
        if self.auth == "basic" and not self.username:
            raise ValueError("username: required for auth=basic")
        return self


def _rfc3339(ts: object) -> str:
    """Our ``…Z`` timestamps pass as they are (already RFC 3339 UTC); anything else becomes zero time."""
    return ts if isinstance(ts, str) and ts else ZERO_TIME


def _base_url(config: Config, notification: Notification) -> str:
    """The alert center's address: configured, else the origin of the message's signed links."""
    if config.external_url:
        return config.external_url.rstrip("/")
    for url in (notification.detail_url, notification.ack_url, notification.chart_url):
        if url and "/actions/" in url:
            return url.split("/actions/", 1)[0]
    return ""


def _group(notification: Notification) -> tuple[str, dict[str, str]]:
    """The receiver and group labels of a message key ``{receiver}|{name=value,…}@{time}>{channel}``."""
    group = notification.key.split(">", 1)[0].rsplit("@", 1)[0]
    receiver, sep, rest = group.partition("|")
    if not sep:
        return "", {}
    labels = dict(item.split("=", 1) for item in rest.split(",") if "=" in item)
    return receiver, {k: v for k, v in labels.items() if k and v}


def _labels(alert: dict[str, Any]) -> dict[str, str]:
    labels = {"alertname": str(alert.get("rule") or "shopsentinel")}
    for name in LABEL_FIELDS:
        value = alert.get(name)
        if value not in (None, ""):
            labels[name] = str(value)
    extra = alert.get("labels")
    if isinstance(extra, dict):
        labels.update({str(k): str(v) for k, v in extra.items() if k not in labels})
    return labels


def _annotations(alert: dict[str, Any], notification: Notification) -> dict[str, str]:
    """``summary`` (the alert's message) and ``description`` (the line our templates write), in the
    message's language (Chinese by default); ``runbook_url`` when the alert has one."""
    lang = notification.lang
    t = LABELS[lang]
    try:
        severity = Severity(str(alert.get("severity")))
    except ValueError:
        severity = notification.severity
    where = f"{platform_label(str(alert.get('platform', '')), lang)} · {alert.get('store', '')}"
    if alert.get("sku"):
        where += f" · {t['sku']} {alert['sku']}"
    description = (f"[{severity_label(severity, lang)}] {alert.get('metric', '')} {where}{t['colon']}"
                   f"{t['value']} {format_number(alert.get('value'))}{t['comma']}{t['expected']} "
                   f"{format_number(alert.get('expected'))} · {format_time(str(alert.get('ts', '')), lang)}")
    message = str(alert.get("message") or "")
    if message:
        description += f" — {message}"
    annotations = {"summary": message or f"{alert.get('rule', '')} {where}".strip(), "description": description}
    for key in ("runbook_url", "runbook"):
        if isinstance(alert.get(key), str) and alert[key]:
            annotations["runbook_url"] = alert[key]
            break
    for key in ("value", "expected"):
        if isinstance(alert.get(key), int | float):
            annotations[key] = f"{float(alert[key]):g}"
    return annotations


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


def _test_alert(notification: Notification) -> dict[str, Any]:
    """A message without alerts (the settings page's 发送测试) still carries one alert, so receivers that
    drop empty payloads show it."""
    return {"id": hashlib.sha1(notification.key.encode()).hexdigest()[:16], "rule": notification.title,
            "severity": str(notification.severity), "kind": "test", "state": "firing", "message": notification.title}


def alertmanager_payload(notification: Notification, config: Config) -> dict[str, Any]:
    """The Alertmanager webhook document (``version`` 4) of one message."""
    base = _base_url(config, notification)
    lines = [dict(a) for a in notification.alerts] or [_test_alert(notification)]
    shown = lines[: config.max_alerts] if config.max_alerts else lines
    alerts: list[dict[str, Any]] = []
    for line in shown:
        state = "resolved" if line.get("state") == "resolved" else "firing"
        starts = line.get("starts_at") or (line.get("ts") if state == "firing" else None)
        alert_id = str(line.get("id") or "")
        alerts.append({
            "status": state,
            "labels": _labels(line),
            "annotations": _annotations(line, notification),
            "startsAt": _rfc3339(starts),
            "endsAt": _rfc3339(line.get("ts")) if state == "resolved" else ZERO_TIME,
            "generatorURL": f"{base}/alerts/{alert_id}" if base and alert_id else base,
            "fingerprint": alert_id or hashlib.sha1(json.dumps(_labels(line), sort_keys=True).encode()).hexdigest()[:16],
        })  # fmt: skip
    group_receiver, group_labels = _group(notification)
    receiver = config.receiver or group_receiver or "shopsentinel"
    common_labels = _common([a["labels"] for a in alerts])
    group_labels = {k: v for k, v in group_labels.items() if common_labels.get(k) == v} or {
        k: common_labels[k] for k in ("alertname", "platform", "store") if k in common_labels}
    matchers = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(group_labels.items()))
    return {
        "version": VERSION,
        "groupKey": f'{{}}/{{receiver={json.dumps(receiver, ensure_ascii=False)}}}:{{{matchers}}}',
        "truncatedAlerts": len(lines) - len(shown),
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": _common([a["annotations"] for a in alerts]),
        "externalURL": base,
        "alerts": alerts,
    }


class AlertmanagerWebhookNotifier:
    channel = "alertmanager_webhook"

    def __init__(self, config: Config) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"AlertmanagerWebhookNotifier(url=SecretStr('**********'), auth={self.config.auth!r})"

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "ShopSentinel"}
        secret = self.config.credentials.get_secret_value() if self.config.credentials is not None else ""
        if self.config.auth == "basic":
            pair = f"{self.config.username}:{secret}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        elif self.config.auth == "bearer":
            headers["Authorization"] = f"Bearer {secret}"
        return headers

    async def send(self, notification: Notification, client: httpx.AsyncClient) -> DeliveryResult:
        body = json.dumps(alertmanager_payload(notification, self.config), ensure_ascii=False,
                          separators=(",", ":")).encode("utf-8")
        response = await send_request(
            client, self.channel, "POST", self.config.url.get_secret_value(),
            timeout=self.config.timeout_seconds, content=body, headers=self._headers(),
        )  # fmt: skip
        raise_for_http_status(response, self.channel)
        return DeliveryResult(channel=self.channel, recipients=tuple(notification.recipients))


__all__ = ["VERSION", "ZERO_TIME", "AlertmanagerWebhookNotifier", "Config", "alertmanager_payload"]
