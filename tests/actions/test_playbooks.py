"""Playbooks against the platform simulators and the integration fakes: the item really is locked
(sellable quantity 0) and the price restored through the platform API, approvals and dry runs,
idempotence, retries through a Jira outage, signed webhooks, CRM tagging with the buyers' ids, ERP
suggestions from the stock tiers and ad-plan pauses. Runs on SQLite and PostgreSQL, on a manual clock."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from starlette.applications import Starlette

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.types import Point
from shopsentinel.detect.rules import default_rules
from shopsentinel.sim.integrations import (
    HostRouter,
    create_ads_app,
    create_erp_app,
    create_jira_app,
    create_webhook_app,
)
from shopsentinel.sim.platforms import jd as jd_fake
from shopsentinel.sim.platforms import taobao as taobao_fake
from shopsentinel.sim.platforms.dataset import Dataset, visible
from shopsentinel.sources.base import Order, OrderLine, StockSnapshot
from shopsentinel.sources.jd import JdConnector
from shopsentinel.sources.jd import client as jd_client
from shopsentinel.sources.kit import RouterConnector
from shopsentinel.sources.taobao import TaobaoConnector
from shopsentinel.sources.taobao import client as tb_client
from shopsentinel.store.repository import create_token
from shopsentinel.store.state import AuditRow, UserRow
from tests.insight.conftest import HOUR, START, Api, add_alert, upsert

SECRET = "hook-secret"
HOOKS = ("im", "teambition", "cs", "crm", "report")


@dataclass
class World:
    api: Api
    clock: ManualClock
    taobao: Starlette
    taobao_data: Dataset
    jd: Starlette
    jd_data: Dataset
    jira: Starlette
    hooks: dict[str, Starlette]
    erp: Starlette
    ads: Starlette
    tb_buyers: dict[str, str] = field(default_factory=dict)

    def price(self, data: Dataset, sku: str) -> float | None:
        return next(s.price for s in visible(data, self.clock.now()).stock if s.sku == sku)

    def quantity(self, data: Dataset, sku: str) -> int:
        return next(s.quantity for s in visible(data, self.clock.now()).stock if s.sku == sku)

    def connector_quantity(self, platform: str, sku: str) -> int:
        """The SKU's quantity as the platform connector's stock stream reads it from the fake."""
        app = self.taobao if platform == "taobao" else self.jd
        source: RouterConnector
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app))
        if platform == "taobao":
            source = TaobaoConnector(tb_client.TaobaoConfig(
                store="tm-1", app_key="tb-key", app_secret=SecretStr("tb-secret"), access_token=SecretStr("session-0"),
                base_url="http://tb.test/router/rest", start=START - timedelta(days=1)), clock=self.clock, http=http)
        else:
            source = JdConnector(jd_client.JdConfig(
                store="jd-1", app_key="jd-key", app_secret=SecretStr("jd-secret"), access_token=SecretStr("token-0"),
                base_url="http://jd.test/routerjson", start=START - timedelta(days=1)), clock=self.clock, http=http)

        async def read() -> list[Any]:
            async with http:
                pages = await source.read("stock", {}, self.clock.now())
            return [e for page in pages for e in page.entities]

        return next(s.quantity for s in anyio.run(read) if s.sku == sku)

    def calls(self, app: Starlette, method: str) -> int:
        return sum(1 for m, _ in app.state.log.calls if m == method)

    def tick(self, minutes: float = 0) -> None:
        self.clock.advance(timedelta(minutes=minutes))
        self.api.service.notify()

    def run(self, alert_id: str) -> dict[str, Any]:
        items = self.api.get("/api/v1/playbook-runs", params={"alert_id": alert_id}).json()["items"]
        assert len(items) == 1, items
        found: dict[str, Any] = items[0]
        return found

    def audit(self, action_prefix: str) -> list[AuditRow]:
        with self.api.service.sessions() as session:
            rows = session.scalars(select(AuditRow).where(AuditRow.action.startswith(action_prefix))).all()
            return list(rows)


def integrations() -> dict[str, Any]:
    return {
        "jira": {"base_url": "http://jira.test", "email": "ops@acme.cn", "api_token": "jira-token", "project_key": "OPS"},
        "webhooks": {name: {"url": f"http://{name}.test/hook", "secret": SECRET} for name in HOOKS},
        "erp": {"base_url": "http://erp.test", "token": "erp-token"},
        "ads": {"base_url": "http://ads.test", "token": "ads-token"},
        "platforms": {
            "tmall": {"platform": "taobao", "base_url": "http://tb.test/router/rest", "app_key": "tb-key",
                      "app_secret": "tb-secret", "access_token": "session-0"},
            "jd": {"platform": "jd", "base_url": "http://jd.test/routerjson", "app_key": "jd-key",
                   "app_secret": "jd-secret", "access_token": "token-0"},
        },
    }


@pytest.fixture
def world(api: Api, clock: ManualClock, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", Fernet.generate_key().decode())
    stock = [StockSnapshot("SKU-1", START - timedelta(days=1), 40, 9.9), StockSnapshot("SKU-2", START - timedelta(days=1), 30, 9.9),
             StockSnapshot("SKU-3", START - timedelta(days=1), 30, 59.0)]
    tb_data = Dataset(START - timedelta(days=30), START + timedelta(days=30), stock=list(stock))
    jd_data = Dataset(START - timedelta(days=30), START + timedelta(days=30), stock=list(stock))
    tb_buyers: dict[str, str] = {}
    taobao = taobao_fake.create_app(tb_data, app_key="tb-key", app_secret="tb-secret", clock=clock, buyers=tb_buyers)
    jd = jd_fake.create_app(jd_data, app_key="jd-key", app_secret="jd-secret", clock=clock)
    jira = create_jira_app(email="ops@acme.cn", api_token="jira-token")
    hooks = {name: create_webhook_app(secret=SECRET, clock=clock) for name in HOOKS}
    erp = create_erp_app(token="erp-token", in_transit={"SKU-1": 300}, lead_days={"SKU-2": 3})
    ads = create_ads_app(token="ads-token", plans={"tm-1": [
        {"id": "p1", "name": "大促拉新", "status": "active", "spend": 1000.0, "clicks": 800, "orders": 5, "gmv": 500.0},
        {"id": "p2", "name": "品牌词", "status": "active", "spend": 400.0, "clicks": 300, "orders": 20, "gmv": 1600.0},
        {"id": "p3", "name": "老客召回", "status": "active", "spend": 200.0, "clicks": 100, "orders": 9, "gmv": 700.0}]})
    apps = {"tb.test": taobao, "jd.test": jd, "jira.test": jira, "erp.test": erp, "ads.test": ads,
            **{f"{name}.test": app for name, app in hooks.items()}}
    api.service.response.playbooks.transport = httpx.ASGITransport(app=HostRouter(apps))  # type: ignore[arg-type]
    return World(api, clock, taobao, tb_data, jd, jd_data, jira, hooks, erp, ads, tb_buyers)


def put_playbooks(world: World, playbooks: list[dict[str, Any]]) -> None:
    r = world.api.put("/api/v1/playbooks", json={"integrations": integrations(), "playbooks": playbooks})
    assert r.status_code == 200, r.text


def price_history(platform: str, sku: str, price: float) -> list[Point]:
    return [Point(START - timedelta(days=7) + h * HOUR, platform, "tm-1" if platform == "tmall" else "jd-1", "price",
                  price, sku) for h in range(7 * 24)]


GUARD = {"id": "price-floor-guard", "name": {"zh": "低于底价保护", "en": "Price-floor guard"},
         "match": {"rules": ["price.below_floor"]},
         "steps": [{"name": "锁定商品", "action": "lock_item"},
                   {"name": "通知负责人", "action": "notify", "params": {"webhook": "im"}},
                   {"name": "超时未认领则恢复原价", "action": "restore_price", "unless_acked_within_minutes": 30,
                    "owner": "运营负责人"},
                   {"name": "解除锁定", "action": "unlock_item", "unless_acked_within_minutes": 30}]}


def test_price_floor_guard_locks_then_restores_the_price_and_unlocks_through_taobao(world: World) -> None:
    put_playbooks(world, [GUARD])
    upsert(world.api, price_history("tmall", "SKU-1", 99.0))
    add_alert(world.api, alert_id="a-price", rule="price.below_floor", metric="price", sku="SKU-1", category="price",
              start=START, value=9.9, expected=99.0)
    world.tick()
    run = world.run("a-price")
    assert [s["state"] for s in run["steps"]] == ["done", "done", "waiting", "pending"], run["steps"][1]["error"]
    assert run["locked"] == {"platform": "tmall", "store": "tm-1", "sku": "SKU-1", "api": "taobao", "num_iid": 10000,
                             "sku_id": 100000, "platform_locked": True, "previous_quantity": 40,
                             "locked_at": f"{START:%Y-%m-%dT%H:%M:%SZ}"}
    # Sales really stop: the fake shows 0, and so does the connector's stock stream.
    assert world.quantity(world.taobao_data, "SKU-1") == 0 and world.connector_quantity("taobao", "SKU-1") == 0
    assert world.quantity(world.taobao_data, "SKU-2") == 30  # the other SKU of the item is untouched
    assert [r["body"]["event"] for r in world.hooks["im"].state.received] == ["playbook.notify"]
    assert world.price(world.taobao_data, "SKU-1") == 9.9  # nobody acted yet
    world.tick(minutes=20)
    assert world.price(world.taobao_data, "SKU-1") == 9.9  # still inside the acknowledgement window
    assert world.quantity(world.taobao_data, "SKU-1") == 0
    world.tick(minutes=11)
    assert world.price(world.taobao_data, "SKU-1") == 99.0  # restored through taobao.item.sku.price.update
    assert world.quantity(world.taobao_data, "SKU-1") == 40  # and unlocked through taobao.item.quantity.update
    assert world.connector_quantity("taobao", "SKU-1") == 40
    run = world.run("a-price")
    assert run["state"] == "done" and run["steps"][2]["result"]["from"] == 9.9 and run["steps"][2]["result"]["to"] == 99.0
    assert run["steps"][3]["result"]["from"] == 0 and run["steps"][3]["result"]["to"] == 40
    assert run["locked"]["released"] and "kept" not in run["locked"]
    # Ticking again, or triggering the same alert again, does not act twice.
    world.tick(minutes=5)
    again = world.api.post("/api/v1/playbook-runs", json={"playbook": "price-floor-guard", "alert_id": "a-price"})
    assert again.status_code == 200 and again.json()["created"] is False
    world.tick(minutes=5)
    assert world.calls(world.taobao, "taobao.item.sku.price.update") == 1
    assert world.calls(world.taobao, "taobao.item.quantity.update") == 2  # one lock, one unlock
    assert len(world.hooks["im"].state.received) == 1
    actions = [a.action for a in world.audit("playbook.")]
    assert actions.count("playbook.restore_price") == 1 and "playbook.start" in actions
    assert actions.count("playbook.lock_item") == 1 and actions.count("playbook.unlock_item") == 1
    assert "playbook.lock_item.kept" not in actions


def test_acknowledged_in_time_skips_the_restore_and_keeps_the_item_locked(world: World) -> None:
    put_playbooks(world, [GUARD])
    upsert(world.api, price_history("tmall", "SKU-2", 99.0))
    add_alert(world.api, alert_id="a-ack", rule="price.below_floor", metric="price", sku="SKU-2", category="price",
              start=START, value=9.9, expected=99.0)
    world.tick()
    assert world.quantity(world.taobao_data, "SKU-2") == 0
    world.clock.advance(timedelta(minutes=10))
    assert world.api.post("/api/v1/alerts/a-ack/ack").status_code == 200
    world.tick(minutes=30)
    run = world.run("a-ack")
    assert run["state"] == "done" and [s["state"] for s in run["steps"][2:]] == ["skipped", "skipped"]
    assert run["steps"][2]["result"]["acknowledged_by"] == "admin"
    assert world.price(world.taobao_data, "SKU-2") == 9.9
    assert world.calls(world.taobao, "taobao.item.sku.price.update") == 0
    # The operator took over: the wrong price must not sell, so the item stays locked, and the audit says so.
    assert world.quantity(world.taobao_data, "SKU-2") == 0
    assert world.calls(world.taobao, "taobao.item.quantity.update") == 1
    kept = world.audit("playbook.lock_item.kept")
    assert len(kept) == 1 and kept[0].detail["previous_quantity"] == 30 and "admin" in kept[0].detail["reason"]
    assert "stays locked" in run["locked"]["kept"]
    # A second price alert on the same SKU adopts the held lock: no second lock, the quantity is not lost.
    add_alert(world.api, alert_id="a-ack-2", rule="price.below_floor", metric="price", sku="SKU-2", category="price",
              start=START + timedelta(minutes=40), value=9.9, expected=99.0)
    world.tick()
    second = world.run("a-ack-2")
    assert second["steps"][0]["result"]["already_locked_by_run"] == run["id"]
    assert second["locked"]["previous_quantity"] == 30 and world.calls(world.taobao, "taobao.item.quantity.update") == 1
    world.tick(minutes=31)  # nobody acknowledges the second one: restore and unlock to the remembered 30
    assert world.run("a-ack-2")["state"] == "done" and world.price(world.taobao_data, "SKU-2") == 99.0
    assert world.quantity(world.taobao_data, "SKU-2") == 30
    assert world.run("a-ack-2")["steps"][3]["result"]["released_runs"] == [second["id"], run["id"]]


def test_price_restore_through_jd(world: World) -> None:
    put_playbooks(world, [{**GUARD, "steps": [{"name": "恢复原价", "action": "restore_price"}]}])
    upsert(world.api, price_history("jd", "SKU-3", 79.0))
    add_alert(world.api, alert_id="a-jd", rule="price.below_floor", metric="price", sku="SKU-3", category="price",
              platform="jd", store="jd-1", start=START, value=59.0, expected=79.0)
    world.tick()
    assert world.price(world.jd_data, "SKU-3") == 79.0
    assert world.calls(world.jd, "jingdong.price.write.updateSkuJdPrice") == 1
    assert world.run("a-jd")["state"] == "done"


LOCK_ONLY = {**GUARD, "steps": [{"name": "锁定商品", "action": "lock_item"},
                                 {"name": "解除锁定", "action": "unlock_item", "unless_acked_within_minutes": 30}]}


def test_lock_and_unlock_through_jd_stock_write(world: World) -> None:
    put_playbooks(world, [LOCK_ONLY])
    add_alert(world.api, alert_id="a-jd-lock", rule="price.below_floor", metric="price", sku="SKU-3", category="price",
              platform="jd", store="jd-1", start=START, value=59.0, expected=79.0)
    world.tick()
    assert world.quantity(world.jd_data, "SKU-3") == 0 and world.connector_quantity("jd", "SKU-3") == 0
    assert world.calls(world.jd, "jingdong.ware.stock.sku.set") == 1
    lock = world.run("a-jd-lock")["locked"]
    assert lock["api"] == "jd" and lock["sku_id"] == 1002 and lock["previous_quantity"] == 30
    assert world.api.post("/api/v1/playbook-runs", json={"playbook": "price-floor-guard", "alert_id": "a-jd-lock"}
                          ).json()["created"] is False
    world.tick(minutes=31)
    assert world.quantity(world.jd_data, "SKU-3") == 30 and world.connector_quantity("jd", "SKU-3") == 30
    assert world.calls(world.jd, "jingdong.ware.stock.sku.set") == 2
    assert world.quantity(world.jd_data, "SKU-1") == 40  # other SKUs untouched


class LoseFirstAnswer(httpx.AsyncBaseTransport):
    """The platform applies the first call of ``method`` but its answer never arrives (a timeout)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, method: str) -> None:
        self.inner, self.method, self.lost = inner, method, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if f"method={self.method}".encode() in request.content and not self.lost:
            self.lost += 1
            raise httpx.ReadTimeout("answer lost", request=request)
        return response


def test_a_retried_lock_does_not_lock_twice_nor_remember_zero(world: World) -> None:
    engine = world.api.service.response.playbooks
    assert engine.transport is not None
    engine.transport = LoseFirstAnswer(engine.transport, "taobao.item.quantity.update")
    put_playbooks(world, [LOCK_ONLY])
    add_alert(world.api, alert_id="a-lost", rule="price.below_floor", metric="price", sku="SKU-1", category="price",
              start=START, value=9.9, expected=99.0)
    world.tick()
    step = world.run("a-lost")["steps"][0]
    assert step["state"] == "retry" and "ReadTimeout" in step["error"]
    assert world.quantity(world.taobao_data, "SKU-1") == 0  # the platform did lock it
    assert step["result"]["previous_quantity"] == 40  # checkpointed before the call
    world.tick(minutes=1)  # the retry, same action key: sees 0, keeps the remembered 40, writes nothing
    step = world.run("a-lost")["steps"][0]
    assert step["state"] == "done" and step["result"]["previous_quantity"] == 40 and step["result"]["called_platform"] is False
    assert world.calls(world.taobao, "taobao.item.quantity.update") == 1
    world.tick(minutes=30)
    assert world.quantity(world.taobao_data, "SKU-1") == 40


def test_dry_run_of_the_guard_calls_no_platform(world: World) -> None:
    put_playbooks(world, [{**GUARD, "dry_run": True}])
    upsert(world.api, price_history("tmall", "SKU-1", 99.0))
    add_alert(world.api, alert_id="a-dry-lock", rule="price.below_floor", metric="price", sku="SKU-1", category="price",
              start=START, value=9.9, expected=99.0)
    world.tick()
    world.tick(minutes=31)
    run = world.run("a-dry-lock")
    assert run["dry_run"] and [s["state"] for s in run["steps"]] == ["dry_run"] * 4
    assert "taobao.item.quantity.update" in run["steps"][0]["result"]["would"]
    assert world.taobao.state.log.calls == [] and world.hooks["im"].state.received == []
    assert world.quantity(world.taobao_data, "SKU-1") == 40 and world.price(world.taobao_data, "SKU-1") == 9.9
    assert len(world.audit("playbook.lock_item.dry_run")) == 1 and world.audit("playbook.lock_item.kept") == []


def test_dry_run_records_and_calls_nothing(world: World) -> None:
    put_playbooks(world, [{**GUARD, "dry_run": True, "steps": [
        {"name": "建工单", "action": "jira_ticket"}, {"name": "恢复原价", "action": "restore_price"}]}])
    upsert(world.api, price_history("tmall", "SKU-1", 99.0))
    add_alert(world.api, alert_id="a-dry", rule="price.below_floor", metric="price", sku="SKU-1", category="price",
              start=START, value=9.9, expected=99.0)
    world.tick()
    run = world.run("a-dry")
    assert run["dry_run"] and [s["state"] for s in run["steps"]] == ["dry_run", "dry_run"]
    assert run["steps"][0]["result"]["would"] == "POST http://jira.test/rest/api/3/issue"
    assert run["steps"][1]["result"]["price"] == 99.0
    assert world.jira.state.requests == 0 and world.taobao.state.log.calls == []
    assert world.price(world.taobao_data, "SKU-1") == 9.9
    assert len(world.audit("playbook.jira_ticket.dry_run")) == 1


def test_jira_outage_is_retried_not_lost(world: World) -> None:
    put_playbooks(world, [{"id": "ticket", "match": {"rules": ["gmv.*"]}, "steps": [
        {"name": "建Jira工单", "action": "jira_ticket", "owner": "运营负责人", "deadline_minutes": 2}]}])
    add_alert(world.api, alert_id="a-gmv", rule="gmv.drop", metric="gmv", start=START)
    world.jira.state.outage = 2
    world.tick()
    step = world.run("a-gmv")["steps"][0]
    assert step["state"] == "retry" and "503" in step["error"] and step["attempts"] == 1
    world.tick(minutes=0.5)  # before the backoff: no new request
    assert world.jira.state.requests == 1
    world.tick(minutes=0.5)
    assert world.jira.state.requests == 2 and world.run("a-gmv")["steps"][0]["state"] == "retry"
    world.tick(minutes=2)
    run = world.run("a-gmv")
    assert run["state"] == "done" and run["steps"][0]["result"]["issue"] == "OPS-1"
    assert run["steps"][0]["result"]["overdue"] is True  # the deadline passed during the outage
    issue = world.jira.state.issues[0]
    assert issue["description"]["type"] == "doc" and issue["summary"].startswith("【critical】gmv.drop")
    assert len(world.audit("playbook.jira_ticket.retry")) == 2 and len(world.audit("playbook.overdue")) == 1


def test_signed_webhooks_for_crm_cs_and_teambition(world: World) -> None:
    put_playbooks(world, [{"id": "refund-care", "match": {"categories": ["service"]}, "steps": [
        {"name": "客户打标", "action": "crm_tag", "params": {"tag": "退款关怀"}},
        {"name": "客服加急工单", "action": "cs_ticket"},
        {"name": "Teambition 任务", "action": "webhook_ticket", "params": {"webhook": "teambition", "owner": "客服主管"}}]}])
    add_alert(world.api, alert_id="a-refund", rule="refunds.surge", metric="refunds", category="service", start=START)
    world.tick()
    assert world.run("a-refund")["state"] == "done"
    crm = world.hooks["crm"].state.received[0]
    assert crm["body"]["event"] == "crm.tag" and crm["body"]["tag"] == "退款关怀" and crm["idempotency_key"].endswith("|0|a-refund")
    assert crm["body"]["customers"] == [] and crm["body"]["total"] == 0  # the fake store has no orders
    # A store without a platform API: the order filter only, as before, and the result says so.
    add_alert(world.api, alert_id="a-refund-pdd", rule="refunds.surge", metric="refunds", category="service",
              platform="pdd", store="pdd-1", start=START)
    world.tick()
    assert world.run("a-refund-pdd")["steps"][0]["result"]["customers_source"] == "none"
    assert "customers" not in world.hooks["crm"].state.received[-1]["body"]
    assert world.hooks["cs"].state.received[0]["body"]["priority"] == "urgent"
    assert world.hooks["teambition"].state.received[0]["body"]["owner"] == "客服主管"


def test_wrong_webhook_secret_fails_permanently(world: World) -> None:
    world.hooks["cs"] = create_webhook_app(secret="other", clock=world.clock)
    apps = {"cs.test": world.hooks["cs"]}
    world.api.service.response.playbooks.transport = httpx.ASGITransport(app=HostRouter(apps))  # type: ignore[arg-type]
    put_playbooks(world, [{"id": "cs", "match": {"categories": ["service"]}, "steps": [{"name": "工单", "action": "cs_ticket"}]}])
    add_alert(world.api, alert_id="a-cs", rule="cs.slow", metric="cs_response_seconds", category="service", start=START)
    world.tick()
    run = world.run("a-cs")
    assert run["state"] == "failed" and run["steps"][0]["state"] == "failed" and "401" in run["steps"][0]["error"]
    world.tick(minutes=60)
    assert world.run("a-cs")["steps"][0]["attempts"] == 1  # permanent: not retried


def add_user(world: World, username: str, duties: list[str]) -> str:
    with world.api.service.sessions() as session:
        session.add(UserRow(username=username, display_name=username, password_hash="", role="editor", duties=duties,
                            email="", phone="", im_ids={}, locale="zh-CN", active=True, created_at=START))
        _, token = create_token(session, username, "editor", START)
        session.commit()
    return token


def test_erp_suggestion_waits_for_the_owner_approval(world: World) -> None:
    put_playbooks(world, [{"id": "restock", "match": {"rules": ["stock.*"]}, "steps": [
        {"name": "采购建议", "action": "erp_purchase", "approval": True, "owner": "库存管理员",
         "params": {"target_cover_days": 15}}]}])
    hourly_units, stock_left = 5.0, 200.0
    upsert(world.api, [Point(START - timedelta(days=14) + h * HOUR, "tmall", "tm-1", "units_sold", hourly_units, "SKU-1")
                       for h in range(14 * 24)] + [Point(START - HOUR, "tmall", "tm-1", "stock", stock_left, "SKU-1")])
    add_alert(world.api, alert_id="a-stock", rule="stock.cover_red", metric="stock_cover_days", sku="SKU-1",
              category="stock", start=START, value=1.6, expected=None)
    world.tick()
    run = world.run("a-stock")
    assert run["steps"][0]["state"] == "waiting_approval" and world.erp.state.suggestions == []
    planner = add_user(world, "wang", ["库存管理员"])
    other = add_user(world, "li", ["客服主管"])
    assert world.api.as_token(other).post(f"/api/v1/playbook-runs/{run['id']}/approve").status_code == 403
    assert world.api.post(f"/api/v1/playbook-runs/{run['id']}/approve").status_code == 403  # admin lacks the duty
    approved = world.api.as_token(planner).post(f"/api/v1/playbook-runs/{run['id']}/approve")
    assert approved.status_code == 200 and approved.json()["steps"][0]["approved_by"] == "wang"
    world.tick()
    expected = math.ceil(hourly_units * 24 * 15 - stock_left - 300)
    assert [s["quantity"] for s in world.erp.state.suggestions] == [expected]
    result = world.run("a-stock")["steps"][0]["result"]
    assert result["in_transit"] == 300 and result["suggested"] == expected
    assert world.api.as_token(planner).post(f"/api/v1/playbook-runs/{run['id']}/approve").status_code == 409


def stock_history(sku: str, hourly_units: float, on_hand: float) -> list[Point]:
    return [Point(START - timedelta(days=14) + h * HOUR, "tmall", "tm-1", "units_sold", hourly_units, sku)
            for h in range(14 * 24)] + [Point(START - HOUR, "tmall", "tm-1", "stock", on_hand, sku)]


RESTOCK = {"id": "restock", "match": {"rules": ["stock.*"]}, "steps": [{"name": "采购建议", "action": "erp_purchase"}]}


def test_erp_target_follows_the_default_stock_tiers_plus_lead_time(world: World) -> None:
    put_playbooks(world, [RESTOCK])
    upsert(world.api, stock_history("SKU-1", 5.0, 240.0) + stock_history("SKU-2", 5.0, 240.0))  # 120/day: 2 days
    add_alert(world.api, alert_id="a-red", rule="stock.cover_red", metric="stock_cover_days", sku="SKU-1",
              category="stock", start=START, value=2.0, expected=None)
    add_alert(world.api, alert_id="a-lead", rule="stock.cover_red", metric="stock_cover_days", sku="SKU-2",
              category="stock", start=START, value=2.0, expected=None)
    world.tick()
    red = world.run("a-red")["steps"][0]["result"]
    assert red["tier"] == "red" and red["tier_zh"] == "红" and red["tier_rule"] == "stock.cover_red"
    assert red["target_cover_days"] == 15 and "stock.cover_blue" in red["target_reason"] and red["cover_days"] == 2.0
    assert red["in_transit"] == 300 and red["suggested"] == math.ceil(120 * 15 - 240 - 300)  # in transit still counts
    lead = world.run("a-lead")["steps"][0]["result"]
    assert lead["lead_days"] == 3 and lead["target_cover_days"] == 18 and "lead time 3" in lead["target_reason"]
    assert {s["sku"]: s["quantity"] for s in world.erp.state.suggestions} == {
        "SKU-1": math.ceil(120 * 15 - 240 - 300), "SKU-2": math.ceil(120 * 18 - 240)}
    assert "红色库存档" in world.erp.state.suggestions[0]["reason"]


def test_erp_target_follows_a_user_rule_pack(world: World) -> None:
    pack = default_rules().model_dump(mode="json", by_alias=True, exclude_none=True)
    for rule in pack["rules"]:
        if rule["id"] == "stock.cover_blue":
            rule["when"]["cover_days_below"] = 20
    assert world.api.put("/api/v1/rules", json=pack).status_code == 200
    put_playbooks(world, [RESTOCK])
    upsert(world.api, stock_history("SKU-3", 1.0, 120.0))  # 24/day: 5 days of cover
    add_alert(world.api, alert_id="a-user", rule="stock.cover_yellow", metric="stock_cover_days", sku="SKU-3",
              category="stock", start=START, value=5.0, expected=None)
    world.tick()
    result = world.run("a-user")["steps"][0]["result"]
    assert result["tier"] == "yellow" and result["target_cover_days"] == 20 and result["tiers"]["stock.cover_blue"] == 20
    assert world.erp.state.suggestions[0]["quantity"] == math.ceil(24 * 20 - 120)


def crm_orders(data: Dataset, sku: str, buyers: dict[str, str] | None = None) -> None:
    """Refunded orders around the alert start: 9001 before it, 9003 of another SKU, 9002/9004/9005
    after it (with ``buyers``, 9005 is 9004's buyer again)."""
    placed = {"9001": (START - timedelta(hours=3), sku), "9002": (START + timedelta(minutes=5), sku),
              "9003": (START + timedelta(minutes=10), "SKU-2"), "9004": (START + timedelta(minutes=20), sku),
              "9005": (START + timedelta(minutes=25), sku)}
    for order_id, (created, line_sku) in placed.items():
        data.orders.append(Order(order_id, created, "已退款", 9.9, created + timedelta(minutes=1), created + timedelta(minutes=2),
                                 None, None, (OrderLine(line_sku, 1, 9.9),)))
    if buyers is not None:
        buyers["9005"] = taobao_fake.buyer_open_uid("9004")  # the same buyer twice


def test_crm_tag_posts_the_buyers_of_the_affected_taobao_orders(world: World) -> None:
    crm_orders(world.taobao_data, "SKU-1", world.tb_buyers)
    put_playbooks(world, [{"id": "refund-care", "match": {"categories": ["service"]}, "steps": [
        {"name": "客户打标", "action": "crm_tag", "params": {"tag": "退款关怀"}}]}])
    add_alert(world.api, alert_id="a-crm", rule="refunds.surge", metric="refunds", category="service", sku="SKU-1",
              start=START)
    world.tick(minutes=60)
    body = world.hooks["crm"].state.received[0]["body"]
    expected = [taobao_fake.buyer_open_uid(o) for o in ("9002", "9004")]
    assert sorted(body["customers"]) == sorted(expected) and body["total"] == 2 and body["truncated"] is False
    assert taobao_fake.buyer_open_uid("9001") not in body["customers"]  # before the alert start
    assert taobao_fake.buyer_open_uid("9003") not in body["customers"]  # another SKU
    assert body["customer_id_type"] == "buyer_open_uid" and body["orders"]["sku"] == "SKU-1"
    result = world.run("a-crm")["steps"][0]["result"]
    assert result["orders_matched"] == 3 and result["customers"] == 2 and "customers_source" in result
    audit = world.audit("playbook.crm_tag")[0].detail
    assert not any(buyer in str(audit) for buyer in expected)  # buyer ids are not written to the audit log


def test_crm_tag_posts_jd_pins_capped(world: World) -> None:
    crm_orders(world.jd_data, "SKU-3")
    put_playbooks(world, [{"id": "refund-care", "match": {"categories": ["service"]}, "steps": [
        {"name": "客户打标", "action": "crm_tag", "params": {"max_customers": 2}}]}])
    add_alert(world.api, alert_id="a-crm-jd", rule="refunds.surge", metric="refunds", category="service", sku="SKU-3",
              platform="jd", store="jd-1", start=START)
    world.tick(minutes=60)
    body = world.hooks["crm"].state.received[0]["body"]
    pins = [jd_fake.buyer_pin(o) for o in ("9002", "9004", "9005")]
    assert body["total"] == 3 and body["truncated"] is True and len(body["customers"]) == 2
    assert set(body["customers"]) <= set(pins) and body["customer_id_type"] == "pin"
    assert jd_fake.buyer_pin("9001") not in body["customers"]


@pytest.mark.parametrize("platform", ["taobao", "jd"])
def test_crm_tag_can_keep_only_the_buyers_of_refunded_orders(world: World, platform: str) -> None:
    data, store, buyer = ((world.taobao_data, "tm-1", taobao_fake.buyer_open_uid) if platform == "taobao"
                          else (world.jd_data, "jd-1", jd_fake.buyer_pin))
    crm_orders(data, "SKU-1")  # 9002, 9004, 9005: refunded after the start
    for order_id, status, minutes in (("9006", "已完成", 30), ("9007", "退款中", 35), ("9008", "已取消", 40)):
        created = START + timedelta(minutes=minutes)
        paid = created + timedelta(minutes=1) if status != "已取消" else None
        data.orders.append(Order(order_id, created, status, 9.9, paid, created + timedelta(minutes=2), None, None,
                                 (OrderLine("SKU-1", 1, 9.9),)))
    put_playbooks(world, [{"id": "refund-care", "match": {"categories": ["service"]}, "steps": [
        {"name": "退款客户", "action": "crm_tag", "params": {"orders": "refunded", "webhook": "crm"}},
        {"name": "全部客户", "action": "crm_tag", "params": {"webhook": "cs"}}]}])
    add_alert(world.api, alert_id="a-refunds", rule="refunds.surge", metric="refunds", category="service", sku="SKU-1",
              platform="tmall" if platform == "taobao" else "jd", store=store, start=START)
    world.tick(minutes=60)
    world.tick(minutes=1)
    refunded = world.hooks["crm"].state.received[0]["body"]
    everyone = world.hooks["cs"].state.received[0]["body"]
    assert sorted(refunded["customers"]) == sorted(buyer(o) for o in ("9002", "9004", "9005", "9007"))
    assert refunded["orders"]["only"] == "refunded" and everyone["orders"]["only"] == "all"
    assert buyer("9006") in everyone["customers"] and buyer("9006") not in refunded["customers"]  # completed: not refunded
    assert buyer("9008") not in refunded["customers"]  # cancelled before payment: nothing was refunded


def test_crm_tag_rejects_an_unknown_order_filter(world: World) -> None:
    reply = world.api.put("/api/v1/playbooks", json={"playbooks": [{"id": "x", "steps": [
        {"name": "打标", "action": "crm_tag", "params": {"orders": "refunds"}}]}]})
    assert reply.status_code == 422 and "params.orders must be 'all' or 'refunded'" in reply.text


def test_ad_anomaly_pauses_the_bad_plan_with_a_comparison_report(world: World) -> None:
    put_playbooks(world, [{"id": "ads", "match": {"categories": ["ads"]}, "steps": [
        {"name": "暂停计划", "action": "pause_ads", "params": {"min_roi": 1.0, "report_webhook": "report"}}]}])
    add_alert(world.api, alert_id="a-ads", rule="ads.roi_drop", metric="ad_roi", category="ads", start=START)
    world.tick()
    assert world.ads.state.paused == ["p1"]
    report = world.hooks["report"].state.received[0]["body"]["report"]
    assert [p["id"] for p in report["paused"]] == ["p1"] and report["paused"][0]["roi"] == 0.5
    assert {p["id"] for p in report["good"]} == {"p2", "p3"} and report["good_median_roi"] == 4.0


def test_playbook_document_validates_and_masks_secrets(world: World) -> None:
    bad = world.api.put("/api/v1/playbooks", json={"playbooks": [{"id": "x", "steps": [{"name": "s", "action": "teleport"}]}]})
    assert bad.status_code == 422 and "teleport" in str(bad.json())
    put_playbooks(world, [GUARD])
    got = world.api.get("/api/v1/playbooks").json()
    assert got["version"] == 1 and got["document"]["integrations"]["jira"]["api_token"] == "********"
    assert "jira-token" not in str(got)
    # Sending the masked document back keeps the secrets working.
    assert world.api.put("/api/v1/playbooks", json=got["document"]).status_code == 200
    add_alert(world.api, alert_id="a-keep", rule="gmv.drop", metric="gmv", start=START)
    world.api.put("/api/v1/playbooks", json={**got["document"], "playbooks": [
        {"id": "t", "match": {"rules": ["gmv.drop"]}, "steps": [{"name": "j", "action": "jira_ticket"}]}]})
    world.tick()
    assert world.run("a-keep")["state"] == "done" and len(world.jira.state.issues) == 1


def test_badly_signed_price_update_is_refused_by_the_fake(world: World) -> None:
    document = {"integrations": integrations(), "playbooks": [{**GUARD, "steps": [{"name": "恢复原价", "action": "restore_price"}]}]}
    document["integrations"]["platforms"]["tmall"]["app_secret"] = "wrong-secret"
    assert world.api.put("/api/v1/playbooks", json=document).status_code == 200
    upsert(world.api, price_history("tmall", "SKU-1", 99.0))
    add_alert(world.api, alert_id="a-sig", rule="price.below_floor", metric="price", sku="SKU-1", category="price",
              start=START, value=9.9, expected=99.0)
    world.tick()
    run = world.run("a-sig")
    assert run["state"] == "failed" and "Invalid Signature" in run["steps"][0]["error"]
    assert world.price(world.taobao_data, "SKU-1") == 9.9
