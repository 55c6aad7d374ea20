"""E-mail over SMTP: HTML with a plain-text alternative and the alert chart as an inline PNG.

Uses the standard library's :mod:`smtplib` in a worker thread (``aiosmtplib`` is not a
dependency). STARTTLS (port 587) and implicit TLS (465) are both optional. SMTP reply codes
decide retrying: 4xx is transient, 5xx is permanent (RFC 5321 §4.2.1).
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from shopsentinel.core.errors import DeliveryError, PermanentDeliveryError, RecoverableDeliveryError
from shopsentinel.notify.base import DeliveryResult, Notification
from shopsentinel.notify.charts import render_png
from shopsentinel.notify.templates import render_email

MESSAGE_ID_DOMAIN = "shopsentinel.local"


class Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str
    port: int = 587
    starttls: bool = True
    implicit_tls: bool = False  # SMTP_SSL, usually port 465
    username: str | None = None
    password: SecretStr | None = None
    from_address: str
    from_name: str = "ShopSentinel 店铺预警"
    to: list[str] = Field(default_factory=list, description="used when a notification names no recipients")
    ca_file: str | None = None
    timeout_seconds: float = 15.0

    @field_validator("from_address")
    @classmethod
    def _one_address(cls, value: str) -> str:
        return _checked_address(value)

    @field_validator("to")
    @classmethod
    def _addresses(cls, values: list[str]) -> list[str]:
        return [_checked_address(v) for v in values]


def _checked_address(value: str) -> str:
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError) as exc:
        raise ValueError("not an e-mail address") from exc
    if not address.domain:
        raise ValueError("an e-mail address needs a domain")
    return value


def chart_image(notification: Notification) -> bytes | None:
    """The PNG to attach: the one given, else drawn from the message's chart (the same image the
    chat apps fetch through the signed chart link)."""
    if notification.chart_png:
        return notification.chart_png
    return render_png(notification.chart) if notification.chart is not None else None


def build_message(notification: Notification, config: Config, recipients: list[str]) -> EmailMessage:
    """A ``multipart/alternative`` (text, ``multipart/related`` (HTML, chart PNG))."""
    png = chart_image(notification)
    chart_cid = make_msgid(idstring="chart", domain=MESSAGE_ID_DOMAIN) if png else None
    content = render_email(notification, chart_cid=chart_cid[1:-1] if chart_cid else None)
    message = EmailMessage()
    message["Subject"] = content.subject  # the default policy RFC 2047-encodes non-ASCII
    message["From"] = formataddr((config.from_name, config.from_address))
    message["To"] = ", ".join(recipients)
    message["Message-ID"] = make_msgid(domain=MESSAGE_ID_DOMAIN)  # short enough never to be folded
    message["X-ShopSentinel-Key"] = notification.key
    message.set_content(content.text)
    message.add_alternative(content.html, subtype="html")
    if png and chart_cid:
        html_part = next(p for p in message.iter_parts() if p.get_content_type() == "text/html")
        html_part.add_related(
            png, maintype="image", subtype="png", cid=chart_cid, filename="chart.png", disposition="inline"
        )
    return message


def _reply_error(code: int, what: str) -> DeliveryError:
    if 400 <= code < 500:
        return RecoverableDeliveryError(f"email: {what} (SMTP {code})")
    return PermanentDeliveryError(f"email: {what} (SMTP {code})")


class EmailNotifier:
    channel = "email"

    def __init__(self, config: Config) -> None:
        self.config = config

    def __repr__(self) -> str:
        return f"EmailNotifier(host={self.config.host!r}, port={self.config.port}, username={self.config.username!r})"

    def _deliver(self, message: EmailMessage, recipients: list[str]) -> dict[str, str]:
        cfg = self.config
        smtp: smtplib.SMTP
        if cfg.implicit_tls:
            context = ssl.create_default_context(cafile=cfg.ca_file)
            smtp = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout_seconds, context=context)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout_seconds)
        with smtp:
            if cfg.starttls and not cfg.implicit_tls:
                smtp.starttls(context=ssl.create_default_context(cafile=cfg.ca_file))
            if cfg.username and cfg.password is not None:
                smtp.login(cfg.username, cfg.password.get_secret_value())
            refused = smtp.send_message(message, from_addr=cfg.from_address, to_addrs=recipients)
        return {address: f"{code} {reply.decode(errors='replace')}" for address, (code, reply) in refused.items()}

    async def send(self, notification: Notification, client: httpx.AsyncClient | None = None) -> DeliveryResult:
        """``client`` is unused (SMTP is not HTTP); accepted so every channel has one signature."""
        recipients = list(notification.recipients or self.config.to)
        if not recipients:
            raise PermanentDeliveryError("email: no recipients")
        message = await asyncio.to_thread(build_message, notification, self.config, recipients)  # draws the chart
        try:
            refused = await asyncio.to_thread(self._deliver, message, recipients)
        except smtplib.SMTPAuthenticationError as exc:
            raise PermanentDeliveryError(f"email: authentication failed (SMTP {exc.smtp_code})") from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _reply_error(min(codes) if all(400 <= c < 500 for c in codes) else max(codes), "all recipients refused") from None
        except smtplib.SMTPNotSupportedError:
            raise PermanentDeliveryError("email: server does not support a required extension (STARTTLS/AUTH)") from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, other replies
            raise _reply_error(exc.smtp_code, "server refused the message") from None
        except ssl.SSLCertVerificationError:
            raise PermanentDeliveryError("email: server certificate not trusted") from None
        except (smtplib.SMTPException, OSError) as exc:  # disconnected, refused connection, timeout
            raise RecoverableDeliveryError(f"email: {type(exc).__name__}") from None
        return DeliveryResult(
            channel=self.channel,
            provider_message_id=str(message["Message-ID"]),
            recipients=tuple(r for r in recipients if r not in refused),
            failed_recipients=refused,
        )
