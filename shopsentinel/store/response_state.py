"""Tables of the response loop (revision 0004): RCA notes, the knowledge base, playbooks and their
runs and steps, integration settings, and incidents users record as missed; the stock-out forecasts'
track record (revision 0007).

They share :class:`shopsentinel.store.state.Base`, so the migrations' metadata sees them once this
module is imported (``shopsentinel/store/__init__.py`` imports it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shopsentinel.store.state import Base


class RcaNoteRow(Base):
    """The one-line root cause of an alert's incident, computed once when it first fires."""

    __tablename__ = "rca_notes"
    alert_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    incident: Mapped[str] = mapped_column(String(64), default="")
    text_zh: Mapped[str] = mapped_column(Text, default="")
    text_en: Mapped[str] = mapped_column(Text, default="")
    cause: Mapped[str] = mapped_column(String(64), default="")
    result: Mapped[dict[str, Any]]
    computed_at: Mapped[datetime]


class KnowledgeEntryRow(Base):
    """Cause and fix recorded when an alert is resolved (知识库)."""

    __tablename__ = "kb_entries"
    __table_args__ = (Index("ix_kb_entries_rule_metric", "rule", "metric"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[str] = mapped_column(String(40), index=True)
    rule: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(64), default="")
    platform: Mapped[str] = mapped_column(String(64))
    store: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(200), default="")
    pattern: Mapped[str] = mapped_column(String(32), default="")  # drop | spike | level | stockout ...
    cause: Mapped[str] = mapped_column(Text, default="")
    fix: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class PlaybookRow(Base):
    """Versions of the playbook document (YAML as given, parsed body)."""

    __tablename__ = "playbooks"
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    body: Mapped[dict[str, Any]]
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class PlaybookRunRow(Base):
    __tablename__ = "playbook_runs"
    __table_args__ = (Index("ix_playbook_runs_state", "state"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    playbook: Mapped[str] = mapped_column(String(200))
    alert_id: Mapped[str] = mapped_column(String(40), index=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)  # playbook|alert: one run per alert
    state: Mapped[str] = mapped_column(String(16))  # running | waiting | done | failed
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    step: Mapped[int] = mapped_column(Integer, default=0)
    context: Mapped[dict[str, Any]]
    started_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PlaybookStepRow(Base):
    __tablename__ = "playbook_steps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("playbook_runs.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))
    action_key: Mapped[str] = mapped_column(String(400), unique=True)  # run × step × alert
    state: Mapped[str] = mapped_column(String(16))  # pending | waiting_approval | waiting | done | failed | skipped
    owner: Mapped[str] = mapped_column(String(200), default="")
    deadline_at: Mapped[datetime | None] = mapped_column(nullable=True)
    approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    wait_until: Mapped[datetime | None] = mapped_column(nullable=True)
    result: Mapped[dict[str, Any]]
    error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime]


class MissedIncidentRow(Base):
    """An incident a user says the alerts missed (the denominator of recall)."""

    __tablename__ = "missed_incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(64))
    store: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(200), default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None] = mapped_column(nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]


class StockoutForecastRow(Base):
    """One hourly stock-out forecast of a SKU and, once its 72 hours have passed, what happened."""

    __tablename__ = "stockout_forecasts"
    __table_args__ = (UniqueConstraint("platform", "store", "sku", "made_at", name="uq_stockout_forecasts_sku_hour"),
                      Index("ix_stockout_forecasts_made_at", "made_at"),
                      Index("ix_stockout_forecasts_open", "settled_at", "made_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(64))
    store: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(200))
    made_at: Mapped[datetime]
    probability: Mapped[float] = mapped_column(Float)  # the model's own P(stock-out within 72 h)
    calibrated: Mapped[float] = mapped_column(Float)  # what the service said after recalibration
    stock: Mapped[float] = mapped_column(Float)
    supply: Mapped[str] = mapped_column(String(16), default="")  # what the model assumed would arrive (SUPPLY_STATES)
    ran_out: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # None: not settled, or no stock data
    settled_at: Mapped[datetime | None] = mapped_column(nullable=True)


__all__ = [
    "KnowledgeEntryRow",
    "MissedIncidentRow",
    "PlaybookRow",
    "PlaybookRunRow",
    "PlaybookStepRow",
    "RcaNoteRow",
    "StockoutForecastRow",
]
