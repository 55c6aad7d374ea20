"""Tencent Cloud SMS over loopback HTTP against a fake that verifies the TC3-HMAC-SHA256 signature."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.channels.tencent_sms import Config, TencentSmsNotifier
from shopsentinel.sim.channels import FakeTencentSms, run_fake_server

SECRET_ID, SECRET_KEY = "AKIDfakeSecretId", "fake-secret-key"


@pytest.fixture
def fake(clock: ManualClock) -> Iterator[tuple[FakeTencentSms, str]]:
    service = FakeTencentSms(
        {SECRET_ID: SECRET_KEY}, sdk_app_id="1400000000", sign_names={"店铺预警"}, templates={"100": 3}, clock=clock
    )
    with run_fake_server(service.app) as base_url:
        yield service, base_url


def notifier(base_url: str, clock: ManualClock, **overrides: object) -> TencentSmsNotifier:
    settings: dict[str, object] = {
        "secret_id": SECRET_ID, "secret_key": SECRET_KEY, "sms_sdk_app_id": "1400000000",
        "sign_name": "店铺预警", "template_id": "100", "endpoint": base_url,
    }  # fmt: skip
    return TencentSmsNotifier(Config.model_validate({**settings, **overrides}), clock=clock)


def test_signed_send_is_accepted_with_e164_numbers(fake, clock, deliver, notification) -> None:
    service, url = fake
    result = deliver(notifier(url, clock), notification(recipients=["13800000000", "+8613900000000"]))
    assert result.recipients == ("+8613800000000", "+8613900000000")
    assert result.failed_recipients == {}
    payload = service.received[0].payload
    assert payload["TemplateParamSet"] == ["严重", "天猫旗舰店流量骤降", "3"]
    headers = service.received[0].headers
    assert headers["x-tc-action"] == "SendSms" and headers["x-tc-timestamp"] == str(int(clock.now().timestamp()))
    assert headers["authorization"].startswith(f"TC3-HMAC-SHA256 Credential={SECRET_ID}/2026-11-11/sms/tc3_request, ")


def test_wrong_secret_key_is_signature_failure_permanent(fake, clock, deliver, notification) -> None:
    service, url = fake
    with pytest.raises(PermanentDeliveryError, match="AuthFailure.SignatureFailure"):
        deliver(notifier(url, clock, secret_key="wrong"), notification(recipients=["13800000000"]))
    assert service.received == []


def test_unknown_secret_id_is_permanent(fake, clock, deliver, notification) -> None:
    _, url = fake
    with pytest.raises(PermanentDeliveryError, match="AuthFailure.SecretIdNotFound"):
        deliver(notifier(url, clock, secret_id="AKIDnope"), notification(recipients=["13800000000"]))


def test_timestamp_outside_five_minutes_is_rejected(fake, deliver, notification) -> None:
    service, url = fake
    skewed = ManualClock(service.clock.now() + timedelta(minutes=5, seconds=30))
    with pytest.raises(PermanentDeliveryError, match="AuthFailure.SignatureExpire"):
        deliver(notifier(url, skewed), notification(recipients=["13800000000"]))


def test_partial_failure_is_reported_per_number(fake, clock, deliver, notification) -> None:
    service, url = fake
    service.blacklist.add("+8613900000000")
    result = deliver(notifier(url, clock), notification(recipients=["13800000000", "13900000000"]))
    assert result.recipients == ("+8613800000000",)
    assert result.failed_recipients == {"+8613900000000": "FailedOperation.PhoneNumberInBlacklist"}


def test_every_number_rate_limited_is_recoverable(fake, clock, deliver, notification) -> None:
    _, url = fake
    deliver(notifier(url, clock), notification(recipients=["13800000000"]))
    with pytest.raises(RecoverableDeliveryError, match="LimitExceeded.PhoneNumberThirtySecondLimit"):
        deliver(notifier(url, clock), notification(recipients=["13800000000"]))
    clock.advance(timedelta(seconds=31))
    assert deliver(notifier(url, clock), notification(recipients=["13800000000"])).recipients == ("+8613800000000",)


def test_unapproved_template_is_permanent(fake, clock, deliver, notification) -> None:
    _, url = fake
    with pytest.raises(PermanentDeliveryError, match="FailedOperation.TemplateIncorrectOrUnapproved"):
        deliver(notifier(url, clock, template_id="999"), notification(recipients=["13800000000"]))


def test_server_error_and_timeout_are_recoverable(fake, clock, deliver, notification) -> None:
    service, url = fake
    service.faults.status = 500
    with pytest.raises(RecoverableDeliveryError, match="HTTP 500"):
        deliver(notifier(url, clock), notification(recipients=["13800000000"]))
    service.faults.status, service.faults.hang = None, True
    with pytest.raises(RecoverableDeliveryError, match="timed out"):
        deliver(notifier(url, clock, timeout_seconds=0.3), notification(recipients=["13800000000"]))
