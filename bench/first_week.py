"""A real team's first week (issue 13): 12 stores connected on the platform fakes, backfilled, then
7 simulated days through the running service.

    .venv/bin/python bench/first_week.py                  # 12 stores, 90 days of history, 7 days live
    .venv/bin/python bench/first_week.py --days 2 --per-hour 4   # a quicker look

What runs (all in this process, nothing mocked between the parts):

* 12 stores on the Tmall, Taobao, JD, PDD and Douyin fakes (each its own fake server on loopback,
  serving a seeded order/refund/review/stock history that reaches ``--history-days`` + 5 days back
  and on through the week). Six carry labelled incidents injected into their platform data — an
  order crash, a refund surge, a price error (:mod:`shopsentinel.sim.sync`) — and one
  (``tm-3``) has the seller revoke the app's authorization mid-week for ``--outage-hours``: a
  real sync failure.
* The real service (``create_app`` on SQLite) with its sync runner: every store is connected through
  its real connector with no start, so it backfills as far as the platform allows (about 90 days),
  then syncs every hour on the service clock; points go through the ``POST /points`` write path.
* The team is set up through the API: two users per duty with mobiles, a daily on-call rotation
  (``PUT /api/v1/oncall``), a DingTalk robot (the signature-checking fake counts messages), an
  escalation policy per group (运营负责人 at once, 总监 after 30 min unacknowledged) and the routing
  tree. Nobody acknowledges anything, so every escalation step is paged.
* The clock is a manual clock stepped ``--step-minutes`` at a time (one service tick per step): the
  accelerated clock of the demo, made deterministic.

Reported (one JSON line, also appended to bench/results/first_week.jsonl): data alerts by rule on
the healthy stores (target 0) and on the failing one (target 1: ``data.sync_failed``); business
alerts scored against the labels from day one (an alert matches an incident of its store when its
span overlaps the incident's, widened by ``SLACK``; precision over alerts, recall over incidents,
target F1 ≥ 0.85); DingTalk messages per incident (firing + resolved ≤ 2, plus escalation steps);
whether every message @-mentions a person on duty at the time it was sent.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr

from shopsentinel.alerting.repository import list_alerts, list_outbox
from shopsentinel.app import create_app
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.secrets import SecretBox
from shopsentinel.core.settings import Settings
from shopsentinel.ingest.sync_progress import sync_progress
from shopsentinel.ingest.sync_state import SyncDB
from shopsentinel.ingest.sync_stores import register_store
from shopsentinel.runtime.sync_runner import SyncRunner
from shopsentinel.sim.channels import FakeDingTalk, run_fake_server
from shopsentinel.sim.platforms.dataset import make_dataset
from shopsentinel.sim.platforms.harness import ClockSleep
from shopsentinel.sim.sync import (
    Incident,
    LateDelivery,
    Replenishment,
    inject,
    replenish,
    serving_dataset,
    sim_store,
    stock_outs,
)
from shopsentinel.store.oncall import list_schedules

RESULTS = Path(__file__).resolve().parent / "results" / "first_week.jsonl"
CONNECT = datetime(2026, 9, 7, 1, 0, tzinfo=UTC)  # Monday 09:00 Beijing time
TOKEN = "first-week-admin-token-0123456789"
ROBOT_TOKEN, ROBOT_SECRET = "first-week-robot", "SECfirst-week-robot-secret-0001"
PUBLIC = "https://sentinel.example.com"
SLACK = (timedelta(hours=1), timedelta(hours=12))  # an alert may start this early / end this late
FAILING = ("tmall", "tm-3")

# platform, store, seed (the same seed on two platforms would be one shop listed twice)
STORES: list[tuple[str, str, int]] = [
    ("tmall", "tm-1", 11), ("tmall", "tm-2", 12), ("tmall", "tm-3", 13),
    ("taobao", "tb-1", 21), ("taobao", "tb-2", 22),
    ("jd", "jd-1", 31), ("jd", "jd-2", 32), ("jd", "jd-3", 33),
    ("pdd", "pdd-1", 41), ("pdd", "pdd-2", 42),
    ("douyin", "dy-1", 51), ("douyin", "dy-2", 52),
]
TEAM = [  # username, name, duty, mobile
    ("wang", "王运营", "ops_lead", "13900000001"), ("li", "李运营", "ops_lead", "13900000002"),
    ("zhao", "赵总", "director", "13900000011"), ("qian", "钱总", "director", "13900000012"),
]


def incidents(days: int) -> list[Incident]:
    """The labelled incidents of the week (local times are Beijing; only those inside ``days``)."""
    def at(day: int, hour: int) -> datetime:  # day 0 = connect day, hour in Beijing time
        return CONNECT.replace(hour=0) + timedelta(days=day, hours=hour - 8)

    plan = [
        Incident("tmall", "tm-2", "order_crash", at(1, 14), at(1, 20), label_zh="下单骤降：结算页故障"),
        Incident("jd", "jd-1", "refund_surge", at(2, 10), at(2, 16), label_zh="退款激增：一批次质量问题"),
        Incident("taobao", "tb-1", "price_error", at(3, 10), at(3, 22), sku="SKU-002", label_zh="价格错误：少打一个 0"),
        Incident("pdd", "pdd-1", "order_crash", at(4, 13), at(4, 19), label_zh="下单骤降：主推商品被下架"),
        Incident("tmall", "tm-1", "refund_surge", at(5, 9), at(5, 15), label_zh="退款激增：物流破损"),
        Incident("jd", "jd-2", "price_error", at(5, 11), at(5, 23), sku="SKU-004", label_zh="价格错误：券叠加"),
        Incident("douyin", "dy-1", "order_crash", at(6, 12), at(6, 18), label_zh="下单骤降：直播间被限流"),
    ]
    return [i for i in plan if i.end <= CONNECT + timedelta(days=days)]


def late_deliveries(days: int) -> list[LateDelivery]:
    """Supplier delays of the week: every delivery due in the window lands that many days late. What
    runs out because of them is read from the data afterwards (:func:`stock_outs`), not declared."""
    day = timedelta(days=1)
    plan = [
        LateDelivery("jd", "jd-3", "", CONNECT + day, CONNECT + 3 * day, 4.0),  # 仓库爆仓，到货延误
        LateDelivery("douyin", "dy-2", "", CONNECT + 2 * day, CONNECT + 4 * day, 4.0),  # 供应商断货
    ]
    return [d for d in plan if d.due_from < CONNECT + days * day]


def prepare_store(data: Any, platform: str, store: str, seed: int, labels: list[Incident],
                  late: list[LateDelivery]) -> Any:
    """One store's platform data: its order incidents, then the seller's replenishment over the orders
    that remain (what is not on the shelf is not sold), then its price incidents."""
    mine = [i for i in labels if (i.platform, i.store) == (platform, store)]
    for incident in (i for i in mine if i.kind == "order_crash"):
        inject(data, incident)
    replenish(data, seed, Replenishment(), [d for d in late if (d.platform, d.store) == (platform, store)])
    for incident in (i for i in mine if i.kind != "order_crash"):
        inject(data, incident)
    return data


# ---------------------------------------------------------------- scoring (tests/bench/test_first_week.py)


@dataclass(frozen=True)
class AlertSpan:
    id: str
    platform: str
    store: str
    rule: str
    kind: str
    start: datetime
    end: datetime | None  # None: still firing


def match(alert: AlertSpan, incident: Incident, *, slack: tuple[timedelta, timedelta] = SLACK,
          now: datetime | None = None) -> bool:
    """Same store, and the alert's span overlaps the incident's widened by ``slack``."""
    if (alert.platform, alert.store) != (incident.platform, incident.store):
        return False
    end = alert.end or now or alert.start
    return alert.start < incident.end + slack[1] and end >= incident.start - slack[0]


def score(alerts: Iterable[AlertSpan], labels: list[Incident], *, now: datetime | None = None) -> dict[str, Any]:
    """Business alerts against the labels: precision over alerts (an alert is right when it matches
    some incident), recall over incidents (found when some alert matches it), F1 of the two."""
    business = [a for a in alerts if a.kind != "data"]
    right = [a for a in business if any(match(a, i, now=now) for i in labels)]
    found = [i for i in labels if any(match(a, i, now=now) for a in business)]
    precision = len(right) / len(business) if business else (1.0 if not labels else 0.0)
    recall = len(found) / len(labels) if labels else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"alerts": len(business), "true_alerts": len(right), "false_alerts": len(business) - len(right),
            "incidents": len(labels), "found": len(found), "precision": round(precision, 3),
            "recall": round(recall, 3), "f1": round(f1, 3),
            "false_by_rule": dict(Counter(a.rule for a in business if a not in right).most_common()),
            "missed": [f"{i.platform}/{i.store} {i.kind}" for i in labels if i not in found]}


@dataclass(frozen=True)
class Message:
    """One channel message as the outbox sent it: the alerts it is about and whether it is an
    escalation step's page; ``mobiles`` are the people it @-mentions."""

    channel: str
    alert_ids: tuple[str, ...]
    state: str  # firing | resolved | repeat (repeat_interval's reminder) | escalation | digest
    mobiles: tuple[str, ...] = ()
    at: datetime | None = None


def messages_per_incident(messages: list[Message], alerts: list[AlertSpan], labels: list[Incident],
                          *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Per incident and channel: firing/resolved messages (target ≤ 2), escalation pages, and the
    reminders of a problem still firing after ``repeat_interval`` (counted apart, not hidden)."""
    out = []
    for incident in labels:
        ids = {a.id for a in alerts if a.kind != "data" and match(a, incident, now=now)}
        per: dict[str, Counter[str]] = {}
        for m in messages:
            if ids & set(m.alert_ids):
                per.setdefault(m.channel, Counter())[m.state] += 1
        for channel, counts in sorted(per.items()):
            plain = counts["firing"] + counts["resolved"] + counts["digest"]
            out.append({"incident": f"{incident.platform}/{incident.store} {incident.kind}"
                                    + (f" {incident.sku}" if incident.sku else ""), "channel": channel,
                        "firing_resolved": plain, "escalations": counts["escalation"], "repeats": counts["repeat"],
                        "within_target": plain <= 2})
    return out


def names_on_duty(messages: list[Message], on_duty: Callable[[datetime | None], set[str]]) -> dict[str, Any]:
    """Every message @-mentions at least one person, and each mobile is on duty when it was sent
    (``on_duty(at) -> set of mobiles``)."""
    missing = [m for m in messages if not m.mobiles]
    wrong = [m for m in messages if m.mobiles and not set(m.mobiles) <= on_duty(m.at)]
    return {"messages": len(messages), "without_person": len(missing), "not_on_duty": len(wrong),
            "ok": not missing and not wrong}


# ---------------------------------------------------------------- the run


class Api:
    def __init__(self, app: Any) -> None:
        self.app = app

    def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://bench",
                                         headers={"Authorization": f"Bearer {TOKEN}"}) as client:
                return await client.request(method, url, **kwargs)

        response = anyio.run(go)
        if response.status_code >= 400:
            raise SystemExit(f"{method} {url}: {response.status_code} {response.text[:300]}")
        return response


def setup_team(api: Api, robot_url: str) -> None:
    for username, name, duty, mobile in TEAM:
        api.call("POST", "/api/v1/users", json={"username": username, "display_name": name, "role": "editor",
                                                 "duties": [duty], "phone": mobile, "password": f"pw-{username}-0123456789"})
    api.call("PUT", "/api/v1/oncall", json={"schedules": [
        {"role": duty, "members": [u for u, _, d, _ in TEAM if d == duty], "rotation_start": CONNECT.isoformat(),
         "rotation_days": 1, "timezone": "Asia/Shanghai"} for duty in ("ops_lead", "director")]})
    api.call("PUT", "/api/v1/channels", json={
        "name": "ops-robot", "kind": "dingtalk", "medium": "im", "receiver": "default",
        "settings": {"access_token": ROBOT_TOKEN, "secret": ROBOT_SECRET, "base_url": robot_url,
                     "message_type": "actionCard"}})
    api.call("PUT", "/api/v1/escalation-policies/store-ops", json={"name": "store-ops", "steps": [
        {"after_minutes": 0, "role": "ops_lead"}, {"after_minutes": 30, "role": "director"}]})
    api.call("PUT", "/api/v1/routing", json={"route": {"receiver": "default", "escalation_policy": "store-ops"}})


@contextmanager
def fakes(clock: ManualClock, labels: list[Incident], history_days: int, days: int,
          per_hour: float) -> Iterator[dict[tuple[str, str], tuple[Any, dict[str, Any]]]]:
    """Every store's fake server with its (incident-injected, seller-replenished) dataset; the stock-outs
    the data holds inside the week are appended to ``labels``."""
    late = late_deliveries(days)
    end = CONNECT + timedelta(days=days)
    with ExitStack() as stack:
        served = {}
        for platform, store, seed in STORES:
            spec = sim_store(platform)
            data = make_dataset(seed, spec.timezone, CONNECT - timedelta(days=history_days + 5),
                                CONNECT + timedelta(days=days, hours=2), per_hour)
            data = prepare_store(spec.prepare(data), platform, store, seed, labels, late)
            labels += [i for i in stock_outs(data, platform, store, since=CONNECT) if i.start < end]
            served[platform, store] = stack.enter_context(serving_dataset(platform, data, clock, store=store))
        yield served


def _spans(rows: Iterable[Any]) -> list[AlertSpan]:
    def aware(t: datetime | None) -> datetime | None:
        return None if t is None else (t if t.tzinfo else t.replace(tzinfo=UTC))

    return [AlertSpan(r.id, r.platform, r.store, r.rule, r.kind, aware(r.starts_at) or CONNECT, aware(r.ends_at))
            for r in rows]


def _messages(rows: Iterable[Any], mobiles_by_key: dict[str, tuple[str, ...]]) -> list[Message]:
    out = []
    for row in rows:
        if not row.channel or row.status != "sent":
            continue
        payload = row.payload or {}
        ids = tuple(str(a.get("id") or row.alert_id) for a in payload.get("alerts", [])) or (row.alert_id,)
        title = str(payload.get("title") or "")
        state = ("escalation" if "升级" in title else "repeat" if "仍未恢复" in title
                 else "resolved" if "恢复" in title or "resolved" in title.lower()
                 else "digest" if "汇总" in title else "firing")  # outbox keys are hashed: the title says which
        sent = row.sent_at if row.sent_at is None or row.sent_at.tzinfo else row.sent_at.replace(tzinfo=UTC)
        out.append(Message(row.channel, ids, state, mobiles_by_key.get(row.key, ()), sent))
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    labels = incidents(args.days)
    clock = ManualClock(CONNECT)
    box_key = Fernet.generate_key()
    os.environ["SHOPSENTINEL_SECRET_KEY"] = box_key.decode()
    box = SecretBox(box_key)
    tmp = Path(tempfile.mkdtemp(prefix="first-week-"))
    robot = FakeDingTalk({ROBOT_TOKEN: ROBOT_SECRET}, clock=clock)
    with fakes(clock, labels, args.history_days, args.days, args.per_hour) as served, \
            run_fake_server(robot.app) as robot_url:
        settings = Settings(database_url=f"sqlite:///{tmp / 'state.db'}", bootstrap_token=SecretStr(TOKEN),
                            sync_db=tmp / "sync.duckdb", sync_interval_seconds=3600, public_url=PUBLIC,
                            _env_file=None)  # type: ignore[call-arg]
        app = create_app(settings, clock=clock, background=False)
        service = app.state.service
        db = SyncDB(service.points.engine)  # the sync tables of the service's own state database (0015)
        service.sync = SyncRunner(service, db, lambda: box, clock=clock, sleep=ClockSleep(clock),
                                  interval=timedelta(hours=1))
        api = Api(app)
        setup_team(api, robot_url)
        for (platform, store), (_app, fields) in served.items():  # connect: no start → platform's history
            register_store(db, box, platform, store, sim_store(platform).timezone,
                           {**{k: v for k, v in fields.items() if k != "page_size"}, "window_hours": 24},
                           now=clock.now())  # the connector's default page size: the platform's maximum
        connect_began = time.perf_counter()
        service.tick()  # the first sync of every store is its backfill
        backfill_s = time.perf_counter() - connect_began
        progress = {f"{p}/{s}": sync_progress(db, p, s, clock.now()) for p, s, _ in STORES}
        backfill = {k: {"days": v.history_days, "covered": v.covered} for k, v in progress.items() if v}
        status = api.call("GET", "/api/v1/stores/tmall/tm-1/sync").json()

        outage_from = CONNECT + timedelta(days=min(3, args.days - 1), hours=6)
        outage_to = outage_from + timedelta(hours=args.outage_hours)
        credentials = served[FAILING][0].state.credentials
        kept: tuple[dict[str, Any], set[str]] | None = None
        restored = False
        steps = int(args.days * 24 * 60 / args.step_minutes)
        on_duty_log: dict[datetime, set[str]] = {}
        mobiles = {u: m for u, _, _, m in TEAM}
        seen_rows: set[int] = set()
        sent_rows: list[Any] = []
        mobiles_by_key: dict[str, tuple[str, ...]] = {}
        profiler = cProfile.Profile() if args.profile else None
        live_began = time.perf_counter()
        for _ in range(steps):
            if profiler is not None:
                profiler.enable()
            clock.advance(timedelta(minutes=args.step_minutes))
            now = clock.now()
            if kept is None and outage_from <= now < outage_to:  # the seller revokes the app's authorization
                kept = (dict(credentials.access), set(credentials.refresh))
                credentials.access.clear()
                credentials.refresh.clear()
            elif kept is not None and not restored and now >= outage_to:  # … and authorizes it again
                credentials.access.update({t: now + timedelta(hours=12) for t in kept[0]})
                credentials.refresh.update(kept[1])
                restored = True
            received_before = len(robot.received)
            service.tick()
            with service.sessions() as session:
                on_duty_log[now] = {mobiles[u] for s in list_schedules(session) if (u := s.on_duty(now))}
                fresh = sorted((r for r in list_outbox(session, limit=500)
                                if r.channel and r.status == "sent" and r.id not in seen_rows), key=lambda r: r.id)
                session.expunge_all()
            # this tick's robot messages, paired in send order with this tick's sent outbox rows
            for row, received in zip(fresh, robot.received[received_before:], strict=False):
                mobiles_by_key[row.key] = tuple(received.payload.get("at", {}).get("atMobiles", []))
            seen_rows |= {r.id for r in fresh}
            sent_rows += fresh
            if profiler is not None:
                profiler.disable()
        live_s = time.perf_counter() - live_began
        if profiler is not None:
            profiler.dump_stats(args.profile)

        end = clock.now()
        with service.sessions() as session:
            spans = _spans(list_alerts(session, limit=100_000))
            session.expunge_all()
        messages = _messages(sent_rows, mobiles_by_key)

        def duty_at(moment: datetime | None) -> set[str]:
            if moment is None:
                return set()
            known = [t for t in on_duty_log if t <= moment]
            return on_duty_log[max(known)] if known else set()

        data_alerts = [a for a in spans if a.kind == "data"]
        healthy = [a for a in data_alerts if (a.platform, a.store) != FAILING]
        failing = [a for a in data_alerts if (a.platform, a.store) == FAILING]
        result = {
            "at": datetime.now(UTC).isoformat(timespec="seconds"), "args": vars(args),
            "stores": len(STORES), "simulated_days": args.days, "history_days": args.history_days,
            "backfill": {"wall_s": round(backfill_s, 1), "stores_backfilled": sum(v["covered"] >= 0.999 for v in backfill.values()),
                         "days_min": min(v["days"] for v in backfill.values()),
                         "api_example": {k: status[k] for k in ("percent", "backfilled", "history_days", "message")}},
            "data_alerts_healthy_by_rule": dict(Counter(a.rule for a in healthy)),
            "data_alerts_failing_store_by_rule": dict(Counter(a.rule for a in failing)),
            "business": score(spans, labels, now=end),
            "business_alerts_by_rule": dict(Counter(a.rule for a in spans if a.kind != "data").most_common()),
            "messages_total": len(robot.received), "messages_sent_outbox": len(messages),
            "messages_by_state": dict(Counter(m.state for m in messages)),
            "per_incident": messages_per_incident(messages, spans, labels, now=end),
            "on_duty": names_on_duty(messages, duty_at),
            "labels": [f"{i.platform}/{i.store} {i.kind}{' ' + i.sku if i.sku else ''} "
                       f"{i.start:%m-%d %H:%M}–{i.end:%m-%d %H:%M}Z" for i in labels],
            "live_s_per_tick": round(live_s / max(steps, 1), 2),
            "wall_s": round(time.perf_counter() - began, 1),
            "workdir": str(tmp),  # state.db (alerts, outbox) and sync.duckdb, kept for reading afterwards
        }
        db.close()
        service.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=7, help="simulated days after connecting")
    parser.add_argument("--history-days", type=int, default=90, help="the shops' age before connecting (≥ 90: TOP's limit)")
    parser.add_argument("--per-hour", type=float, default=6.0, help="daytime orders per hour per store")
    parser.add_argument("--step-minutes", type=int, default=30, help="service tick every N simulated minutes")
    parser.add_argument("--profile", default="", help="write a cProfile of the live ticks to this file")
    parser.add_argument("--outage-hours", type=float, default=8.0, help="how long tm-3's authorization is revoked")
    args = parser.parse_args()
    result = run(args)
    print(json.dumps(result, ensure_ascii=False, default=str), flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(result, ensure_ascii=False, default=str) + "\n")
    sys.exit(0)


if __name__ == "__main__":
    main()
