"""The live demo (``make demo``): a simulated fleet streams into the real service in accelerated time.

What runs is the product itself: ``create_app`` with its background scheduler, the same evaluator
as ``backtest``, the alert manager, the notification pipeline and the outbox. Only the clock is
simulated (:class:`~shopsentinel.core.clock.AcceleratedClock`, one simulated hour per second by
default) and the data comes from the synthetic fleet (:mod:`shopsentinel.sim.fleet`) — every
platform, incidents and traps included. The fleet's first ``warmup_days`` are loaded at once so
the baselines are warm; after that, each simulated hour is posted to ``POST /api/v1/points`` over
HTTP as it closes. Notifications land in the in-app inbox (``GET /api/v1/outbox``) and are printed
on the console. The API (``/docs``) answers at ``http://HOST:PORT`` with the printed token while the
demo runs; Ctrl-C stops it cleanly (the stream stops, the scheduler finishes its tick, the
database is closed) and a summary compares what fired with the fleet's labelled incidents.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import polars as pl
from pydantic import SecretStr
from rich.console import Console

from shopsentinel.core.clock import AcceleratedClock
from shopsentinel.notify import Notification
from shopsentinel.sim.fleet import Fleet, FleetSpec, generate_fleet
from shopsentinel.store.state import AlertRow, StoreRow

TOKEN = "demo-admin-token"
WEB_LOGIN = ("admin", "shopsentinel-demo")  # the alert center's login while the demo runs
SEVERITY_STYLE = {"fatal": "bold white on red", "critical": "bold red", "warning": "yellow", "info": "cyan"}
SEVERITY_ZH = {"fatal": "致命", "critical": "严重", "warning": "警告", "info": "提示"}


@dataclass(frozen=True)
class DemoOptions:
    workdir: Path = Path("demo-out")
    stores: int = 12
    warmup_days: int = 14
    hours: int = 72  # simulated hours streamed after the warm-up (about 75 s; the whole demo stays under 2 minutes); 0 = until Ctrl-C
    speed: float = 3600.0  # simulated seconds per wall second
    host: str = "127.0.0.1"
    port: int = 8000
    seed: int = 11
    incident_rate: float = 1.2  # labelled incidents per store per week (the backtest default is 0.19): a few in three days


class ConsoleDispatcher:
    """The in-app inbox's dispatcher for the demo: print each notification as it is handed over."""

    def __init__(self, console: Console, clock: AcceleratedClock) -> None:
        self._console = console
        self._clock = clock
        self._lock = threading.Lock()
        self.count = 0

    def dispatch(self, notification: Notification, *, muted: bool) -> None:
        severity = str(notification.severity)
        states = {str(a.get("state", "")) for a in notification.alerts}
        tag = "恢复 resolved" if states == {"resolved"} else SEVERITY_ZH.get(severity, severity)
        style = "green" if states == {"resolved"} else SEVERITY_STYLE.get(severity, "")
        note = f"  [dim]({notification.muted_note})[/]" if notification.muted_note else ""
        extra = f"  [dim]+{len(notification.alerts) - 1} 条同组 / more in group[/]" if len(notification.alerts) > 1 else ""
        with self._lock:
            self.count += 1
            self._console.print(f"[dim]{self._clock.now():%m-%d %H:%M}[/] [{style}]{tag}[/] {notification.title}"
                                f"{extra}{note}{' [dim](静默 muted)[/]' if muted else ''}", soft_wrap=True, markup=True,
                                highlight=False)


def _points(frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [{"ts": f"{r['ts']:%Y-%m-%dT%H:%M:%SZ}", "platform": r["platform"], "store": r["store"],
             "metric": r["metric"], "value": r["value"], "sku": r["sku"] or ""}
            for r in frame.filter(pl.col("value").is_not_null() & pl.col("value").is_finite()).iter_rows(named=True)]


@dataclass
class Streamer:
    """Posts each simulated hour to the API once it has closed, until stopped or the end is reached."""

    fleet: Fleet
    clock: AcceleratedClock
    base_url: str
    posted_until: datetime
    end: datetime
    console: Console
    stop: threading.Event = field(default_factory=threading.Event)
    stopping: Callable[[], bool] = lambda: False  # the server is shutting down: a refused request is expected then
    rejected: int = 0
    accepted: int = 0
    error: str = ""

    def run(self, on_end: Callable[[], None]) -> None:
        try:
            with httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60) as client:
                while not self.stop.is_set() and self.posted_until < self.end:
                    closed = min(self.clock.now().replace(minute=0, second=0, microsecond=0), self.end)
                    if closed > self.posted_until:
                        hour = self.fleet.metrics.filter((pl.col("ts") >= self.posted_until) & (pl.col("ts") < closed))
                        body = _points(hour)
                        for i in range(0, len(body), 20_000):
                            reply = client.post("/api/v1/points", json={"points": body[i:i + 20_000]})
                            reply.raise_for_status()
                            self.accepted += reply.json()["accepted"]
                            self.rejected += len(reply.json()["rejected"])
                        self.posted_until = closed
                    self.stop.wait(0.1)
        except httpx.HTTPError as exc:
            if not (self.stop.is_set() or self.stopping()):
                self.error = f"{type(exc).__name__}: {exc}"
        finally:
            on_end()


def _fleet(options: DemoOptions) -> Fleet:
    stream_days = max(7, -(-options.hours // 24) + 1) if options.hours else 365
    spec = FleetSpec(stores=options.stores, days=options.warmup_days + stream_days, seed=options.seed,
                     incident_rate=options.incident_rate, burn_in_days=options.warmup_days)
    return generate_fleet(spec)


def _prepare(service: Any, fleet: Fleet, origin: datetime) -> int:
    """Warm-up history through the service's own write path, stores with their time zones, calendar."""
    from shopsentinel.core.types import CalendarEvent
    from shopsentinel.runtime.ingest import validate_points, write_points
    from shopsentinel.store.repository import add_calendar_event

    history = _points(fleet.metrics.filter(pl.col("ts") < origin))
    points, rejected = validate_points(history, service.catalog)
    with service.sessions() as session:
        write_points(service, session, points, user="demo", now=origin)
        for row in fleet.stores.iter_rows(named=True):
            store = session.query(StoreRow).filter_by(platform=row["platform"], store=row["store"]).one()
            store.name, store.timezone = row["name"], row["timezone"]
        for event in fleet.calendar.iter_rows(named=True):
            add_calendar_event(session, CalendarEvent(event["start"], event["end"], event["platform"], event["store"] or "",
                                                      event["name"], event["kind"]))
        session.commit()
    return len(rejected)


def _summary(console: Console, service: Any, fleet: Fleet, start: datetime, end: datetime, printed: int) -> None:
    with service.sessions() as session:
        alerts = session.query(AlertRow).filter(AlertRow.starts_at >= start).all()
    business = [a for a in alerts if a.kind == "business"]
    incidents = fleet.incidents.filter((pl.col("start") >= start) & (pl.col("start") < end))
    caught = 0
    for inc in incidents.iter_rows(named=True):
        if any(a.platform == inc["platform"] and a.store == inc["store"]
               and inc["start"] - timedelta(hours=2) <= a.starts_at < inc["end"] + timedelta(hours=24) for a in business):
            caught += 1
    console.rule("演示小结 / demo summary")
    console.print(f"模拟时段 / simulated: {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC")
    console.print(f"告警 / alerts: {len(business)} business, {len(alerts) - len(business)} data; "
                  f"通知 / notifications printed: {printed}")
    console.print(f"标注事件 / labelled incidents in the period: {incidents.height}, caught: {caught}")


def run_demo(options: DemoOptions, console: Console | None = None) -> int:
    """Run the live demo until the stream ends or Ctrl-C; returns a process exit code."""
    import uvicorn

    from shopsentinel.app import create_app
    from shopsentinel.core.settings import Settings

    console = console or Console()
    live = options.workdir / "live"
    shutil.rmtree(live, ignore_errors=True)
    live.mkdir(parents=True)
    console.print(f"生成模拟店铺 / generating {options.stores} stores on every platform …")
    fleet = _fleet(options)
    origin = fleet.spec.start + timedelta(days=options.warmup_days)
    end = origin + timedelta(hours=options.hours) if options.hours else fleet.spec.start + timedelta(days=fleet.spec.days)
    clock = AcceleratedClock(origin, options.speed)
    dispatcher = ConsoleDispatcher(console, clock)
    settings = Settings(database_url=f"sqlite:///{live / 'state.db'}", bootstrap_token=SecretStr(TOKEN),  # type: ignore[call-arg]
                        _env_file=None, host=options.host, port=options.port, schedule_seconds=600.0,
                        bootstrap_admin=SecretStr(":".join(WEB_LOGIN)), public_url=f"http://{options.host}:{options.port}",
                        point_cache_stores=options.stores * 2)
    app = create_app(settings, clock=clock, dispatcher=dispatcher)
    service = app.state.service
    console.print(f"预热 / warm-up: {options.warmup_days} days of history …")
    dropped = _prepare(service, fleet, origin)
    service.tick()  # judge the history once (a new install evaluates what it was given)
    console.print(f"  {dropped} impossible points rejected, {dispatcher.count} notifications from the history")
    server = uvicorn.Server(uvicorn.Config(app, host=options.host, port=options.port, log_level="warning"))
    streamer = Streamer(fleet, clock, f"http://{options.host}:{options.port}", origin, end, console)
    streamer.stopping = lambda: server.should_exit

    def stream_ended() -> None:
        """Let the service judge and announce the last hours (queue drained, two more full ticks), then stop.
        Simulated time stops first, so the drain does not read as the fleet going silent."""
        if streamer.posted_until >= end:
            clock.freeze()
        drained = threading.Event()
        while not server.should_exit and service.scheduler.pending():
            drained.wait(0.1)
        ticks = service.metrics.ticks
        while not server.should_exit and service.metrics.ticks < ticks + 2:
            drained.wait(0.1)
        server.should_exit = True

    def start_stream() -> None:
        while not server.started and not server.should_exit:
            streamer.stop.wait(0.05)
        if server.started:
            clock.start()
            console.print(f"数据流开始 / streaming from {origin:%Y-%m-%d %H:%M} UTC")
            streamer.run(stream_ended)

    console.rule("ShopSentinel 实时演示 / live demo")
    console.print(f"预警中心 / alert center: http://{options.host}:{options.port}/  (login {WEB_LOGIN[0]} / {WEB_LOGIN[1]})")
    console.print(f"API: http://{options.host}:{options.port}/docs  (bearer token: {TOKEN})")
    console.print(f"加速 / speed: {options.speed / 3600:g} simulated hour(s) per second; Ctrl-C 停止 / to stop")
    thread = threading.Thread(target=start_stream, name="demo-stream", daemon=True)
    thread.start()
    try:
        server.run()  # returns after a graceful shutdown; on Ctrl-C uvicorn then re-raises the signal …
    except KeyboardInterrupt:
        console.print("已停止 / stopped (Ctrl-C)")  # … which here just means: the user stopped the demo
    finally:
        streamer.stop.set()
        thread.join(timeout=30)
    if streamer.error:
        console.print(f"[red]数据流中断 / stream failed:[/] {streamer.error}")
    _summary(console, service, fleet, origin, min(streamer.posted_until, end), dispatcher.count)
    service.close()
    return 1 if streamer.error else 0


__all__ = ["ConsoleDispatcher", "DemoOptions", "Streamer", "run_demo"]
