"""The service: one object holding settings, clock, database, point store, evaluator and
scheduler, and the FastAPI app factory around it.

>>> from shopsentinel.core.clock import ManualClock  # tests inject a manual clock
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.catalog import Catalog, default_catalog
from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.secrets import SecretBox, load_key
from shopsentinel.detect.rules import RulePack, default_rules, load_rules
from shopsentinel.notify import ChannelRegistry, builtin_registry
from shopsentinel.notify.links import ActionLinkSigner, link_key
from shopsentinel.response.loop import ResponseLoop
from shopsentinel.service.db import open_database
from shopsentinel.service.evaluation import LiveEvaluator
from shopsentinel.service.metrics import ServiceMetrics
from shopsentinel.service.notification_pipeline import route_and_group
from shopsentinel.service.outbox import Dispatcher, LogDispatcher, deliver_outbox
from shopsentinel.service.repository import (
    all_store_keys,
    calendar_signature,
    ensure_bootstrap_token,
    latest_rule_pack,
    stale_store_keys,
)
from shopsentinel.service.routed_delivery import RoutedDelivery
from shopsentinel.service.scheduler import BackgroundRunner, Scheduler
from shopsentinel.service.settings import Settings
from shopsentinel.service.sync_runner import SyncRunner
from shopsentinel.store.points import PointStore


@dataclass
class RuleBook:
    """The active rule pack: the newest saved version, else the configured file or the default."""

    sessions: sessionmaker[Session]
    fallback: RulePack
    _cached: tuple[int, RulePack] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> RulePack:
        with self._lock:
            if self._cached is None:
                with self.sessions() as session:
                    row = latest_rule_pack(session)
                    self._cached = (row.version, RulePack.model_validate(row.body)) if row else (0, self.fallback)
            return self._cached[1]

    def version(self) -> int:
        self.current()
        return self._cached[0] if self._cached else 0

    def replace(self, version: int, pack: RulePack) -> None:
        with self._lock:
            self._cached = (version, pack)


@dataclass
class Service:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session]
    points: PointStore
    catalog: Catalog
    rules: RuleBook
    metrics: ServiceMetrics
    evaluator: LiveEvaluator
    scheduler: Scheduler
    dispatcher: Dispatcher
    channels: ChannelRegistry = field(default_factory=builtin_registry)
    routed: RoutedDelivery | None = None
    response: ResponseLoop = field(default_factory=ResponseLoop)  # RCA notes and playbooks
    sync: SyncRunner | None = None  # platform syncs (settings.sync_db), run before each notification step

    def tick(self) -> int:
        """One scheduler tick, then the notification pipeline and delivery; returns the number
        of alert state changes."""
        changes = self.scheduler.run_pending()
        self.notify()
        return len(changes)

    def notify(self) -> None:
        """Route and group what is due into the outbox, then deliver (in-app record and channels)."""
        self.response.tick(self)
        if self.settings.sync_db is not None:
            SyncRunner.attached(self).run_due()
        with self.sessions() as session:
            route_and_group(session, self.clock.now(), self.action_links())
            session.commit()
        deliver_outbox(self.sessions, self.dispatcher, self.clock)
        if self.routed is None:
            self.routed = RoutedDelivery(self.channels, lambda: SecretBox(load_key()), self.clock)
        self.routed.deliver(self.sessions)

    def action_links(self) -> ActionLinkSigner | None:
        """Signed 认领 / 查看详情 links for messages, once the service knows its public address."""
        if not self.settings.public_url:
            return None
        return ActionLinkSigner(link_key(load_key()), self.settings.public_url)

    def background_tick(self) -> None:
        """What the background runner does after each evaluation step."""
        self.notify()
        self.metrics.count_tick()

    def close(self) -> None:
        self.engine.dispose()


def build_service(settings: Settings, *, clock: Clock | None = None, dispatcher: Dispatcher | None = None) -> Service:
    """Open (and migrate) the database, create the bootstrap token, wire the parts."""
    clock = clock or SystemClock()
    engine, sessions = open_database(settings.database_url)
    if settings.bootstrap_token is not None:
        with sessions() as session:
            ensure_bootstrap_token(session, settings.bootstrap_token.get_secret_value(), settings.bootstrap_user, clock.now())
            session.commit()
    catalog = default_catalog()
    fallback = load_rules(settings.rules_file) if settings.rules_file else default_rules()
    rules = RuleBook(sessions, fallback)
    metrics = ServiceMetrics()
    points = PointStore(engine, cache_stores=settings.point_cache_stores)
    evaluator = LiveEvaluator(sessions, points, catalog, rules.current, clock, metrics,
                              window_days=settings.eval_window_days, late_data_hours=settings.late_data_hours,
                              stores_per_shard=settings.stores_per_shard)

    def store_keys(before: datetime, everything: bool) -> list[tuple[str, str]]:
        with sessions() as session:
            return all_store_keys(session) if everything else stale_store_keys(session, before)

    def generation() -> tuple[int, tuple[int, int]]:
        with sessions() as session:
            return rules.version(), calendar_signature(session)

    scheduler = Scheduler(clock, timedelta(seconds=settings.schedule_seconds), evaluator, store_keys, generation)
    return Service(settings, clock, engine, sessions, points, catalog, rules, metrics, evaluator, scheduler,
                   dispatcher or LogDispatcher())


def create_app(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    dispatcher: Dispatcher | None = None,
    background: bool = True,
) -> FastAPI:
    """The ASGI app. ``background=False`` (tests) leaves ticking to the caller:
    ``app.state.service.tick()``."""
    from shopsentinel.api.routes import ROUTERS
    from shopsentinel.api.routes.push import build_push_router

    service = build_service(settings or Settings(), clock=clock, dispatcher=dispatcher)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        runner = None
        if background:
            runner = BackgroundRunner(service.scheduler, after_tick=service.background_tick, limit=service.settings.stores_per_shard)
            runner.start()
        try:
            yield
        finally:
            if runner is not None:
                await runner.stop()
            service.close()

    app = FastAPI(
        title="ShopSentinel",
        description="多平台店铺异常预警 — multi-platform store alerting API",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.service = service
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(build_push_router(service))
    from shopsentinel.web import install as install_web

    install_web(app, service)  # the alert center (pages under /, assets under /static)
    return app


__all__ = ["RuleBook", "Service", "build_service", "create_app"]
