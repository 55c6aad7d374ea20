"""A degraded start (the key cannot open what is stored, SHOPSENTINEL_ALLOW_DEGRADED_KEY) never makes
up a new key: saving a channel answers 503 and no key file appears."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.secrets import KEY_ENV, KEY_FILE_ENV, SecretKeyError

HOOK = {"name": "ops-hook", "kind": "webhook", "medium": "im", "receiver": "default",
        "settings": {"url": "http://127.0.0.1:9/hook", "secret": "s3cret-hook-key"}}


def test_saving_a_channel_while_degraded_without_a_key_file_is_503_and_creates_no_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, api_factory: Any, clock: ManualClock) -> None:
    key_file = tmp_path / "secret.key"
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    database = f"sqlite:///{tmp_path / 'state.db'}"

    first = api_factory(database, clock)
    assert first.put("/api/v1/channels", json=HOOK).status_code == 200
    assert key_file.exists()  # a brand-new install made its key
    first.service.close()
    key_file.unlink()

    with pytest.raises(SecretKeyError, match="不存在"):
        api_factory(database, clock)  # refused by default
    degraded = api_factory(database, clock, allow_degraded_key=True)
    assert degraded.service.degraded
    response = degraded.put("/api/v1/channels", json={**HOOK, "name": "second-hook"})
    assert response.status_code == 503
    assert "密钥不可用" in response.json()["detail"]
    assert not key_file.exists()
    names = [c["name"] for c in degraded.get("/api/v1/channels").json()]
    assert names == ["ops-hook"]
