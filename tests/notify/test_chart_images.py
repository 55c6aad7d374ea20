"""The chart as an image (issue 13, item 5): the message's metric chart is a PNG drawn on the server,
reached from the DingTalk card through a signed expiring URL (403 tampered, 410 expired), and the
e-mail of the same message carries the same image, byte for byte, against a real aiosmtpd server."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiosmtpd.controller import Controller
from cryptography.fernet import Fernet

from shopsentinel.core.clock import ManualClock
from shopsentinel.notify.charts import PNG_SIGNATURE, ChartPoint, ChartSpec, png_size, render_png
from shopsentinel.sim.channels import FakeDingTalk, run_fake_server
from shopsentinel.store.state import AlertEventRow, AlertRow, PointRow
from tests.support.service import START

TOKEN, SECRET = "chart-robot-token", "SECchart-robot-secret-0001"
PUBLIC = "https://sentinel.example.com"


@pytest.fixture
def clock() -> ManualClock:
    """The service tests' clock (tests/support/service.py), not the notify package's own."""
    return ManualClock(START)


@pytest.fixture(autouse=True)
def secret_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", Fernet.generate_key().decode())


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


@pytest.fixture
def robot(clock: ManualClock) -> Iterator[tuple[FakeDingTalk, str]]:
    fake = FakeDingTalk({TOKEN: SECRET}, clock=clock)
    with run_fake_server(fake.app) as base_url:
        yield fake, base_url


def test_png_is_drawn_on_the_server_at_a_fixed_size_and_the_same_every_time() -> None:
    spec = ChartSpec(title="访客数 · 天猫 tm-1", marker_ts="2026-11-11T05:00:00Z", points=[
        ChartPoint(ts=f"2026-11-11T{h:02d}:00:00Z", value=480 - 40 * h, expected=480, lower=300, upper=650) for h in range(10)])
    png = render_png(spec)
    assert png[:8] == PNG_SIGNATURE and png_size(png) == (640, 280)
    assert render_png(spec) == png  # no timestamp in the file: the e-mail and the link get the same bytes
    assert render_png(spec.model_copy(update={"points": spec.points[:5]})) != png
    with pytest.raises(ValueError):
        png_size(b"GIF89a" + bytes(30))


def test_card_links_a_signed_chart_png_and_the_email_attaches_the_same_image(
        api_factory: Any, database_url: str, clock: ManualClock, robot: Any, smtp: Any) -> None:
    fake, base_url = robot
    box, port = smtp
    api = api_factory(database_url, clock, public_url=PUBLIC)
    for body in ({"name": "ops-robot", "kind": "dingtalk", "medium": "im",
                  "settings": {"access_token": TOKEN, "secret": SECRET, "base_url": base_url, "message_type": "markdown"}},
                 {"name": "ops-mail", "kind": "email", "medium": "im",
                  "settings": {"host": "127.0.0.1", "port": port, "starttls": False, "from_address": "alerts@shop.example",
                               "to": ["ops@shop.example"]}}):
        assert api.put("/api/v1/channels", json=body).status_code == 200
    now = clock.now()
    with api.service.sessions() as session:
        session.add_all([PointRow(platform="tmall", store="tm-1", sku="", metric="uv", ts=int((now - timedelta(hours=h)).timestamp()),
                                  value=480.0 if h > 3 else 12.0) for h in range(1, 30)])
        session.add(AlertRow(id="crash-1", rule="traffic.crash", severity="critical", kind="business", category="traffic",
                             platform="tmall", store="tm-1", sku="", metric="uv", state="firing",
                             starts_at=now - timedelta(hours=3), value=12.0, expected=480.0, lower=300.0, upper=650.0,
                             message="流量骤降 97%", created_at=now, updated_at=now))
        session.flush()
        session.add(AlertEventRow(alert_id="crash-1", event="firing", ts=now, actor="system", detail="", recorded_at=now))
        session.commit()
    for _ in range(2):
        clock.advance(timedelta(seconds=31))
        api.service.notify()
    [card] = fake.received
    text = card.payload["markdown"]["text"]
    found = re.search(r"!\[趋势图\]\((https://sentinel\.example\.com/actions/chart\?token=[^)\s]+)\)", text)
    assert found is not None, text
    parts = urlsplit(found.group(1))
    path = f"{parts.path}?{parts.query}"
    image = api.get(path)
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content[:8] == PNG_SIGNATURE and png_size(image.content) == (640, 280)

    [raw] = box.messages
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    [attached] = [p for p in mail.walk() if p.get_content_type() == "image/png"]
    cid = str(attached["Content-ID"]).strip("<>")
    html = next(p for p in mail.walk() if p.get_content_type() == "text/html").get_content()
    assert f'src="cid:{cid}"' in html
    assert attached.get_payload(decode=True) == image.content  # the same image in the e-mail

    token = parse_qs(parts.query)["token"][0]
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    assert api.get("/actions/chart", params={"token": tampered}).status_code == 403
    ack = parse_qs(urlsplit(re.search(r"\[认领\]\(([^)\s]+)\)", text).group(1)).query)["token"][0]  # type: ignore[union-attr]
    assert api.get("/actions/chart", params={"token": ack}).status_code == 403  # a 认领 token draws no chart
    clock.advance(timedelta(hours=25))  # links live 24 h
    assert api.get(path).status_code == 410
