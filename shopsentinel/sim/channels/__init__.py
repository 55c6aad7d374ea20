"""Fake alert channels that behave like the real services (signatures, envelopes, rate limits).

Each ``Fake*`` holds an ``app`` (Starlette), the ``received`` messages, and ``faults`` switches;
serve one with :func:`run_fake_server` for tests over real loopback HTTP.
"""

from shopsentinel.sim.channels.aliyun import FakeAliyun
from shopsentinel.sim.channels.common import Faults, Received, SlidingWindowLimit
from shopsentinel.sim.channels.dingtalk import FakeDingTalk
from shopsentinel.sim.channels.feishu import FakeFeishu
from shopsentinel.sim.channels.server import run_fake_server
from shopsentinel.sim.channels.slack import FakeSlack
from shopsentinel.sim.channels.tencent import FakeTencentSms
from shopsentinel.sim.channels.webhook import FakeWebhookReceiver
from shopsentinel.sim.channels.wecom import FakeWeCom

__all__ = [
    "FakeAliyun",
    "FakeDingTalk",
    "FakeFeishu",
    "FakeSlack",
    "FakeTencentSms",
    "FakeWeCom",
    "FakeWebhookReceiver",
    "Faults",
    "Received",
    "SlidingWindowLimit",
    "run_fake_server",
]
