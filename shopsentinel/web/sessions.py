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


__all__ = ["CSRF_COOKIE", "LANG_COOKIE", "SESSION_COOKIE", "SessionCodec", "WebSession"]
