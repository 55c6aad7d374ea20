"""Alerts from other monitoring systems (``docs/OPERATIONS.md``, "对接 Alertmanager / Grafana"):

* ``POST /api/v1/intake/alertmanager`` — Alertmanager's ``webhook_config`` payload (version 4);
* ``POST /api/v1/intake/grafana`` — Grafana's unified-alerting webhook (the same, plus ``orgId``,
  ``state``, ``title``, ``message``, ``values``, ``dashboardURL`` / ``panelURL`` / ``silenceURL``).

A bearer token of an editor (or admin) is needed: the product has roles, not scopes; give the sender
a token of its own (``POST /api/v1/tokens`` with role ``editor``) so it can be revoked alone. Each
alert becomes an alert of kind ``external`` (:mod:`shopsentinel.alerting.external`); the service's
next tick routes it like any other. A body that does not validate is answered 422 with a
Chinese-first message naming the field.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel

from shopsentinel.alerting.external import MAX_ALERTS, AlertmanagerPayload, ExternalAlerts, GrafanaPayload
from shopsentinel.api.deps import DbSession, Editor, Now
from shopsentinel.store.repository import audit

_MESSAGES_ZH = {
    "missing": "缺少必填字段", "string_too_long": "太长", "too_long": "条目太多", "too_short": "条目太少",
    "literal_error": "取值不在允许范围内", "timezone_aware": "须带时区", "datetime_from_date_parsing": "不是有效的时间",
    "datetime_parsing": "不是有效的时间", "datetime_type": "不是有效的时间", "dict_type": "须为对象",
    "list_type": "须为数组", "string_type": "须为字符串", "int_type": "须为整数", "int_parsing": "须为整数",
    "float_parsing": "须为数字", "float_type": "须为数字", "json_invalid": "不是有效的 JSON", "model_attributes_type": "须为对象",
    "greater_than_equal": "太小", "less_than_equal": "太大", "value_error": "取值无效",
}  # fmt: skip


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "(请求体 / body)"


def validation_message(errors: list[Any]) -> str:
    """``请求体无效：字段 alerts.0.startsAt 缺少必填字段 / invalid body: field alerts.0.startsAt: Field required``
    — the first few problems, each naming its field; never the value sent."""
    zh, en = [], []
    for error in errors[:5]:
        name = _field(tuple(error.get("loc", ())))
        msg = str(error.get("msg", "invalid"))
        zh.append(f"字段 {name} {_MESSAGES_ZH.get(str(error.get('type')), '无效')}")
        en.append(f"field {name}: {msg}")
    more = f"（另有 {len(errors) - 5} 处）" if len(errors) > 5 else ""
    return f"请求体无效：{'；'.join(zh)}{more} / invalid body: {'; '.join(en)}"


class _IntakeRoute(APIRoute):
    """Body validation errors as one Chinese-first message naming the field (422)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, validation_message(list(exc.errors()))) from None

        return route


router = APIRouter(prefix="/api/v1/intake", tags=["intake"], route_class=_IntakeRoute)


class IntakeResponse(BaseModel):
    created: list[str]
    resolved: list[str]
    unchanged: list[str]


def _intake(source: str, payload: AlertmanagerPayload, session: DbSession, principal: Editor, now: Now) -> IntakeResponse:
    result = ExternalAlerts().apply(session, source, payload, now)
    audit(session, principal.user, f"intake.{source}", payload.receiver or source, now, alerts=len(payload.alerts),
          created=len(result.created), resolved=len(result.resolved))
    session.commit()
    return IntakeResponse(created=result.created, resolved=result.resolved, unchanged=result.unchanged)


@router.post("/alertmanager", response_model=IntakeResponse,
             description=f"Alertmanager webhook (version 4); at most {MAX_ALERTS} alerts per post. Editor token.")
def intake_alertmanager(payload: AlertmanagerPayload, session: DbSession, principal: Editor, now: Now) -> IntakeResponse:
    return _intake("alertmanager", payload, session, principal, now)


@router.post("/grafana", response_model=IntakeResponse,
             description=f"Grafana unified-alerting webhook; at most {MAX_ALERTS} alerts per post. Editor token.")
def intake_grafana(payload: GrafanaPayload, session: DbSession, principal: Editor, now: Now) -> IntakeResponse:
    return _intake("grafana", payload, session, principal, now)


__all__ = ["router", "validation_message"]
