"""One router per resource."""

from fastapi import APIRouter

from shopsentinel.api.routes import (
    actions,
    alerts,
    audit,
    calendar,
    catalog,
    channels,
    escalation,
    health,
    imports,
    incidents,
    notifications,
    oncall,
    outbox,
    points,
    response,
    response_insight,
    response_playbooks,
    rules,
    silences,
    stores,
    subscriptions,
    sync_status,
    tokens,
    users,
)

ROUTERS: list[APIRouter] = [
    health.router,
    actions.router,
    points.router,
    imports.router,
    alerts.router,
    incidents.router,
    silences.router,
    rules.router,
    stores.router,
    sync_status.router,
    catalog.router,
    calendar.router,
    tokens.router,
    audit.router,
    outbox.router,
    notifications.router,
    subscriptions.router,
    escalation.router,
    oncall.router,
    channels.router,
    response.router,
    response_playbooks.router,
    response_insight.router,
    users.router,
]

__all__ = ["ROUTERS"]
