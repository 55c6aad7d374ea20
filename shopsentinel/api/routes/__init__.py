"""One router per resource."""

from fastapi import APIRouter

from shopsentinel.api.routes import (
    alerts,
    audit,
    calendar,
    catalog,
    health,
    incidents,
    outbox,
    points,
    rules,
    silences,
    stores,
    tokens,
)

ROUTERS: list[APIRouter] = [
    health.router,
    points.router,
    alerts.router,
    incidents.router,
    silences.router,
    rules.router,
    stores.router,
    catalog.router,
    calendar.router,
    tokens.router,
    audit.router,
    outbox.router,
]

__all__ = ["ROUTERS"]
