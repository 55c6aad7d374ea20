"""Logging in and out, the language switch, and the user directory (admins only)."""

from __future__ import annotations

import hmac
import math
from typing import Annotated

from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import Response

from shopsentinel.core.errors import InputError
from shopsentinel.store.repository import audit
from shopsentinel.store.users import (
    LOCALES,
    UserInput,
    authenticate,
    create_user,
    get_user,
    list_users,
    update_user,
)
from shopsentinel.web.core import (
    AdminUser,
    Csrf,
    Viewer,
    Web,
    new_csrf,
    redirect,
    render,
    request_lang,
    safe_path,
)
from shopsentinel.web.sessions import CSRF_COOKIE, SESSION_COOKIE

router = APIRouter(include_in_schema=False)
ROLES_SHOWN = ("viewer", "editor", "admin")
# the zones offered in the user form (any IANA name is accepted through the API)
USER_ZONES = ("Asia/Shanghai", "Asia/Hong_Kong", "Asia/Taipei", "Asia/Singapore", "Asia/Tokyo", "Asia/Seoul",
              "Asia/Bangkok", "Asia/Kolkata", "Asia/Dubai", "Europe/London", "Europe/Berlin", "Europe/Paris",
              "America/New_York", "America/Chicago", "America/Los_Angeles", "Australia/Sydney", "UTC")


def _login_page(request: Request, error: str = "", status_code: int = 200) -> Response:
    token = request.cookies.get(CSRF_COOKIE) or new_csrf()
    response = render(request, "login.html", status_code=status_code, csrf=token, error=error,
                      next=safe_path(request.query_params.get("next", "/")))
    response.set_cookie(CSRF_COOKIE, token, httponly=False, samesite="lax", path="/")
    if request.query_params.get("lang") in LOCALES:
        response.set_cookie("ss_lang", request_lang(request), max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    return _login_page(request)


@router.post("/login")
def login(request: Request, web: Web, username: Annotated[str, Form(max_length=100)], password: Annotated[str, Form(max_length=200)],
          csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "/") -> Response:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not csrf or not cookie or not hmac.compare_digest(csrf, cookie):
        return _login_page(request, "csrf", status.HTTP_403_FORBIDDEN)
    throttle = web.login_throttle()
    keys = [f"ip:{request.client.host if request.client else '?'}", f"user:{username.strip().lower()}"]
    wait = throttle.retry_after(keys, web.now_ts())
    if wait > 0:  # backing off: no password is checked (the right one included), nothing written
        response = _login_page(request, "too_many", status.HTTP_429_TOO_MANY_REQUESTS)
        response.headers["Retry-After"] = str(math.ceil(wait))
        return response
    with web.service.sessions() as session:
        row = authenticate(session, username, password)
        now = web.service.clock.now()
        audit(session, username, "web.login" if row else "web.login_failed", username, now)
        session.commit()
        locale = row.locale if row else None
        generation = (row.session_generation or 0) if row else 0
    if row is None:
        throttle.failure(keys, web.now_ts())
        return _login_page(request, "bad_login", status.HTTP_401_UNAUTHORIZED)
    throttle.success(keys[1:])
    cookie_value = web.codec.issue(username, web.now_ts(), generation)
    response = redirect(request, safe_path(next))
    response.set_cookie(SESSION_COOKIE, cookie_value, max_age=int(web.codec.idle_seconds), httponly=True, samesite="lax",
                        secure=request.url.scheme == "https", path="/")
    session_csrf = web.codec.read(cookie_value, web.now_ts())
    if session_csrf is not None:
        response.set_cookie(CSRF_COOKIE, session_csrf.csrf, httponly=False, samesite="lax", path="/")
    if locale and not request.cookies.get("ss_lang"):
        response.set_cookie("ss_lang", locale, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.post("/logout")
def logout(request: Request, user: Viewer, _csrf: Csrf, web: Web) -> Response:
    request.state.session_cookie = None  # do not refresh the session this request ends
    with web.service.sessions() as session:  # server-side: every cookie of this user issued so far is void
        row = get_user(session, user.username)
        if row is not None:
            row.session_generation = (row.session_generation or 0) + 1
        audit(session, user.username, "web.logout", user.username, web.service.clock.now())
        session.commit()
    response = redirect(request, "/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/users")
def users(request: Request, user: AdminUser, web: Web) -> Response:
    return _users_page(request, web)


def _users_page(request: Request, web: Web, error: str = "", status_code: int = 200) -> Response:
    from shopsentinel.alerting.routing import ROLE_NAMES_ZH, ROLES

    with web.service.sessions() as session:
        rows = list_users(session)
        session.expunge_all()
    return render(request, "users.html", status_code=status_code, rows=rows, roles=ROLES_SHOWN, duties=ROLES,
                  duty_names=ROLE_NAMES_ZH, error=error, zones=USER_ZONES)


@router.post("/users")
async def save_user(request: Request, user: AdminUser, _csrf: Csrf, web: Web) -> Response:
    """Create a user, or update one when ``existing`` is set (an empty password keeps the old one)."""
    form = await request.form()
    username = str(form.get("username", "")).strip()
    data = UserInput(username=username, role=str(form.get("role", "viewer")), password=str(form.get("password", "")) or None,
                     display_name=str(form.get("display_name", "")).strip(), duties=[str(d) for d in form.getlist("duties")],
                     email=str(form.get("email", "")).strip(), phone=str(form.get("phone", "")).strip(),
                     locale=str(form.get("locale", "zh-CN")), timezone=str(form.get("timezone", "")).strip(),
                     active=form.get("active", "on") == "on")
    now = web.service.clock.now()
    with web.service.sessions() as session:
        try:
            if form.get("existing"):
                row = get_user(session, username)
                if row is None:
                    raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username}")
                if row.username == user.username and data.role != "admin":
                    raise InputError("you cannot remove your own admin role", field="role")
                update_user(session, row, data)
                action = "user.update"
            else:
                create_user(session, data, now)
                action = "user.create"
        except InputError as exc:
            return _users_page(request, web, exc.reason, 422)
        audit(session, user.username, action, username, now, role=data.role, via="web")
        session.commit()
    return redirect(request, "/users")
