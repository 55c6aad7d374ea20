"""The channel registry, the public API, and secrets kept out of repr, errors and logs."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import shopsentinel.notify as notify
from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import InputError
from shopsentinel.notify import ChannelRegistry, ChannelSpec, builtin_registry, install_log_redaction
from shopsentinel.notify.channels import dingtalk
from shopsentinel.notify.log_redaction import RedactSecretsFilter, redact_url_secrets
from shopsentinel.sim.channels import FakeDingTalk, FakeFeishu, run_fake_server

SECRETS = {
    "dingtalk": {"access_token": "DT-TOKEN-SECRET-1", "secret": "SECdingtalk-SECRET-2"},
    "wecom": {"key": "WECOM-KEY-SECRET-3"},
    "feishu": {"token": "FEISHU-TOKEN-SECRET-4", "secret": "FEISHU-SIGN-SECRET-5"},
    "email": {"host": "smtp.example.com", "from_address": "a@example.com", "username": "u", "password": "MAIL-PASS-SECRET-6"},
    "aliyun_sms": {"access_key_id": "LTAI", "access_key_secret": "ALI-SECRET-7", "sign_name": "s", "template_code": "t"},
    "aliyun_voice": {"access_key_id": "LTAI", "access_key_secret": "ALI-SECRET-8", "tts_code": "t"},
    "tencent_sms": {"secret_id": "AKID", "secret_key": "TC-SECRET-9", "sms_sdk_app_id": "1", "sign_name": "s", "template_id": "1"},
    "slack": {"webhook_url": "https://hooks.slack.com/services/T/B/SLACK-SECRET-10"},
    "webhook": {"url": "https://example.com/hook?token=HOOK-SECRET-11", "secret": "HOOK-SECRET-12"},
    "alertmanager_webhook": {"url": "https://example.com/am?token=AM-SECRET-13", "auth": "bearer", "credentials": "AM-SECRET-14"},
}  # fmt: skip


def secret_values() -> list[str]:
    return [v for settings in SECRETS.values() for k, v in settings.items() if "SECRET" in v]


def test_public_api_is_exactly_this() -> None:
    assert sorted(notify.__all__) == sorted([
        "BUILTIN_CHANNELS", "ActionClaim", "ActionLinkError", "ActionLinkExpired", "ActionLinkInvalid",
        "ActionLinkSigner", "ChannelRegistry", "ChannelSpec", "DeliveryResult", "Language", "LinkAction",
        "Notification", "Notifier", "builtin_registry", "install_log_redaction", "issue_action_token",
        "link_key",
        "verify_action_token",
    ])  # fmt: skip
    assert all(hasattr(notify, name) for name in notify.__all__)


def test_every_builtin_channel_builds_from_settings_and_hides_secrets() -> None:
    registry = builtin_registry()
    assert registry.keys() == sorted(SECRETS)
    for key, settings in SECRETS.items():
        notifier = registry.build(key, settings)
        assert notifier.channel == key
        config = registry.config(key, settings)
        shown = repr(notifier) + repr(config) + str(config) + str(config.model_dump())
        for secret in secret_values():
            assert secret not in shown, (key, secret)


def test_unknown_channel_and_invalid_settings_are_input_errors_without_values() -> None:
    registry = builtin_registry()
    with pytest.raises(InputError, match="unknown channel 'pager'"):
        registry.build("pager", {})
    with pytest.raises(InputError) as raised:
        registry.build("dingtalk", {"acess_token": "TYPO-SECRET-VALUE"})  # typo: the value must not be echoed
    message = str(raised.value)
    assert "access_token" in message and "acess_token" in message
    assert "TYPO-SECRET-VALUE" not in message and raised.value.__cause__ is None
    with pytest.raises(InputError, match="to: Value error, not an e-mail address"):
        registry.build("email", {"host": "h", "from_address": "a@example.com", "to": ["ops"]})


def test_registry_refuses_duplicate_keys_and_accepts_new_channels() -> None:
    registry = ChannelRegistry()
    spec = ChannelSpec("dingtalk", dingtalk.Config, lambda c, clock: dingtalk.DingTalkNotifier(c, clock=clock))
    registry.register(spec)
    with pytest.raises(ValueError, match="already registered"):
        registry.register(spec)
    assert registry.keys() == ["dingtalk"] and "wecom" in builtin_registry().keys()


@pytest.fixture
def redaction() -> Iterator[None]:
    install_log_redaction()
    install_log_redaction()  # idempotent
    yield
    for name in ("httpx", "httpcore"):
        target = logging.getLogger(name)
        for log_filter in [f for f in target.filters if isinstance(f, RedactSecretsFilter)]:
            target.removeFilter(log_filter)


def test_no_secret_reaches_any_log_record_during_sends_and_failures(
    redaction, caplog, clock: ManualClock, deliver, notification
) -> None:
    ding, feishu = SECRETS["dingtalk"], SECRETS["feishu"]
    ding_fake = FakeDingTalk({ding["access_token"]: ding["secret"]}, clock=clock)
    feishu_fake = FakeFeishu({feishu["token"]: feishu["secret"]}, clock=clock)
    registry = builtin_registry()
    caplog.set_level(logging.DEBUG)  # everything, including httpx's request lines
    with run_fake_server(ding_fake.app) as ding_url, run_fake_server(feishu_fake.app) as feishu_url:
        deliver(registry.build("dingtalk", {**ding, "base_url": ding_url}, clock=clock), notification())
        deliver(registry.build("feishu", {**feishu, "base_url": feishu_url}, clock=clock), notification())
        ding_fake.faults.status = 500
        with pytest.raises(Exception) as failure:
            deliver(registry.build("dingtalk", {**ding, "base_url": ding_url}, clock=clock), notification())
    assert len(ding_fake.received) == 1 and len(feishu_fake.received) == 1
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx did log the URLs...
    logged = "\n".join(r.getMessage() for r in caplog.records) + str(failure.value)
    for secret in (ding["access_token"], ding["secret"], feishu["token"], feishu["secret"]):
        assert secret not in logged  # ...with the credentials redacted


def test_redaction_patterns() -> None:
    assert redact_url_secrets("POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123 200") == (
        "POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=[redacted] 200"
    )
    assert redact_url_secrets("https://open.feishu.cn/open-apis/bot/v2/hook/tok-1 ok") == (
        "https://open.feishu.cn/open-apis/bot/v2/hook/[redacted] ok"
    )
    assert redact_url_secrets("https://hooks.slack.com/services/T1/B2/xyz") == "https://hooks.slack.com/services/[redacted]"
