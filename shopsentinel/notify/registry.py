"""Every channel, registered once by key and built from its pydantic ``Config``.

>>> registry = builtin_registry()
>>> notifier = registry.build("wecom", {"key": "k-123"})
>>> notifier.channel, "k-123" in repr(notifier)
('wecom', False)

Settings that do not validate raise :class:`~shopsentinel.core.errors.InputError` whose text
names the field and the problem but never echoes the value (it may be a secret).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.errors import InputError
from shopsentinel.notify.base import Notifier
from shopsentinel.notify.channels import (
    alertmanager,
    aliyun_sms,
    aliyun_voice,
    dingtalk,
    email,
    feishu,
    slack,
    tencent_sms,
    webhook,
    wecom,
)

logger = logging.getLogger(__name__)

NotifierFactory = Callable[[Any, Clock], Notifier]


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """How to build one kind of channel: its settings model and a factory ``(config, clock)``.

    ``example`` is a valid settings mapping with placeholder credentials (what a settings form shows;
    the contract suite builds every channel from it); ``transport`` says how the channel reaches its
    provider: ``"http"`` through the ``httpx.AsyncClient`` given to ``send``, or ``"smtp"``.
    """

    key: str
    config_model: type[BaseModel]
    factory: NotifierFactory
    description: str = ""
    example: Mapping[str, Any] = field(default_factory=dict)
    transport: Literal["http", "smtp"] = "http"


class ChannelRegistry:
    """Channels by key. Instances are independent; there is no global mutable registry."""

    def __init__(self, specs: Iterator[ChannelSpec] | tuple[ChannelSpec, ...] = ()) -> None:
        self._specs: dict[str, ChannelSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: ChannelSpec) -> None:
        if spec.key in self._specs:
            raise ValueError(f"channel {spec.key!r} is already registered")
        self._specs[spec.key] = spec

    def keys(self) -> list[str]:
        return sorted(self._specs)

    def spec(self, key: str) -> ChannelSpec:
        try:
            return self._specs[key]
        except KeyError:
            raise InputError(f"unknown channel {key!r}; known: {', '.join(self.keys())}") from None

    def config(self, key: str, settings: Mapping[str, Any] | BaseModel) -> BaseModel:
        """Validate ``settings`` into the channel's ``Config`` without echoing any value."""
        model = self.spec(key).config_model
        if isinstance(settings, model):
            return settings
        raw = settings.model_dump() if isinstance(settings, BaseModel) else dict(settings)
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or '(root)'}: {error['msg']}"
                for error in exc.errors(include_input=False, include_url=False, include_context=False)
            )
            raise InputError(f"channel {key!r} settings are invalid: {problems}") from None

    def build(self, key: str, settings: Mapping[str, Any] | BaseModel, *, clock: Clock | None = None) -> Notifier:
        config = self.config(key, settings)
        notifier = self.spec(key).factory(config, clock or SystemClock())
        logger.debug("built %s channel: %r", key, config)  # SecretStr fields print as '**********'
        return notifier


_PHONES = {"phone_numbers": ["+8613800000000"]}

# Every built-in channel, listed once here (nothing registers itself on import).
BUILTIN_CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("dingtalk", dingtalk.Config, lambda c, clock: dingtalk.DingTalkNotifier(c, clock=clock),
                "钉钉自定义机器人 (signed; markdown / actionCard)",
                {"access_token": "dingtalk-access-token", "secret": "SECdingtalk-sign-secret"}),
    ChannelSpec("wecom", wecom.Config, lambda c, clock: wecom.WeComNotifier(c), "企业微信群机器人 (markdown)",
                {"key": "wecom-robot-key"}),
    ChannelSpec("feishu", feishu.Config, lambda c, clock: feishu.FeishuNotifier(c, clock=clock),
                "飞书 / Lark custom bot (signed; interactive card)", {"token": "feishu-hook-token", "secret": "feishu-secret"}),
    ChannelSpec("email", email.Config, lambda c, clock: email.EmailNotifier(c), "SMTP e-mail (HTML, inline chart)",
                {"host": "smtp.example.com", "from_address": "alerts@example.com", "to": ["ops@example.com"],
                 "username": "alerts", "password": "smtp-password"}, transport="smtp"),
    ChannelSpec("aliyun_sms", aliyun_sms.Config, lambda c, clock: aliyun_sms.AliyunSmsNotifier(c, clock=clock),
                "阿里云短信 SendSms", {"access_key_id": "LTAI-example", "access_key_secret": "aliyun-secret",
                                   "sign_name": "店铺预警", "template_code": "SMS_000000", **_PHONES}),
    ChannelSpec("aliyun_voice", aliyun_voice.Config, lambda c, clock: aliyun_voice.AliyunVoiceNotifier(c, clock=clock),
                "阿里云语音 SingleCallByTts", {"access_key_id": "LTAI-example", "access_key_secret": "aliyun-secret",
                                          "tts_code": "TTS_000000", **_PHONES}),
    ChannelSpec("tencent_sms", tencent_sms.Config, lambda c, clock: tencent_sms.TencentSmsNotifier(c, clock=clock),
                "腾讯云短信 SendSms (TC3)", {"secret_id": "AKID-example", "secret_key": "tencent-secret",
                                        "sms_sdk_app_id": "1400000000", "sign_name": "店铺预警", "template_id": "100000",
                                        **_PHONES}),
    ChannelSpec("slack", slack.Config, lambda c, clock: slack.SlackNotifier(c), "Slack incoming webhook",
                {"webhook_url": "https://hooks.slack.com/services/T000/B000/example"}),
    ChannelSpec("webhook", webhook.Config, lambda c, clock: webhook.WebhookNotifier(c, clock=clock),
                "generic signed JSON webhook", {"url": "https://example.com/hooks/shopsentinel", "secret": "hook-secret"}),
    ChannelSpec("alertmanager_webhook", alertmanager.Config, lambda c, clock: alertmanager.AlertmanagerWebhookNotifier(c),
                "Alertmanager 格式的 webhook（FlashDuty、夜莺、PagerDuty、Grafana OnCall、Keep 直接接收）/ "
                "outgoing webhook in Alertmanager's format",
                {"url": "https://example.com/prometheus/alertmanager", "auth": "bearer", "credentials": "receiver-token",
                 "external_url": "https://alerts.example.com"}),
)  # fmt: skip


def builtin_registry() -> ChannelRegistry:
    """A fresh registry holding every built-in channel (register your own on it)."""
    return ChannelRegistry(BUILTIN_CHANNELS)
