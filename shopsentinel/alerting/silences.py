"""Silences: label matchers with an expiry. A silence mutes notifications, never alert state.

A silence is one :class:`~shopsentinel.alerting.mute.Muter`: like time intervals, maintenance
windows and inhibition it answers ``mutes(alert, now) -> bool`` (an alert row or its labels) and
``reason(alert, now)`` for the note, so one mute stage asks every muting source the same question.

>>> from datetime import UTC, datetime
>>> s = Silence([Matcher(name="store", value="tb-.*", regex=True)], datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
>>> s.mutes({"store": "tb-01"}, datetime(2026, 1, 1, 6, tzinfo=UTC))
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from shopsentinel.alerting.labels import labels_of
from shopsentinel.store.state import AlertRow

MatcherName = Literal["platform", "store", "sku", "rule", "metric", "severity", "kind"]


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: MatcherName
    value: str
    regex: bool = False
    negate: bool = False

    @field_validator("value")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        hit = re.fullmatch(self.value, actual) is not None if self.regex else actual == self.value
        return hit != self.negate


@dataclass(frozen=True)
class Silence:
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    id: int | None = None

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, alert: AlertRow | Mapping[str, str], now: datetime) -> bool:
        if not self.active(now):
            return False
        labels = labels_of(alert)
        return all(m.matches(labels) for m in self.matchers)

    def reason(self, alert: AlertRow | Mapping[str, str], now: datetime) -> str | None:
        return silence_note([self]) if self.mutes(alert, now) else None


def silence_note(silences: list[Silence]) -> str:
    return f"静默中 / silenced by {', '.join(str(s.id) for s in silences)}"


def muted_by(muters: list[Silence], alert: AlertRow | Mapping[str, str], now: datetime) -> list[Silence]:
    """The silences that mute this alert (or these labels) now."""
    return [s for s in muters if s.mutes(alert, now)]


__all__ = ["Matcher", "MatcherName", "Silence", "muted_by", "silence_note"]
