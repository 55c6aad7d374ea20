"""Issue 13, "Must show": a new admin on an empty database sets everything up in the web only — a
person on duty, a store with 测试连接 against the Tmall fake, a DingTalk robot with 发送测试, a
subscription, the on-call schedule, the holiday calendar — then a traffic crash arrives, the robot's
message names the person on duty, and she acknowledges it from the 认领 link on a phone-width
screen. Beijing time throughout. Debian's chromium through Playwright, real uvicorn, real fakes."""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from shopsentinel.sim.channels import FakeDingTalk, run_fake_server
from shopsentinel.sim.sync import running_sim
from tests.web.conftest import ADMIN_TOKEN, PASSWORDS, LiveServer, free_port, make_app

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (apt-get install chromium)"),
]

BEIJING = ZoneInfo("Asia/Shanghai")
ROBOT, ROBOT_SECRET = "robot-setup-1", "SECsetup-robot-secret"
STORE = "tm-flagship"


def fill_config(page: Any, config: Any) -> None:
    """Type the connector's settings into the form the way a person would (local time for dates)."""
    for name, value in config.__dict__.items():
        if name == "store" or value is None or isinstance(value, dict | list):
            continue
        field = page.locator(f"[name='cfg_{name}']")
        if field.count() == 0:
            continue
        if isinstance(value, bool):
            field.set_checked(value)
        elif isinstance(value, SecretStr):
            field.fill(value.get_secret_value())
        elif isinstance(value, datetime):
            field.fill(value.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M"))
        else:
            field.fill(str(value))


def crash_history(now: datetime) -> list[dict[str, Any]]:
    """Two weeks of hourly visitors with a daily shape, then the last four hours at a sixth."""
    end = now.replace(minute=0, second=0, microsecond=0)
    points = []
    for back in range(14 * 24, 0, -1):
        ts = end - timedelta(hours=back)
        local_hour = ts.astimezone(BEIJING).hour
        usual = 200 + 30 * (8 <= local_hour <= 23) * (local_hour - 7)
        value = usual // 6 if back <= 4 else usual
        points.append({"ts": ts.strftime("%Y-%m-%dT%H:%M:%SZ"), "platform": "tmall", "store": STORE, "metric": "uv",
                       "value": value})
    return points


def test_a_new_admin_sets_up_in_the_web_only_then_acknowledges_an_alert_from_a_phone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", Fernet.generate_key().decode())
    with running_sim("tmall") as env:
        clock = env.clock
        robot = FakeDingTalk({ROBOT: ROBOT_SECRET}, clock=clock)
        port = free_port()
        app = make_app(f"sqlite:///{tmp_path / 'state.db'}", clock, sync_db=str(tmp_path / "sync.duckdb"),
                       public_url=f"http://127.0.0.1:{port}")
        service = app.state.service
        live = LiveServer(app)
        live.port = live.server.config.port = port
        with run_fake_server(robot.app) as robot_url, live, sync_playwright() as p:
            chromium = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True)
            desk = chromium.new_context(locale="zh-CN", timezone_id="Asia/Shanghai").new_page()
            base = live.url

            # 0. the admin signs in on an empty database
            desk.goto(f"{base}/login")
            desk.get_by_label("用户名").fill("admin")
            desk.get_by_label("密码").fill(PASSWORDS["admin"])
            desk.get_by_role("button", name="登录").click()
            expect(desk).to_have_url(f"{base}/")

            # 1. the person who will be on duty
            desk.goto(f"{base}/users")
            desk.locator("#users-form [name=username], form [name=username]").first.fill("lina")
            desk.locator("form [name=display_name]").first.fill("李娜")
            desk.locator("form [name=password]").first.fill("lina-password-1")
            desk.locator("form [name=phone]").first.fill("+8613800000042")
            desk.locator("#u-role").select_option("editor")
            desk.locator("#duty-ops_lead").check()
            desk.locator("form:has(#u-role) button[type=submit]").click()
            expect(desk.locator("#user-lina")).to_contain_text("李娜")

            # 2. the store: 测试连接, then 保存 without typing the secret again
            desk.goto(f"{base}/stores/new?platform=tmall")
            desk.locator("#ns-store").fill(STORE)
            desk.locator("#ns-name").fill("旗舰店")
            fill_config(desk, env.config)
            desk.get_by_role("button", name="测试连接").click()
            expect(desk.locator("#check-outcome")).to_contain_text("连接成功")
            expect(desk.locator("#held-note")).to_be_visible()
            assert env.config.app_secret.get_secret_value() not in desk.content()  # type: ignore[attr-defined]
            desk.get_by_role("button", name="保存").click()
            expect(desk).to_have_url(re.compile(rf"/stores/tmall/{STORE}\?saved=1"))

            # 3. the DingTalk robot, and 发送测试
            desk.goto(f"{base}/channels?kind=dingtalk")
            desk.locator("form[action='/channels'][method='post'] [name=name]").fill("ops-ding")
            desk.locator("[name=cfg_access_token]").fill(ROBOT)
            desk.locator("[name=cfg_secret]").fill(ROBOT_SECRET)
            desk.locator("[name=cfg_base_url]").fill(robot_url)
            desk.locator("form[action='/channels'][method='post'] button[type=submit]").click()
            desk.locator("form[action='/channels/ops-ding/test'] button").click()
            expect(desk.locator("body")).to_contain_text("测试消息已通过「ops-ding」发出")
            assert len(robot.received) == 1 and ROBOT_SECRET not in desk.content()

            # 4. a subscription for the duty, 5. who is on duty, 6. the holiday calendar
            desk.goto(f"{base}/routing")
            desk.locator("#sub-role").select_option("ops_lead")
            desk.locator("#sub-sev").select_option("warning")
            desk.locator("#sub-form button[type=submit]").click()
            expect(desk.locator("body")).to_contain_text("运营负责人")
            desk.goto(f"{base}/oncall")
            desk.locator("form:has(#oc-m0) [name=role]").select_option("ops_lead")
            desk.locator("#oc-m0").select_option("lina")
            desk.locator("form:has(#oc-m0) button[type=submit]").click()
            expect(desk.locator("tr[data-role='ops_lead'] td.on-duty")).to_contain_text("lina")
            desk.goto(f"{base}/calendar")
            desk.locator("#seed-year").fill(str(clock.now().astimezone(BEIJING).year))
            desk.locator("#seed-form button[type=submit]").click()
            expect(desk.locator("body")).to_contain_text("双11")

            # The data arrives (the platform's push) and the service judges it: a traffic crash.
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
                accepted = api.post("/api/v1/points", json={"points": crash_history(clock.now())})
                assert accepted.status_code == 200, accepted.text

            def judge_and_send() -> None:  # judge, then let the group wait pass (minutes on the manual clock)
                for _ in range(3):
                    service.tick()
                    clock.advance(timedelta(minutes=2))
                service.notify()

            # off this thread: sync Playwright runs an event loop here, and sending runs one of its own
            with ThreadPoolExecutor(1) as pool:
                pool.submit(judge_and_send).result()
            crash = [m for m in robot.received[1:] if STORE in json.dumps(m.payload, ensure_ascii=False)]
            if not crash:
                with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
                    debug = (api.get("/api/v1/alerts").json(), api.get("/api/v1/outbox").json(),
                             api.get(f"/api/v1/stores/tmall/{STORE}/learning").text)
                raise AssertionError(f"no crash message: {debug}")
            text = json.dumps(crash[0].payload, ensure_ascii=False)
            assert "李娜" in text or "13800000042" in text  # the message names the person on duty
            link = re.search(r"(http://127\.0\.0\.1:\d+/actions/ack\?token=[A-Za-z0-9._\-]+)", text)
            assert link is not None, text

            # 7. from her phone: the 认领 page in Beijing time, one tap
            phone = chromium.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", viewport={"width": 390, "height": 844},
                                         is_mobile=True, has_touch=True).new_page()
            phone.goto(link.group(1))
            expect(phone.locator(".started")).to_contain_text("北京时间")
            expect(phone.locator("body")).to_contain_text("认领人 / by: 李娜")
            started = phone.locator(".started time").get_attribute("datetime")
            assert started is not None
            local = datetime.fromisoformat(started).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
            expect(phone.locator(".started")).to_contain_text(local)
            scroll_width = phone.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= 390  # no sideways scrolling on a phone
            phone.get_by_role("button", name="认领 / Acknowledge").click()
            expect(phone.locator("h1")).to_contain_text("已认领")
            expect(phone.locator("body")).to_contain_text("lina")

            # Back at the desk: the alert is acknowledged by her, its time shown in Beijing time
            desk.goto(f"{base}/alerts?state=firing")
            expect(desk.locator("body")).to_contain_text(local)
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as api:
                items = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
                mine = [api.get(f"/api/v1/alerts/{a['id']}").json() for a in items if a["store"] == STORE]
            assert mine and all(a["acked_by"] == "lina" for a in mine), mine
            assert datetime.fromisoformat(mine[0]["starts_at"].replace("Z", "+00:00")).tzinfo is not None  # the API speaks UTC
            assert datetime.fromisoformat(started).utcoffset() == timedelta(0)  # the instant in UTC; the text in Beijing time
            chromium.close()
        service.close()
