"""Calendar behaviour: rules mute during events, or hold a different expectation."""

from __future__ import annotations

from datetime import timedelta

from shopsentinel.catalog import default_catalog
from shopsentinel.core.types import CalendarEvent, StoreInfo
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.rules import parse_rules
from tests.detect.conftest import HOURS, START, StoreData

RULE = """
rules:
  - id: uv.drop
    name: {zh: 访客下跌, en: UV drop}
    severity: critical
    when: {metric: uv, type: change, direction: down, change: 0.4, significance: 4, min_expected: 30}
    for: 1h
    during_events: %s
    event_expectation: 3.0
"""


def _run(mode: str, uplift: float) -> list[str]:
    data = StoreData().funnel()
    promo_start = HOURS - 48
    data.get("uv")[promo_start:] *= uplift
    event = CalendarEvent(START + timedelta(hours=promo_start), START + timedelta(hours=HOURS), "tmall", "", "大促", "promotion")
    catalog = default_catalog()
    panel = build_panel(data.frame(), [StoreInfo("s1", "tmall", "s1", "Asia/Shanghai")], [event], catalog, start=START, hours=HOURS)
    events = evaluate_panel(panel, parse_rules(RULE % mode).rules, catalog)
    return [e.start.isoformat() for e in events if e.start >= START + timedelta(hours=promo_start)]


def test_mute_hides_a_weak_promotion() -> None:
    assert _run("mute", 1.1) == []


def test_expectation_during_event_catches_a_promotion_that_underdelivers() -> None:
    # Traffic only 1.1× normal while 3× was expected: far below the event's expectation.
    assert _run("expect", 1.1) != []


def test_expectation_met_stays_quiet() -> None:
    assert _run("expect", 3.0) == []
