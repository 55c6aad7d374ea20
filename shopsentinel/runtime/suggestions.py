"""Rule suggestions backtested over the service's stored points (shared by the API and the alert center)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shopsentinel.core.types import StoreInfo
from shopsentinel.detect.panel import Panel
from shopsentinel.insight import efficacy
from shopsentinel.runtime.evaluation import store_panel
from shopsentinel.runtime.service import Service
from shopsentinel.store.repository import calendar_events, get_store


def panel_loader(session: Session, service: Service) -> efficacy.PanelLoader:
    """Loads a store's evaluation panel over stored points (None for an unknown store): what the
    suggestions backtest their changed rules on."""
    calendar = calendar_events(session)

    def load(platform: str, store: str, start: datetime, end: datetime) -> Panel | None:
        row = get_store(session, platform, store)
        if row is None:
            return None
        info = StoreInfo(row.store, row.platform, row.name, row.timezone)
        return store_panel(service.points, info, calendar, service.catalog, start, end)

    return load


def rule_suggestions(session: Session, service: Service, now: datetime, days: int) -> list[efficacy.Suggestion]:
    """The backtested suggestions over the last ``days`` whole hours (shared by the API and the alert center)."""
    since = (now - timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    return efficacy.suggestions(session, service.rules.current().rules, panel_loader(session, service), service.catalog,
                                since, until)


__all__ = ["panel_loader", "rule_suggestions"]
