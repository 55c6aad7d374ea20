"""Aliyun SMS and voice over loopback HTTP against a fake gateway that checks RPC V2 signatures."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.channels import aliyun_sms, aliyun_voice
from shopsentinel.notify.channels.aliyun_rpc import call_rpc
from shopsentinel.notify.channels.aliyun_signing import common_params, sign_rpc_v2
from shopsentinel.sim.channels import FakeAliyun, run_fake_server

KEY_ID, KEY_SECRET = "LTAI5tFakeKeyId", "fake-access-key-secret"


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[tuple[FakeAliyun, str]]:
    gateway = FakeAliyun(
        {KEY_ID: KEY_SECRET},
        templates={"SMS_460000001": {"level", "title", "count"}, "TTS_300000001": {"level", "title"}},
        sign_names={"店铺预警"},
        clock=clock,
    )
    with run_fake_server(gateway.app) as base_url:
        yield gateway, base_url


def sms(base_url: str, clock: ManualClock, **overrides: object) -> aliyun_sms.AliyunSmsNotifier:
    settings: dict[str, object] = {
        "access_key_id": KEY_ID, "access_key_secret": KEY_SECRET, "sign_name": "店铺预警",
        "template_code": "SMS_460000001", "endpoint": base_url,
    }  # fmt: skip
    return aliyun_sms.AliyunSmsNotifier(aliyun_sms.Config.model_validate({**settings, **overrides}), clock=clock)


def voice(base_url: str, clock: ManualClock, **overrides: object) -> aliyun_voice.AliyunVoiceNotifier:
    settings: dict[str, object] = {
        "access_key_id": KEY_ID, "access_key_secret": KEY_SECRET, "tts_code": "TTS_300000001", "endpoint": base_url,
    }  # fmt: skip
    return aliyun_voice.AliyunVoiceNotifier(aliyun_voice.Config.model_validate({**settings, **overrides}), clock=clock)


def test_send_sms_is_signed_and_fills_the_template(fake, clock, deliver, notification) -> None:
    gateway, url = fake
    result = deliver(sms(url, clock), notification(recipients=["13800000000", "13900000000"]))
    [message] = gateway.received
    params = message.payload
    assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
    assert params["PhoneNumbers"] == "13800000000,13900000000"
    assert json.loads(params["TemplateParam"]) == {"level": "严重", "title": "天猫旗舰店流量骤降", "count": "3"}
    assert params["Timestamp"] == "2026-11-11T02:00:00Z"
    assert result.provider_message_id and result.recipients == ("13800000000", "13900000000")


def test_wrong_secret_is_signature_does_not_match_permanent(fake, clock, deliver, notification) -> None:
    gateway, url = fake
    with pytest.raises(PermanentDeliveryError, match="SignatureDoesNotMatch"):
        deliver(sms(url, clock, access_key_secret="wrong"), notification(recipients=["13800000000"]))
    assert gateway.received == []


def test_unknown_access_key_is_permanent(fake, clock, deliver, notification) -> None:
    _, url = fake
    with pytest.raises(PermanentDeliveryError, match="InvalidAccessKeyId.NotFound"):
        deliver(sms(url, clock, access_key_id="LTAIunknown"), notification(recipients=["13800000000"]))


def test_expired_timestamp_is_rejected(fake, deliver, notification) -> None:
    gateway, url = fake
    late = ManualClock(gateway.clock.now() - timedelta(minutes=16))
    with pytest.raises(PermanentDeliveryError, match="InvalidTimeStamp.Expired"):
        deliver(sms(url, late), notification(recipients=["13800000000"]))


def test_per_number_flow_control_is_recoverable(fake, clock, deliver, notification) -> None:
    gateway, url = fake
    deliver(sms(url, clock), notification(recipients=["13800000000"]))
    with pytest.raises(RecoverableDeliveryError, match="isv.BUSINESS_LIMIT_CONTROL") as raised:
        deliver(sms(url, clock), notification(recipients=["13800000000"]))
    assert raised.value.retry_after == 60
    clock.advance(timedelta(minutes=1, seconds=1))
    deliver(sms(url, clock), notification(recipients=["13800000000"]))
    assert len(gateway.received) == 2


def test_business_errors_are_permanent(fake, clock, deliver, notification) -> None:
    _, url = fake
    with pytest.raises(PermanentDeliveryError, match="isv.MOBILE_NUMBER_ILLEGAL"):
        deliver(sms(url, clock), notification(recipients=["12345"]))
    with pytest.raises(PermanentDeliveryError, match="isv.TEMPLATE_MISSING_PARAMETERS"):
        deliver(sms(url, clock, template_params={"level": "level"}), notification(recipients=["13800000000"]))


def test_server_error_is_recoverable(fake, clock, deliver, notification) -> None:
    gateway, url = fake
    gateway.faults.status = 500
    with pytest.raises(RecoverableDeliveryError):
        deliver(sms(url, clock), notification(recipients=["13800000000"]))


def test_fake_rejects_a_replayed_nonce(fake, clock) -> None:
    gateway, url = fake
    config = sms(url, clock).config

    async def twice() -> None:
        async with httpx.AsyncClient() as client:
            for _ in range(2):
                await call_rpc(client, "aliyun_sms", url, config, action="SendSms", version="2017-05-25",
                               business={"PhoneNumbers": "13800000000", "SignName": "店铺预警", "TemplateCode": "SMS_460000001",
                                         "TemplateParam": '{"level":"a","title":"b","count":"1"}'},
                               clock=clock, new_nonce=lambda: "same-nonce")  # fmt: skip

    with pytest.raises(PermanentDeliveryError, match="SignatureNonceUsed"):
        asyncio.run(twice())
    assert len(gateway.received) == 1


def test_fake_also_accepts_parameters_in_a_form_body(fake, clock) -> None:
    # Aliyun takes RPC parameters from the query or a form body; the signature covers both the same way.
    gateway, url = fake
    params = common_params(action="SendSms", version="2017-05-25", access_key_id=KEY_ID, region_id="cn-hangzhou",
                           nonce="form-nonce", moment=clock.now())  # fmt: skip
    params.update({"PhoneNumbers": "13800000000", "SignName": "店铺预警", "TemplateCode": "SMS_460000001",
                   "TemplateParam": '{"level":"严重","title":"t","count":"1"}'})  # fmt: skip
    params["Signature"] = sign_rpc_v2("POST", params, KEY_SECRET)
    response = httpx.post(url + "/", data=params)
    assert response.json()["Code"] == "OK" and gateway.received[0].payload["SignatureNonce"] == "form-nonce"


def test_voice_calls_each_number_once(fake, clock, deliver, notification) -> None:
    gateway, url = fake
    result = deliver(voice(url, clock), notification(recipients=["13800000000", "13900000000"], severity="fatal"))
    called = [m.payload["CalledNumber"] for m in gateway.received]
    assert called == ["13800000000", "13900000000"]
    assert all(m.payload["Action"] == "SingleCallByTts" for m in gateway.received)
    assert json.loads(gateway.received[0].payload["TtsParam"]) == {"level": "致命", "title": "天猫旗舰店流量骤降"}
    assert len(result.provider_message_id.split(",")) == 2 and result.failed_recipients == {}


def test_voice_partial_failure_is_reported_not_raised(fake, clock, deliver, notification) -> None:
    gateway, url = fake
    deliver(voice(url, clock), notification(recipients=["13900000000"]))  # uses up this number's minute
    result = deliver(voice(url, clock), notification(recipients=["13800000000", "13900000000"]))
    assert result.recipients == ("13800000000",)
    assert "isv.BUSINESS_LIMIT_CONTROL" in result.failed_recipients["13900000000"]


def test_voice_all_failed_raises(fake, clock, deliver, notification) -> None:
    _, url = fake
    with pytest.raises(PermanentDeliveryError, match="SignatureDoesNotMatch"):
        deliver(voice(url, clock, access_key_secret="wrong"), notification(recipients=["13800000000"]))


def test_tts_param_stays_under_250_chars(notification) -> None:
    text = aliyun_voice.tts_param(notification(title="很长的标题" * 80), {"level": "level", "title": "title"})
    assert len(text) < 250 and json.loads(text)["level"] == "严重"
