"""E-mail against a real aiosmtpd SMTP server on loopback: MIME structure, inline chart, encoding."""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shopsentinel.core.errors import PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.channels.email import Config, EmailNotifier

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4  # binary, so base64 round-tripping is tested


class Mailbox:
    """An SMTP handler that keeps what it accepts and refuses what a test tells it to."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.refuse_recipients: set[str] = set()
        self.data_reply: str | None = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any) -> str:
        if address in self.refuse_recipients:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or envelope.content))
        return "250 Message accepted for delivery"


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"ops", b"right-password")
    return AuthResult(success=ok, handled=False)  # handled=False: the server sends 535 itself


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=authenticate, auth_require_tls=False, ready_timeout=5
    )
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def notifier(port: int, **overrides: object) -> EmailNotifier:
    settings: dict[str, object] = {
        "host": "127.0.0.1", "port": port, "starttls": False, "from_address": "sentinel@example.com",
        "to": ["ops@example.com"], "timeout_seconds": 5,
    }  # fmt: skip
    return EmailNotifier(Config.model_validate({**settings, **overrides}))


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_html_mail_with_inline_chart_and_encoded_chinese_subject(smtp, deliver, notification) -> None:
    mailbox, port = smtp
    result = deliver(notifier(port), notification(chart_png=PNG))
    [(sender, recipients, raw)] = mailbox.messages
    assert sender == "sentinel@example.com" and recipients == ["ops@example.com"]
    assert b"Subject: =?utf-8?" in raw  # RFC 2047 on the wire, not raw UTF-8
    message = parse(raw)
    assert message["Subject"] == "[严重] 天猫旗舰店流量骤降"
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert plain is not None and "根因" in plain.get_content()
    assert html is not None and "https://sentinel.example.com/actions/ack?token=t0k" in html.get_content()
    [image] = [part for part in message.walk() if part.get_content_type() == "image/png"]
    content_id = image["Content-ID"].strip("<>")
    assert f'src="cid:{content_id}"' in html.get_content()
    assert image.get_content() == PNG
    assert image.get_content_disposition() == "inline"
    assert result.provider_message_id == message["Message-ID"]


def test_english_mail_without_chart_has_no_image(smtp, deliver, notification) -> None:
    mailbox, port = smtp
    deliver(notifier(port), notification(lang="en", recipients=["lead@example.com"]))
    message = parse(mailbox.messages[0][2])
    assert message["Subject"] == "[Critical] 天猫旗舰店流量骤降"
    assert mailbox.messages[0][1] == ["lead@example.com"]
    assert not [part for part in message.walk() if part.get_content_maintype() == "image"]
    html = message.get_body(preferencelist=("html",))
    assert html is not None and "Root cause" in html.get_content() and "cid:" not in html.get_content()


def test_login_with_right_password_then_wrong_password_is_permanent(smtp, deliver, notification) -> None:
    mailbox, port = smtp
    deliver(notifier(port, username="ops", password="right-password"), notification())
    assert len(mailbox.messages) == 1
    with pytest.raises(PermanentDeliveryError, match="authentication failed"):
        deliver(notifier(port, username="ops", password="wrong"), notification())
    assert len(mailbox.messages) == 1


def test_one_refused_recipient_is_reported_others_delivered(smtp, deliver, notification) -> None:
    mailbox, port = smtp
    mailbox.refuse_recipients.add("gone@example.com")
    result = deliver(notifier(port), notification(recipients=["ops@example.com", "gone@example.com"]))
    assert result.recipients == ("ops@example.com",)
    assert result.failed_recipients["gone@example.com"].startswith("550")
    with pytest.raises(PermanentDeliveryError, match="all recipients refused"):
        deliver(notifier(port), notification(recipients=["gone@example.com"]))


def test_temporary_smtp_failure_is_recoverable(smtp, deliver, notification) -> None:
    mailbox, port = smtp
    mailbox.data_reply = "451 4.3.0 try again later"
    with pytest.raises(RecoverableDeliveryError, match="SMTP 451"):
        deliver(notifier(port), notification())


def test_unreachable_server_is_recoverable(deliver, notification) -> None:
    with pytest.raises(RecoverableDeliveryError):
        deliver(notifier(free_port()), notification())


def test_starttls_required_but_not_offered_is_permanent(smtp, deliver, notification) -> None:
    _, port = smtp
    with pytest.raises(PermanentDeliveryError, match="STARTTLS"):
        deliver(notifier(port, starttls=True), notification())


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 (IP SAN, so hostname checking stays on)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5)).not_valid_after(now + timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_starttls_then_login_with_a_trusted_certificate(tmp_path, deliver, notification) -> None:
    cert_path, key_path = self_signed_certificate(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert_path, key_path)
    mailbox, port = Mailbox(), free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=authenticate, tls_context=server_tls,
        require_starttls=True, ready_timeout=5,
    )  # fmt: skip
    controller.start()
    try:
        # AUTH is only offered after STARTTLS (auth_require_tls defaults to True)
        secure = notifier(port, starttls=True, ca_file=str(cert_path), username="ops", password="right-password")
        deliver(secure, notification())
        assert len(mailbox.messages) == 1
        with pytest.raises(PermanentDeliveryError, match="certificate not trusted"):
            deliver(notifier(port, starttls=True), notification())  # system CAs do not know this certificate
    finally:
        controller.stop()
