"""Silences, the business calendar, subscriptions and escalation policies, stores with their
connector credentials form, and the metric catalog."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Form, HTTPException, Request, status
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select

from shopsentinel.alerting import repository as alerts
from shopsentinel.alerting.escalation import EscalationPolicy
from shopsentinel.alerting.routing import ROLES as DUTIES
from shopsentinel.alerting.routing import Subscription
from shopsentinel.alerting.silences import Matcher
from shopsentinel.core.types import CalendarEvent
from shopsentinel.store import provisioned
from shopsentinel.store.repository import (
    add_calendar_event,
    audit,
    delete_calendar_event,
    get_store,
    list_calendar,
    list_stores,
    seed_calendar,
)
from shopsentinel.store.state import EscalationPolicyRow, SubscriptionRow
from shopsentinel.web.core import (
    Csrf,
    EditorUser,
    Viewer,
    Web,
    WebState,
    parse_local,
    redirect,
    render,
    seller_backend,
    view_zone,
)

router = APIRouter(include_in_schema=False)
MATCHER_NAMES = ("platform", "store", "sku", "rule", "metric", "severity", "kind")


def _errors(exc: ValidationError) -> list[str]:
    """Field and reason only: pydantic's text would repeat the input (which may hold secrets)."""
    return [f"{'.'.join(str(p) for p in e['loc']) or '-'}: {e['msg']}" for e in exc.errors()]


# --- silences -----------------------------------------------------------------------------------

def _silence_page(request: Request, web: Web, errors: list[str] | None = None, status_code: int = 200,
                  form: dict[str, Any] | None = None) -> Response:
    now = web.service.clock.now()
    with web.service.sessions() as session:
        rows = alerts.list_silences(session)
        session.expunge_all()
    rows.sort(key=lambda r: (not (r.starts_at <= now < r.ends_at), -r.id))
    return render(request, "silences.html", status_code=status_code, rows=rows, now=now, names=MATCHER_NAMES,
                  errors=errors or [], form=form or {})


@router.get("/silences")
def silences(request: Request, user: Viewer, web: Web) -> Response:
    return _silence_page(request, web, form=dict(request.query_params))


@router.post("/silences")
async def create_silence(request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    form = await request.form()
    now = web.service.clock.now()
    matchers: list[Matcher] = []
    errors: list[str] = []
    for i in range(5):
        name, value = str(form.get(f"name{i}", "")), str(form.get(f"value{i}", "")).strip()
        if not value:
            continue
        try:
            matchers.append(Matcher(name=name, value=value, regex=form.get(f"regex{i}") == "on"))  # type: ignore[arg-type]
        except ValidationError as exc:
            errors += _errors(exc)
    if not matchers and not errors:
        errors.append("matchers: at least one")
    try:
        ends = parse_local(str(form.get("ends", "")), now, view_zone(request))
        if ends <= now:
            errors.append("ends: must be in the future")
    except ValueError:
        errors.append("ends: 时间（YYYY-MM-DDTHH:MM，本地时间）或时长如 2h、3d / a local time (YYYY-MM-DDTHH:MM) or a duration such as 2h or 3d")
        ends = now
    comment = str(form.get("comment", ""))[:2000]
    if errors:
        return _silence_page(request, web, errors, 422, {k: str(v) for k, v in form.items() if k != "csrf"})
    with web.service.sessions() as session:
        row = alerts.add_silence(session, [m.model_dump() for m in matchers], now, ends, comment, user.username, now)
        audit(session, user.username, "silence.create", str(row.id), now, matchers=row.matchers, via="web")
        session.commit()
    return redirect(request, "/silences")


@router.post("/silences/{silence_id}/expire")
def expire_silence(silence_id: int, request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    now = web.service.clock.now()
    with web.service.sessions() as session:
        row = alerts.get_silence(session, silence_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no silence {silence_id}")
        alerts.expire_silence(session, row, now)
        audit(session, user.username, "silence.expire", str(row.id), now, via="web")
        session.commit()
    return redirect(request, "/silences")


# --- calendar -----------------------------------------------------------------------------------

@router.get("/calendar")
def calendar(request: Request, user: Viewer, web: Web) -> Response:
    with web.service.sessions() as session:
        rows = list_calendar(session)
        session.expunge_all()
    return render(request, "calendar.html", rows=rows, errors=[], now_year=web.service.clock.now().year)


@router.post("/calendar")
def add_event(request: Request, user: EditorUser, _csrf: Csrf, web: Web, name: Annotated[str, Form(min_length=1, max_length=200)],
              start: Annotated[str, Form()], end: Annotated[str, Form()],
              kind: Annotated[str, Form(pattern="^(promotion|holiday|maintenance)$")] = "promotion",
              platform: Annotated[str, Form(max_length=64)] = "", store: Annotated[str, Form(max_length=200)] = "") -> Response:
    now = web.service.clock.now()
    try:
        zone = view_zone(request)
        starts, ends = parse_local(start, now, zone), parse_local(end, now, zone)
    except ValueError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "开始/结束时间格式应为 YYYY-MM-DDTHH:MM（本地时间）/ start/end: YYYY-MM-DDTHH:MM (local time)") from None
    if ends <= starts:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "end must be after start")
    with web.service.sessions() as session:
        row = add_calendar_event(session, CalendarEvent(starts, ends, platform, store, name, kind))
        audit(session, user.username, "calendar.add", str(row.id), now, name=name, kind=kind, via="web")
        session.commit()
    return redirect(request, "/calendar")


@router.post("/calendar/seed")
def seed_year(request: Request, user: EditorUser, _csrf: Csrf, web: Web, year: Annotated[int, Form(ge=2004, le=2100)],
              countries: Annotated[str, Form(max_length=200)] = "US") -> Response:
    """导入节假日与大促: the year's Chinese holidays (调休 named), overseas holidays and platform festivals."""
    now = web.service.clock.now()
    with web.service.sessions() as session:
        try:
            added, _skipped = seed_calendar(session, year, countries.replace("，", ",").split(","))
        except (NotImplementedError, KeyError):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                                f"未知国家代码 / unknown country code: {countries}") from None
        audit(session, user.username, "calendar.seed", str(year), now, added=len(added), via="web")
        session.commit()
    return redirect(request, "/calendar")


@router.post("/calendar/{event_id}/delete")
def delete_event(event_id: int, request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    now = web.service.clock.now()
    with web.service.sessions() as session:
        if not delete_calendar_event(session, event_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no calendar event {event_id}")
        audit(session, user.username, "calendar.delete", str(event_id), now, via="web")
        session.commit()
    return redirect(request, "/calendar")


# --- subscriptions and escalation -----------------------------------------------------------------
# Every value a subscription or policy names must be able to match: platforms from core.types, metric
# categories from the catalog (plus ``data`` for data alerts), duties from the routing roles, people
# from the user directory. Anything else is refused, Chinese first, with the input kept.

DATA_CATEGORY = "data"
MAX_STEPS = 5


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.replace("，", ",").split(",") if p.strip()]


def _many(form: Any, name: str) -> list[str]:
    """A multi-valued field (checkboxes or a multiple select); a value may itself be a comma list."""
    out: list[str] = []
    for value in form.getlist(name):
        out += [v for v in _split(str(value)) if v not in out]
    return out


def categories(web: WebState) -> list[str]:
    return sorted({m.category for m in web.service.catalog}) + [DATA_CATEGORY]


def _people(web: WebState) -> list[tuple[str, str]]:
    from shopsentinel.store.users import list_users

    with web.service.sessions() as session:
        return [(u.username, u.display_name or u.username) for u in list_users(session) if u.active]


def _choice_errors(lang: str, field: str, values: list[str], allowed: list[str], names: dict[str, str] | None = None) -> list[str]:
    from shopsentinel.web.i18n import translate

    out = []
    for value in values:
        if value in allowed:
            continue
        hint = next((k for k, v in (names or {}).items() if v == value), None)
        out.append(translate(lang, "routing.unknown_" + field, value=value, known=", ".join(allowed))
                   + (translate(lang, "routing.did_you_mean", value=hint) if hint else ""))
    return out


def _routing_page(request: Request, web: Web, errors: list[str] | None = None, status_code: int = 200,
                  form: dict[str, Any] | None = None) -> Response:
    from shopsentinel.alerting.routing_repository import policies_in_tree, stored_routing_config
    from shopsentinel.core.types import PLATFORM_NAMES_ZH, PLATFORMS

    with web.service.sessions() as session:
        subs = [(r.id, Subscription.model_validate(r.body)) for r in session.scalars(select(SubscriptionRow).order_by(SubscriptionRow.id))]
        policies = [(r.name, EscalationPolicy.model_validate(r.body)) for r in
                    session.scalars(select(EscalationPolicyRow).order_by(EscalationPolicyRow.name))]
        config = stored_routing_config(session)
        stores = sorted({s.store for s in list_stores(session)})
        managed_subs = {int(ref): src for ref, src in provisioned.sources(session, "subscription").items() if ref.isdigit()}
        managed_policies = provisioned.sources(session, "escalation_policy")
    return render(request, "routing.html", status_code=status_code, subs=subs, policies=policies, duties=DUTIES,
                  managed_subs=managed_subs, managed_policies=managed_policies,
                  errors=errors or [], form=form or {}, platforms=PLATFORMS, platform_names=PLATFORM_NAMES_ZH,
                  categories=categories(web), people=_people(web), stores=stores, in_tree=policies_in_tree(config),
                  root_policy=config.route.escalation_policy, max_steps=MAX_STEPS)


@router.get("/routing")
def routing(request: Request, user: Viewer, web: Web) -> Response:
    return _routing_page(request, web)


def _kept(form: Any) -> dict[str, Any]:
    kept: dict[str, Any] = {}
    for key in form.keys():
        if key == "csrf":
            continue
        values = [str(v) for v in form.getlist(key)]
        kept[key] = values if len(values) > 1 or key in ("platforms", "categories", "stores") else values[0]
    return kept


@router.post("/subscriptions")
async def add_subscription(request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    from shopsentinel.core.types import PLATFORM_NAMES_ZH, PLATFORMS
    from shopsentinel.web.i18n import translate

    form = await request.form()
    kept = _kept(form)
    lang = request.state.lang
    who, role = str(form.get("who", "")).strip(), str(form.get("role", "")).strip()
    platforms, stores, cats = _many(form, "platforms"), _many(form, "stores"), _many(form, "categories")
    errors = _choice_errors(lang, "platform", platforms, list(PLATFORMS), PLATFORM_NAMES_ZH)
    errors += _choice_errors(lang, "category", cats, categories(web))
    if role:
        errors += _choice_errors(lang, "role", [role], list(DUTIES), {d: translate(lang, "duty." + d) for d in DUTIES})
    if who and who not in {u for u, _ in _people(web)}:
        errors.append(translate(lang, "routing.unknown_user", value=who))
    if not who and not role:
        errors.append(translate(lang, "routing.needs_who"))
    if errors:
        return _routing_page(request, web, errors, 422, kept)
    try:
        sub = Subscription(user=who or None, role=role or None, platforms=platforms, stores=stores, categories=cats,
                           min_severity=str(form.get("min_severity", "info")))  # type: ignore[arg-type]
    except ValidationError as exc:
        return _routing_page(request, web, _errors(exc), 422, kept)
    now = web.service.clock.now()
    with web.service.sessions() as session:
        row = SubscriptionRow(body=sub.model_dump(mode="json"), created_by=user.username, created_at=now)
        session.add(row)
        session.flush()
        audit(session, user.username, "subscription.create", str(row.id), now, via="web", **row.body)
        session.commit()
    return redirect(request, "/routing")


@router.post("/subscriptions/{sub_id}/delete")
def delete_subscription(sub_id: int, request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    now = web.service.clock.now()
    with web.service.sessions() as session:
        _refuse_managed(session, "subscription", str(sub_id))
        row = session.get(SubscriptionRow, sub_id)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription {sub_id}")
        session.delete(row)
        audit(session, user.username, "subscription.delete", str(sub_id), now, via="web")
        session.commit()
    return redirect(request, "/routing")


def _refuse_managed(session: Any, kind: str, ref: str) -> None:
    """A provisioned object is read-only here too: 409 naming its file."""
    source = provisioned.source_of(session, kind, ref)
    if source is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, provisioned.managed_message(source))


def _yaml_error(lang: str, exc: yaml.YAMLError) -> str:
    from shopsentinel.web.i18n import translate

    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", "") or exc).strip()
    if mark is not None:
        return translate(lang, "routing.yaml_line", line=mark.line + 1, column=mark.column + 1, problem=problem)
    return translate(lang, "routing.yaml_bad", problem=problem)


def _policy_from_steps(form: Any) -> dict[str, Any]:
    """The structured policy form: name, up to MAX_STEPS (minutes, target ``role:x`` / ``user:y``), business hours."""
    steps = []
    for i in range(MAX_STEPS):
        target = str(form.get(f"step{i}_target", "")).strip()
        if not target:
            continue
        kind, _, value = target.partition(":")
        minutes = str(form.get(f"step{i}_after", "0")).strip() or "0"
        steps.append({"after_minutes": minutes, ("user" if kind == "user" else "role"): value})
    body: dict[str, Any] = {"name": str(form.get("name", "")).strip(), "steps": steps}
    if form.get("business_hours") == "on":
        body["business_hours"] = {}
    return body


@router.post("/escalation")
async def put_policy(request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    """A policy from the step form, or as YAML (``body``): ``name``, ``steps: [{after_minutes, role|user}]``,
    optional ``business_hours``. ``scope=all`` (the default) makes it the routing tree's root policy, so
    it takes effect for every alert at once; ``scope=none`` only saves it (a route names it)."""
    from shopsentinel.alerting.routing_repository import attach_escalation_policy
    from shopsentinel.web.i18n import translate

    form = await request.form()
    kept = _kept(form)
    lang = request.state.lang
    text = str(form.get("body", ""))
    if len(text) > 50_000:
        return _routing_page(request, web, [translate(lang, "routing.too_long")], 422, kept)
    if text.strip():
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            return _routing_page(request, web, [_yaml_error(lang, exc)], 422, kept)
        if not isinstance(raw, dict):
            return _routing_page(request, web, [translate(lang, "routing.yaml_mapping")], 422, kept)
    else:
        raw = _policy_from_steps(form)
    try:
        policy = EscalationPolicy.model_validate(raw)
    except ValidationError as exc:
        return _routing_page(request, web, _errors(exc), 422, kept)
    people = {u for u, _ in _people(web)}
    errors = _choice_errors(lang, "role", [s.role for s in policy.steps if s.role is not None], list(DUTIES),
                            {d: translate(lang, "duty." + d) for d in DUTIES})
    errors += [translate(lang, "routing.unknown_user", value=s.user) for s in policy.steps if s.user is not None and s.user not in people]
    if errors:
        return _routing_page(request, web, errors, 422, kept)
    now = web.service.clock.now()
    with web.service.sessions() as session:
        source = provisioned.source_of(session, "escalation_policy", policy.name)
        if source is not None:
            return _routing_page(request, web, [translate(lang, "provisioning.managed", file=source)], 409, kept)
        routing_source = provisioned.source_of(session, "routing", provisioned.ROUTING_REF)
        if routing_source is not None and str(form.get("scope", "all")) == "all":
            return _routing_page(request, web, [translate(lang, "provisioning.routing_managed", file=routing_source)], 409, kept)
        row = session.scalars(select(EscalationPolicyRow).where(EscalationPolicyRow.name == policy.name)).first()
        stored = policy.model_dump(mode="json")
        if row is None:
            session.add(EscalationPolicyRow(name=policy.name, body=stored, created_by=user.username, created_at=now))
        else:
            row.body = stored
        session.flush()
        if str(form.get("scope", "all")) == "all":
            attach_escalation_policy(session, policy.name, user.username, now)
        audit(session, user.username, "escalation_policy.put", policy.name, now, steps=len(policy.steps), via="web",
              scope=str(form.get("scope", "all")))
        session.commit()
    return redirect(request, "/routing")


@router.post("/escalation/{name}/delete")
def delete_policy(name: str, request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    from shopsentinel.alerting.routing_repository import attach_escalation_policy, stored_routing_config

    now = web.service.clock.now()
    with web.service.sessions() as session:
        _refuse_managed(session, "escalation_policy", name)
        row = session.scalars(select(EscalationPolicyRow).where(EscalationPolicyRow.name == name)).first()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no escalation policy {name!r}")
        session.delete(row)
        if stored_routing_config(session).route.escalation_policy == name:
            attach_escalation_policy(session, None, user.username, now)
        audit(session, user.username, "escalation_policy.delete", name, now, via="web")
        session.commit()
    return redirect(request, "/routing")


# --- stores and connectors ------------------------------------------------------------------------

@contextmanager
def _sync_db(web: WebState, wait: float) -> Iterator[Any]:
    """The service's sync database (``SHOPSENTINEL_SYNC_DB``; the service owns the file) while no sync
    runs: yields None when sync is not configured, raises :class:`SyncBusy` if a sync holds it."""
    if web.service.settings.sync_db is None:
        yield None
        return

    with web.service.sync_runner().database(wait) as db:
        if db is None:
            raise SyncBusy()
        yield db


class SyncBusy(Exception):
    """A platform sync is running and holds the sync database."""


def _sync_status(web: WebState, platform: str, store: str) -> dict[str, Any]:
    try:
        with _sync_db(web, wait=1.0) as db:
            if db is None:
                return {"configured": None, "enabled": False}
            record = db.store(platform, store)
            health = db.health(platform, store) if record is not None else None
    except SyncBusy:
        return {"configured": None, "enabled": True}
    if record is None or health is None:
        return {"configured": False, "enabled": True}
    now = web.service.clock.now()
    progress = None  # the backfill: how much of start → now the sync has covered
    if health.synced_until is not None and now > record.start:
        progress = max(0, min(100, round(100 * (health.synced_until - record.start) / (now - record.start))))
    return {"configured": True, "enabled": True, "last_success": health.last_success, "last_attempt": health.last_attempt,
            "synced_until": health.synced_until, "error": health.last_error or "", "start": record.start,
            "progress": progress}


@router.get("/stores")
def stores(request: Request, user: Viewer, web: Web) -> Response:
    from shopsentinel.web.queries import overview

    now = web.service.clock.now()
    with web.service.sessions() as session:
        health = overview(session, now, days=1).stores
        rows = {(r.platform, r.store): r for r in list_stores(session)}
        session.expunge_all()
    return render(request, "stores.html", health=health, rows=rows, now=now)


def _store_page(request: Request, web: Web, platform: str, store: str, errors: list[str] | None = None,
                saved: bool = False, status_code: int = 200) -> Response:
    from shopsentinel.sources.registry import PLATFORMS, config_fields

    with web.service.sessions() as session:
        row = get_store(session, platform, store)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no store {platform}/{store}")
        session.expunge_all()
    fields = config_fields(platform) if platform in PLATFORMS else []
    suggested = {"store": row.store, "start": f"{row.first_point_at or web.service.clock.now():%Y-%m-%dT%H:%M:%SZ}"}
    for f in fields:  # the store's own id and first point are the natural values of these two
        if f["default"] is None and f["name"] in suggested:
            f["default"] = suggested[f["name"]]
    return render(request, "store.html", status_code=status_code, s=row, fields=fields, sync=_sync_status(web, platform, store),
                  errors=errors or [], saved=saved, backend=seller_backend(platform, store), now=web.service.clock.now())


@router.get("/stores/{platform}/{store}")
def store_detail(platform: str, store: str, request: Request, user: Viewer, web: Web) -> Response:
    return _store_page(request, web, platform, store, saved=request.query_params.get("saved") == "1")


@router.post("/stores/{platform}/{store}/credentials")
async def save_credentials(platform: str, store: str, request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    """Validate the connector Config from the form, seal its secret fields and store it for the sync engine.
    Secrets are never echoed back: errors name the field and the reason only."""
    from shopsentinel.core.secrets import SecretBox, load_keys
    from shopsentinel.ingest.sync_state import StoreRecord
    from shopsentinel.sources.registry import PLATFORMS, entry, seal_config

    if platform not in PLATFORMS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no connector for platform {platform!r}")
    from shopsentinel.web.i18n import translate

    lang = request.state.lang
    if web.service.settings.sync_db is None:
        return _store_page(request, web, platform, store, [translate(lang, "stores.sync_off")], status_code=503)
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if k != "csrf" and str(v) != ""}
    try:
        config = entry(platform).config_model.model_validate(values)
    except ValidationError as exc:
        return _store_page(request, web, platform, store, _errors(exc), status_code=422)
    now = web.service.clock.now()
    with web.service.sessions() as session:
        row = get_store(session, platform, store)
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no store {platform}/{store}")
        timezone, start = row.timezone, row.first_point_at or now
    try:
        with _sync_db(web, wait=3.0) as db:
            if db is None:
                return _store_page(request, web, platform, store, [translate(lang, "stores.sync_off")], status_code=503)
            db.put_store(StoreRecord(platform, store, timezone, start, seal_config(platform, config, SecretBox(load_keys()))))
    except SyncBusy:
        return _store_page(request, web, platform, store, [translate(lang, "stores.sync_busy")], status_code=503)
    with web.service.sessions() as session:
        audit(session, user.username, "store.credentials", f"{platform}/{store}", now, via="web")
        session.commit()
    return redirect(request, f"/stores/{platform}/{store}?saved=1")


# --- metric catalog -------------------------------------------------------------------------------

@router.get("/catalog")
def catalog(request: Request, user: Viewer, web: Web) -> Response:
    metrics = list(web.service.catalog)
    items = [m.as_dict() for m in metrics]
    history = {str(d["id"]): [h.as_dict() for h in web.service.catalog.history(str(d["id"]))] for d in items}
    return render(request, "catalog.html", items=items, history=history)
