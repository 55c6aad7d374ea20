"""Silences: label matchers with an expiry. A silence mutes notifications, never alert state.

Every muting source answers ``mutes(labels, now) -> bool`` so one notification stage can ask
silences, maintenance windows and inhibition the same question.

>>> from datetime import UTC, datetime
>>> s = Silence([Matcher(name="store", value="tb-.*", regex=True)], datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
>>> s.mutes({"store": "tb-01"}, datetime(2026, 1, 1, 6, tzinfo=UTC))
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, field_validator

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


class Muter(Protocol):
    def mutes(self, labels: dict[str, str], now: datetime) -> bool: ...


@dataclass(frozen=True)
class Silence:
    matchers: list[Matcher]
    starts_at: datetime
    ends_at: datetime
    id: int | None = None

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: dict[str, str], now: datetime) -> bool:
        return self.active(now) and all(m.matches(labels) for m in self.matchers)


def muted_by(muters: list[Silence], labels: dict[str, str], now: datetime) -> list[Silence]:
    """The silences that mute these labels now."""
    return [s for s in muters if s.mutes(labels, now)]


__all__ = ["Matcher", "MatcherName", "Muter", "Silence", "muted_by"]
