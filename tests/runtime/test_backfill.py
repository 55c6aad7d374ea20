"""A team's first hour (issue 13): four weeks of history pushed over ``POST /api/v1/points`` in
batches of a few days, oldest first, while the service runs — then live hours. Freshness is judged
at the live edge only, so the backfill raises no data alert of any kind (no "数据同步中断" dated
weeks back, nothing left open to mute what follows), and a real conversion crash afterwards fires
and is announced unmuted. On SQLite and PostgreSQL."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Any

from shopsentinel.alerting.repository import list_outbox
from shopsentinel.core.clock import ManualClock

H = timedelta(hours=1)
STORE = {"platform": "tmall", "store": "tm-new"}


def _hour(ts: datetime, rng: random.Random, conversion: float = 0.05) -> list[dict[str, Any]]:
    local = (ts.hour + 8) % 24  # Beijing hour: busy evenings, quiet nights
    uv = round(700 + 450 * math.sin((local - 9) / 24 * 2 * math.pi) + rng.uniform(-40, 40))
    orders = round(uv * conversion * rng.uniform(0.9, 1.1))
    paid = round(orders * 0.9)
    iso = f"{ts:%Y-%m-%dT%H:%M:%SZ}"
    return [{"ts": iso, **STORE, "metric": m, "value": v}
            for m, v in (("uv", uv), ("orders", orders), ("paid_orders", paid), ("gmv", round(paid * 128.0, 2)))]


def _alerts(api: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get("/api/v1/alerts", params={"store": STORE["store"], "limit": 10000}).json()["items"]
    return items


def test_a_backfill_in_batches_raises_no_data_alert_and_a_real_crash_after_it_notifies(
    api: Any, clock: ManualClock
) -> None:
    rng = random.Random(13)
    now = clock.now()
    first = now - timedelta(days=28)
    batch_start = first
    while batch_start < now:  # batches of three days, oldest first, the service ticking in between
        batch_end = min(batch_start + timedelta(days=3), now)
        points, ts = [], batch_start
        while ts < batch_end:
            points += _hour(ts, rng)
            ts += H
        response = api.post("/api/v1/points", json={"points": points})
        assert response.status_code == 200 and response.json()["rejected"] == []
        clock.advance(timedelta(minutes=3))
        api.service.tick()
        batch_start = batch_end
    for _ in range(12):  # live hours: each hour's figures arrive as it closes
        clock.advance(H)
        api.post("/api/v1/points", json={"points": _hour(clock.now() - H, rng)})
        api.service.tick()
    alerts = _alerts(api)
    assert [a for a in alerts if a["kind"] == "data"] == []  # nothing for the past, nothing now
    assert not [a for a in alerts if a["state"] == "firing"]

    for _ in range(4):  # conversion collapses to a fifth while visitors keep coming
        clock.advance(H)
        api.post("/api/v1/points", json={"points": _hour(clock.now() - H, rng, conversion=0.01)})
        api.service.tick()
    api.service.notify()
    alerts = _alerts(api)
    assert [a for a in alerts if a["kind"] == "data"] == []
    crash = [a for a in alerts if a["kind"] == "business" and a["state"] == "firing"
             and a["metric"] in ("conversion_rate", "pay_conversion_rate", "orders", "paid_orders")]
    assert crash, [(a["rule"], a["metric"], a["state"]) for a in alerts]
    with api.service.sessions() as session:
        inbox = {row.key: row.muted for row in list_outbox(session, limit=10000)}
    announced = {a["id"]: inbox.get(f"{a['id']}:firing") for a in crash}
    assert any(muted is False for muted in announced.values()), announced  # announced, not muted by a data root
