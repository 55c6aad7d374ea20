"""Signed, expiring action links: verify, reject tampering, other keys, other actions and expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from pydantic import SecretStr

from shopsentinel.notify.links import (
    ActionLinkExpired,
    ActionLinkInvalid,
    ActionLinkSigner,
    LinkAction,
    issue_action_token,
    verify_action_token,
)

KEY = b"0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def token(alert_id: str = "alert-7", action: LinkAction = LinkAction.ACK, ttl: timedelta = timedelta(hours=1)) -> str:
    return issue_action_token(KEY, alert_id, action, expires_at=NOW + ttl)


def test_genuine_token_verifies() -> None:
    claim = verify_action_token(KEY, token(), now=NOW, expected_action=LinkAction.ACK)
    assert (claim.alert_id, claim.action, claim.expires_at) == ("alert-7", LinkAction.ACK, NOW + timedelta(hours=1))


def test_expired_token_is_rejected_at_the_second_of_expiry() -> None:
    genuine = token()
    verify_action_token(KEY, genuine, now=NOW + timedelta(minutes=59, seconds=59))
    with pytest.raises(ActionLinkExpired, match="expired") as raised:
        verify_action_token(KEY, genuine, now=NOW + timedelta(hours=1))
    assert raised.value.expired_at == NOW + timedelta(hours=1)


def test_tampered_claims_are_rejected() -> None:
    genuine = token()
    forged_claims = token(alert_id="alert-8").split(".")[0]
    with pytest.raises(ActionLinkInvalid, match="signature"):
        verify_action_token(KEY, f"{forged_claims}.{genuine.split('.')[1]}", now=NOW)


@pytest.mark.parametrize("position", [0, 5, -1])
def test_any_flipped_character_is_rejected(position) -> None:
    genuine = token()
    chars = list(genuine)
    chars[position] = "A" if chars[position] != "A" else "B"
    with pytest.raises(ActionLinkInvalid):
        verify_action_token(KEY, "".join(chars), now=NOW)


def test_token_from_another_key_is_rejected() -> None:
    with pytest.raises(ActionLinkInvalid, match="signature"):
        verify_action_token(b"x" * 32, token(), now=NOW)


def test_token_for_another_action_is_rejected() -> None:
    with pytest.raises(ActionLinkInvalid, match="'view', not 'ack'"):
        verify_action_token(KEY, token(action=LinkAction.VIEW), now=NOW, expected_action=LinkAction.ACK)


@pytest.mark.parametrize("garbage", ["", "no-dot", ".", "abc.", ".abc", "a.b.c", "!!!.???"])
def test_malformed_tokens_are_rejected(garbage) -> None:
    with pytest.raises(ActionLinkInvalid):
        verify_action_token(KEY, garbage, now=NOW)


def test_short_keys_and_naive_expiry_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        issue_action_token(b"short", "a", LinkAction.ACK, expires_at=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        issue_action_token(KEY, "a", LinkAction.ACK, expires_at=NOW.replace(tzinfo=None))


def test_signer_builds_urls_the_verifier_accepts() -> None:
    signer = ActionLinkSigner(SecretStr(KEY.decode()), "https://sentinel.example.com/", ttl=timedelta(hours=2))
    url = signer.url("alert/9 中", LinkAction.ACK, now=NOW)
    parts = urlsplit(url)
    assert (parts.netloc, parts.path) == ("sentinel.example.com", "/actions/ack")
    [received] = parse_qs(parts.query)["token"]
    claim = verify_action_token(SecretStr(KEY.decode()), received, now=NOW + timedelta(minutes=119))
    assert claim.alert_id == "alert/9 中"
    assert "0123456789abcdef" not in repr(signer)
