"""认领 links survive a key rotation: signed with the newest key, accepted with any configured one — and
refused once the key that signed them is gone."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from shopsentinel.core.clock import ManualClock
from shopsentinel.notify.links import ActionLinkSigner, LinkAction, link_key
from tests.support.service import START, make_api


def ack_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, new: bytes, old: bytes | None) -> int:
    monkeypatch.setenv("SHOPSENTINEL_SECRET_KEY", new.decode())
    if old is None:
        monkeypatch.delenv("SHOPSENTINEL_SECRET_KEYS_OLD", raising=False)
    else:
        monkeypatch.setenv("SHOPSENTINEL_SECRET_KEYS_OLD", old.decode())
    api = make_api(f"sqlite:///{tmp_path / 'state.db'}", ManualClock(START))
    try:
        return api.get(url.removeprefix("https://sentinel.example.com")).status_code
    finally:
        api.service.close()


def test_a_link_signed_before_a_rotation_works_until_its_key_is_removed(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    key_a, key_b = Fernet.generate_key(), Fernet.generate_key()
    url = ActionLinkSigner(link_key(key_a), "https://sentinel.example.com").url("no-such-alert", LinkAction.ACK, now=START)
    # accepted (the token is good; the alert it names does not exist here: 404, not 403)
    assert ack_status(tmp_path, monkeypatch, url, key_a, None) == 404
    assert ack_status(tmp_path, monkeypatch, url, key_b, key_a) == 404  # rotated: B signs, A still opens
    assert ack_status(tmp_path, monkeypatch, url, key_b, None) == 403  # A removed: the old link is void
    forged = ActionLinkSigner(link_key(Fernet.generate_key()), "https://sentinel.example.com").url(
        "no-such-alert", LinkAction.ACK, now=START)
    assert ack_status(tmp_path, monkeypatch, forged, key_b, key_a) == 403
