"""Each rule's learning state per store: no silent warm-up.

Fixed thresholds judge from the first point. Rules that learn from the store's own history start
after their ``warmup`` (3 days by default) with the history they have and honestly wider bands, and
are *ready* once their baselines are full: a week of days behind the same hour (the bands stop
widening), and two weeks for the weekly check that makes "the same hour on comparable days" mean
something. The states are ``learning`` (silent, ``days_left`` until it starts), ``partial`` (judging
with wide bands, ``days_left`` until ready) and ``ready``. The backtest summary and the API report
them so the alert center can say "学习期：还需 2 天数据".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from shopsentinel.detect.baselines import FULL_SAMPLES
from shopsentinel.detect.rules import Condition, Rule

LearningState = Literal["learning", "partial", "ready"]
DAY = 24.0
WEEKLY_CHECK_WEEKS = 2
MODEL_READY_HOURS = 14 * DAY  # ETS / Isolation Forest / auto: a week to fit, a second to settle


@dataclass(frozen=True)
class RuleLearning:
    rule: str
    state: LearningState
    history_days: float
    starts_after_days: float
    ready_after_days: float
    days_left: int  # whole days until the next state (0 when ready)
    message: str
    message_en: str


def condition_needs(cond: Condition) -> tuple[float, float]:
    """(hours of history before the condition may fire, hours before its bands are full)."""
    warmup = float(getattr(cond, "warmup", 0.0) or 0.0)
    kind = cond.type
    if kind in ("threshold", "event"):
        return 0.0, 0.0
    if kind in ("change", "zscore"):
        baseline = getattr(cond, "baseline", "same_hour")
        history = int(getattr(cond, "history", 7))
        if baseline == "hour_of_week":
            ready = 7 * DAY * min(history, 3)
        else:
            ready = DAY * max(history if baseline == "same_hour" else 1, FULL_SAMPLES)
            if getattr(cond, "weekly_check", False) and baseline != "previous_period":
                ready = max(ready, 7 * DAY * WEEKLY_CHECK_WEEKS)
        return warmup, max(warmup, ready)
    if kind == "seasonal_band":
        return warmup, max(warmup, 7 * DAY * min(int(getattr(cond, "history", 4)), 3))
    if kind == "forecast_cover":
        return warmup, max(warmup, DAY * int(getattr(cond, "demand_days", 14)))
    if kind == "beyond_history":
        return warmup, max(warmup, DAY * int(getattr(cond, "history", 28)))
    # Models fit on their own history: ETS and Isolation Forest after a week, auto after three days.
    start = 3 * DAY if kind == "auto" else 7 * DAY
    return start, max(start, MODEL_READY_HOURS)


def rule_needs(rule: Rule) -> tuple[float, float]:
    """A rule starts when any of its conditions can judge and is ready when all of them are."""
    needs = [condition_needs(c) for c in rule.conditions()]
    return min(n[0] for n in needs), max(n[1] for n in needs)


def rule_learning(rule: Rule, history_hours: float) -> RuleLearning:
    """The rule's state for a store with ``history_hours`` of data (from its first point)."""
    start, ready = rule_needs(rule)
    history_hours = max(0.0, history_hours)
    state: LearningState
    if history_hours < start:
        state, left = "learning", start - history_hours
    elif history_hours < ready:
        state, left = "partial", ready - history_hours
    else:
        state, left = "ready", 0.0
    days_left = math.ceil(left / DAY - 1e-9) if left > 0 else 0
    if state == "learning":
        message = f"学习期：还需 {days_left} 天数据才开始判断"
        message_en = f"Learning: needs {days_left} more day{'s' if days_left != 1 else ''} of data before it judges"
    elif state == "partial":
        message = f"初步判断中（历史较短，判断从宽）：还需 {days_left} 天数据达到完整精度"
        message_en = f"Judging with wide bands (short history): {days_left} more day{'s' if days_left != 1 else ''} to full precision"
    else:
        message, message_en = "已就绪", "Ready"
    return RuleLearning(rule.id, state, round(history_hours / DAY, 2), round(start / DAY, 2), round(ready / DAY, 2),
                        days_left, message, message_en)


def store_learning(rules: list[Rule], history_hours: float) -> list[RuleLearning]:
    """Every enabled alerting rule's learning state for one store."""
    return [rule_learning(r, history_hours) for r in rules if r.enabled]
