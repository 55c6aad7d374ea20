"""Logs that never leak (issue 16, item 3, "Must show"): a real ``shopsentinel serve`` at DEBUG, in
the text and the JSON format, with every kind of secret configured — DingTalk (access token + 加签
secret), WeCom (robot key), Feishu (hook token in the URL path + secret), a signed webhook with a token
in its query, e-mail (SMTP password, against aiosmtpd), Aliyun SMS and voice (AccessKey secrets),
Tencent SMS (TC3 secret key), Slack (the incoming-webhook URL), an Alertmanager-format webhook (a token
in its URL and a bearer credential), Taobao (app secret, session and refresh token), Shopify (access
token), JD and PDD (app secret, access and refresh token), Douyin (app secret), Kuaishou (app secret,
sign secret, refresh token) and Amazon (LWA client secret and refresh token) stores on their fakes —
plus the tokens those fakes mint —, the bootstrap token, a bootstrap admin's password, the session
secret, a signed-in user's session cookie and an ack link. Every channel sends a test message (from the
alert center) and a real alert; every store syncs.
Then the whole stdout and stderr, every API response body and the main pages' HTML hold none of the
secret values — while the log does hold the httpx request lines, with the secrets masked."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography.fernet import Fernet
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from shopsentinel.core.clock import SystemClock
from shopsentinel.core.secrets import SecretBox
from shopsentinel.ingest.sync_state import StoreRecord, SyncDB
from shopsentinel.sim.channels import (
    FakeAliyun,
    FakeDingTalk,
    FakeFeishu,
    FakeSlack,
    FakeTencentSms,
    FakeWebhookReceiver,
    FakeWeCom,
    SlidingWindowLimit,
    run_fake_server,
)
from shopsentinel.sim.platforms import amazon as amazon_fake
from shopsentinel.sim.platforms import douyin as douyin_fake
from shopsentinel.sim.platforms import jd as jd_fake
from shopsentinel.sim.platforms import kuaishou as kuaishou_fake
from shopsentinel.sim.platforms import pdd as pdd_fake
from shopsentinel.sim.platforms import shopify as shopify_fake
from shopsentinel.sim.platforms import taobao as taobao_fake
from shopsentinel.sim.platforms.dataset import make_dataset
from shopsentinel.sim.platforms.dataset_intl import only_states
from shopsentinel.sim.platforms.serve import serve_in_thread
from shopsentinel.sources.registry import entry, seal_config
from tests.support.processes import ADMIN, SHOPSENTINEL, crash_points, free_port, service_env, wait_for

DT_TOKEN, DT_SECRET = "dt-robot-token-7f3a9c", "SECdt-sign-secret-41b2e8"
WECOM_KEY = "wecom-key-5d8e1f0a"
FEISHU_TOKEN, FEISHU_SECRET = "feishu-hook-tok-93c7", "feishu-sign-secret-27ad"
HOOK_QUERY_TOKEN, HOOK_SECRET = "hook-query-token-6b41", "hook-sign-secret-0e9f"
SMTP_USER, SMTP_PASSWORD = "alerts-mailer", "smtp-password-c81d"
ALI_KEY_ID, ALI_SECRET = "LTAI5tLogTestKeyId", "aliyun-access-secret-55f0"
TB_KEY, TB_SECRET, TB_SESSION, TB_REFRESH = "tb-app-key", "tb-app-secret-3e7c", "tb-session-token-a4d2", "tb-refresh-9c1b"
SHOP_TOKEN = "shpat_logtest_71e0c3"
VOICE_KEY_ID, VOICE_SECRET = "LTAI5tLogTestVoiceId", "aliyun-voice-secret-b3a6"
TC_SECRET_ID, TC_SECRET_KEY, TC_APP_ID = "AKIDlogtest4f2a", "tencent-secret-key-19ce", "1400123456"
SLACK_HOOK = "T0LOGTEST/B0LOGTEST/slack-hook-secret-8d2f"
AM_PATH_TOKEN, AM_BEARER = "am-url-token-7c35", "am-bearer-credential-e41a"
JD_KEY, JD_SECRET, JD_TOKEN, JD_REFRESH = "jd-app-key", "jd-app-secret-6a1f", "jd-access-token-2c9e", "jd-refresh-d07b"
PDD_KEY, PDD_SECRET, PDD_TOKEN, PDD_REFRESH = (
    "pdd-client-id", "pdd-client-secret-8b3d", "pdd-access-token-51fa", "pdd-refresh-e6c2")
DY_KEY, DY_SECRET, DY_SHOP = "dy-logs-app", "douyin-app-secret-4e9b", "4463798"
KS_KEY, KS_SECRET, KS_SIGN, KS_REFRESH = "ks-logs-app", "ks-app-secret-0d7a", "ks-sign-secret-93b1", "ks-refresh-c5e8"
AMZ_CLIENT, AMZ_SECRET, AMZ_REFRESH = (
    "amzn1.application-oa2-client.logtest", "amzn-client-secret-7f2d", "Atzr|logtest-refresh-a91c")
ADMIN_PASSWORD = "admin-password-d5e7"
SESSION_SECRET = "session-signing-secret-2f8b4c6d1e3a5b7c"
STORE = "tm-logs-1"


@dataclass
class Fakes:
    dingtalk: FakeDingTalk
    wecom: FakeWeCom
    feishu: FakeFeishu
    hook: FakeWebhookReceiver
    sms: FakeAliyun
    mailbox: list[bytes]
    urls: dict[str, str]
    smtp_port: int
    taobao: Any
    shopify: Any
    voice: FakeAliyun
    tencent: FakeTencentSms
    slack: FakeSlack
    am: AlertmanagerReceiver
    platforms: dict[str, Any]


class AlertmanagerReceiver:
    """A receiver of Alertmanager-format webhooks: the token in its URL and the bearer credential must match."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/am/{token}/alerts", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != AM_PATH_TOKEN:
            return JSONResponse({"error": "unknown receiver"}, status_code=404)
        if request.headers.get("authorization") != f"Bearer {AM_BEARER}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        payload = await request.json()
        if payload.get("version") != "4" or not payload.get("alerts"):
            return JSONResponse({"error": "not an Alertmanager message"}, status_code=400)
        self.received.append(payload)
        return JSONResponse({"status": "ok"})


class _Mailbox:
    def __init__(self, sink: list[bytes]) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.sink.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@contextmanager
def running_fakes() -> Iterator[Fakes]:
    now = datetime.now(UTC)
    clock = SystemClock()
    dataset = make_dataset(11, "Asia/Shanghai", now - timedelta(days=1), now, 1.0)
    fakes = Fakes(
        dingtalk=FakeDingTalk({DT_TOKEN: DT_SECRET}), wecom=FakeWeCom({WECOM_KEY}),
        feishu=FakeFeishu({FEISHU_TOKEN: FEISHU_SECRET}), hook=FakeWebhookReceiver(HOOK_SECRET),
        sms=FakeAliyun({ALI_KEY_ID: ALI_SECRET}, templates={"SMS_460000001": {"level", "title", "count"}},
                       sign_names={"店铺预警"}, per_number_per_minute=20),
        mailbox=[], urls={}, smtp_port=free_port(),
        taobao=taobao_fake.create_app(dataset, app_key=TB_KEY, app_secret=TB_SECRET, clock=clock, session=TB_SESSION,
                                      refresh_token=TB_REFRESH),
        shopify=shopify_fake.create_app(dataset, clock=clock, access_token=SHOP_TOKEN),
        voice=FakeAliyun({VOICE_KEY_ID: VOICE_SECRET}, templates={"TTS_460000002": {"level", "title"}},
                         sign_names=set(), per_number_per_minute=20),
        tencent=FakeTencentSms({TC_SECRET_ID: TC_SECRET_KEY}, sdk_app_id=TC_APP_ID, sign_names={"店铺预警"},
                               templates={"2460001": 3}),
        slack=FakeSlack({SLACK_HOOK}, per_second=5), am=AlertmanagerReceiver(),
        platforms={
            "jd": jd_fake.create_app(dataset, app_key=JD_KEY, app_secret=JD_SECRET, clock=clock, access_token=JD_TOKEN,
                                     refresh_token=JD_REFRESH),
            "pdd": pdd_fake.create_app(dataset, app_key=PDD_KEY, app_secret=PDD_SECRET, clock=clock,
                                       access_token=PDD_TOKEN, refresh_token=PDD_REFRESH),
            "douyin": douyin_fake.create_app(dataset, clock=clock, app_key=DY_KEY, app_secret=DY_SECRET, shop_id=DY_SHOP),
            "kuaishou": kuaishou_fake.create_app(dataset, clock=clock, app_key=KS_KEY, app_secret=KS_SECRET,
                                                 sign_secret=KS_SIGN, refresh_token=KS_REFRESH),
            "amazon": amazon_fake.create_app(only_states(dataset, amazon_fake.STATES), clock=clock, client_id=AMZ_CLIENT,
                                             client_secret=AMZ_SECRET, refresh_token=AMZ_REFRESH, report_seconds=1.0),
        },
    )  # fmt: skip
    fakes.tencent.per_number = SlidingWindowLimit(20, timedelta(minutes=1))  # the test message, then the alert
    controller = Controller(_Mailbox(fakes.mailbox), hostname="127.0.0.1", port=fakes.smtp_port,
                            authenticator=_authenticate, auth_require_tls=False, ready_timeout=5)
    controller.start()
    try:
        with ExitStack() as stack:
            for name in ("dingtalk", "wecom", "feishu", "hook", "sms", "voice", "tencent", "slack", "am"):
                fakes.urls[name] = stack.enter_context(run_fake_server(getattr(fakes, name).app))
            fakes.urls["taobao"] = stack.enter_context(serve_in_thread(fakes.taobao))
            fakes.urls["shopify"] = stack.enter_context(serve_in_thread(fakes.shopify))
            for platform, app in fakes.platforms.items():
                fakes.urls[platform] = stack.enter_context(serve_in_thread(app))
            yield fakes
    finally:
        controller.stop()


def channels(fakes: Fakes) -> list[dict[str, Any]]:
    """Every channel on medium ``im``, so the crash reaches each without paging rosters (SMS then goes to
    the channel's own ``phone_numbers``)."""
    u = fakes.urls
    return [
        {"name": "robot", "kind": "dingtalk", "medium": "im", "settings": {
            "access_token": DT_TOKEN, "secret": DT_SECRET, "base_url": u["dingtalk"], "message_type": "markdown"}},
        {"name": "wecom", "kind": "wecom", "medium": "im", "settings": {"key": WECOM_KEY, "base_url": u["wecom"]}},
        {"name": "feishu", "kind": "feishu", "medium": "im", "settings": {
            "token": FEISHU_TOKEN, "secret": FEISHU_SECRET, "base_url": u["feishu"]}},
        {"name": "hook", "kind": "webhook", "medium": "im", "settings": {
            "url": f"{u['hook']}/hook?token={HOOK_QUERY_TOKEN}", "secret": HOOK_SECRET}},
        {"name": "mail", "kind": "email", "medium": "im", "settings": {
            "host": "127.0.0.1", "port": fakes.smtp_port, "starttls": False, "username": SMTP_USER,
            "password": SMTP_PASSWORD, "from_address": "sentinel@example.com", "to": ["ops@example.com"],
            "timeout_seconds": 5}},
        {"name": "sms", "kind": "aliyun_sms", "medium": "im", "settings": {
            "access_key_id": ALI_KEY_ID, "access_key_secret": ALI_SECRET, "sign_name": "店铺预警",
            "template_code": "SMS_460000001", "endpoint": u["sms"], "phone_numbers": ["+8613800000000"]}},
        {"name": "voice", "kind": "aliyun_voice", "medium": "im", "settings": {
            "access_key_id": VOICE_KEY_ID, "access_key_secret": VOICE_SECRET, "tts_code": "TTS_460000002",
            "endpoint": u["voice"], "phone_numbers": ["+8613800000001"]}},
        {"name": "tencent", "kind": "tencent_sms", "medium": "im", "settings": {
            "secret_id": TC_SECRET_ID, "secret_key": TC_SECRET_KEY, "sms_sdk_app_id": TC_APP_ID, "sign_name": "店铺预警",
            "template_id": "2460001", "endpoint": u["tencent"], "phone_numbers": ["+8613800000002"]}},
        {"name": "slack", "kind": "slack", "medium": "im", "settings": {
            "webhook_url": f"{u['slack']}/services/{SLACK_HOOK}"}},
        {"name": "am", "kind": "alertmanager_webhook", "medium": "im", "settings": {
            "url": f"{u['am']}/am/{AM_PATH_TOKEN}/alerts", "auth": "bearer", "credentials": AM_BEARER}},
    ]  # fmt: skip


def register_stores(fakes: Fakes, sync_db: Path | str, key: bytes) -> None:
    start = (datetime.now(UTC) - timedelta(hours=20)).replace(minute=0, second=0, microsecond=0)
    configs = {
        ("taobao", "tb-logs"): {"app_key": TB_KEY, "app_secret": TB_SECRET, "access_token": TB_SESSION,
                                "refresh_token": TB_REFRESH, "base_url": fakes.urls["taobao"] + "/router/rest",
                                "page_size": 50, "window_hours": 12},
        ("shopify", "shop-logs"): {"shop_url": fakes.urls["shopify"], "access_token": SHOP_TOKEN, "page_size": 50},
        ("jd", "jd-logs"): {"app_key": JD_KEY, "app_secret": JD_SECRET, "access_token": JD_TOKEN,
                            "refresh_token": JD_REFRESH, "base_url": fakes.urls["jd"] + "/routerjson",
                            "oauth_url": fakes.urls["jd"] + "/oauth2", "page_size": 50, "window_hours": 12},
        ("pdd", "pdd-logs"): {"app_key": PDD_KEY, "app_secret": PDD_SECRET, "access_token": PDD_TOKEN,
                              "refresh_token": PDD_REFRESH, "base_url": fakes.urls["pdd"] + "/api/router",
                              "page_size": 50, "window_hours": 12},
        ("douyin", "dy-logs"): {"app_key": DY_KEY, "app_secret": DY_SECRET, "shop_id": DY_SHOP,
                                "base_url": fakes.urls["douyin"], "page_size": 50},
        ("kuaishou", "ks-logs"): {"app_key": KS_KEY, "app_secret": KS_SECRET, "sign_secret": KS_SIGN,
                                  "refresh_token": KS_REFRESH, "base_url": fakes.urls["kuaishou"], "page_size": 50},
        ("amazon", "amz-logs"): {"client_id": AMZ_CLIENT, "client_secret": AMZ_SECRET, "refresh_token": AMZ_REFRESH,
                                 "endpoint": fakes.urls["amazon"], "lwa_url": fakes.urls["amazon"] + "/auth/o2/token",
                                 "page_size": 50, "report_poll_seconds": 0.5},
    }  # fmt: skip
    box = SecretBox(key)
    with SyncDB(sync_db) as db:
        for (platform, store), fields in configs.items():
            config = entry(platform).config_model(**fields, store=store, start=start)
            tz = {"shopify": "America/New_York", "amazon": "America/Los_Angeles"}.get(platform, "Asia/Shanghai")
            db.put_store(StoreRecord(platform, store, tz, start, seal_config(platform, config, box)))


@dataclass
class Seen:
    """Everything the service said: API bodies, pages' HTML (and the ack page, which carries its own token)."""

    bodies: list[str] = field(default_factory=list)
    ack_pages: list[str] = field(default_factory=list)

    def keep(self, response: httpx.Response, ok: tuple[int, ...] = (200,)) -> httpx.Response:
        assert response.status_code in ok, f"{response.request.url.path}: {response.status_code} {response.text[:500]}"
        self.bodies.append(response.text)
        return response


def login(web: httpx.Client, seen: Seen) -> str:
    page = seen.keep(web.get("/login"))
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    seen.keep(web.post("/login", data={"username": "admin", "password": ADMIN_PASSWORD, "csrf": csrf.group(1),
                                       "next": "/"}), ok=(303,))
    cookie = next((c.value for c in web.cookies.jar if c.name == "ss_session"), None)
    assert cookie, "no session cookie after logging in"
    return cookie


def sms_count(fakes: Fakes) -> int:
    return len(fakes.sms.received)


def received(fakes: Fakes) -> dict[str, int]:
    return {"robot": len(fakes.dingtalk.received), "wecom": len(fakes.wecom.received), "feishu": len(fakes.feishu.received),
            "hook": len(fakes.hook.received), "mail": len(fakes.mailbox), "sms": sms_count(fakes),
            "voice": len(fakes.voice.received), "tencent": len(fakes.tencent.received), "slack": len(fakes.slack.received),
            "am": len(fakes.am.received)}


STORES = (("taobao", "tb-logs"), ("shopify", "shop-logs"), ("jd", "jd-logs"), ("pdd", "pdd-logs"),
          ("douyin", "dy-logs"), ("kuaishou", "ks-logs"), ("amazon", "amz-logs"))


def minted_tokens(fakes: Fakes) -> dict[str, str]:
    """The access and refresh tokens the Douyin, Kuaishou and Amazon fakes issued during the run."""
    minted: dict[str, str] = {}
    for platform in ("douyin", "kuaishou", "amazon"):
        tokens = fakes.platforms[platform].state.sim.tokens
        for n, token in enumerate([*tokens.access, *tokens.refresh]):
            minted[f"{platform} minted token {n}"] = token
    return minted


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_secret_reaches_the_log_an_api_response_or_a_page(tmp_path: Path, log_format: str) -> None:
    key = Fernet.generate_key()
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    sync_db = tmp_path / "sync.duckdb"
    seen = Seen()
    with running_fakes() as fakes, ExitStack() as stack:
        register_stores(fakes, f"sqlite:///{tmp_path / 'state.db'}", key)  # the state database serve uses
        env = service_env(
            tmp_path, SHOPSENTINEL_SECRET_KEY=key.decode(), SHOPSENTINEL_LOG_LEVEL="DEBUG",
            SHOPSENTINEL_LOG_FORMAT=log_format, SHOPSENTINEL_SYNC_DB=str(sync_db),
            SHOPSENTINEL_BOOTSTRAP_ADMIN=f"admin:{ADMIN_PASSWORD}", SHOPSENTINEL_SESSION_SECRET=SESSION_SECRET,
            SHOPSENTINEL_PUBLIC_URL=base_url,
        )  # fmt: skip
        out, err = (tmp_path / "stdout.log").open("wb"), (tmp_path / "stderr.log").open("wb")
        stack.callback(out.close)
        stack.callback(err.close)
        proc = subprocess.Popen([str(SHOPSENTINEL), "serve", "--host", "127.0.0.1", "--port", str(port)],
                                env=env, cwd=tmp_path, stdout=out, stderr=err)

        def stop() -> None:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)

        stack.callback(stop)
        api = stack.enter_context(httpx.Client(base_url=base_url, timeout=15.0, headers={"Authorization": f"Bearer {ADMIN}"}))
        web = stack.enter_context(httpx.Client(base_url=base_url, timeout=15.0))

        def healthy() -> bool:
            assert proc.poll() is None, (tmp_path / "stderr.log").read_text(errors="replace")[-3000:]
            try:
                return httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200
            except httpx.TransportError:
                return False

        wait_for("/healthz", healthy, timeout=120.0)

        # Every channel, and every alert routed to all of them at once.
        for channel in channels(fakes):
            seen.keep(api.put("/api/v1/channels", json={**channel, "receiver": "default"}))
        seen.keep(api.put("/api/v1/routing", json={"route": {"receiver": "default", "group_wait_seconds": 0}}))
        seen.keep(api.put("/api/v1/rules", json={"rules": [{
            "id": "traffic.crash", "name": {"zh": "流量骤降", "en": "traffic crash"}, "severity": "critical",
            "when": {"metric": "uv", "type": "threshold", "below": 50}, "for": "1h"}]}))  # fmt: skip

        # The alert center: log in (a session cookie), then 发送测试 on every channel.
        session_cookie = login(web, seen)
        for channel in channels(fakes):
            csrf = web.cookies.get("ss_csrf") or ""
            seen.keep(web.post(f"/channels/{channel['name']}/test", data={"csrf": csrf}))
        tests = received(fakes)
        assert all(n >= 1 for n in tests.values()), tests  # every test message arrived

        # A real alert, delivered through every channel.
        seen.keep(api.post("/api/v1/points", json={"points": crash_points([STORE])}))
        try:
            wait_for("the crash on every channel",
                     lambda: all(received(fakes)[name] > tests[name] for name in tests), timeout=90.0)
        except AssertionError as exc:
            outbox = [(o["key"], o["status"]) for o in api.get("/api/v1/outbox").json()["items"]]
            attempts = api.get("/api/v1/notifications").json()["items"][:20]
            raise AssertionError(f"{exc}: {received(fakes)} after tests {tests}; outbox {outbox}; attempts {attempts}; "
                                 f"{(tmp_path / 'stderr.log').read_text(errors='replace')[-3000:]}") from None

        # The ack link of the robot's message, opened (confirm page) and used.
        texts = [json.dumps(m.payload, ensure_ascii=False) for m in fakes.dingtalk.received]
        links = [m for t in texts for m in re.findall(r"(http://127\.0\.0\.1:\d+/actions/ack\?token=[^)\s\"\\]+)", t)]
        assert links, texts
        ack_token = unquote(links[-1].split("token=", 1)[1])
        page = httpx.get(links[-1], timeout=15.0)
        assert page.status_code == 200 and "认领" in page.text, page.text
        seen.ack_pages.append(page.text)  # its form posts the token back: the bearer's own page, not checked
        acked = httpx.post(links[-1], data={"name": "值班同学"}, timeout=15.0)
        assert acked.status_code in (200, 303), acked.text
        seen.ack_pages.append(acked.text)

        # Every store synced through its connector.
        def synced(platform: str, store: str) -> bool:
            response = api.get(f"/api/v1/stores/{platform}/{store}/sync")
            if response.status_code != 200:
                return False
            body = response.json()
            assert body["last_error"] is None, body
            return body["last_success"] is not None

        for platform, store in STORES:
            wait_for(f"{platform} to sync", lambda p=platform, s=store: synced(p, s), timeout=90.0)
            seen.keep(api.get(f"/api/v1/stores/{platform}/{store}/sync"))

        # What an operator sees: the API listings and the main pages.
        for url in ("/api/v1/channels", "/api/v1/stores", "/api/v1/alerts", "/api/v1/notifications", "/api/v1/outbox",
                    "/api/v1/audit", "/api/v1/routing"):
            seen.keep(api.get(url))
        for url in ("/", "/alerts", "/incidents", "/channels", "/stores", "/routing", "/users"):
            seen.keep(web.get(url))
        stop()

    stdout = (tmp_path / "stdout.log").read_text(errors="replace")
    stderr = (tmp_path / "stderr.log").read_text(errors="replace")
    log = stdout + stderr
    secrets = {
        "dingtalk access token": DT_TOKEN, "dingtalk sign secret": DT_SECRET, "wecom key": WECOM_KEY,
        "feishu hook token": FEISHU_TOKEN, "feishu secret": FEISHU_SECRET, "webhook query token": HOOK_QUERY_TOKEN,
        "webhook secret": HOOK_SECRET, "smtp password": SMTP_PASSWORD, "aliyun secret": ALI_SECRET,
        "taobao app secret": TB_SECRET, "taobao session": TB_SESSION, "taobao refresh token": TB_REFRESH,
        "shopify token": SHOP_TOKEN, "aliyun voice secret": VOICE_SECRET, "tencent secret key": TC_SECRET_KEY,
        "slack webhook": SLACK_HOOK, "alertmanager url token": AM_PATH_TOKEN, "alertmanager bearer": AM_BEARER,
        "jd app secret": JD_SECRET, "jd access token": JD_TOKEN, "jd refresh token": JD_REFRESH,
        "pdd client secret": PDD_SECRET, "pdd access token": PDD_TOKEN, "pdd refresh token": PDD_REFRESH,
        "douyin app secret": DY_SECRET, "kuaishou app secret": KS_SECRET, "kuaishou sign secret": KS_SIGN,
        "kuaishou refresh token": KS_REFRESH, "amazon client secret": AMZ_SECRET, "amazon refresh token": AMZ_REFRESH,
        **minted_tokens(fakes), "bootstrap token": ADMIN, "admin password": ADMIN_PASSWORD,
        "session secret": SESSION_SECRET, "session cookie": session_cookie, "secret key": key.decode(),
    }  # fmt: skip
    said = "\n".join(seen.bodies)
    for kind, value in secrets.items():
        assert value not in log, f"{kind} in the log"
        assert value not in said, f"{kind} in an API response or a page"
    assert ack_token not in log, "the ack link's token in the log"

    # The log is not trivially clean: it holds the lines that used to leak, masked.
    assert "DEBUG" in log and "HTTP Request: POST" in log
    masked = ["/robot/send?access_token=[redacted]", "&sign=[redacted]", "/cgi-bin/webhook/send?key=[redacted]",
              "/open-apis/bot/v2/hook/[redacted]", "/hook?token=[redacted]", "Signature=[redacted]"]
    u = fakes.urls
    masked += [
        "Action=SingleCallByTts&Version=2017-05-25&Format=JSON&AccessKeyId=[redacted]",  # Aliyun voice
        f"HTTP Request: POST {u['tencent']}/ ",  # Tencent SMS: TC3 signs in a header, never in the line
        "HTTP Request: POST [redacted] ",  # Slack and Alertmanager: the whole URL is a secret
        "/token/create?method=token.create&app_key=[redacted]", "&sign=[redacted]&access_token=[redacted]",  # Douyin
        "/oauth2/refresh_token?app_id=ks-logs-app&app_secret=[redacted]&grant_type=refresh_token&refresh_token=[redacted]",
        "/open/seller/order/pcursor/list?appkey=[redacted]&method=open.seller.order.pcursor.list&version=1"
        "&access_token=[redacted]",  # Kuaishou
    ]  # fmt: skip
    for line in masked:
        assert line in log, f"no {line!r} in the log"
    requests = [f"{u['taobao']}/router/rest", u["shopify"], f"{u['jd']}/routerjson", f"{u['pdd']}/api/router",
                f"{u['amazon']}/auth/o2/token", f"{u['amazon']}/orders/v0/orders?"]  # the connectors' requests
    for line in requests:
        assert f"HTTP Request: POST {line}" in log or f"HTTP Request: GET {line}" in log, f"no {line!r} in the log"
    assert "GET /actions/ack 200" in log and "POST /api/v1/points 200" in log  # access lines, no query string
    if log_format == "json":
        entries = [json.loads(line) for line in stderr.splitlines() if line.strip()]
        assert {"time", "level", "logger", "message"} <= set(entries[0])
        access = [e for e in entries if e["logger"] == "shopsentinel.access"]
        assert access and all(len(e["request_id"]) == 32 for e in access)
        assert any(e["logger"].startswith("uvicorn") for e in entries) and any(e["logger"] == "httpx" for e in entries)
