"""bench/first_week.py's scoring: an alert matches an incident of its own store whose span it
overlaps (with the slack), F1 counts alerts for precision and incidents for recall, messages are
counted per incident and channel, and a message without a person on duty is caught."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fw = _load("bench_first_week", BENCH / "first_week.py")
T = datetime(2026, 9, 8, 6, tzinfo=UTC)
H = timedelta(hours=1)
CRASH = fw.Incident("tmall", "tm-2", "order_crash", T, T + 6 * H)
SURGE = fw.Incident("jd", "jd-1", "refund_surge", T + 30 * H, T + 36 * H)


def alert(id_: str, store: str, start: datetime, end: datetime | None, *, kind: str = "business",
          rule: str = "orders.decline", platform: str | None = None) -> object:
    return fw.AlertSpan(id_, platform or {"tm-2": "tmall", "jd-1": "jd"}.get(store, "tmall"), store, rule, kind, start, end)


def test_an_alert_matches_only_its_own_store_inside_the_slack() -> None:
    assert fw.match(alert("a", "tm-2", T + 2 * H, T + 5 * H), CRASH)
    assert fw.match(alert("b", "tm-2", T - 30 * timedelta(minutes=1), T + H), CRASH)  # early, inside the slack
    assert not fw.match(alert("c", "tm-1", T + 2 * H, T + 5 * H), CRASH)  # another store
    assert not fw.match(alert("d", "tm-2", T + 6 * H + fw.SLACK[1], None), CRASH)  # too late
    assert not fw.match(alert("e", "tm-2", T - 5 * H, T - 2 * H), CRASH)  # over before it began
    assert fw.match(alert("f", "tm-2", T - 5 * H, None), CRASH, now=T + H)  # still firing when it began


def test_f1_counts_alerts_for_precision_and_incidents_for_recall_and_ignores_data_alerts() -> None:
    alerts = [alert("a", "tm-2", T + H, T + 4 * H), alert("b", "tm-2", T + 2 * H, T + 7 * H, rule="orders.gmv_drop"),
              alert("c", "tm-1", T, T + H, rule="reviews.negative_each"),
              alert("d", "jd-1", T, T + H, kind="data", rule="data.sync_failed", platform="jd")]
    result = fw.score(alerts, [CRASH, SURGE])
    assert (result["alerts"], result["true_alerts"], result["false_alerts"]) == (3, 2, 1)
    assert (result["found"], result["incidents"]) == (1, 2)
    assert (result["precision"], result["recall"]) == (0.667, 0.5)
    assert result["f1"] == round(2 * (2 / 3) * 0.5 / (2 / 3 + 0.5), 3)
    assert result["false_by_rule"] == {"reviews.negative_each": 1} and result["missed"] == ["jd/jd-1 refund_surge"]
    assert fw.score([], [])["f1"] == 1.0 and fw.score([], [CRASH])["f1"] == 0.0


def test_messages_are_counted_per_incident_and_channel_escalations_and_reminders_apart() -> None:
    alerts = [alert("a", "tm-2", T + H, T + 4 * H), alert("z", "tm-1", T, T + H)]
    messages = [fw.Message("dingtalk", ("a",), "firing"), fw.Message("dingtalk", ("a", "z"), "escalation"),
                fw.Message("dingtalk", ("a",), "escalation"), fw.Message("dingtalk", ("a",), "resolved"),
                fw.Message("dingtalk", ("a",), "firing"), fw.Message("email", ("a",), "firing"),
                fw.Message("dingtalk", ("z",), "firing"), fw.Message("email", ("a",), "repeat")]
    rows = fw.messages_per_incident(messages, alerts, [CRASH, SURGE])
    assert rows == [
        {"incident": "tmall/tm-2 order_crash", "channel": "dingtalk", "firing_resolved": 3, "escalations": 2,
         "repeats": 0, "within_target": False},
        {"incident": "tmall/tm-2 order_crash", "channel": "email", "firing_resolved": 1, "escalations": 0,
         "repeats": 1, "within_target": True},
    ]


def test_the_message_title_says_what_kind_of_message_it_is() -> None:
    class Row:
        def __init__(self, title: str) -> None:
            self.channel, self.status, self.alert_id, self.key, self.sent_at = "robot", "sent", "a", title, T
            self.payload = {"title": title, "alerts": [{"id": "a"}]}

    titles = ["【升级 2/2】下单骤降（30 分钟未认领）", "【仍未恢复】下单骤降", "已恢复：下单骤降 持续 2 小时", "下单骤降"]
    assert [m.state for m in fw._messages([Row(t) for t in titles], {})] == ["escalation", "repeat", "resolved", "firing"]


def test_a_message_must_mention_someone_on_duty_when_it_was_sent() -> None:
    def on_duty(at: datetime | None) -> set[str]:
        return {"139-A"} if at is not None and at < T + 24 * H else {"139-B"}

    ok = [fw.Message("dingtalk", ("a",), "firing", ("139-A",), T), fw.Message("dingtalk", ("a",), "firing", ("139-B",), T + 30 * H)]
    assert fw.names_on_duty(ok, on_duty) == {"messages": 2, "without_person": 0, "not_on_duty": 0, "ok": True}
    bad = [*ok, fw.Message("dingtalk", ("a",), "firing", (), T), fw.Message("dingtalk", ("a",), "firing", ("139-A",), T + 30 * H)]
    assert fw.names_on_duty(bad, on_duty) == {"messages": 4, "without_person": 1, "not_on_duty": 1, "ok": False}
