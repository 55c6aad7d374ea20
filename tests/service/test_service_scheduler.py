"""Evaluation happens promptly after data arrives and on schedule (injected clock, no sleeps):
a store that stops sending is caught by the scheduled evaluation alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import typer
from typer.testing import CliRunner

from shopsentinel.core.clock import ManualClock
from shopsentinel.service.cli import serve
from shopsentinel.service.settings import Settings


def _push(api: Any, clock: ManualClock, hours: int) -> None:
    for _ in range(hours):
        ts = clock.now()
        api.post("/api/v1/points", json={"points": [
            {"ts": f"{ts:%Y-%m-%dT%H:%M:%SZ}", "platform": "jd", "store": "jd-1", "metric": "uv", "value": 100}]})
        clock.advance(timedelta(hours=1))


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
