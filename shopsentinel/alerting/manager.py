"""The alert manager: reconcile evaluated episodes with the persisted alerts of one store.

Evaluation returns every firing episode of a trailing window (the same episodes the backtest
finds, because detectors are causal). The manager turns them into state changes, idempotently:

* an episode never seen before → an alert, ``firing`` at the episode start (and ``resolved`` too
  if it has already ended), one ``alert_events`` row per state;
* a known, still-open alert whose episode now has an end → ``resolved`` at that end;
* a still-open alert of a rule this evaluation judged (``revised``), starting well inside the window
  (at or after ``judged_from``), whose episode is no longer there at all → ``resolved`` now, by
  ``revised``: the data it fired on were completed or corrected since (a failed sync's hours judged
  as missing orders, then backfilled), and an alert nothing supports any more must not page for days;
* anything else → nothing. Re-evaluating the same data changes nothing.

An alert's id is its fingerprint ``sha1(rule|platform|store|sku|metric|episode start)``.

The manager decides state, never notifications: the ``alert_events`` rows it writes in the same
transaction are what the notification pipeline (:mod:`shopsentinel.alerting.pipeline`) announces,
through its one mute stage, as entries of the one outbox stream (the in-app inbox included).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.alerting.labels import alert_labels
from shopsentinel.core.events import AlertEvent
from shopsentinel.store.state import AlertEventRow, AlertRow, IncidentRow

# An open alert whose fingerprint is not found again (its start was judged on different
# history after the window slid) is matched to an episode of the same series starting this near.
SERIES_MATCH_SLACK = timedelta(hours=24)


def fingerprint(rule: str, platform: str, store: str, sku: str, metric: str, start: datetime) -> str:
    text = f"{rule}|{platform}|{store}|{sku}|{metric}|{start:%Y-%m-%dT%H:%M:%SZ}"
    return hashlib.sha1(text.encode()).hexdigest()


def event_fingerprint(e: AlertEvent) -> str:
    return fingerprint(e.rule, e.platform, e.store, e.sku, e.metric, e.start)


@dataclass(frozen=True)
class StateChange:
    alert_id: str
    state: str  # firing | resolved
    ts: datetime


def contract_line(row: AlertRow, *, state: str | None = None, ts: datetime | None = None) -> dict[str, Any]:
    """The alert in the contract's shape (``alert.schema.json``) plus ``id``."""
    state = state or row.state
    when = ts or (row.ends_at if state == "resolved" and row.ends_at else row.starts_at)
    return {
        "id": row.id,
        "ts": f"{when:%Y-%m-%dT%H:%M:%SZ}",
        "state": state,
        "platform": row.platform,
        "store": row.store,
        "sku": row.sku,
        "metric": row.metric,
        "rule": row.rule,
        "severity": row.severity,
        "kind": row.kind,
        "value": row.value,
        "expected": row.expected,
        "lower": row.lower,
        "upper": row.upper,
        "incident": row.incident,
        "message": row.message,
    }


class AlertManager:
    """Persist alert state changes found by evaluation and record their history."""

    def reconcile(
        self,
        session: Session,
        platform: str,
        store: str,
        events: list[AlertEvent],
        *,
        now: datetime,
        create_from: datetime,
        with_pending: bool = False,
        revised: frozenset[str] = frozenset(),
        judged_from: datetime | None = None,
    ) -> list[StateChange]:
        """Apply one evaluation of one store; the caller commits the session. ``with_pending``: the
        events are a full evaluation of the store, so its pending alerts are replaced by theirs.
        ``revised`` and ``judged_from``: the rules this full evaluation judged and the earliest start
        it judged with enough history; an open alert of those rules starting since then that no
        episode supports any more is resolved (its data changed since it fired)."""
        if with_pending:
            self._pending(session, platform, store, [e for e in events if e.mode == "pending" and e.platform == platform
                                                     and e.store == store], now)
        events = [e for e in events if e.mode == "alert" and e.platform == platform and e.store == store]
        by_id = {event_fingerprint(e): e for e in events}
        known = {
            r.id: r
            for r in session.scalars(select(AlertRow).where(AlertRow.id.in_(list(by_id)))).all()
        } if by_id else {}
        open_rows = session.scalars(
            select(AlertRow).where(AlertRow.platform == platform, AlertRow.store == store, AlertRow.state == "firing")
        ).all()
        changes: list[StateChange] = []
        for alert_id, e in sorted(by_id.items(), key=lambda kv: (kv[1].start, kv[0])):
            row = known.get(alert_id)
            if row is None:
                twin = self._alert_twin(session, e)
                if twin is not None:  # the same episode, its start judged on other history
                    row = known[alert_id] = twin
            if row is None:
                if e.start < create_from:
                    continue
                row = self._create(session, alert_id, e, now)
                known[alert_id] = row
                changes.append(self._record(session, row, "firing", e.start, now))
            if row.state == "firing" and e.end is not None:
                self._resolve(row, e.end, now, by="evaluation")
                changes.append(self._record(session, row, "resolved", e.end, now))
        matched = {r.id for r in known.values()}
        for row in open_rows:
            if row.id in matched or row.state != "firing":
                continue
            episode = self._series_twin(row, events)
            if episode is not None and episode.end is not None:
                self._resolve(row, episode.end, now, by="evaluation")
                changes.append(self._record(session, row, "resolved", episode.end, now))
            elif (episode is None and row.rule in revised and judged_from is not None
                  and row.starts_at >= judged_from and self._alert_twin_in(events, row) is None):
                self._resolve(row, now, now, by="revised")
                changes.append(self._record(session, row, "resolved", now, now))
        self._incidents(session, events, known, now)
        return changes

    @staticmethod
    def _pending(session: Session, platform: str, store: str, waiting: list[AlertEvent], now: datetime) -> None:
        """Replace the store's pending alerts (state ``pending``: the condition holds, not yet for the
        rule's ``for``) with this evaluation's. They notify nobody; one that keeps holding fires as a
        new alert, one that stops disappears."""
        stale = {r.id: r for r in session.scalars(select(AlertRow).where(
            AlertRow.platform == platform, AlertRow.store == store, AlertRow.state == "pending")).all()}
        for e in waiting:
            key = f"pending|{e.rule}|{e.platform}|{e.store}|{e.sku}|{e.metric}"
            alert_id = "p-" + hashlib.sha1(key.encode()).hexdigest()[:38]
            row = stale.pop(alert_id, None)
            if row is None:
                row = AlertRow(id=alert_id, rule=e.rule, severity=str(e.severity), kind=e.kind, category=e.category,
                               platform=e.platform, store=e.store, sku=e.sku, metric=e.metric, state="pending",
                               starts_at=e.start, created_at=now)
                session.add(row)
            row.starts_at, row.value, row.expected = e.start, _finite(e.value), _finite(e.expected)
            row.lower, row.upper, row.message, row.message_en = _finite(e.lower), _finite(e.upper), e.message, e.message_en
            row.updated_at = now
        for row in stale.values():
            session.delete(row)

    @staticmethod
    def _alert_twin(session: Session, e: AlertEvent) -> AlertRow | None:
        """A stored alert of the same rule and series that this episode overlaps."""
        query = select(AlertRow).where(
            AlertRow.rule == e.rule, AlertRow.platform == e.platform, AlertRow.store == e.store,
            AlertRow.sku == e.sku, AlertRow.metric == e.metric,
            AlertRow.starts_at >= e.start - SERIES_MATCH_SLACK,
        )
        if e.end is not None:
            query = query.where(AlertRow.starts_at < e.end)
        # the start may move with the history it is judged on, but an alert that had already ended when this
        # episode began is a previous episode: a new one after a recovery is news and pages again
        candidates = [r for r in session.scalars(query).all() if r.ends_at is None or r.ends_at > e.start]
        return min(candidates, key=lambda r: abs(r.starts_at - e.start)) if candidates else None

    @staticmethod
    def _alert_twin_in(events: list[AlertEvent], row: AlertRow) -> AlertEvent | None:
        """An episode of the same rule and series that overlaps the alert anywhere (its start moved)."""
        for e in events:
            if (e.rule, e.sku, e.metric) != (row.rule, row.sku, row.metric):
                continue
            if e.start <= (row.ends_at or e.start) and (e.end is None or e.end > row.starts_at) \
                    and e.start >= row.starts_at - SERIES_MATCH_SLACK:
                return e
        return None

    @staticmethod
    def _series_twin(row: AlertRow, events: list[AlertEvent]) -> AlertEvent | None:
        same = [
            e for e in events
            if (e.rule, e.sku, e.metric) == (row.rule, row.sku, row.metric)
            and (abs(e.start - row.starts_at) <= SERIES_MATCH_SLACK
                 or (e.start <= row.starts_at and (e.end is None or row.starts_at < e.end)))
        ]
        return min(same, key=lambda e: abs(e.start - row.starts_at)) if same else None

    @staticmethod
    def _create(session: Session, alert_id: str, e: AlertEvent, now: datetime) -> AlertRow:
        row = AlertRow(
            id=alert_id, rule=e.rule, severity=str(e.severity), kind=e.kind, category=e.category,
            platform=e.platform, store=e.store, sku=e.sku, metric=e.metric, state="firing",
            starts_at=e.start, ends_at=None, value=_finite(e.value), expected=_finite(e.expected),
            lower=_finite(e.lower), upper=_finite(e.upper), incident=e.incident, root_rank=e.root_rank, message=e.message,
            message_en=e.message_en, resolved_by="", created_at=now, updated_at=now,
        )
        session.add(row)
        session.flush()  # history and outbox rows refer to it
        return row

    @staticmethod
    def _resolve(row: AlertRow, at: datetime, now: datetime, *, by: str) -> None:
        row.state = "resolved"
        row.ends_at = at
        row.resolved_by = by
        row.updated_at = now

    @staticmethod
    def _record(session: Session, row: AlertRow, state: str, ts: datetime, now: datetime) -> StateChange:
        session.add(AlertEventRow(alert_id=row.id, event=state, ts=ts, actor="system", detail="", recorded_at=now))
        return StateChange(row.id, state, ts)

    @staticmethod
    def _incidents(session: Session, events: list[AlertEvent], rows: dict[str, AlertRow], now: datetime) -> None:
        roots: dict[str, AlertEvent] = {}
        for e in events:
            if e.incident and (e.incident not in roots or e.root_rank < roots[e.incident].root_rank):
                roots[e.incident] = e
        for incident, root in roots.items():
            root_row = rows.get(event_fingerprint(root))
            if root_row is None:
                continue
            if session.get(IncidentRow, incident) is None:
                session.add(IncidentRow(
                    id=incident, platform=root.platform, store=root.store, root_alert_id=root_row.id,
                    starts_at=min(e.start for e in events if e.incident == incident), updated_at=now,
                ))


def _finite(x: float | None) -> float | None:
    if x is None or x != x or x in (float("inf"), float("-inf")):
        return None
    return float(x)


__all__ = ["AlertManager", "StateChange", "alert_labels", "contract_line", "event_fingerprint", "fingerprint"]
