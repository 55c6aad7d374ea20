"""The signed 认领 link acknowledges its alert for whoever holds it, so ``GET /api/v1/outbox`` shows
``ack_url`` only to principals who may acknowledge (editor and admin); a viewer sees the rest of the
message, the 查看详情 link included (issue 14, item 5)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet

from shopsentinel.core.clock import ManualClock
from shopsentinel.sim.channels import FakeDingTalk, run_fake_server

TOKEN, SECRET = "ops-robot-token", "SECops-robot-secret-0001"
PUBLIC = "https://sentinel.example.com"


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", Fernet.generate_key().decode())


def test_ack_url_is_shown_to_editors_and_hidden_from_viewers(
        api_factory: Any, database_url: str, clock: ManualClock) -> None:
    api = api_factory(database_url, clock, public_url=PUBLIC)
    fake = FakeDingTalk({TOKEN: SECRET}, clock=clock)
    with run_fake_server(fake.app) as base_url:
        assert api.put("/api/v1/channels", json={
            "name": "ops-robot", "kind": "dingtalk", "medium": "im", "receiver": "default",
            "settings": {"access_token": TOKEN, "secret": SECRET, "base_url": base_url, "message_type": "actionCard"},
        }).status_code == 200  # fmt: skip
        rule = {"id": "traffic.crash", "name": {"zh": "流量骤降", "en": "traffic crash"}, "severity": "critical",
                "when": {"metric": "uv", "type": "threshold", "below": 50}, "for": "1h"}
        assert api.put("/api/v1/rules", json={"rules": [rule]}).status_code == 200
        for uv in (500, 20, 10, 8):
            point = {"ts": f"{clock.now():%Y-%m-%dT%H:%M:%SZ}", "platform": "tmall", "store": "tm-1", "metric": "uv", "value": uv}
            assert api.post("/api/v1/points", json={"points": [point]}).status_code == 200
            clock.advance(timedelta(hours=1))
            api.service.tick()
        assert len(fake.received) == 1  # the message went out, with its link buttons
    tokens = {role: api.post("/api/v1/tokens", json={"user": f"u.{role}", "role": role}).json()["token"]
              for role in ("viewer", "editor")}
    seen: dict[str, list[dict[str, Any]]] = {}
    for who, client in (("viewer", api.as_token(tokens["viewer"])), ("editor", api.as_token(tokens["editor"])), ("admin", api)):
        response = client.get("/api/v1/outbox")
        assert response.status_code == 200, response.text
        seen[who] = [item["notification"] for item in response.json()["items"]]
    channel_messages = [n for n in seen["admin"] if n.get("detail_url")]
    assert channel_messages, seen["admin"]
    for n in channel_messages:
        assert n["ack_url"].startswith(f"{PUBLIC}/actions/ack?token=")
    assert [n for n in seen["editor"] if n.get("detail_url")] == channel_messages
    viewer_messages = [n for n in seen["viewer"] if n.get("detail_url")]
    assert len(viewer_messages) == len(channel_messages)
    for shown, full in zip(viewer_messages, channel_messages, strict=True):
        assert "ack_url" not in shown  # gone, not merely empty
        assert shown == {k: v for k, v in full.items() if k != "ack_url"}  # everything else as stored
    assert "/actions/ack" not in str(seen["viewer"])
