"""The service: one object holding settings, clock, database, point store, evaluator and
scheduler. The FastAPI app around it is built by :func:`shopsentinel.app.create_app`.

>>> from shopsentinel.core.clock import ManualClock  # tests inject a manual clock
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.alerting.manager import AlertManager
from shopsentinel.alerting.pipeline import route_and_group
from shopsentinel.catalog import Catalog, default_catalog
from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.secrets import (
    SecretBox,
    SecretKeyError,
    key_location,
    load_key,
    load_keys,
    sealed_values,
    startup_key,
)
from shopsentinel.core.settings import Settings
from shopsentinel.core.types import Severity
from shopsentinel.detect.rules import RulePack, default_rules, load_rules
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.notify import ChannelRegistry, builtin_registry
from shopsentinel.notify.delivery import DeliveryWorkers, OutboxDelivery
from shopsentinel.notify.links import ActionLinkSigner, link_key
from shopsentinel.notify.outbox import Dispatcher, LogDispatcher
from shopsentinel.runtime.evaluation import LiveEvaluator
from shopsentinel.runtime.loop import ResponseLoop, install_root_cause_notes
from shopsentinel.runtime.metrics import ServiceMetrics
from shopsentinel.runtime.rule_source import RuleOrigin, rule_origin
from shopsentinel.runtime.scheduler import Scheduler
from shopsentinel.runtime.sync_runner import SyncRunner
from shopsentinel.store.coordination import HeldLocks, xact_lock
from shopsentinel.store.db import open_database
from shopsentinel.store.legacy_duckdb import move_duckdb_file
from shopsentinel.store.points import PointStore
from shopsentinel.store.repository import (
    all_store_keys,
    audit,
    calendar_signature,
    check_bootstrap_token,
    ensure_bootstrap_token,
    latest_rule_pack,
    sealed_secrets,
    stale_store_keys,
)
from shopsentinel.store.retention import daily_prune
from shopsentinel.store.state import AlertRow

key_log = logging.getLogger("shopsentinel.secrets")
rules_log = logging.getLogger("shopsentinel.rules")

# The system alert of a degraded start (SHOPSENTINEL_ALLOW_DEGRADED_KEY): one ``kind: data`` alert on
# the service itself, firing while the key cannot open the stored secrets, resolved at the first start
# whose key can.
SECRET_KEY_RULE = "system.secret_key"
SYSTEM_PLATFORM, SYSTEM_STORE = "system", "shopsentinel"


@dataclass
class RuleBook:
    """The active rule pack: the newest saved version, else the configured file or the default —
    or, with ``source="file"`` (SHOPSENTINEL_RULES_SOURCE), always the file (see runtime/rule_source.py)."""

    sessions: sessionmaker[Session]
    fallback: RulePack
    _cached: tuple[int, RulePack] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    source: str = "auto"  # Settings.rules_source: auto | file | web
    file: str | None = None  # Settings.rules_file, for the origin shown

    def current(self) -> RulePack:
        with self._lock:
            if self._cached is None:
                if self.source == "file":
                    self._cached = (0, self.fallback)
                    return self.fallback
                with self.sessions() as session:
                    row = latest_rule_pack(session)
                    self._cached = (row.version, RulePack.model_validate(row.body)) if row else (0, self.fallback)
                if row and self.source == "auto" and self.file:
                    self._warn_override(row.version)
            return self._cached[1]

    def _warn_override(self, version: int) -> None:
        origin = rule_origin(self.source, version, self.file)
        rules_log.warning("规则来源 / rule source: %s / %s", origin.text("zh"), origin.text("en"))

    def version(self) -> int:
        self.current()
        return self._cached[0] if self._cached else 0

    def origin(self) -> RuleOrigin:
        return rule_origin(self.source, self.version(), self.file)

    @property
    def read_only(self) -> bool:
        return self.source == "file"

    def replace(self, version: int, pack: RulePack) -> None:
        if self.read_only:  # the file wins: a saved version never becomes active (callers refuse to save)
            return
        with self._lock:
            self._cached = (version, pack)
        if self.source == "auto" and self.file:
            self._warn_override(version)


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
    routed: OutboxDelivery | None = None  # the one delivery loop of the outbox (created on first use)
    response: ResponseLoop = field(default_factory=ResponseLoop)  # RCA notes and playbooks
    sync: SyncRunner | None = None  # platform syncs (settings.sync_db), run before each notification step
    workers: DeliveryWorkers | None = None  # per-channel delivery threads of the background runner
    key_problem: str | None = None  # why the secret key failed its start-up check (a degraded start), else None
    locks: HeldLocks | None = None  # leadership and per-channel sending among replicas sharing the database
    _response_waited: bool = False  # the last background tick left the response loop out (news was waiting)

    @property
    def degraded(self) -> bool:
        """Started although the key cannot open the stored secrets (SHOPSENTINEL_ALLOW_DEGRADED_KEY)."""
        return self.key_problem is not None

    def secret_key(self) -> bytes:
        """The key validated at start. A degraded service never creates a key file (a new key could
        not open what is stored, and would hide the problem at the next start): it raises
        :class:`SecretKeyError` instead."""
        return load_key(create=not self.degraded)

    def secret_keys(self) -> list[bytes]:
        """Every configured key, newest first (key rotation): what :class:`SecretBox` opens with; it
        seals with the first. Never creates a key file when degraded, like :meth:`secret_key`."""
        return load_keys(create=not self.degraded)

    def is_leader(self) -> bool:
        """Whether this process runs the periodic work (periodic pass, platform syncs, the response
        loop). Always true on SQLite; among replicas on one PostgreSQL database, the one holding the
        ``scheduler`` advisory lock — taken over by another at once if it dies."""
        return self.locks is None or self.locks.acquire("scheduler") != "busy"

    def tick(self) -> int:
        """One scheduler tick, then the notification pipeline and delivery; returns the number
        of alert state changes."""
        changes = self.scheduler.run_pending()
        self.notify()
        return len(changes)

    def notify(self, *, deliver: bool = True, respond: bool = True) -> None:
        """Run the notification pipeline (mute, in-app inbox, route, group, escalate) into the outbox,
        then (``deliver``) deliver it synchronously, channel after channel (inbox entries through
        :attr:`dispatcher`). The background runner passes ``deliver=False`` and hands delivery to
        the per-channel workers instead (:meth:`background_tick`); ``respond=False`` leaves the
        response loop (RCA notes, predictive alerts, playbooks) for a later tick."""
        leader = self.is_leader()
        if respond and leader:
            self.response.tick(self)
        if self.settings.sync_db is not None and leader:
            self.sync_runner().run_due()
        with self.sessions() as session:
            xact_lock(session, ["pipeline"])  # replicas: one pipeline run at a time, so no message is enqueued twice
            route_and_group(session, self.clock.now(), self.action_links())
            session.commit()
        if deliver:
            self.delivery().deliver(self.sessions, inbox=self.dispatcher)

    def delivery(self) -> OutboxDelivery:
        """The one delivery loop of the outbox, created on first use (it then recovers the entry a
        crash left in flight)."""
        if self.routed is None:
            self.routed = OutboxDelivery(self.channels, lambda: SecretBox(self.secret_keys()), self.clock, locks=self.locks,
                                         observer=self.metrics)  # sent / failed per channel and reason
        return self.routed

    def delivery_workers(self) -> DeliveryWorkers:
        """The per-channel delivery threads (started on first use, stopped by :meth:`close`)."""
        if self.workers is None:
            self.workers = DeliveryWorkers(self.delivery(), self.sessions, lambda: self.dispatcher)
        return self.workers

    def sync_runner(self) -> SyncRunner:
        """The service's platform-sync runner, created from its settings on first use (tests attach
        their own first)."""
        if self.sync is None:
            self.sync = SyncRunner.from_settings(self)
        if self.sync is None:
            raise ValueError("settings.sync_db is not set")
        if self.sync.observer is None:
            self.sync.observer = self.metrics.sync  # sync lag and failures per store and stream
        return self.sync

    def action_links(self) -> ActionLinkSigner | None:
        """Signed 认领 / 查看详情 links for messages, once the service knows its public address."""
        if not self.settings.public_url:
            return None
        try:
            key = self.secret_key()
        except SecretKeyError:  # degraded without a key: messages go out without 认领 links
            return None
        return ActionLinkSigner(link_key(key), self.settings.public_url)

    def background_tick(self) -> None:
        """What the background runner does after each evaluation step: the pipeline into the
        outbox, then wake the channels' delivery workers — never waiting for a send. While fresh
        data waits to be judged (a burst), the response loop runs only every other tick: its RCA
        notes and forecasts are worth seconds, a crash's first message is not."""
        respond = not self.scheduler.has_news() or self._response_waited
        self._response_waited = not respond
        self.notify(deliver=False, respond=respond)
        self.delivery_workers().kick()
        self.metrics.count_tick()

    def close(self) -> None:
        if self.workers is not None:
            self.workers.close()
        if self.locks is not None:
            self.locks.release_all()
        self.engine.dispose()


def build_service(settings: Settings, *, clock: Clock | None = None, dispatcher: Dispatcher | None = None) -> Service:
    """Open (and migrate) the database, create the bootstrap token, wire the parts."""
    clock = clock or SystemClock()
    install_root_cause_notes()
    if settings.bootstrap_token is not None:
        check_bootstrap_token(settings.bootstrap_token.get_secret_value())  # before touching the database
    engine, sessions = open_database(settings.database_url)
    if settings.bootstrap_token is not None:
        with sessions() as session:
            ensure_bootstrap_token(session, settings.bootstrap_token.get_secret_value(), settings.bootstrap_user, clock.now())
            session.commit()

    # The secret key, validated once: it must open every secret already sealed (channel settings,
    # playbook integrations, the credentials of registered stores); a missing key file with sealed
    # secrets is an error, never a silent new key. SHOPSENTINEL_ALLOW_DEGRADED_KEY starts anyway.
    with sessions() as session:
        sealed = sealed_secrets(session)
    if settings.sync_db is not None:  # an older install's DuckDB sync file moves into the state database once
        try:
            move_duckdb_file(settings.sync_db, engine)
        except Exception:
            engine.dispose()
            raise
    sealed += [v for record in SyncDB(engine).stores() for v in sealed_values(record.config)]
    key_problem: str | None = None
    try:
        startup_key(sealed)
    except SecretKeyError as exc:
        if not settings.allow_degraded_key:
            engine.dispose()
            raise
        key_problem = str(exc)
        key_log.error("降级启动 / starting DEGRADED (SHOPSENTINEL_ALLOW_DEGRADED_KEY): %s", exc)
        with sessions() as session:
            audit(session, "system", "secret_key.degraded", key_location(), clock.now(), error=key_problem)
            session.commit()
    with sessions() as session:
        secret_key_alert(session, key_problem, key_location(), clock.now())
        session.commit()
    catalog = default_catalog()
    fallback = load_rules(settings.rules_file) if settings.rules_file else default_rules()
    rules = RuleBook(sessions, fallback, source=settings.rules_source,
                     file=str(settings.rules_file) if settings.rules_file else None)
    origin = rules.origin()
    rules_log.log(logging.WARNING if origin.reason == "web_over_file" else logging.INFO,
                  "规则来源 / rule source: %s / %s", origin.text("zh"), origin.text("en"))
    metrics = ServiceMetrics(clock)
    metrics.secret_key_degraded = key_problem is not None
    metrics.watch_state(sessions)  # alerts and outbox depth, read at scrape time
    points = PointStore(engine, cache_stores=settings.point_cache_stores)
    evaluator = LiveEvaluator(sessions, points, catalog, rules.current, clock, metrics,
                              window_days=settings.eval_window_days, late_data_hours=settings.late_data_hours,
                              stores_per_shard=settings.stores_per_shard, store_silent_hours=settings.store_silent_hours)

    def store_keys(before: datetime, everything: bool) -> list[tuple[str, str]]:
        with sessions() as session:
            return all_store_keys(session) if everything else stale_store_keys(session, before)

    def generation() -> tuple[int, tuple[int, int]]:
        with sessions() as session:
            return rules.version(), calendar_signature(session)

    locks = HeldLocks(engine)
    scheduler = Scheduler(clock, timedelta(seconds=settings.schedule_seconds), evaluator, store_keys, generation,
                          leader=lambda: locks.acquire("scheduler") != "busy")
    if settings.points_retention_days:  # once a day, in the leading process only (store/retention.py)
        scheduler.add_periodic("retention", timedelta(days=1), daily_prune(
            engine, settings.points_retention_days, settings.eval_window_days, rules.current))
    service = Service(settings, clock, engine, sessions, points, catalog, rules, metrics, evaluator, scheduler,
                      dispatcher or LogDispatcher(), key_problem=key_problem, locks=locks)
    service.response.box = lambda: SecretBox(service.secret_keys())  # playbook integrations: never a new key either
    return service


def secret_key_alert(session: Session, problem: str | None, where: str, now: datetime) -> None:
    """Keep the ``system.secret_key`` data alert in step with the start-up key check: firing (kept,
    not duplicated, across degraded restarts) while ``problem`` is set, resolved once it is not.
    The caller commits."""
    open_rows = session.scalars(select(AlertRow).where(AlertRow.rule == SECRET_KEY_RULE,
                                                       AlertRow.state == "firing")).all()
    if problem is None:
        events = [_secret_key_event(r.starts_at, now, r.message, r.message_en) for r in open_rows]
    elif open_rows:
        return
    else:
        events = [_secret_key_event(
            now, None,
            f"【数据】密钥 {where} 无法解密已保存的机密，服务以降级模式运行：在恢复原来的密钥之前，"
            f"使用这些机密的通知渠道、店铺同步和剧本集成都无法工作（通知发不出去）。{problem}",
            f"[data] the secret key from {where} cannot decrypt the stored secrets; the service runs degraded: "
            f"notifications through channels with secrets cannot be sent until the original key is restored.",
        )]
    if events:
        AlertManager().reconcile(session, SYSTEM_PLATFORM, SYSTEM_STORE, events, now=now, create_from=_EPOCH)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _secret_key_event(start: datetime, end: datetime | None, message: str, message_en: str) -> AlertEvent:
    return AlertEvent(rule=SECRET_KEY_RULE, severity=Severity.CRITICAL, kind="data", category="data",
                      platform=SYSTEM_PLATFORM, store=SYSTEM_STORE, sku="", metric="secret_key", start=start, end=end,
                      message=message, message_en=message_en, notify=["运营负责人"])


__all__ = ["SECRET_KEY_RULE", "RuleBook", "Service", "build_service", "secret_key_alert"]
