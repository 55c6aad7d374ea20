"""Evaluation happens promptly after data arrives and on schedule (injected clock, no sleeps):
a store that stops sending is caught by the scheduled evaluation alone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from shopsentinel.alerting.manager import AlertManager
from shopsentinel.cli.serve import serve
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.events import AlertEvent
from shopsentinel.core.settings import Settings
from shopsentinel.core.types import Severity
from shopsentinel.runtime.evaluation import SYNC_PROBLEM_RULES
from shopsentinel.runtime.sync_runner import PROBLEM_RULES


def _push(api: Any, clock: ManualClock, hours: int) -> None:
    for _ in range(hours):  # each hour's figure arrives as the hour closes
        clock.advance(timedelta(hours=1))
        ts = clock.now() - timedelta(hours=1)
        api.post("/api/v1/points", json={"points": [
            {"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": "jd", "store": "jd-1", "metric": "uv", "value": 100}]})


def test_ingest_queues_store_and_schedule_catches_silence(api: Any, clock: ManualClock) -> None:
    _push(api, clock, 6)
    assert api.service.scheduler.pending() == [("jd", "jd-1")]
    api.service.tick()
    assert api.service.scheduler.pending() == []
    evaluations = api.service.metrics.evaluations
    api.service.tick()  # nothing queued, schedule not due: no work
    assert api.service.metrics.evaluations == evaluations
    clock.advance(timedelta(hours=4))  # the store went quiet; no request arrives
    api.service.tick()
    assert api.service.metrics.evaluations == evaluations + 1
    firing = api.get("/api/v1/alerts", params={"state": "firing", "store": "jd-1"}).json()["items"]
    assert [(a["rule"], a["kind"], a["severity"]) for a in firing] == [("data.store_silent", "data", "critical")]
    _push(api, clock, 1)  # data is back: the next evaluation resolves it
    api.service.tick()
    assert api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"] == []
    incidents = api.get("/api/v1/incidents").json()["items"]
    assert len(incidents) == 1 and incidents[0]["alerts"][0]["rule"] == "data.store_silent"


def test_a_store_whose_sync_fails_gets_one_data_alert_not_a_second_silence(api: Any, clock: ManualClock) -> None:
    """The platform sync's own alert (data.sync_failed) says why the store is quiet: its silence is not a
    second "stopped reporting" message about the same problem."""
    _push(api, clock, 6)
    api.service.tick()
    failed = AlertEvent(rule="data.sync_failed", severity=Severity.CRITICAL, kind="data", category="data",
                        platform="jd", store="jd-1", sku="", metric="", start=clock.now(), end=None,
                        message="【数据】jd jd-1：同步失败")
    with api.service.sessions() as session:
        AlertManager().reconcile(session, "jd", "jd-1", [failed], now=clock.now(), create_from=clock.now())
        session.commit()
    clock.advance(timedelta(hours=4))
    api.service.tick()
    firing = api.get("/api/v1/alerts", params={"state": "firing", "store": "jd-1"}).json()["items"]
    assert [a["rule"] for a in firing] == ["data.sync_failed"]


def test_the_sync_problem_rules_are_the_sync_runners() -> None:
    assert set(SYNC_PROBLEM_RULES) == set(PROBLEM_RULES.values())


def test_settings_from_environment(monkeypatch: Any) -> None:
    monkeypatch.setenv("SHOPSENTINEL_DATABASE_URL", "postgresql+psycopg://u@db/x")
    monkeypatch.setenv("SHOPSENTINEL_EVAL_WINDOW_DAYS", "49")
    monkeypatch.setenv("SHOPSENTINEL_BOOTSTRAP_TOKEN", "s3cret")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (settings.database_url, settings.eval_window_days) == ("postgresql+psycopg://u@db/x", 49)
    assert settings.bootstrap_token is not None and "s3cret" not in repr(settings)


def test_serve_is_a_typer_command() -> None:
    app = typer.Typer()
    app.command()(serve)
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["serve", "--help"])
    assert result.exit_code == 0
    assert "--host" in result.output and "--port" in result.output


def _point(ts: Any, store: str, value: float) -> dict[str, Any]:
    return {"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": "jd", "store": store, "metric": "uv", "value": value}


def test_an_identical_resend_queues_nothing_a_changed_value_queues_its_store(api: Any, clock: ManualClock) -> None:
    hour = clock.now() - timedelta(hours=1)
    api.post("/api/v1/points", json={"points": [_point(hour, "a", 100), _point(hour, "b", 100)]})
    api.service.tick()
    assert api.service.scheduler.pending() == []
    resent = api.post("/api/v1/points", json={"points": [_point(hour, "a", 100), _point(hour, "b", 100)]})
    assert resent.json()["accepted"] == 2  # kept (idempotently) …
    assert api.service.scheduler.pending() == []  # … but nothing moved, so nothing to re-judge
    api.post("/api/v1/points", json={"points": [_point(hour, "a", 100), _point(hour, "b", 101)]})
    assert api.service.scheduler.pending() == [("jd", "b")]
    api.service.tick()
    current = hour + timedelta(hours=1)  # the hour still running: a moving total is judged when it closes
    for total in (10, 20, 30):
        api.post("/api/v1/points", json={"points": [_point(current, "a", total)]})
    assert api.service.scheduler.pending() == []
    before = api.service.metrics.evaluations
    clock.advance(timedelta(hours=1))
    api.service.tick()  # the hour closed: the periodic pass judges both stores
    assert api.service.metrics.evaluations == before + 2


def test_the_periodic_pass_takes_stores_behind_the_last_closed_hour_and_all_after_a_rule_change(
        api: Any, clock: ManualClock) -> None:
    start = clock.now() - timedelta(hours=3)
    api.post("/api/v1/points", json={"points": [_point(start + timedelta(hours=h), s, 100) for h in range(3)
                                                for s in ("a", "b")]})
    service = api.service
    service.tick()
    evaluated = service.metrics.evaluations
    clock.advance(timedelta(seconds=service.settings.schedule_seconds))  # due again, same hour: nothing stale
    service.tick()
    assert service.metrics.evaluations == evaluated
    clock.advance(timedelta(hours=1))  # an hour closed: both windows moved
    service.tick()
    assert service.metrics.evaluations == evaluated + 2
    rules = api.get("/api/v1/rules").json()["pack"]["rules"]
    assert api.put("/api/v1/rules", json={"rules": rules[:-1]}).status_code == 200
    clock.advance(timedelta(seconds=service.settings.schedule_seconds))
    service.tick()  # nothing stale, but the rules changed: everyone is judged again
    assert service.metrics.evaluations == evaluated + 4


def test_fresh_stores_go_first_and_a_bounded_tick_still_serves_the_backlog(api: Any, clock: ManualClock) -> None:
    scheduler = api.service.scheduler
    scheduler.backlog_tick_seconds = scheduler.news_tick_seconds = float("inf")  # by count here (by time: further down)
    hour = clock.now() - timedelta(hours=1)
    api.post("/api/v1/points", json={"points": [_point(hour, f"s{i}", 100) for i in range(6)]})
    scheduler.run_pending(limit=None)
    clock.advance(timedelta(hours=1))
    scheduler.run_pending(limit=0)  # the pass runs: six stores behind the closed hour, none evaluated
    assert sorted(scheduler.pending()) == [("jd", f"s{i}") for i in range(6)]
    api.post("/api/v1/points", json={"points": [_point(hour, "s5", 7), _point(hour, "new", 1)]})
    assert set(scheduler.pending()[:2]) == {("jd", "s5"), ("jd", "new")}  # fresh data ahead of the backlog
    before = api.service.metrics.evaluations
    scheduler.run_pending(limit=4)  # news waiting: only the news (the backlog waits one small tick at most)
    assert api.service.metrics.evaluations == before + 2
    assert scheduler.pending() == [("jd", f"s{i}") for i in range(5)]
    scheduler.run_pending(limit=4)  # no news: the backlog fills the tick
    assert api.service.metrics.evaluations == before + 6
    assert scheduler.pending() == [("jd", "s4")]
    for i in range(2):  # a stream of fresh data cannot starve the backlog: every other tick serves it
        api.post("/api/v1/points", json={"points": [_point(hour, f"f{i}{j}", 1) for j in range(4)]})
        scheduler.run_pending(limit=4)
    assert [k for k in scheduler.pending() if k[1].startswith("s")] == []  # s4 served in the second tick
    assert len(scheduler.pending()) == 1  # 8 fresh stores came, 4 + 3 were judged


def test_a_backfill_of_past_hours_waits_behind_live_news(api: Any, clock: ManualClock) -> None:
    """History pushed for the past goes to the backlog; a store whose batch reaches the live edge
    is judged first — a fresh store's crash is not queued behind somebody's backfill."""
    scheduler = api.service.scheduler
    old = clock.now() - timedelta(days=20)
    api.post("/api/v1/points", json={"points": [_point(old + timedelta(hours=h), f"b{h}", 100) for h in range(6)]})
    api.post("/api/v1/points", json={"points": [_point(clock.now() - timedelta(hours=1), "live", 5)]})
    assert scheduler.pending()[0] == ("jd", "live")
    before = api.service.metrics.evaluations
    scheduler.run_pending(limit=4)
    assert api.service.metrics.evaluations == before + 1  # only the live store
    assert sorted(scheduler.pending()) == [("jd", f"b{h}") for h in range(6)]
    scheduler.run_pending(limit=None)
    assert scheduler.pending() == []


def test_when_fresh_stores_exceed_a_tick_the_longest_unjudged_go_first(api: Any, clock: ManualClock) -> None:
    scheduler = api.service.scheduler
    hour = clock.now() - timedelta(hours=1)
    api.post("/api/v1/points", json={"points": [_point(hour, s, 100) for s in ("quiet", "busy1", "busy2")]})
    scheduler.run_pending(limit=None)
    for value in (101, 102, 103):  # the busy stores keep revising their hour and get judged each time
        api.post("/api/v1/points", json={"points": [_point(hour, "busy1", value), _point(hour, "busy2", value)]})
        scheduler.run_pending(limit=None)
    api.post("/api/v1/points", json={"points": [_point(hour, "busy1", 200), _point(hour, "busy2", 200),
                                                _point(hour, "quiet", 5)]})  # the quiet store has news
    scheduler.run_pending(limit=1)
    assert scheduler.pending() == [("jd", "busy1"), ("jd", "busy2")]  # the quiet store went first


def test_while_news_waits_the_response_loop_runs_every_other_background_tick(
        api: Any, clock: ManualClock, monkeypatch: Any) -> None:
    """A crash's first message must not wait behind RCA notes and forecasts: while fresh data waits
    to be judged, the response loop runs only every other tick; when the queue is empty, every tick."""
    service = api.service
    calls: list[datetime] = []
    monkeypatch.setattr(service.response, "tick", lambda _service, now=None: calls.append(clock.now()))
    service.scheduler.enqueue([("jd", "busy")])
    for _ in range(3):
        service.background_tick()
    assert len(calls) == 1  # skipped, ran, skipped
    service.scheduler.run_pending(limit=None)  # the news is judged
    service.background_tick()
    service.background_tick()
    assert len(calls) == 3
    assert service.metrics.ticks >= 5


class _FlakyEvaluator:
    """Fails its first call (as SQLite's lock can under a burst), then judges normally."""

    def __init__(self) -> None:
        self.calls: list[list[tuple[str, str]]] = []

    def evaluate(self, keys: list[tuple[str, str]]) -> list[Any]:
        self.calls.append(list(keys))
        if len(self.calls) == 1:
            raise RuntimeError("database is locked")
        return []


def test_stores_whose_evaluation_failed_stay_queued_instead_of_being_dropped(clock: ManualClock) -> None:
    from shopsentinel.runtime.scheduler import Scheduler

    evaluator = _FlakyEvaluator()
    scheduler = Scheduler(clock, timedelta(minutes=1), evaluator, lambda _before, _all: [])  # type: ignore[arg-type]
    scheduler.run_pending()  # the first periodic pass, nothing stored
    scheduler.enqueue([("jd", "crash"), ("jd", "other")])
    with pytest.raises(RuntimeError, match="locked"):  # the failure reaches the runner, which logs it
        scheduler.run_pending()
    assert scheduler.has_news() and sorted(scheduler.pending()) == [("jd", "crash"), ("jd", "other")]
    scheduler.run_pending()
    assert evaluator.calls[-1] == [("jd", "crash"), ("jd", "other")] and scheduler.pending() == []


class _TimedEvaluator:
    """Costs ``per_store`` seconds of a fake timer per store judged (no real time passes)."""

    def __init__(self, per_store: float) -> None:
        self.now = 0.0
        self.per_store = per_store
        self.calls: list[list[tuple[str, str]]] = []

    def timer(self) -> float:
        return self.now

    def evaluate(self, keys: list[tuple[str, str]]) -> list[Any]:
        self.calls.append(list(keys))
        self.now += self.per_store * len(keys)
        return []


def test_backlog_ticks_are_sized_by_the_measured_cost_so_news_never_waits_behind_a_long_one(clock: ManualClock) -> None:
    from shopsentinel.runtime.scheduler import Scheduler

    evaluator = _TimedEvaluator(per_store=0.1)
    backlog = [("jd", f"old-{i:02d}") for i in range(60)]
    scheduler = Scheduler(clock, timedelta(minutes=1), evaluator, lambda _before, _all: [],  # type: ignore[arg-type]
                          timer=evaluator.timer, backlog_tick_seconds=0.5, news_tick_seconds=1.0)
    scheduler.run_pending(limit=40)  # the first periodic pass, nothing stored
    scheduler.enqueue_backlog(backlog)
    scheduler.run_pending(limit=40)  # no cost known yet: a full tick of 40 (4 s of work)
    assert len(evaluator.calls[-1]) == 40 and scheduler.seconds_per_store == pytest.approx(0.1)
    scheduler.run_pending(limit=40)  # now known: 0.5 s / 0.1 s = 5 stores per backlog tick
    assert len(evaluator.calls[-1]) == 5
    scheduler.enqueue([("jd", "crash")])  # news arrives between two short ticks
    scheduler.run_pending(limit=40)
    assert evaluator.calls[-1][0] == ("jd", "crash")
    assert scheduler.judging_news()  # the tick under way took news (ingest admission holds bulk writes back)
    busy = [("jd", f"busy-{i:02d}") for i in range(30)]  # stores whose data keeps changing, then a crash
    scheduler.enqueue(busy)
    scheduler.run_pending(limit=40)  # about a second of news: 1.0 s / 0.1 s = 10 stores, not 40
    assert len(evaluator.calls[-1]) == 10
    while scheduler.has_news():
        scheduler.run_pending(limit=40)
    scheduler.enqueue(busy)  # their data changed again …
    scheduler.enqueue([("jd", "crash-2")])  # … and a store never judged before has a crash
    scheduler.run_pending(limit=40)
    assert evaluator.calls[-1][0] == ("jd", "crash-2")  # never judged before: ahead of the busy ones
    while scheduler.has_news():
        scheduler.run_pending(limit=40)
    evaluator.per_store = 0.5  # the machine got slower: the ticks shrink to one store, never to none
    for _ in range(4):
        scheduler.run_pending(limit=40)
    assert len(evaluator.calls[-1]) == 1
    while scheduler.pending():
        scheduler.run_pending(limit=40)
    judged = [key for call in evaluator.calls for key in call]
    assert sorted(set(judged)) == sorted({*backlog, *busy, ("jd", "crash"), ("jd", "crash-2")})  # all judged, none dropped
