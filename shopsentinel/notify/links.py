"""Signed, expiring action links, so "认领 / acknowledge" works from a phone without logging in.

A token is ``base64url(claims) + "." + base64url(HMAC-SHA256(key, domain + claims))`` where the
claims are the alert id, the action and the expiry (Unix seconds), and optionally the user the link
was issued to (``u``: the on-duty person a message @-mentions, who is recorded as the actor) and the
message it came with (``m``: the outbox key of a group message, so 认领 acknowledges every alert
the message listed and the chart link draws the image the message carried). Verification checks
the MAC in constant time *before* reading the claims, then the action, then the expiry against an
injected ``now``.

>>> from datetime import UTC, datetime, timedelta
>>> key = b"k" * 32
>>> now = datetime(2026, 11, 11, tzinfo=UTC)
>>> token = issue_action_token(key, "alert-7", LinkAction.ACK, expires_at=now + timedelta(hours=1))
>>> verify_action_token(key, token, now=now).alert_id
'alert-7'
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from urllib.parse import quote

from pydantic import SecretStr

from shopsentinel.core.errors import ShopSentinelError

MIN_KEY_BYTES = 32
_DOMAIN = b"shopsentinel/action-link/v1\n"  # so a token MAC can never be replayed as another HMAC


class LinkAction(StrEnum):
    ACK = "ack"
    VIEW = "view"
    SILENCE = "silence"
    CHART = "chart"


class ActionLinkError(ShopSentinelError):
    """An action link that must not be honoured (base class)."""


class ActionLinkInvalid(ActionLinkError):
    """Malformed or tampered token, or a token for another action."""


class ActionLinkExpired(ActionLinkError):
    """A genuine token whose expiry has passed."""

    def __init__(self, message: str, expired_at: datetime) -> None:
        super().__init__(message)
        self.expired_at = expired_at


@dataclass(frozen=True, slots=True)
class ActionClaim:
    alert_id: str
    action: LinkAction
    expires_at: datetime
    user: str | None = None  # the person the link was issued to
    message: str | None = None  # the outbox key of the message the link came with


def _key_bytes(key: bytes | SecretStr) -> bytes:
    raw = key.get_secret_value().encode("utf-8") if isinstance(key, SecretStr) else key
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"action-link key must be at least {MIN_KEY_BYTES} bytes")
    return raw


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, claims_part: str) -> bytes:
    return hmac.new(key, _DOMAIN + claims_part.encode("ascii"), hashlib.sha256).digest()


def issue_action_token(key: bytes | SecretStr, alert_id: str, action: LinkAction, *, expires_at: datetime,
                       user: str | None = None, message: str | None = None) -> str:
    """A URL-safe token that lets its bearer perform ``action`` on ``alert_id`` (or on every alert of
    ``message``) until ``expires_at``, in the name of ``user`` when given."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    claims: dict[str, object] = {"a": alert_id, "x": LinkAction(action).value, "e": int(expires_at.timestamp())}
    if user:
        claims["u"] = user
    if message:
        claims["m"] = message
    claims_part = _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode("utf-8"))
    return f"{claims_part}.{_b64encode(_mac(_key_bytes(key), claims_part))}"


def verify_action_token(
    key: bytes | SecretStr, token: str, *, now: datetime, expected_action: LinkAction | None = None
) -> ActionClaim:
    """The token's claims, or :class:`ActionLinkInvalid` / :class:`ActionLinkExpired`."""
    claims_part, dot, mac_part = token.partition(".")
    if not dot or not claims_part or not mac_part:
        raise ActionLinkInvalid("action link is malformed")
    try:
        given_mac = _b64decode(mac_part)
    except (binascii.Error, ValueError) as exc:
        raise ActionLinkInvalid("action link is malformed") from exc
    if not hmac.compare_digest(given_mac, _mac(_key_bytes(key), claims_part)):
        raise ActionLinkInvalid("action link signature does not match (tampered or from another key)")
    try:
        claims = json.loads(_b64decode(claims_part))
        claim = ActionClaim(
            alert_id=str(claims["a"]),
            action=LinkAction(claims["x"]),
            expires_at=datetime.fromtimestamp(int(claims["e"]), UTC),
            user=str(claims["u"]) if claims.get("u") else None,
            message=str(claims["m"]) if claims.get("m") else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ActionLinkInvalid("action link claims are unreadable") from exc
    if expected_action is not None and claim.action != expected_action:
        raise ActionLinkInvalid(f"action link is for {claim.action.value!r}, not {LinkAction(expected_action).value!r}")
    if now >= claim.expires_at:
        raise ActionLinkExpired(f"action link expired at {claim.expires_at.isoformat()}", claim.expires_at)
    return claim


def link_key(secret: bytes) -> SecretStr:
    """The action-link key derived from the service's secret key (never the secret key itself)."""
    return SecretStr(hashlib.sha256(_DOMAIN + secret).hexdigest())


@dataclass(frozen=True)
class ActionLinkSigner:
    """Builds the ack / detail URLs a notification carries.

    URLs look like ``{base_url}/actions/{action}?token=...``; the web app verifies the token
    with :func:`verify_action_token` and the same key.
    """

    key: SecretStr
    base_url: str
    ttl: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        _key_bytes(self.key)  # fail at configuration time, not at the first alert

    def url(self, alert_id: str, action: LinkAction, *, now: datetime, user: str | None = None,
            message: str | None = None) -> str:
        """The link; ``user`` is who it is issued to, ``message`` the outbox key of its group message."""
        token = issue_action_token(self.key, alert_id, action, expires_at=now + self.ttl, user=user, message=message)
        return f"{self.base_url.rstrip('/')}/actions/{LinkAction(action).value}?token={quote(token, safe='')}"
