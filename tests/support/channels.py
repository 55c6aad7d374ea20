"""Channel fixtures shared by the alerting and notify tests: a fresh secret key per test and a DingTalk
robot fake (signature checked) on a real loopback server, for the module's ``TOKEN`` and ``SECRET``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.fernet import Fernet

from shopsentinel.core.clock import ManualClock
from shopsentinel.sim.channels import FakeDingTalk, run_fake_server


@pytest.fixture
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Channel secrets sealed with a key of this test's own."""
    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", Fernet.generate_key().decode())


@pytest.fixture
def robot(request: pytest.FixtureRequest, clock: ManualClock) -> Iterator[tuple[FakeDingTalk, str]]:
    """The DingTalk fake for the test module's ``TOKEN`` / ``SECRET``, and its base URL."""
    fake = FakeDingTalk({request.module.TOKEN: request.module.SECRET}, clock=clock)
    with run_fake_server(fake.app) as base_url:
        yield fake, base_url
