"""Screenshots of every alert-center page, for the README and docs/screenshots/.

    .venv/bin/python bench/screenshots.py            # writes docs/screenshots/*.png

A synthetic fleet (``shopsentinel.sim``: 8 stores, 35 days, the default rule pack) is pushed through
the real ingest API one day at a time while a manual clock advances and the scheduler ticks, so the
alerts, incidents and charts are the service's own. Then a traffic crash arrives for one store in the
last hours (a firing critical alert), a few people, a subscription, an escalation policy, a silence
and comments are added through the API, and the real server runs under uvicorn in a thread. Debian's
chromium (``/usr/bin/chromium``, never a downloaded browser) logs in and saves one PNG per page in
zh-CN, plus the overview in English and the alert detail at phone width (390 px).
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import polars as pl
from pydantic import SecretStr

from shopsentinel.app import create_app
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.settings import Settings
from shopsentinel.ingest.reader import read_calendar, read_metrics, read_stores
from shopsentinel.runtime.service import Service
from shopsentinel.sim.fleet import FleetSpec, generate_fleet, write_fleet
from shopsentinel.store.users import UserInput, create_user

TOKEN = "screenshot-admin-token"
ADMIN = ("admin", "admin-password")
OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


def _iso(ts: Any) -> str:
    return f"{ts:%Y-%m-%dT%H:%M:%SZ}"


class Api:
    def __init__(self, app: Any) -> None:
        self.app = app

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://x",
                                         headers={"Authorization": f"Bearer {TOKEN}"}) as client:
                return await client.request(method, url, **kwargs)

        response = anyio.run(go)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {url}: {response.status_code} {response.text[:300]}")
        return response


def build(workdir: Path, stores: int, days: int) -> tuple[Any, ManualClock]:
    fleet_dir = workdir / "fleet"
    write_fleet(generate_fleet(FleetSpec(stores=stores, days=days, seed=11)), fleet_dir)
    metrics = read_metrics(fleet_dir / "metrics.csv").sort("line")
    start = metrics["ts"].min()
    clock = ManualClock(start)  # type: ignore[arg-type]
    settings = Settings(database_url=f"sqlite:///{workdir / 'state.db'}", bootstrap_token=SecretStr(TOKEN),  # type: ignore[call-arg]
                        bootstrap_admin=SecretStr(":".join(ADMIN)), sync_db=workdir / "sync.duckdb", _env_file=None)
    app = create_app(settings, clock=clock, background=False)
    api = Api(app)
    for store in read_stores(fleet_dir / "stores.csv"):
        first = metrics.filter(pl.col("store") == store.store).head(1)
        api.call("POST", "/api/v1/points", json={"points": [{"ts": _iso(first["ts"][0]), "platform": store.platform,
                                                            "store": store.store, "metric": first["metric"][0],
                                                            "value": first["value"][0], "sku": first["sku"][0]}]})
        api.call("PATCH", f"/api/v1/stores/{store.platform}/{store.store}", json={"timezone": store.timezone, "name": store.name})
    for event in read_calendar(fleet_dir / "calendar.csv"):
        api.call("POST", "/api/v1/calendar", json={"start": _iso(event.start), "end": _iso(event.end), "platform": event.platform,
                                                   "store": event.store, "name": event.name, "kind": event.kind})
    end = metrics["ts"].max() + timedelta(hours=1)
    day = start
    while day < end:
        batch = metrics.filter((pl.col("ts") >= day) & (pl.col("ts") < day + timedelta(days=1)))
        points = [{"ts": _iso(ts), "platform": p, "store": s, "metric": m, "value": v, "sku": k}
                  for ts, p, s, m, v, k in batch.select("ts", "platform", "store", "metric", "value", "sku").iter_rows()]
        api.call("POST", "/api/v1/points", json={"points": points})
        day += timedelta(days=1)
        clock.set(min(day, end))  # type: ignore[arg-type]
        app.state.service.tick()
    crash(api, metrics, clock)
    decorate(api, clock)
    return app, clock


def crash(api: Api, metrics: pl.DataFrame, clock: ManualClock) -> None:
    """Six more hours for every store (yesterday's values), in which the first store's traffic falls
    to a twentieth: a live traffic crash."""
    first = metrics.row(0, named=True)
    now = clock.now()
    for h in range(1, 7):
        clock.set(now + timedelta(hours=h))
        ts = now + timedelta(hours=h - 1)
        yesterday = metrics.filter(pl.col("ts") == ts - timedelta(days=1))
        points = [{"ts": _iso(ts), "platform": p, "store": s, "metric": m, "sku": k,
                   "value": round(v / 20) if s == first["store"] and m in ("uv", "pv", "orders", "paid_orders") else v}
                  for p, s, m, k, v in yesterday.select("platform", "store", "metric", "sku", "value").iter_rows()]
        api.call("POST", "/api/v1/points", json={"points": points})
        api.app.state.service.tick()


def decorate(api: Api, clock: ManualClock) -> None:
    service: Service = api.app.state.service
    with service.sessions() as session:
        for name, display, role, duties, phone in (("zhang.yun", "张运营", "editor", ["ops_lead"], "13800000001"),
                                                   ("li.kefu", "李客服", "editor", ["cs_supervisor"], "13800000002"),
                                                   ("wang.zong", "王总监", "viewer", ["director"], "13800000003")):
            create_user(session, UserInput(username=name, role=role, password="password-123", display_name=display,
                                           duties=duties, phone=phone, email=f"{name}@example.com"), clock.now())
        session.commit()
    api.call("POST", "/api/v1/subscriptions", json={"role": "ops_lead", "platforms": ["tmall", "jd"], "min_severity": "warning"})
    api.call("POST", "/api/v1/subscriptions", json={"role": "director", "min_severity": "fatal"})
    api.call("PUT", "/api/v1/escalation-policies/default", json={"name": "default", "steps": [
        {"after_minutes": 0, "role": "ops_lead"}, {"after_minutes": 30, "role": "director"}]})
    api.call("POST", "/api/v1/silences", json={"matchers": [{"name": "rule", "value": "data.silent_metric"}],
                                               "ends_at": _iso(clock.now() + timedelta(days=2)), "comment": "接口维护中"})
    resolved = api.call("GET", "/api/v1/alerts", params={"state": "resolved", "limit": 20}).json()["items"]
    for a in resolved[:3]:
        api.call("POST", f"/api/v1/alerts/{a['id']}/comment", json={"body": "原因：直通车预算用完；处理：已追加预算。"})
        api.call("POST", f"/api/v1/alerts/{a['id']}/feedback", json={"verdict": "valid"})


def serve(app: Any) -> tuple[Any, threading.Thread, str]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        thread.join(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def loosen(text: str) -> str:
    """The traffic-drop rule loosened: a 25 % fall at 3 sigmas instead of 50 % at 5 (R3.6: try it first)."""
    at = text.index("id: traffic.uv_drop_vs_yesterday")
    end = text.find("- id:", at)
    end = len(text) if end < 0 else end
    block = re.sub(r"change: [\d.]+", "change: 0.25", text[at:end], count=1)
    block = re.sub(r"significance: [\d.]+", "significance: 3.0", block, count=1)
    return text[:at] + block + text[end:]


def shoot(base: str, app: Any, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    firing = {a["id"] for a in Api(app).call("GET", "/api/v1/alerts", params={"state": "firing"}).json()["items"]}
    incident = Api(app).call("GET", "/api/v1/incidents").json()["items"]
    roots = [i["root_alert_id"] for i in incident if i["root_alert_id"] in firing]
    alert_id = roots[0] if roots else sorted(firing)[0]
    store = Api(app).call("GET", "/api/v1/stores").json()["items"][0]
    pages = [("overview", "/"), ("alerts", "/alerts"), ("alert-detail", f"/alerts/{alert_id}"),
             ("incidents", "/incidents"), ("rules", "/rules"), ("silences", "/silences"), ("calendar", "/calendar"),
             ("routing", "/routing"), ("stores", "/stores"), ("store-connector", f"/stores/{store['platform']}/{store['store']}"),
             ("catalog", "/catalog"), ("users", "/users"), ("efficacy", "/efficacy"),
             ("predictions", f"/predictions?store={store['platform']}/{store['store']}&uplift=50")]
    if incident:
        pages.insert(4, ("incident-detail", f"/incidents/{incident[0]['id']}"))
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True)
        context = browser.new_context(viewport={"width": 1360, "height": 900}, locale="zh-CN")
        page = context.new_page()
        page.goto(f"{base}/login")
        saved.append(out / "login.png")
        page.screenshot(path=saved[-1])
        page.fill("#username", ADMIN[0])
        page.fill("#password", ADMIN[1])
        page.click("#login-button")
        page.wait_for_url(f"{base}/")
        for name, url in pages:
            response = page.goto(base + url)
            if response is None or not response.ok:
                raise SystemExit(f"{url}: HTTP {response.status if response else '—'}")
            saved.append(out / f"{name}.png")
            page.screenshot(path=saved[-1], full_page=True)
        page.goto(base + "/rules")
        text = page.input_value("#yaml-text")
        page.fill("#yaml-text", loosen(text))
        page.click("#preview-button")
        page.wait_for_selector("#preview")
        saved.append(out / "rules-preview.png")
        page.locator("#preview").screenshot(path=saved[-1])
        page.goto(base + "/?lang=en")
        saved.append(out / "overview-en.png")
        page.screenshot(path=saved[-1], full_page=True)
        page.goto(base + "/?lang=zh-CN")
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
                                    locale="zh-CN", storage_state=context.storage_state())
        mobile = phone.new_page()
        shown = mobile.goto(f"{base}/alerts/{alert_id}")
        if shown is None or not shown.ok:
            raise SystemExit("alert detail on a phone failed")
        saved.append(out / "alert-detail-phone.png")
        mobile.screenshot(path=saved[-1], full_page=True)
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stores", type=int, default=8)
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if shutil.which("chromium") is None:
        raise SystemExit("Debian's chromium is needed (apt-get install chromium fonts-noto-cjk)")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        app, _clock = build(Path(tmp), args.stores, args.days)
        print(f"fleet seeded in {time.perf_counter() - started:.1f} s")
        server, thread, base = serve(app)
        try:
            for path in shoot(base, app, args.out):
                print(path.relative_to(args.out.parent.parent) if path.is_relative_to(args.out.parent.parent) else path)
        finally:
            server.should_exit = True
            thread.join(10)
            app.state.service.close()


if __name__ == "__main__":
    main()
