"""One mute interface (after Alertmanager's ``notify/mute.go``).

Every muting source is a :class:`Muter`: it answers ``mutes(alert, now) -> bool`` and, for the
note on the notification, ``reason(alert, now) -> str | None`` (``None`` when it does not mute).
``alert`` is an alert row, or just its labels (a preview of what a silence would catch).

========================  ==================================================================
:class:`~.silences.Silence`            label matchers with an expiry (``/api/v1/silences``)
:class:`Silences`                      the active silences together (one note naming their ids)
:class:`~.timeintervals.TimeInterval`  recurring windows of the routing config (nights, weekends)
:class:`MaintenanceWindow`             a ``maintenance`` event of the business calendar
:class:`MutedUntilResolved`            "mute until resolved" set by hand on one episode
:class:`~.inhibit.Inhibition`          a firing root cause mutes its symptoms (same incident/store)
:class:`CalmStart`                     a new store's first 72 h of data-quality findings: inbox only
========================  ==================================================================

:class:`MuteStage` composes them, is built once per pipeline run (:meth:`MuteStage.load`) and is
the only place the notification pipeline (:mod:`shopsentinel.alerting.pipeline`: the in-app
inbox, routing and grouping, escalation) asks whether an alert is muted. Muting never touches an
alert's state or history, only its notifications.

A new kind of mute is a class with ``mutes`` and ``reason``, added to the list
:meth:`MuteStage.load` builds.

>>> from datetime import UTC, datetime
>>> window = MaintenanceWindow("平台系统维护", datetime(2026, 1, 1, 2, tzinfo=UTC), datetime(2026, 1, 1, 6, tzinfo=UTC), "jd")
>>> window.mutes({"platform": "jd", "store": "jd-1"}, datetime(2026, 1, 1, 3, tzinfo=UTC))
True
>>> window.mutes({"platform": "tmall", "store": "tm-1"}, datetime(2026, 1, 1, 3, tzinfo=UTC))
False
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.alerting.inhibit import Inhibition, firing_by_store
from shopsentinel.alerting.labels import labels_of
from shopsentinel.alerting.routing_config import RoutingConfig
from shopsentinel.alerting.routing_repository import routing_config
from shopsentinel.alerting.silences import Matcher, Silence, silence_note
from shopsentinel.store.state import AlertRow, CalendarRow, SilenceRow, StoreRow

MuteTarget = AlertRow | Mapping[str, str]
MAINTENANCE = "maintenance"


class Muter(Protocol):
    """A source of muting: silences, time intervals, maintenance windows, inhibition, …"""

    def mutes(self, alert: MuteTarget, now: datetime) -> bool: ...

    def reason(self, alert: MuteTarget, now: datetime) -> str | None:
        """What the notification's note says when this mutes ``alert`` at ``now``; else ``None``."""
        ...


@dataclass(frozen=True)
class Silences:
    """The active silences as one muter: the note names every silence that matches."""

    silences: tuple[Silence, ...]

    def matching(self, alert: MuteTarget, now: datetime) -> list[Silence]:
        return [s for s in self.silences if s.mutes(alert, now)]

    def mutes(self, alert: MuteTarget, now: datetime) -> bool:
        return any(s.mutes(alert, now) for s in self.silences)

    def reason(self, alert: MuteTarget, now: datetime) -> str | None:
        hits = self.matching(alert, now)
        return silence_note(hits) if hits else None


@dataclass(frozen=True)
class MaintenanceWindow:
    """A calendar event of kind ``maintenance``: while it is open, the alerts of its platform and
    store (``""``: all) notify nobody. Rules may also mute their *evaluation* during calendar
    events (``during_events``); this mutes the notifications of everything else in its scope."""

    name: str
    starts_at: datetime
    ends_at: datetime
    platform: str = ""
    store: str = ""
    id: int | None = None

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, alert: MuteTarget, now: datetime) -> bool:
        if not self.active(now):
            return False
        labels = labels_of(alert)
        return (not self.platform or labels.get("platform") == self.platform) and \
            (not self.store or labels.get("store") == self.store)

    def reason(self, alert: MuteTarget, now: datetime) -> str | None:
        if not self.mutes(alert, now):
            return None
        return f"维护窗口中：{self.name}（至 {self.ends_at:%Y-%m-%d %H:%M} UTC）/ maintenance window {self.name}"


class MutedUntilResolved:
    """"Mute until resolved" (``alerts.muted_by``): the episode notifies and escalates no more."""

    def mutes(self, alert: MuteTarget, now: datetime) -> bool:
        return not isinstance(alert, Mapping) and alert.muted_by is not None

    def reason(self, alert: MuteTarget, now: datetime) -> str | None:
        if isinstance(alert, Mapping) or alert.muted_by is None:
            return None
        return f"已静默至恢复 / muted until resolved by {alert.muted_by}"


CALM_START = timedelta(hours=72)
# Data alerts a new store still hears about on its channels: a sync the user's own setup makes fail
# (rejected credentials, a missing permission) needs their hands, not patience.
CALM_START_EXEMPT_RULES = frozenset({"data.sync_failed"})
CALM_START_NOTE = "新店铺接入 72 小时内的数据质量提示只进站内信 / a new store's data-quality notices stay in the inbox for its first 72 hours"


@dataclass(frozen=True)
class CalmStart:
    """A calm start: in a store's first 72 hours (from its first point, ``stores.first_point_at``) its
    data-quality findings (``kind: data``, except sync failures the user caused) go to the in-app inbox
    only, flagged with the reason, and reach no channel. ``first_points`` maps ``(platform, store)`` to
    the store's first point time."""

    first_points: Mapping[tuple[str, str], datetime]
    hours: timedelta = CALM_START

    def mutes(self, alert: MuteTarget, now: datetime) -> bool:
        labels = labels_of(alert)
        if labels.get("kind") != "data" or labels.get("rule", "") in CALM_START_EXEMPT_RULES:
            return False
        first = self.first_points.get((labels.get("platform", ""), labels.get("store", "")))
        return first is not None and now < first + self.hours

    def reason(self, alert: MuteTarget, now: datetime) -> str | None:
        return CALM_START_NOTE if self.mutes(alert, now) else None


def first_points(session: Session, now: datetime, hours: timedelta = CALM_START) -> dict[tuple[str, str], datetime]:
    """The first point time of every store still in its calm start at ``now``."""
    rows = session.execute(select(StoreRow.platform, StoreRow.store, StoreRow.first_point_at)
                           .where(StoreRow.first_point_at.is_not(None), StoreRow.first_point_at > now - hours)).all()
    return {(platform, store): first for platform, store, first in rows if first is not None}


@dataclass(frozen=True)
class Muted:
    """The mute stage's answer for one alert: why it is muted (empty: it is not)."""

    reasons: tuple[str, ...] = ()
    root: AlertRow | None = None  # the firing root cause inhibiting it
    silenced: bool = False  # muted by something other than inhibition: it is left out of messages

    def __bool__(self) -> bool:
        return bool(self.reasons)

    @property
    def note(self) -> str | None:
        return "；".join(self.reasons) or None


NOT_MUTED = Muted()


class MuteStage:
    """Every muter of one pipeline run. Inhibition is asked last and about firing notifications only
    (a symptom stays in its root's message, counted; see :mod:`shopsentinel.alerting.grouping`);
    any other muter leaves the alert out of messages and pages altogether."""

    def __init__(self, muters: Sequence[Muter], inhibition: Inhibition | None = None) -> None:
        self.muters = list(muters)
        self.inhibition = inhibition

    @classmethod
    def load(cls, session: Session, now: datetime, config: RoutingConfig | None = None,
             firing: Iterable[AlertRow] | None = None) -> MuteStage:
        """The muters in force at ``now``: active silences, the routing config's time intervals,
        open maintenance windows, "mute until resolved", a new store's calm start, and inhibition
        among the firing alerts."""
        if config is None:
            config = routing_config(session)
        if firing is None:
            firing = session.scalars(select(AlertRow).where(AlertRow.state == "firing")).all()
        muters: list[Muter] = [Silences(tuple(active_silences(session, now))), *config.time_intervals,
                               *maintenance_windows(session, now), MutedUntilResolved(),
                               CalmStart(first_points(session, now))]
        return cls(muters, Inhibition(firing_by_store(firing)))

    def check(self, alert: AlertRow, now: datetime, *, state: str | None = None) -> Muted:
        """Whether (and why) notifications of ``alert`` in ``state`` (default: its current state) are muted."""
        reasons = [r for r in (m.reason(alert, now) for m in self.muters) if r is not None]
        silenced = bool(reasons)
        root = None
        if self.inhibition is not None and (state or alert.state) == "firing":
            root = self.inhibition.root(alert)
            note = self.inhibition.reason(alert, now) if root is not None else None
            if note is not None:
                reasons.append(note)
        return Muted(tuple(reasons), root, silenced) if reasons else NOT_MUTED

    def mutes(self, alert: MuteTarget, now: datetime) -> bool:
        return self.reason(alert, now) is not None

    def reason(self, alert: MuteTarget, now: datetime) -> str | None:
        if isinstance(alert, Mapping):
            return "；".join(r for r in (m.reason(alert, now) for m in self.muters) if r is not None) or None
        return self.check(alert, now).note


def active_silences(session: Session, now: datetime) -> list[Silence]:
    rows = session.scalars(select(SilenceRow).where(SilenceRow.starts_at <= now, SilenceRow.ends_at > now)).all()
    return [Silence([Matcher.model_validate(m) for m in r.matchers], r.starts_at, r.ends_at, r.id) for r in rows]


def maintenance_windows(session: Session, now: datetime) -> list[MaintenanceWindow]:
    """The business calendar's ``maintenance`` events open at ``now``."""
    rows = session.scalars(select(CalendarRow).where(CalendarRow.kind == MAINTENANCE, CalendarRow.starts_at <= now,
                                                     CalendarRow.ends_at > now).order_by(CalendarRow.id)).all()
    return [MaintenanceWindow(r.name, r.starts_at, r.ends_at, r.platform, r.store, r.id) for r in rows]


__all__ = ["CALM_START", "CALM_START_EXEMPT_RULES", "CALM_START_NOTE", "MAINTENANCE", "NOT_MUTED", "CalmStart", "MaintenanceWindow", "MuteStage", "MuteTarget", "Muted", "MutedUntilResolved",
           "Muter", "Silences", "active_silences", "first_points", "maintenance_windows"]
