"""The redaction rules (shopsentinel/core/redaction.py), one case per kind of secret, the registry of
live secret values, and the secret box registering what it seals and opens."""

from __future__ import annotations

import logging
from urllib.parse import quote

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from shopsentinel.core.redaction import (
    MASK,
    SECRETS,
    RedactingFilter,
    SecretValues,
    redact,
    redact_patterns,
    register_model_secrets,
)
from shopsentinel.core.secrets import SecretBox, load_key
from shopsentinel.core.settings import PushSourceSetting, Settings
from shopsentinel.notify.log_redaction import redact_url_secrets

# (kind, text as a library or an error message would log it, the secret in it, what must survive)
PATTERN_CASES = [
    ("dingtalk access_token + sign",
     "HTTP Request: POST https://oapi.dingtalk.com/robot/send?access_token=dt-AT-1a2b3c&timestamp=1765000000000&sign=dGhl%2Bc2ln "
     '"HTTP/1.1 200 OK"', ["dt-AT-1a2b3c", "dGhl%2Bc2ln"], "timestamp=1765000000000"),
    ("wecom robot key", "POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx 200",
     ["693a91f6-7xxx"], "/cgi-bin/webhook/send?key="),
    ("feishu hook token in the path", "POST https://open.feishu.cn/open-apis/bot/v2/hook/0b7c-feishu-tok \"200\"",
     ["0b7c-feishu-tok"], "/open-apis/bot/v2/hook/"),
    ("slack webhook path", "POST https://hooks.slack.com/services/T00/B00/XXXXslack", ["T00/B00/XXXXslack"], "hooks.slack.com"),
    ("generic webhook ?token=", "POST http://127.0.0.1:9/hook?token=hook-query-tok&team=ops", ["hook-query-tok"], "team=ops"),
    ("TOP app secret / session / sign", "GET https://eco.taobao.com/router/rest?method=taobao.trades.sold.get&app_key=12345"
     "&session=6100e-sess&sign=ABCDEF0123&sign_method=hmac-sha256&app_secret=oops-secret",
     ["6100e-sess", "ABCDEF0123", "oops-secret"], "method=taobao.trades.sold.get"),
    ("refresh token in a query", "POST https://oauth.jd.com/oauth2/refresh_token?refresh_token=jd-rt-998&client_secret=jd-cs-1",
     ["jd-rt-998", "jd-cs-1"], "oauth.jd.com"),
    ("kuaishou / douyin access_token", "GET https://openapi.kwaixiaodian.com/open/x?appkey=ks&access_token=ks-at-77&signSecret=ks-ss",
     ["ks-at-77", "ks-ss"], "kwaixiaodian.com/open/x?"),
    ("amazon x-amz-access-token header", "request headers x-amz-access-token: Atza|IwEBIamazon", ["Atza|IwEBIamazon"], "x-amz-access-token"),
    ("shopify access-token header", "X-Shopify-Access-Token: shpat_0123456789abcdef", ["shpat_0123456789abcdef"], "X-Shopify-Access-Token"),
    ("bearer token", "calling with Bearer eyJhbGciOi.payload.sig done", ["eyJhbGciOi.payload.sig"], "calling with Bearer"),
    ("aliyun RPC Signature / AccessKeyId", "GET https://dysmsapi.aliyuncs.com/?AccessKeyId=LTAI5tKEY&Action=SendSms&Signature=abc%3D",
     ["LTAI5tKEY", "abc%3D"], "Action=SendSms"),
    ("tencent TC3 authorization", "Authorization: TC3-HMAC-SHA256 Credential=AKIDxyz/2026-12-07/sms/tc3_request, Signature=f00d",
     ["AKIDxyz", "f00d"], "Authorization: "),
    ("JSON token response", '{"access_token": "Atza|json-at", "refresh_token": "Atzr|json-rt", "expires_in": 3600}',
     ["Atza|json-at", "Atzr|json-rt"], '"expires_in": 3600'),
    ("dict repr with a client secret", "config {'client_id': 'amzn1.app', 'client_secret': 'amzn-cs-42'}", ["amzn-cs-42"], "amzn1.app"),
    ("session cookie header", "Cookie: ss_session=eyJ1Ijoi.c2ln; ss_csrf=abc", ["eyJ1Ijoi.c2ln"], "Cookie: "),
    ("httpcore header tuples", "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', "
     "[(b'set-cookie', b'ss_session=tuple-cookie; Path=/'), (b'content-length', b'2')])", ["tuple-cookie"], "b'content-length'"),
    ("signed ack link", "GET http://alerts.example.com/actions/ack?token=eyJhIjoiYTEifQ.bWFjbWFj", ["eyJhIjoiYTEifQ.bWFjbWFj"],
     "/actions/ack?token="),
    ("database URL password", "connecting to postgresql://sentinel:pg-pass-9@db:5432/state", ["pg-pass-9"], "sentinel:"),
]


@pytest.mark.parametrize(("kind", "text", "secrets", "kept"), PATTERN_CASES, ids=[c[0] for c in PATTERN_CASES])
def test_each_pattern_kind_masks_its_secret_and_keeps_the_rest(kind: str, text: str, secrets: list[str], kept: str) -> None:
    clean = redact_patterns(text)
    for secret in secrets:
        assert secret in text and secret not in clean, kind
    assert MASK in clean and kept in clean


def test_the_dingtalk_url_keeps_its_shape() -> None:
    assert redact_url_secrets("https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1&sign=x") == (
        "https://oapi.dingtalk.com/robot/send?access_token=[redacted]&timestamp=1&sign=[redacted]")


def test_text_without_secrets_is_left_alone() -> None:
    text = ("GET /api/v1/alerts?page=2&store=tm-1 200 3.1 ms; basic checks passed; outbox key=firing:a1>robot; "
            "HTTP Request: GET http://127.0.0.1:8000/healthz \"HTTP/1.1 200 OK\"")
    assert redact(text, SecretValues()) == text


def test_known_values_are_masked_raw_and_percent_encoded_and_short_ones_ignored() -> None:
    values = SecretValues()
    values.add("Atzr|refresh+token/1")
    values.add(SecretStr("smtp-password-x"))
    values.add("abc")  # too short to be a secret: never masked
    values.add(None)
    encoded = quote("Atzr|refresh+token/1", safe="")
    text = f"got Atzr|refresh+token/1 then {encoded} and smtp-password-x; abc stays"
    assert redact(text, values) == f"got {MASK} then {MASK} and {MASK}; abc stays"
    assert "smtp-password-x" not in repr(values)


def test_a_value_containing_another_is_masked_whole() -> None:
    values = SecretValues()
    values.add("secret-1")
    values.add("prefix-secret-1-suffix")
    assert redact("x prefix-secret-1-suffix y secret-1", values) == f"x {MASK} y {MASK}"


def test_settings_secrets_are_registered_including_nested_push_secrets() -> None:
    settings = Settings(database_url="sqlite://", bootstrap_token=SecretStr("settings-bootstrap-tok"),  # type: ignore[call-arg]
                        session_secret=SecretStr("settings-session-secret"),
                        push_sources={"rpa": PushSourceSetting(secret=SecretStr("settings-push-secret"), platform="tmall",
                                                               store="s1")}, _env_file=None)
    register_model_secrets(settings)
    logged = redact("tok settings-bootstrap-tok sess settings-session-secret push settings-push-secret")
    assert logged == f"tok {MASK} sess {MASK} push {MASK}"


def test_the_secret_box_registers_what_it_seals_and_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key()
    sealed = SecretBox(key).seal("sealed-by-the-box-1")
    assert "sealed-by-the-box-1" not in redact("sealed-by-the-box-1")  # sealing registered it
    other = Fernet(key).encrypt(b"opened-only-by-the-box").decode()  # sealed elsewhere, never seen here
    assert redact("opened-only-by-the-box") == "opened-only-by-the-box"
    assert SecretBox(key).open("enc:" + other) == "opened-only-by-the-box"
    assert redact("opened-only-by-the-box") == MASK
    assert SecretBox(key).open(sealed) == "sealed-by-the-box-1"
    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", key.decode())
    assert load_key() == key
    assert redact(f"key={key.decode()}") == f"key={MASK}"  # the secret key itself


def test_the_filter_redacts_message_args_and_exception_text() -> None:
    values = SecretValues()
    values.add("filter-secret-1")
    record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "HTTP Request: %s %s", (
        "POST", "https://x/robot/send?access_token=filter-tok-2&timestamp=1"), None)
    try:
        raise RuntimeError("upstream said filter-secret-1")
    except RuntimeError:
        import sys

        record.exc_info = sys.exc_info()
    assert RedactingFilter(values).filter(record) is True
    assert record.getMessage() == f"HTTP Request: POST https://x/robot/send?access_token={MASK}&timestamp=1"
    assert record.exc_text is not None and "RuntimeError: upstream said [redacted]" in record.exc_text
    assert "filter-secret-1" not in record.exc_text


def test_the_process_registry_is_the_default() -> None:
    SECRETS.add("process-registry-secret")
    assert redact("a process-registry-secret b") == f"a {MASK} b"
