"""Signed session cookies: ``base64(json payload).hmac-sha256``, with an idle expiry.

The payload holds the user name, when the session was issued, when it was last seen, its CSRF
token and the user's session generation. Every authenticated request re-signs the cookie with a
fresh ``seen`` (sliding expiry); a cookie older than the idle limit, or with a bad signature, is no
session at all. Revocation is server-side: logging out, a password change or deactivation bumps the
user's ``session_generation`` in the database, and a cookie of an older generation (say, one copied
before the logout) is refused.

>>> codec = SessionCodec(b"k" * 32, idle_seconds=60)
>>> cookie = codec.issue("ana", now=1000.0)
>>> codec.read(cookie, now=1030.0).user, codec.read(cookie, now=1061.0)
('ana', None)
>>> codec.read(cookie[:-1] + "x", now=1001.0) is None
True
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass

SESSION_COOKIE = "ss_session"
CSRF_COOKIE = "ss_csrf"
LANG_COOKIE = "ss_lang"


@dataclass(frozen=True)
class WebSession:
    user: str
    issued: float
    seen: float
    csrf: str
    generation: int = 0  # the user's session generation when it was issued (see ``UserRow.session_generation``)


class SessionCodec:
    def __init__(self, secret: bytes, idle_seconds: float) -> None:
        self._secret = secret
        self.idle_seconds = idle_seconds

    def _sign(self, body: bytes) -> str:
        return hmac.new(self._secret, body, hashlib.sha256).hexdigest()

    def encode(self, session: WebSession) -> str:
        body = json.dumps({"u": session.user, "iat": session.issued, "seen": session.seen, "csrf": session.csrf,
                           "g": session.generation}, separators=(",", ":")).encode()
        return f"{base64.urlsafe_b64encode(body).decode()}.{self._sign(body)}"

    def issue(self, user: str, now: float, generation: int = 0) -> str:
        return self.encode(WebSession(user, now, now, secrets.token_urlsafe(24), generation))

    def read(self, cookie: str | None, now: float) -> WebSession | None:
        """The session in this cookie if the signature holds and it was seen within the idle limit."""
        if not cookie or "." not in cookie:
            return None
        encoded, signature = cookie.rsplit(".", 1)
        try:
            body = base64.urlsafe_b64decode(encoded.encode())
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        try:
            data = json.loads(body)
            session = WebSession(str(data["u"]), float(data["iat"]), float(data["seen"]), str(data["csrf"]),
                                 int(data.get("g", 0)))
        except (ValueError, KeyError, TypeError):
            return None
        if now - session.seen > self.idle_seconds or session.seen > now + 60:
            return None
        return session

    def touch(self, session: WebSession, now: float) -> str:
        return self.encode(WebSession(session.user, session.issued, now, session.csrf, session.generation))



@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class LoginThrottle:
    """Back-off after wrong passwords, per client address and per account, on an injected clock.

    The ``max_failures``-th wrong password for one key (``ip:…`` or ``user:…``) blocks that key for
    ``base_seconds``, and every further one for twice as long as the last, up to ``max_seconds``; so
    with 5, five wrong passwords make the sixth attempt wait. While a key is blocked no password is
    even checked (the right one included). A key with no failure for ``forget_seconds`` starts over;
    a successful login clears its account (not its address, so a valid account cannot launder
    guesses at others).

    >>> throttle = LoginThrottle(max_failures=2, base_seconds=10)
    >>> throttle.failure(["ip:a", "user:u"], 0.0); throttle.retry_after(["ip:a", "user:u"], 1.0)
    0.0
    >>> throttle.failure(["ip:a", "user:u"], 1.0); throttle.retry_after(["user:u"], 2.0)
    9.0
    >>> throttle.failure(["ip:a"], 11.0); throttle.retry_after(["ip:a"], 11.0)
    20.0
    """

    def __init__(self, max_failures: int = 5, base_seconds: float = 30.0, max_seconds: float = 900.0,
                 forget_seconds: float = 3600.0, max_keys: int = 50_000) -> None:
        self.max_failures, self.base_seconds, self.max_seconds = max_failures, base_seconds, max_seconds
        self.forget_seconds, self.max_keys = max(forget_seconds, max_seconds), max_keys
        self._keys: dict[str, _Failures] = {}
        self._lock = threading.Lock()

    def retry_after(self, keys: Iterable[str], now: float) -> float:
        """Seconds until every key may try again (0: not blocked)."""
        with self._lock:
            waits = [entry.blocked_until - now for key in keys if (entry := self._keys.get(key)) is not None]
        return max([0.0, *waits])

    def failure(self, keys: Iterable[str], now: float) -> None:
        with self._lock:
            if len(self._keys) >= self.max_keys:
                self._prune(now)
            for key in keys:
                entry = self._keys.get(key)
                if entry is None or now - entry.last > self.forget_seconds:
                    entry = self._keys[key] = _Failures()
                entry.count += 1
                entry.last = now
                if entry.count >= self.max_failures:
                    delay = self.base_seconds * 2 ** min(entry.count - self.max_failures, 30)
                    entry.blocked_until = now + min(delay, self.max_seconds)

    def success(self, keys: Iterable[str]) -> None:
        with self._lock:
            for key in keys:
                self._keys.pop(key, None)

    def _prune(self, now: float) -> None:
        stale = [k for k, e in self._keys.items() if now - e.last > self.forget_seconds and e.blocked_until <= now]
        for key in stale:
            del self._keys[key]
        if len(self._keys) >= self.max_keys:  # still full (a flood of addresses): drop the oldest half
            for key in sorted(self._keys, key=lambda k: self._keys[k].last)[: len(self._keys) // 2]:
                del self._keys[key]


__all__ = ["CSRF_COOKIE", "LANG_COOKIE", "SESSION_COOKIE", "LoginThrottle", "SessionCodec", "WebSession"]
