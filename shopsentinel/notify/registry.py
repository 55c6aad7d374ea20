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
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.core.errors import InputError
from shopsentinel.notify.base import Notifier
from shopsentinel.notify.channels import (
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
    """How to build one kind of channel: its settings model and a factory ``(config, clock)``."""

    key: str
    config_model: type[BaseModel]
    factory: NotifierFactory
    description: str = ""


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


BUILTIN_CHANNELS: tuple[ChannelSpec, ...] = (
    ChannelSpec("dingtalk", dingtalk.Config, lambda c, clock: dingtalk.DingTalkNotifier(c, clock=clock),
                "钉钉自定义机器人 (signed; markdown / actionCard)"),
    ChannelSpec("wecom", wecom.Config, lambda c, clock: wecom.WeComNotifier(c), "企业微信群机器人 (markdown)"),
    ChannelSpec("feishu", feishu.Config, lambda c, clock: feishu.FeishuNotifier(c, clock=clock),
                "飞书 / Lark custom bot (signed; interactive card)"),
    ChannelSpec("email", email.Config, lambda c, clock: email.EmailNotifier(c), "SMTP e-mail (HTML, inline chart)"),
    ChannelSpec("aliyun_sms", aliyun_sms.Config, lambda c, clock: aliyun_sms.AliyunSmsNotifier(c, clock=clock),
                "阿里云短信 SendSms"),
    ChannelSpec("aliyun_voice", aliyun_voice.Config, lambda c, clock: aliyun_voice.AliyunVoiceNotifier(c, clock=clock),
                "阿里云语音 SingleCallByTts"),
    ChannelSpec("tencent_sms", tencent_sms.Config, lambda c, clock: tencent_sms.TencentSmsNotifier(c, clock=clock),
                "腾讯云短信 SendSms (TC3)"),
    ChannelSpec("slack", slack.Config, lambda c, clock: slack.SlackNotifier(c), "Slack incoming webhook"),
    ChannelSpec("webhook", webhook.Config, lambda c, clock: webhook.WebhookNotifier(c, clock=clock),
                "generic signed JSON webhook"),
)  # fmt: skip


def builtin_registry() -> ChannelRegistry:
    """A fresh registry holding every built-in channel (register your own on it)."""
    return ChannelRegistry(BUILTIN_CHANNELS)
