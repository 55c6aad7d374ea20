"""Issue 13 (roles reach people, setup in the web): the on-call schedule and role resolution, forms that
refuse values that can never match (input kept), an escalation policy saved on the page that pages
without any API call, 测试连接 against the Tmall fake, 发送测试 against the DingTalk fake and export
upload with a preview before import."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from pydantic import BaseModel, SecretStr
from sqlalchemy import select

from shopsentinel.alerting.routing_repository import on_duty, routing_config
from shopsentinel.core.clock import ManualClock
from shopsentinel.sim.channels import FakeDingTalk, run_fake_server
from shopsentinel.sim.sync import running_sim
from shopsentinel.store.state import OutboxRow
from shopsentinel.store.users import UserInput, create_user
from tests.support.service import database_url  # noqa: F401 - the SQLite/PostgreSQL fixture
from tests.web.conftest import ADMIN_TOKEN, Client, make_app


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", Fernet.generate_key().decode())


@pytest.fixture
def admin(seeded_app: FastAPI) -> Client:
    client = Client(seeded_app)
    assert client.login("admin").status_code == 303
    return client


def _people(app: FastAPI, clock: ManualClock, **duties: list[str]) -> None:
    with app.state.service.sessions() as session:
        for name, roles in duties.items():
            create_user(session, UserInput(username=name, password="person-pass-1", display_name=name.title(), duties=roles,
                                           phone="+8613800000001"), clock.now())
        session.commit()


# --- forms refuse what can never match ------------------------------------------------------------

def test_subscription_form_refuses_unknown_values_and_keeps_the_input(admin: Client) -> None:
    page = admin.get("/routing").text
    assert 'value="tmall"' in page and 'value="traffic"' in page and 'value="ops_lead"' in page  # dropdowns, not free text
    response = admin.form("/subscriptions", {"role": "ops_lead", "platforms": ["tmall", "天猫"], "categories": ["inventory"],
                                             "stores": "tm-a", "min_severity": "warning"})
    assert response.status_code == 422
    assert "平台「天猫」不存在" in response.text and "是否指 tmall" in response.text
    assert "指标类别「inventory」不存在" in response.text
    assert re.search(r'value="天猫" checked', response.text) and re.search(r'value="inventory" checked', response.text)
    assert re.search(r'<option value="ops_lead" selected', response.text)
    assert admin.get("/api/v1/subscriptions", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json() == []
    made_up = admin.form("/subscriptions", {"role": "night_owl", "min_severity": "info"})
    assert made_up.status_code == 422 and "职能角色「night_owl」不存在" in made_up.text
    english = admin.post("/subscriptions?lang=en", data={"role": "ops_lead", "platforms": "天猫", "csrf": admin.csrf()})
    assert "Unknown platform &#39;天猫&#39;" in english.text
    assert admin.form("/subscriptions", {"role": "ops_lead", "platforms": ["tmall", "jd"], "categories": ["stock"]}).status_code == 303


def test_escalation_form_refuses_a_made_up_role_and_a_yaml_typo_keeps_the_text(admin: Client) -> None:
    made_up = admin.form("/escalation", {"name": "p", "step0_after": "0", "step0_target": "role:night_owl"})
    assert made_up.status_code == 422 and "职能角色「night_owl」不存在" in made_up.text
    typo = "name: night\nsteps:\n  - {after_minutes: 0, role: ops_lead\n  - {after_minutes: 30, role: director}\n"
    response = admin.form("/escalation", {"body": typo})
    assert response.status_code == 422
    line = re.search(r"YAML 第 (\d+) 行", response.text)
    assert line is not None and int(line.group(1)) in (3, 4)  # the unclosed flow mapping, where PyYAML finds it
    assert "{after_minutes: 0, role: ops_lead\n  - {after_minutes: 30" in response.text  # the text is kept as typed
    unknown_user = admin.form("/escalation", {"body": "name: x\nsteps:\n  - {after_minutes: 0, user: ghost}\n"})
    assert unknown_user.status_code == 422 and "用户「ghost」不存在" in unknown_user.text


# --- an escalation policy saved on the page pages without any API call ----------------------------------

def _escalations(app: FastAPI, channel: str) -> list[OutboxRow]:
    with app.state.service.sessions() as session:
        rows = session.scalars(select(OutboxRow).where(OutboxRow.channel == channel)).all()
        return [r for r in rows if r.key.startswith("esc") or "升级" in str(r.payload.get("title", ""))]


def test_an_escalation_policy_saved_on_the_page_pages_without_any_api_call(seeded_app: FastAPI, admin: Client,
                                                                           clock: ManualClock) -> None:
    _people(seeded_app, clock, olivia=["ops_lead"])
    fake = FakeDingTalk({"robot-1": "SECsign"}, clock=clock)
    with run_fake_server(fake.app) as url:
        saved = admin.form("/channels", {"kind": "dingtalk", "name": "ops-ding", "medium": "im", "receiver": "default",
                                         "cfg_access_token": "robot-1", "cfg_secret": "SECsign", "cfg_base_url": url})
        assert saved.status_code == 303, saved.text
        service = seeded_app.state.service
        service.notify(deliver=False)
        assert _escalations(seeded_app, "ops-ding") == []  # no policy yet: nobody is paged
        assert admin.form("/escalation", {"name": "store-ops", "step0_after": "5", "step0_target": "role:ops_lead",
                                          "scope": "all"}).status_code == 303
        assert "对所有告警生效" in admin.get("/routing").text
        clock.advance(timedelta(minutes=6))
        service.notify(deliver=False)
        assert _escalations(seeded_app, "ops-ding") != []


# --- the on-call schedule ---------------------------------------------------------------------------

def test_oncall_page_shows_who_is_on_duty_now_and_roles_resolve_to_them(web_app: FastAPI, clock: ManualClock) -> None:
    _people(web_app, clock, alice=["ops_lead"], bob=["ops_lead"], carol=[])
    admin = Client(web_app)
    assert admin.login("admin").status_code == 303
    now = clock.now()
    start_local = (now - timedelta(days=8)).astimezone(ZONE).strftime("%Y-%m-%dT%H:%M")  # bob's week now
    shift_from, shift_to = (now + timedelta(days=1)).astimezone(ZONE), (now + timedelta(days=2)).astimezone(ZONE)
    response = admin.form("/oncall", {"role": "ops_lead", "member0": "alice", "member1": "bob", "rotation_start": start_local,
                                      "rotation_days": "7",
                                      "shifts": f"{shift_from:%Y-%m-%d %H:%M}, {shift_to:%Y-%m-%d %H:%M}, carol"})
    assert response.status_code == 303, response.text
    row = re.search(r'<tr data-role="ops_lead">.*?<td class="on-duty"><b>(\w+)</b>', admin.get("/oncall").text, re.S)
    assert row is not None and row.group(1) == "bob"
    with web_app.state.service.sessions() as session:
        assert on_duty(session, "ops_lead", now) == "bob"
        assert routing_config(session, now).members["ops_lead"] == ["bob", "alice"]  # duties resolve, on duty first
        assert on_duty(session, "ops_lead", now + timedelta(days=1, hours=1)) == "carol"  # an explicit shift wins
        [schedule] = [s for s in routing_config(session).schedules if s.role == "ops_lead"]
        assert schedule.on_duty(now + timedelta(days=1, hours=1)) == "carol"
    clock.advance(timedelta(days=1, hours=1))
    assert admin.login("admin").status_code == 303  # the idle session expired meanwhile
    row = re.search(r'<tr data-role="ops_lead">.*?<td class="on-duty"><b>(\w+)</b>', admin.get("/oncall").text, re.S)
    assert row is not None and row.group(1) == "carol"
    api = Client(web_app, ADMIN_TOKEN)
    assert api.get("/api/v1/oncall").json()["schedules"][0]["on_duty"] == "carol"
    refused = admin.form("/oncall", {"role": "ops_lead", "member0": "ghost"})
    assert refused.status_code == 422 and "用户不存在：ghost" in refused.text and '<option value="ghost"' not in refused.text
    bad_line = admin.form("/oncall", {"role": "ops_lead", "member0": "alice", "shifts": "tomorrow, alice"})
    assert bad_line.status_code == 422 and "班次第 1 行" in bad_line.text and "tomorrow, alice" in bad_line.text
    put = api.put("/api/v1/oncall", json={"schedules": [{"role": "director", "members": ["ghost"]}]})
    assert put.status_code == 422


ZONE = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")


def test_oncall_is_stored_on_sqlite_and_postgresql(database_url: str, clock: ManualClock) -> None:  # noqa: F811
    app = make_app(database_url, clock)
    try:
        _people(app, clock, dora=["director"])
        admin = Client(app)
        assert admin.login("admin").status_code == 303
        assert admin.form("/oncall", {"role": "director", "member0": "dora"}).status_code == 303
        assert Client(app, ADMIN_TOKEN).get("/api/v1/oncall").json()["schedules"][0]["on_duty"] == "dora"
    finally:
        app.state.service.close()


# --- 测试连接 against the Tmall fake ---------------------------------------------------------------------

def _config_form(config: BaseModel, **override: str) -> dict[str, str]:
    form: dict[str, str] = {}
    for name, value in config.__dict__.items():
        if name == "store" or value is None or isinstance(value, dict | list):
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat().replace("+00:00", "Z")
        elif isinstance(value, bool):
            if not value:
                continue
            value = "on"
        form[f"cfg_{name}"] = str(value)
    return {**form, **{f"cfg_{k}": v for k, v in override.items()}}


def test_test_connection_against_the_tmall_fake_with_right_and_wrong_credentials(tmp_path: Path) -> None:
    with running_sim("tmall") as env:
        app = make_app(f"sqlite:///{tmp_path / 'state.db'}", env.clock, sync_db=str(tmp_path / "sync.duckdb"))
        try:
            admin = Client(app)
            assert admin.login("admin").status_code == 303
            assert "应用密钥（AppSecret）" in admin.get("/stores/new?platform=tmall").text
            base = {"platform": "tmall", "store": "tm-new", "timezone": "Asia/Shanghai"}
            good = admin.form("/stores/new", {**base, **_config_form(env.config), "action": "test"})
            assert good.status_code == 200 and "连接成功" in good.text, good.text
            wrong_secret = "wrong-secret-value-123"
            bad = admin.form("/stores/new", {**base, **_config_form(env.config, app_secret=wrong_secret), "action": "test"})
            assert bad.status_code == 502 and "连接失败" in bad.text
            assert wrong_secret not in bad.text and env.config.app_secret.get_secret_value() not in good.text  # type: ignore[attr-defined]
            assert 'value="tm-new"' in bad.text  # the form keeps what was typed (secrets excepted)
            saved = admin.form("/stores/new", {**base, **_config_form(env.config), "action": "save"})
            assert saved.status_code == 303, saved.text
            with app.state.service.sync_runner().database(5.0) as db:
                assert db is not None and db.store("tmall", "tm-new") is not None
            assert "tm-new" in admin.get("/stores").text
        finally:
            app.state.service.close()


# --- 发送测试 against the DingTalk fake ----------------------------------------------------------------------

def test_send_test_through_the_dingtalk_fake_success_and_a_failing_endpoint(web_app: FastAPI, clock: ManualClock) -> None:
    admin = Client(web_app)
    assert admin.login("admin").status_code == 303
    fake = FakeDingTalk({"robot-1": "SECright"}, clock=clock)
    with run_fake_server(fake.app) as url:
        for name, secret in (("good", "SECright"), ("bad", "SECwrong-secret")):
            assert admin.form("/channels", {"kind": "dingtalk", "name": name, "medium": "im", "cfg_access_token": "robot-1",
                                            "cfg_secret": secret, "cfg_base_url": url}).status_code == 303
        page = admin.get("/channels").text
        assert "SECright" not in page and "robot-1" not in page  # secrets are never rendered
        ok = admin.form("/channels/good/test")
        assert ok.status_code == 200 and "测试消息已通过「good」发出" in ok.text
        assert len(fake.received) == 1  # the fake verified the signature and recorded one message
        failed = admin.form("/channels/bad/test")
        assert failed.status_code == 502 and "「bad」发送失败" in failed.text and "SECwrong-secret" not in failed.text
        assert len(fake.received) == 1
    with web_app.state.service.sessions() as session:
        assert session.scalars(select(OutboxRow)).all() == []  # a test message is not an alert


# --- export upload: preview, then import -----------------------------------------------------------------

def test_export_upload_shows_the_mapped_columns_then_imports(web_app: FastAPI, clock: ManualClock) -> None:
    admin = Client(web_app)
    assert admin.login("admin").status_code == 303
    day = (clock.now() - timedelta(days=3)).astimezone(ZONE)
    body = f"日期,访客数,支付买家数,无关列\n{day:%Y-%m-%d},1024,31,x\n{day - timedelta(days=1):%Y-%m-%d},998,29,y\n".encode()
    files = {"file": ("生意参谋.csv", body, "text/csv")}
    data: dict[str, Any] = {"platform": "tmall", "store": "tm-upload", "csrf": admin.csrf()}
    preview = admin.post("/imports", data=data, files=files)
    assert preview.status_code == 200, preview.text
    assert "访客数" in preview.text and "uv" in preview.text and "无关列" in preview.text and "确认导入" in preview.text
    # each column's own points and sum (not the whole file's): 1024 + 998 visitors, 31 + 29 buyers
    rows = dict(re.findall(r"<td>(访客数|支付买家数)</td><td>[^<]*<span[^>]*>\w+</span></td><td>(\d+ · [^<]+|\d+</td><td>[^<]+)</td>",
                           preview.text))
    assert rows == {"访客数": "2</td><td>2,022", "支付买家数": "2</td><td>60"}, rows
    api = Client(web_app, ADMIN_TOKEN)
    assert api.get("/api/v1/stores").json()["items"] == []  # a preview writes nothing
    content = re.search(r'name="content" value="([^"]+)"', preview.text)
    assert content is not None
    done = admin.form("/imports", {"action": "import", "content": content.group(1), "platform": "tmall",
                                   "store": "tm-upload", "filename": "生意参谋.csv"})
    assert done.status_code == 200 and "已导入 生意参谋.csv" in done.text
    assert [s["store"] for s in api.get("/api/v1/stores").json()["items"]] == ["tm-upload"]
    broken = admin.post("/imports", data=data, files={"file": ("bad.csv", "日期,访客数\n2026-13-01,10\n".encode(), "text/csv")})
    assert broken.status_code == 422 and "bad.csv" in broken.text
