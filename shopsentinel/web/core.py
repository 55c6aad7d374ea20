"""What every alert-center page shares: the signed session, the signed-in user, CSRF checks,
the language, role checks and rendering (which also refreshes the session cookie).

Roles: viewers see everything but change nothing; editors change alerts, rules, silences,
routing and stores; admins also manage users. The server enforces it (403 page); templates
only hide the buttons.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from shopsentinel.runtime.service import Service
from shopsentinel.store.repository import ROLES
from shopsentinel.store.users import LOCALES, get_user
from shopsentinel.web.i18n import translate
from shopsentinel.web.sessions import (
    CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    LoginThrottle,
    SessionCodec,
    WebSession,
)

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")


def format_number(value: float | None) -> str:
    """Values as people read them: ``121,317``, ``4.54``, ``0.0238``; ``—`` for none.

    >>> format_number(121317.2), format_number(4.5391), format_number(0.023781), format_number(None)
    ('121,317', '4.54', '0.0238', '—')
    """
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}" if value != int(value) else f"{value:.0f}"


templates.env.filters["num"] = format_number


# --- local time -----------------------------------------------------------------------------------
# People read local time: every page shows and every form takes times in the viewer's zone
# (settings.display_timezone, default Asia/Shanghai); the API and the database stay UTC.
DEFAULT_ZONE = "Asia/Shanghai"
_VIEW_ZONE: ContextVar[ZoneInfo | None] = ContextVar("view_zone", default=None)
ZONE_NAMES = {"Asia/Shanghai": ("北京时间", "Beijing time"), "Asia/Hong_Kong": ("香港时间", "Hong Kong time"),
              "UTC": ("UTC", "UTC")}


def as_utc(value: datetime) -> datetime:
    """The database hands naive UTC back on SQLite: make it aware."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M", zone: ZoneInfo | None = None) -> str:
    """A stored (UTC) time as the viewer reads it: in ``zone``, else the zone of the page being rendered.

    >>> token = _VIEW_ZONE.set(ZoneInfo("Asia/Shanghai"))
    >>> local_time(datetime(2026, 11, 10, 16, 0, tzinfo=UTC)), local_time(None)
    ('2026-11-11 00:00', '—')
    >>> _VIEW_ZONE.reset(token)
    """
    if value is None:
        return "—"
    return as_utc(value).astimezone(zone or _VIEW_ZONE.get() or ZoneInfo(DEFAULT_ZONE)).strftime(fmt)


def zone_label(zone: ZoneInfo, lang: str) -> str:
    """``北京时间`` / ``Beijing time`` for Asia/Shanghai, else the zone's name."""
    zh, en = ZONE_NAMES.get(zone.key, (zone.key, zone.key))
    return en if lang == "en" else zh


def parse_local(text: str, now: datetime, zone: ZoneInfo) -> datetime:
    """A form time: ``2h`` / ``3d`` / ``30m`` from now, or a datetime-local value read in the
    viewer's zone (an explicit ``Z`` or offset wins), returned in UTC. ``ValueError`` otherwise.

    >>> now = datetime(2026, 11, 10, tzinfo=UTC)
    >>> parse_local("2026-11-11T00:00", now, ZoneInfo("Asia/Shanghai"))
    datetime.datetime(2026, 11, 10, 16, 0, tzinfo=datetime.timezone.utc)
    >>> parse_local("2h", now, ZoneInfo("Asia/Shanghai")) - now
    datetime.timedelta(seconds=7200)
    """
    text = text.strip()
    if text[:-1].isdigit() and text[-1:] in ("h", "d", "m"):
        unit = {"h": "hours", "d": "days", "m": "minutes"}[text[-1]]
        return now + timedelta(**{unit: int(text[:-1])})
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    value = value if value.tzinfo is not None else value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def view_zone(request: Request) -> ZoneInfo:
    """The zone this request's pages use: the signed-in person's own (users.timezone), else the
    installation's display zone."""
    own = getattr(request.state, "zone", "")
    if own:
        try:
            return ZoneInfo(own)
        except (ZoneInfoNotFoundError, ValueError):
            pass  # validated when saved; a zone this machine no longer knows falls back
    web: WebState = request.app.state.web
    return ZoneInfo(web.service.settings.display_timezone)


templates.env.globals["local_time"] = local_time

SELLER_BACKENDS = {
    "tmall": "https://myseller.taobao.com",
    "taobao": "https://myseller.taobao.com",
    "jd": "https://shop.jd.com",
    "douyin": "https://fxg.jinritemai.com",
    "pdd": "https://mms.pinduoduo.com",
    "amazon": "https://sellercentral.amazon.com",
    "shopify": "https://{store}.myshopify.com/admin",
}


def safe_path(url: str, default: str = "/") -> str:
    """A local path to redirect to; anything that could leave the site (``//host``, ``/\\host``, ``http:``) is ``default``."""
    return url if url.startswith("/") and not url.startswith("//") and "\\" not in url else default


def seller_backend(platform: str, store: str) -> str | None:
    url = SELLER_BACKENDS.get(platform)
    return url.format(store=quote(store, safe="")) if url else None


class LoginRequired(Exception):
    """No valid session: the page redirects to the login form."""


class Forbidden(Exception):
    """Signed in, but the role does not allow this."""

    def __init__(self, needed: str) -> None:
        super().__init__(needed)
        self.needed = needed


class CsrfFailed(Exception):
    """A POST without the session's CSRF token."""


_THROTTLE_LOCK = threading.Lock()


@dataclass
class WebState:
    service: Service
    codec: SessionCodec
    throttle: LoginThrottle | None = None  # built from the settings on first use

    def now_ts(self) -> float:
        return self.service.clock.now().timestamp()

    def login_throttle(self) -> LoginThrottle:
        """The back-off of wrong passwords per address and account (settings ``login_*``)."""
        with _THROTTLE_LOCK:
            if self.throttle is None:
                settings = self.service.settings
                self.throttle = LoginThrottle(settings.login_max_failures, settings.login_backoff_seconds,
                                              settings.login_backoff_max_seconds)
            return self.throttle


def web_state(request: Request) -> WebState:
    state: WebState = request.app.state.web
    return state


@dataclass(frozen=True)
class WebUser:
    username: str
    display_name: str
    role: str
    lang: str
    csrf: str

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def request_lang(request: Request, saved: str | None = None) -> str:
    asked = request.query_params.get("lang")
    if asked in LOCALES:
        return str(asked)
    cookie = request.cookies.get(LANG_COOKIE)
    if cookie in LOCALES:
        return str(cookie)
    return saved if saved in LOCALES else "zh-CN"


def current_user(request: Request, web: Annotated[WebState, Depends(web_state)]) -> WebUser:
    now = web.now_ts()
    session = web.codec.read(request.cookies.get(SESSION_COOKIE), now)
    if session is None:
        raise LoginRequired()
    with web.service.sessions() as db:
        row = get_user(db, session.user)
        if row is None or not row.active or session.generation != (row.session_generation or 0):
            raise LoginRequired()
        lang = request_lang(request, row.locale)
        if lang != row.locale and request.query_params.get("lang") in LOCALES:
            row.locale = lang  # the switch is remembered per user
            db.commit()
        user = WebUser(row.username, row.display_name or row.username, row.role, lang, session.csrf)
        zone = row.timezone or ""
    request.state.session_cookie = web.codec.touch(session, now)
    request.state.lang = lang
    request.state.zone = zone
    request.state.user = user
    return user


def _needs(role: str) -> Any:
    def check(user: Annotated[WebUser, Depends(current_user)]) -> WebUser:
        if not user.can(role):
            raise Forbidden(role)
        return user

    return check


async def check_csrf(request: Request, user: Annotated[WebUser, Depends(current_user)]) -> None:
    """Double submit tied to the session: the form field (or X-CSRF-Token header), the csrf cookie
    and the token inside the signed session must all agree."""
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        form = await request.form()
        value = form.get("csrf")
        sent = value if isinstance(value, str) else None
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not sent or not hmac.compare_digest(sent, user.csrf) or not hmac.compare_digest(cookie, user.csrf):
        raise CsrfFailed()


Viewer = Annotated[WebUser, Depends(current_user)]
EditorUser = Annotated[WebUser, Depends(_needs("editor"))]
AdminUser = Annotated[WebUser, Depends(_needs("admin"))]
Csrf = Annotated[None, Depends(check_csrf)]
Web = Annotated[WebState, Depends(web_state)]


def _finish(request: Request, response: Response) -> Response:
    cookie = getattr(request.state, "session_cookie", None)
    web: WebState = request.app.state.web
    if cookie:
        response.set_cookie(SESSION_COOKIE, cookie, max_age=int(web.codec.idle_seconds), httponly=True, samesite="lax",
                            secure=request.url.scheme == "https", path="/")
        user: WebUser | None = getattr(request.state, "user", None)
        if user is not None:
            response.set_cookie(CSRF_COOKIE, user.csrf, httponly=False, samesite="lax",
                                secure=request.url.scheme == "https", path="/")
    lang = getattr(request.state, "lang", None)
    if lang and request.query_params.get("lang") in LOCALES:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    user: WebUser | None = getattr(request.state, "user", None)
    lang = getattr(request.state, "lang", None) or request_lang(request)

    def t(key: str, **kw: Any) -> str:
        return translate(lang, key, **kw)

    context.setdefault("csrf", user.csrf if user else context.get("csrf", ""))
    other = "en" if lang != "en" else "zh-CN"
    switch = request.url.include_query_params(lang=other)
    zone = view_zone(request)
    token = _VIEW_ZONE.set(zone)  # the template renders here, on this thread
    try:
        response = templates.TemplateResponse(request, name, {
            "user": user, "lang": lang, "t": t, "path": request.url.path, "switch_url": f"{switch.path}?{switch.query}",
            "zone_label": zone_label(zone, lang), **context}, status_code=status_code)
    finally:
        _VIEW_ZONE.reset(token)
    return _finish(request, response)


def redirect(request: Request, url: str) -> Response:
    return _finish(request, RedirectResponse(url, status_code=303))


def html(request: Request, body: str, status_code: int = 200) -> Response:
    return _finish(request, HTMLResponse(body, status_code=status_code))


def new_csrf() -> str:
    return secrets.token_urlsafe(24)


__all__ = [
    "AdminUser", "Csrf", "CsrfFailed", "EditorUser", "Forbidden", "LoginRequired", "SELLER_BACKENDS", "Viewer", "Web",
    "WebSession", "WebState", "WebUser", "current_user", "new_csrf", "redirect", "render", "request_lang", "safe_path",
    "seller_backend",
    "templates",
]
