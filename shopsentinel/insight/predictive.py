"""Predictive alerts (R8.4): warn before a SKU sells out, not after.

Once per closed hour the response loop asks :func:`~shopsentinel.insight.predict_service.store_stockouts`
for every store that reported sales in the last day. A SKU given at least ``threshold`` (85 %)
probability of running out within 72 hours — from its own hour-of-week demand, promotions ahead and
in-transit stock, by Monte Carlo — raises ``predict.stockout_72h`` (warning, category stock, for
库存管理员) with the probability, the expected time and the safety stock in the message. The alert
keeps firing while the probability stays above ``clear_below`` (hysteresis, so a forecast wavering
around the threshold does not page twice) and the SKU still has stock; it resolves when the risk
passes or the shelf is empty (the sold-out rule takes over then). The SKUs of one store at risk are
one problem: they share one incident (the riskiest first), so the team gets one message listing the
top 3 and "还有 N 条", and a SKU joining later is listed in that incident's next message without a
message of its own (:mod:`shopsentinel.alerting.grouping`). The alerts go through the same
alert manager, routing, grouping and silences as every other alert.

Every forecast at some risk is kept with its outcome (:mod:`shopsentinel.insight.track_record`);
at the start of each hour's round the outcomes that became known are filled in and the map from the
model's probability to the observed one is refitted, so the threshold and the message use a
probability this company's own history stands behind.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from shopsentinel.alerting.manager import AlertManager, StateChange
from shopsentinel.core.clock import Clock
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.types import PLATFORM_NAMES_ZH, Severity
from shopsentinel.detect.rules import RulePack
from shopsentinel.insight import track_record
from shopsentinel.insight.predict_service import SkuRisk, store_stockouts
from shopsentinel.insight.recalibrate import IDENTITY_BY_SUPPLY, SupplyRecalibration
from shopsentinel.store.points import PointStore
from shopsentinel.store.state import AlertRow, PointRow, StoreRow

logger = logging.getLogger(__name__)
RULE = "predict.stockout_72h"
EVERY_EPISODE = datetime(1970, 1, 1, tzinfo=UTC)  # create_from: a risk is news whenever it is found


def stores_with_sales(session: Session, since: datetime) -> list[tuple[str, str]]:
    """Stores that reported SKU sales since ``since``: the stores with any point since then (the store
    registry knows), each checked with one bounded lookup along the points' primary key — never a
    scan of the whole points table."""
    cutoff = int(since.timestamp())
    active = session.execute(select(StoreRow.platform, StoreRow.store).where(StoreRow.last_point_at >= since)).all()
    selling = []
    for platform, store in active:
        hit = session.scalar(select(PointRow.ts).where(
            PointRow.platform == platform, PointRow.store == store, PointRow.sku > "", PointRow.metric == "units_sold",
            PointRow.ts >= cutoff).limit(1))
        if hit is not None:
            selling.append((platform, store))
    return sorted(selling)


def _event(platform: str, store: str, risk: SkuRisk, start: datetime) -> AlertEvent:
    f = risk.forecast
    when = f"约 {f.median_hours_to_stockout:.0f} 小时后" if f.median_hours_to_stockout is not None else "72 小时内"
    when_en = f"in about {f.median_hours_to_stockout:.0f} h" if f.median_hours_to_stockout is not None else "within 72 h"
    where = f"{PLATFORM_NAMES_ZH.get(platform, platform)} {store} SKU {risk.sku}"
    recalibrated = f.raw_probability is not None and f.raw_probability != f.probability
    note = f"；按过往预测的实际命中率校准，模型原值 {f.raw_probability:.0%}" if recalibrated else ""
    note_en = f"; recalibrated on past forecasts' outcomes, model {f.raw_probability:.0%}" if recalibrated else ""
    if f.supply == "overdue" and f.waited_hours is not None and f.usual_interval_hours is not None:
        note += (f"；上次到货已过 {f.waited_hours:.0f} 小时（通常每 {f.usual_interval_hours:.0f} 小时一批），"
                 f"72 小时内到货可能 {f.restock_chance:.0%}，请向供应商确认")
        note_en += (f"; last delivery {f.waited_hours:.0f} h ago (usually every {f.usual_interval_hours:.0f} h), "
                    f"{f.restock_chance:.0%} chance one lands within 72 h: check with the supplier")
    elif f.supply == "rhythm":
        note += f"；按到货节奏，72 小时内到货可能 {f.restock_chance:.0%}"
        note_en += f"; by the delivery rhythm, {f.restock_chance:.0%} chance one lands within 72 h"
    return AlertEvent(
        rule=RULE, severity=Severity.WARNING, kind="business", category="stock", platform=platform, store=store,
        sku=risk.sku, metric="stock", start=start, end=None, value=round(f.probability, 3), expected=f.expected_demand,
        lower=f.stock,
        message=(f"【警告】{where}：预计{when}售罄（72 小时内售罄概率 {f.probability:.0%}；现有库存 {f.stock:g}，"
                 f"在途 {f.in_transit:g}，72 小时预计需求 {f.expected_demand:.0f}，建议安全库存 {f.safety_stock:.0f}{note}）"),
        message_en=(f"[warning] {platform} {store} SKU {risk.sku}: likely to sell out {when_en} (P = {f.probability:.0%} within "
                    f"72 h; stock {f.stock:g}, in transit {f.in_transit:g}, expected demand {f.expected_demand:.0f}, "
                    f"safety stock {f.safety_stock:.0f}{note_en})"),
        notify=["库存管理员"],
    )


def _incident_id(platform: str, store: str, hour: datetime) -> str:
    """The incident of a store's stock-out forecasts that began at ``hour``."""
    digest = hashlib.sha1(f"{platform}|{store}|stock-forecast|{hour.isoformat()}".encode()).hexdigest()[:8]
    return f"inc-{hour:%Y%m%d%H}-{digest}"


def _closing(row: AlertRow, now: datetime) -> AlertEvent:
    return AlertEvent(rule=row.rule, severity=Severity(row.severity), kind=row.kind, category=row.category,
                      platform=row.platform, store=row.store, sku=row.sku, metric=row.metric, start=row.starts_at,
                      end=now, message=row.message, message_en=row.message_en)



class RuleSource(Protocol):
    def current(self) -> RulePack: ...


class ServiceParts(Protocol):
    sessions: sessionmaker[Session]
    points: PointStore
    clock: Clock

    @property
    def rules(self) -> RuleSource: ...


@dataclass
class PredictiveAlerts:
    threshold: float = 0.85
    clear_below: float = 0.5
    stores_per_tick: int = 25  # bounded work per notification step; an hour's round spans several ticks
    seconds_per_tick: float = 1.0  # … and bounded time: routing waits for this step (always one store at least)
    _hour: datetime | None = None
    _todo: list[tuple[str, str]] = field(default_factory=list)
    calibration: SupplyRecalibration = IDENTITY_BY_SUPPLY  # refitted from the track record at the start of each round
    _manager: AlertManager = field(default_factory=AlertManager)

    @property
    def pending(self) -> int:
        """Stores of the current hour's round not judged yet."""
        return len(self._todo)

    def tick(self, service: ServiceParts, now: datetime) -> list[StateChange]:
        """Judge every selling store once per closed hour, a few stores per call; returns the alert
        state changes."""
        hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
        changes: list[StateChange] = []
        with service.sessions() as session:
            if self._hour is None or hour > self._hour:  # a new hour: a new round over the stores
                self._hour = hour
                open_stores = {(p, s) for p, s in session.execute(select(AlertRow.platform, AlertRow.store).where(
                    AlertRow.rule == RULE, AlertRow.state == "firing")).all()}
                self._todo = sorted(set(stores_with_sales(session, hour - timedelta(days=1))) | open_stores)
                track_record.settle(session, hour)
                track_record.prune(session, hour)
                self.calibration = track_record.fit(session, hour)
            began = time.monotonic()
            for done in range(1, self.stores_per_tick + 1):
                if not self._todo:
                    break
                platform, store = self._todo.pop(0)
                changes += self._judge(session, service, platform, store, hour, now)
                if time.monotonic() - began >= self.seconds_per_tick:
                    logger.debug("predictive round: %d stores this tick, %d left", done, len(self._todo))
                    break
            session.commit()
        return changes

    def _judge(self, session: Session, service: ServiceParts, platform: str, store: str, hour: datetime,
               now: datetime) -> list[StateChange]:
        open_rows = session.scalars(select(AlertRow).where(AlertRow.rule == RULE, AlertRow.state == "firing",
                                                           AlertRow.platform == platform, AlertRow.store == store)).all()
        judged = store_stockouts(session, service.points, platform, store, hour, calibration=self.calibration)
        track_record.record(session, platform, store, hour, judged)
        risks = {r.sku: r for r in judged if r.forecast.stock > 0 and r.forecast.probability >= self.clear_below}
        events: list[AlertEvent] = []
        for row in open_rows:
            still = risks.pop(row.sku, None)
            events.append(_event(platform, store, still, row.starts_at) if still else _closing(row, hour))
        fresh = [_event(platform, store, r, hour) for r in risks.values() if r.forecast.probability >= self.threshold]
        if fresh:  # the store's SKUs heading for a stock-out are one problem: one incident, one message
            told = sorted((r for r in open_rows if r.incident), key=lambda r: (r.starts_at, r.id))
            incident = told[0].incident if told else _incident_id(platform, store, hour)
            for rank, e in enumerate(sorted(fresh, key=lambda e: -(e.value or 0.0))):
                e.incident, e.root_rank = incident, rank if not told else len(open_rows) + rank
        events += fresh
        if not events:
            return []
        return self._manager.reconcile(session, platform, store, events, now=now, create_from=EVERY_EPISODE)


__all__ = ["RULE", "PredictiveAlerts", "stores_with_sales"]
