"""Setting up in the web: the on-call schedule (值班表), channels with 发送测试, adding a store with
测试连接 (the connector's Config as a Chinese form), and seller-console export upload with a preview
of the mapped columns before anything is imported.

Everything writes the same state as the API and the running service: the state database, and the
service's own sync database through its sync runner (never a second DuckDB connection)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy import select
from starlette.datastructures import UploadFile

from shopsentinel.alerting.routing import ROLES as DUTIES
from shopsentinel.core.errors import ImportFileError, InputError, ShopSentinelError
from shopsentinel.core.types import DEFAULT_TIMEZONES, PLATFORM_NAMES_ZH, PLATFORMS, Severity
from shopsentinel.store import oncall, provisioned
from shopsentinel.store.repository import audit, get_store
from shopsentinel.store.state import ChannelRow, StoreRow
from shopsentinel.store.users import list_users
from shopsentinel.web.core import (
    AdminUser,
    Csrf,
    EditorUser,
    Viewer,
    Web,
    WebState,
    local_time,
    parse_local,
    redirect,
    render,
    view_zone,
)
from shopsentinel.web.held_secrets import HELD_FIELD, held_secrets, hold_secrets
from shopsentinel.web.i18n import translate

router = APIRouter(include_in_schema=False)
MAX_MEMBERS = 8
BACKFILL_DAYS = 90  # TOP and most platforms keep about 3 months of orders
CONNECT_TIMEOUT = 30.0
MEDIA = ("im", "sms", "phone", "email")
CHANNEL_MEDIA = {"aliyun_sms": "sms", "tencent_sms": "sms", "aliyun_voice": "phone", "email": "email"}


def _form_dict(form: Any) -> dict[str, str]:
    return {k: str(v) for k, v in form.items() if k != "csrf" and not isinstance(v, UploadFile)}


# --- on-call schedule -----------------------------------------------------------------------------

def _usernames(web: WebState) -> list[tuple[str, str]]:
    with web.service.sessions() as session:
        return [(u.username, u.display_name or u.username) for u in list_users(session) if u.active]


def _oncall_page(request: Request, web: WebState, errors: list[str] | None = None, form: dict[str, Any] | None = None,
                 status_code: int = 200) -> Response:
    now = web.service.clock.now()
    with web.service.sessions() as session:
        schedules = oncall.list_schedules(session)
        managed = provisioned.sources(session, "oncall")
    zone = view_zone(request)
    rows = [{"spec": s, "on_duty": s.on_duty(now), "next_change": s.next_change(now),
             "shift": s.shift_at(now), "managed": managed.get(s.role)} for s in schedules]
    return render(request, "oncall.html", status_code=status_code, rows=rows, duties=DUTIES, users=_usernames(web),
                  errors=errors or [], form=form or {}, now=now, max_members=MAX_MEMBERS,
                  default_start=local_time(now, "%Y-%m-%dT00:00", zone))


@router.get("/oncall")
def oncall_page(request: Request, user: Viewer, web: Web) -> Response:
    form: dict[str, Any] = {}
    role = request.query_params.get("role", "")
    if role:
        with web.service.sessions() as session:
            spec = oncall.get_schedule(session, role)
        if spec is not None:
            zone = view_zone(request)
            form = {"role": spec.role, "rotation_days": str(spec.rotation_days),
                    "rotation_start": local_time(spec.rotation_start, "%Y-%m-%dT%H:%M", zone),
                    "shifts": "\n".join(f"{local_time(s.starts_at, '%Y-%m-%d %H:%M', zone)}, "
                                        f"{local_time(s.ends_at, '%Y-%m-%d %H:%M', zone)}, {s.user}" for s in spec.shifts),
                    **{f"member{i}": m for i, m in enumerate(spec.members)}}
        else:
            form = {"role": role}
    return _oncall_page(request, web, form=form)


def _parse_shifts(text: str, now: datetime, zone: ZoneInfo, lang: str) -> tuple[list[oncall.Shift], list[str]]:
    shifts: list[oncall.Shift] = []
    errors: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.replace("，", ",").split(",")]
        try:
            if len(parts) != 3:
                raise ValueError
            starts = parse_local(parts[0].replace(" ", "T"), now, zone)
            ends = parse_local(parts[1].replace(" ", "T"), now, zone)
        except ValueError:
            errors.append(translate(lang, "oncall.bad_shift", line=number))
            continue
        shifts.append(oncall.Shift(parts[2], starts, ends))
    return shifts, errors


@router.post("/oncall")
async def save_oncall(request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    form = await request.form()
    kept = _form_dict(form)
    lang = request.state.lang
    now, zone = web.service.clock.now(), view_zone(request)
    members = [m for m in (kept.get(f"member{i}", "").strip() for i in range(MAX_MEMBERS)) if m]
    shifts, errors = _parse_shifts(kept.get("shifts", ""), now, zone, lang)
    try:
        start = parse_local(kept.get("rotation_start", "") or local_time(now, "%Y-%m-%dT00:00", zone), now, zone)
    except ValueError:
        errors.append(translate(lang, "oncall.bad_start"))
        start = now
    try:
        days = int(kept.get("rotation_days", "7") or 7)
    except ValueError:
        errors.append(translate(lang, "oncall.bad_days"))
        days = 7
    spec = oncall.OnCallSpec(kept.get("role", ""), members, start, days, zone.key, shifts)
    with web.service.sessions() as session:
        source = provisioned.source_of(session, "oncall", spec.role)
    if source is not None:
        return _oncall_page(request, web, [translate(lang, "provisioning.managed", file=source)], kept, status_code=409)
    if not errors:
        with web.service.sessions() as session:
            try:
                oncall.put_schedule(session, spec, roles=DUTIES, actor=user.username, now=now)
            except InputError as exc:
                errors.append(exc.reason)
            else:
                audit(session, user.username, "oncall.put", spec.role, now, members=len(members), shifts=len(shifts), via="web")
                session.commit()
    if errors:
        return _oncall_page(request, web, errors, kept, status_code=422)
    return redirect(request, "/oncall")


@router.post("/oncall/{role}/delete")
def delete_oncall(role: str, request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    now = web.service.clock.now()
    with web.service.sessions() as session:
        source = provisioned.source_of(session, "oncall", role)
        if source is not None:
            raise HTTPException(status.HTTP_409_CONFLICT, provisioned.managed_message(source))
        if not oncall.delete_schedule(session, role):
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no on-call schedule for {role!r}")
        audit(session, user.username, "oncall.delete", role, now, via="web")
        session.commit()
    return redirect(request, "/oncall")


# --- form fields from a pydantic Config -------------------------------------------------------------

def model_fields(model: type[BaseModel], secrets: set[str]) -> list[dict[str, Any]]:
    """A form description of a Config: name, input kind, required, secret, description, default."""
    out = []
    for name, info in model.model_fields.items():
        annotation = info.annotation
        args = get_args(annotation)
        kind = "text"
        if annotation is bool:
            kind = "checkbox"
        elif get_origin(annotation) in (list, tuple) or any(get_origin(a) in (list, tuple) for a in args):
            kind = "list"
        elif annotation in (int, float) or any(a in (int, float) for a in args):
            kind = "number"
        secret = name in secrets or annotation is SecretStr or SecretStr in args
        default = None if info.is_required() or secret else info.get_default(call_default_factory=True)
        if isinstance(default, list | tuple):
            default = ", ".join(str(d) for d in default)
        elif isinstance(default, BaseModel | dict):
            default = None
        out.append({"name": name, "kind": kind, "required": info.is_required(), "secret": secret,
                    "description": info.description or "", "default": default})
    return out


def config_values(fields: list[dict[str, Any]], form: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields:
        raw = form.get(f"cfg_{f['name']}", "")
        if f["kind"] == "checkbox":
            values[f["name"]] = raw == "on"
        elif raw.strip() == "":
            continue
        elif raw.strip()[0] in "{[":  # structured settings (the generic source's auth, streams…) as JSON
            try:
                values[f["name"]] = json.loads(raw)
            except ValueError:
                values[f["name"]] = raw
        elif f["kind"] == "list":
            values[f["name"]] = [p.strip() for p in raw.replace("，", ",").split(",") if p.strip()]
        else:
            values[f["name"]] = raw.strip()
    return values


def _errors(exc: ValidationError) -> list[str]:
    return [f"{'.'.join(str(p) for p in e['loc']) or '-'}: {e['msg']}" for e in exc.errors(include_input=False)]


def _redact(text: str, secrets: list[str]) -> str:
    for value in secrets:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _secret_values(config: BaseModel) -> list[str]:
    return [v.get_secret_value() for v in config.__dict__.values() if isinstance(v, SecretStr)]


# --- channels -------------------------------------------------------------------------------------

def _channel_page(request: Request, web: WebState, kind: str, errors: list[str] | None = None,
                  form: dict[str, str] | None = None, outcome: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    from shopsentinel.notify import repository as channel_repo

    registry = web.service.channels
    kind = kind if kind in registry.keys() else "dingtalk"
    spec = registry.spec(kind)
    fields = model_fields(spec.config_model, set(channel_repo.secret_field_names(registry, kind)))
    with web.service.sessions() as session:
        rows = [(r, channel_repo.public_settings(registry, r)) for r in session.scalars(select(ChannelRow).order_by(ChannelRow.id))]
        managed = provisioned.sources(session, "channel")
        session.expunge_all()
    return render(request, "channels.html", status_code=status_code, rows=rows, kinds=registry.keys(), kind=kind,
                  managed=managed,
                  description=spec.description, fields=fields, errors=errors or [], form=form or {}, outcome=outcome,
                  media=MEDIA, medium=CHANNEL_MEDIA.get(kind, "im"))


@router.get("/channels")
def channels_page(request: Request, user: AdminUser, web: Web) -> Response:
    return _channel_page(request, web, request.query_params.get("kind", "dingtalk"))


@router.post("/channels")
async def save_channel(request: Request, user: AdminUser, _csrf: Csrf, web: Web) -> Response:
    from shopsentinel.core.secrets import SecretBox, SecretKeyError
    from shopsentinel.notify import repository as channel_repo

    form = _form_dict(await request.form())
    registry, lang = web.service.channels, request.state.lang
    kind = form.get("kind", "")
    if kind not in registry.keys():
        return _channel_page(request, web, "dingtalk", [translate(lang, "channels.bad_kind", kind=kind)], form, status_code=422)
    name, receiver, medium = form.get("name", "").strip(), form.get("receiver", "").strip() or "default", form.get("medium", "im")
    errors = []
    if not name or len(name) > 100 or not all(c.isalnum() and c.isascii() or c in "_.-" for c in name):
        errors.append(translate(lang, "channels.bad_name"))
    if medium not in MEDIA:
        errors.append(translate(lang, "channels.bad_medium"))
    fields = model_fields(registry.spec(kind).config_model, set(channel_repo.secret_field_names(registry, kind)))
    values = config_values(fields, form)
    kept = {k: v for k, v in form.items() if not any(k == f"cfg_{f['name']}" and f["secret"] for f in fields)}
    if errors:
        return _channel_page(request, web, kind, errors, kept, status_code=422)
    with web.service.sessions() as session:
        source = provisioned.source_of(session, "channel", name)
    if source is not None:
        return _channel_page(request, web, kind, [translate(lang, "provisioning.managed", file=source)], kept, status_code=409)
    try:
        sealed = channel_repo.seal_channel_settings(registry, SecretBox(web.service.secret_keys()), kind, values)
    except InputError as exc:
        return _channel_page(request, web, kind, [exc.reason], kept, status_code=422)
    except SecretKeyError:
        return _channel_page(request, web, kind, [translate(lang, "channels.no_key")], kept, status_code=503)
    now = web.service.clock.now()
    with web.service.sessions() as session:
        row = session.scalars(select(ChannelRow).where(ChannelRow.name == name)).first()
        if row is None:
            session.add(ChannelRow(name=name, kind=kind, medium=medium, receiver=receiver, settings=sealed, per_minute=None,
                                   created_by=user.username, created_at=now))
        else:
            row.kind, row.medium, row.receiver, row.settings = kind, medium, receiver, sealed
        audit(session, user.username, "channel.put", name, now, kind=kind, medium=medium, receiver=receiver, via="web")
        session.commit()
    return redirect(request, "/channels")


async def send_test(web: WebState, row: ChannelRow, lang: str) -> dict[str, Any]:
    """Send one test message through the channel as configured; the outcome in words (secrets masked)."""
    from shopsentinel.core.errors import DeliveryError
    from shopsentinel.core.secrets import SecretBox, SecretKeyError
    from shopsentinel.notify import Notification
    from shopsentinel.notify import repository as channel_repo

    now = web.service.clock.now()
    registry = web.service.channels
    secrets: list[str] = []
    try:
        names = [n for n in channel_repo.secret_field_names(registry, row.kind) if n in row.settings]
        opened = SecretBox(web.service.secret_keys()).open_fields(row.settings, names)
        secrets = [str(opened[n]) for n in names if opened.get(n)]
        notifier = registry.build(row.kind, opened, clock=web.service.clock)
        note = Notification(key=f"test:{row.name}:{int(now.timestamp())}", severity=Severity.INFO,
                            title=translate(lang, "channels.test_title"), alerts=[], recipients=[])
        async with httpx.AsyncClient(timeout=15.0) as client:
            result = await notifier.send(note, client)
    except (DeliveryError, SecretKeyError, InputError, httpx.HTTPError) as exc:
        return {"ok": False, "name": row.name, "error": _redact(f"{type(exc).__name__}: {exc}", secrets)}
    return {"ok": True, "name": row.name, "message_id": result.provider_message_id or ""}


@router.post("/channels/{name}/test")
async def test_channel(name: str, request: Request, user: AdminUser, _csrf: Csrf, web: Web) -> Response:
    with web.service.sessions() as session:
        row = session.scalars(select(ChannelRow).where(ChannelRow.name == name)).first()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no channel {name!r}")
        session.expunge(row)
    outcome = await send_test(web, row, request.state.lang)
    now = web.service.clock.now()
    with web.service.sessions() as session:
        audit(session, user.username, "channel.test", name, now, ok=outcome["ok"], via="web")
        session.commit()
    return _channel_page(request, web, row.kind, outcome=outcome, status_code=200 if outcome["ok"] else 502)


# --- adding a store: credentials form, 测试连接, backfill ------------------------------------------------

def _store_form_fields(platform: str) -> list[dict[str, Any]]:
    from shopsentinel.sources.registry import entry, secret_fields

    model = entry(platform).config_model
    return [f for f in model_fields(model, set(secret_fields(model))) if f["name"] != "store"]


def _new_store_page(request: Request, web: WebState, platform: str, errors: list[str] | None = None,
                    form: dict[str, str] | None = None, check: dict[str, Any] | None = None, status_code: int = 200,
                    held: str = "") -> Response:
    platform = platform if platform in PLATFORMS else "tmall"
    now = web.service.clock.now()
    fields = _store_form_fields(platform)
    for f in fields:
        if f["name"] == "start" and not f["default"]:
            f["default"] = local_time(now - timedelta(days=BACKFILL_DAYS), "%Y-%m-%dT00:00", view_zone(request))
    return render(request, "store_new.html", status_code=status_code, platforms=PLATFORMS, names=PLATFORM_NAMES_ZH,
                  platform=platform, fields=fields, errors=errors or [], form=form or {}, check=check,
                  timezone=(form or {}).get("timezone") or DEFAULT_TIMEZONES.get(platform, "Asia/Shanghai"),
                  sync_enabled=web.service.settings.sync_db is not None, backfill_days=BACKFILL_DAYS, held=held)


@router.get("/stores/new")
def new_store(request: Request, user: EditorUser, web: Web) -> Response:
    return _new_store_page(request, web, request.query_params.get("platform", "tmall"))


async def check_connection(platform: str, config: BaseModel, web: WebState) -> tuple[bool, str]:
    """The connector's own check against the platform: sign in and read the first page of its first
    stream. Returns (ok, what happened); errors never repeat a secret."""
    from shopsentinel.sources.registry import build_source

    secrets = _secret_values(config)
    source = build_source(platform, config, clock=web.service.clock)
    try:
        stream = source.streams()[0]
        pages = source.pages(stream, {}, web.service.clock.now())
        try:
            page = await asyncio.wait_for(anext(pages), CONNECT_TIMEOUT)
            count = len(getattr(page, "entities", []) or [])
        except StopAsyncIteration:
            count = 0
        finally:
            await pages.aclose()
    except TimeoutError:
        return False, f"timeout after {CONNECT_TIMEOUT:g}s"
    except (ShopSentinelError, httpx.HTTPError, ValueError) as exc:
        return False, _redact(str(exc), secrets)
    finally:
        await source.aclose()
    return True, f"{stream}: {count}"


@router.post("/stores/new")
async def create_store(request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    from shopsentinel.core.secrets import SecretBox, SecretKeyError
    from shopsentinel.ingest.sync_state import StoreRecord
    from shopsentinel.sources.registry import entry, seal_config
    from shopsentinel.web.pages_config import SyncBusy, _sync_db

    form = _form_dict(await request.form())
    lang = request.state.lang
    platform = form.get("platform", "")
    if platform not in PLATFORMS:
        return _new_store_page(request, web, "tmall", [translate(lang, "setup.bad_platform", value=platform)], form, status_code=422)
    fields = _store_form_fields(platform)
    for name, value in held_secrets(web.service.secret_keys, form).items():  # typed again wins over what a test held
        if not form.get(f"cfg_{name}"):
            form[f"cfg_{name}"] = value
    kept = {k: v for k, v in form.items()
            if k != HELD_FIELD and not any(k == f"cfg_{f['name']}" and f["secret"] for f in fields)}
    store, timezone = form.get("store", "").strip(), form.get("timezone", "").strip()
    errors: list[str] = []
    if not store or len(store) > 200:
        errors.append(translate(lang, "setup.bad_store"))
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(translate(lang, "setup.bad_timezone", value=timezone))
    values = config_values(fields, form)
    now = web.service.clock.now()
    if "start" in values:
        try:
            values["start"] = parse_local(str(values["start"]), now, view_zone(request)).isoformat()
        except ValueError:
            errors.append(translate(lang, "setup.bad_start"))
    config = None
    if not errors:
        try:
            config = entry(platform).config_model.model_validate({**values, "store": store})
        except ValidationError as exc:
            errors += _errors(exc)
    if errors or config is None:
        return _new_store_page(request, web, platform, errors, kept, status_code=422)
    if form.get("action") == "test":
        ok, detail = await check_connection(platform, config, web)
        with web.service.sessions() as session:
            audit(session, user.username, "store.test_connection", f"{platform}/{store}", now, ok=ok, via="web")
            session.commit()
        return _new_store_page(request, web, platform, form=kept, check={"ok": ok, "detail": detail},
                               status_code=200 if ok else 502, held=hold_secrets(web.service.secret_keys, fields, form) if ok else "")
    if web.service.settings.sync_db is None:
        return _new_store_page(request, web, platform, [translate(lang, "stores.sync_off")], kept, status_code=503)
    start = getattr(config, "start", None) or now - timedelta(days=BACKFILL_DAYS)
    try:
        sealed = seal_config(platform, config, SecretBox(web.service.secret_keys()))
        with _sync_db(web, wait=3.0) as db:
            if db is None:
                return _new_store_page(request, web, platform, [translate(lang, "stores.sync_off")], kept, status_code=503)
            db.put_store(StoreRecord(platform, store, timezone, start.astimezone(UTC), sealed))
    except SyncBusy:
        return _new_store_page(request, web, platform, [translate(lang, "stores.sync_busy")], kept, status_code=503)
    except SecretKeyError:
        return _new_store_page(request, web, platform, [translate(lang, "channels.no_key")], kept, status_code=503)
    with web.service.sessions() as session:
        if get_store(session, platform, store) is None:
            session.add(StoreRow(platform=platform, store=store, name=form.get("name", "").strip() or store,
                                 timezone=timezone, created_at=now))
        audit(session, user.username, "store.create", f"{platform}/{store}", now, via="web")
        session.commit()
    return redirect(request, f"/stores/{platform}/{store}?saved=1")


# --- seller-console export upload -------------------------------------------------------------------

def _imports_page(request: Request, web: WebState, errors: list[str] | None = None, form: dict[str, str] | None = None,
                  preview: dict[str, Any] | None = None, done: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    from shopsentinel.sources.exports import CONSOLES

    with web.service.sessions() as session:
        from shopsentinel.store.repository import list_stores

        stores = [(s.platform, s.store) for s in list_stores(session)]
    return render(request, "imports.html", status_code=status_code, platforms=PLATFORMS, names=PLATFORM_NAMES_ZH,
                  consoles={k: c.title for k, c in CONSOLES.items()}, stores=stores, errors=errors or [], form=form or {},
                  preview=preview, done=done)


@router.get("/imports")
def imports_page(request: Request, user: EditorUser, web: Web) -> Response:
    return _imports_page(request, web)


def read_upload(web: WebState, name: str, body: bytes, platform: str, store: str, zone: str, console: str | None) -> Any:
    """Parse an export (never writes): the reader's result, the mapped columns (header → metric), per-metric sums."""
    from shopsentinel.sources.exports.preview import parse_upload

    return parse_upload(name, body, platform=platform, store=store, timezone=zone, console=console)


@router.post("/imports")
async def upload_export(request: Request, user: EditorUser, _csrf: Csrf, web: Web) -> Response:
    from shopsentinel.runtime.ingest import PointLimits, frame_to_raw, validate_points, write_points
    from shopsentinel.sources.exports import CONSOLES

    form = await request.form()
    kept = _form_dict(form)
    kept.pop("content", None)
    lang = request.state.lang
    platform, store = kept.get("platform", ""), kept.get("store", "").strip()
    errors = []
    if platform not in PLATFORMS:
        errors.append(translate(lang, "setup.bad_platform", value=platform))
    if not store:
        errors.append(translate(lang, "setup.bad_store"))
    upload, content = form.get("file"), str(form.get("content", ""))
    most = web.service.settings.max_upload_bytes
    name, body = kept.get("filename", "upload.csv"), b""
    if isinstance(upload, UploadFile) and upload.filename:
        name, body = Path(upload.filename).name, await upload.read(most + 1)
    elif content:
        try:
            body = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            errors.append(translate(lang, "imports.no_file"))
    else:
        errors.append(translate(lang, "imports.no_file"))
    if Path(name).suffix.lower() not in (".csv", ".xlsx", ".xlsm"):
        errors.append(translate(lang, "imports.bad_suffix", name=name))
    if len(body) > most:
        errors.append(translate(lang, "imports.too_big", most=most))
    console = kept.get("console") or None
    if console is not None and console not in CONSOLES:
        errors.append(translate(lang, "imports.bad_console", value=console))
    with web.service.sessions() as session:
        known = get_store(session, platform, store)
    zone = kept.get("timezone") or (known.timezone if known else DEFAULT_TIMEZONES.get(platform, "UTC"))
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors.append(translate(lang, "setup.bad_timezone", value=zone))
    if errors:
        return _imports_page(request, web, errors, kept, status_code=422)
    try:
        parsed = read_upload(web, name, body, platform, store, zone, console)
        result, mapped = parsed.result, parsed.mapped
    except ImportFileError as exc:
        return _imports_page(request, web, [str(exc)], kept, status_code=422)
    now = web.service.clock.now()
    points, rejected = validate_points(frame_to_raw(result.frame), web.service.catalog,
                                        PointLimits.from_settings(web.service.settings, now))
    frame = result.frame
    per_metric = parsed.per_metric()
    catalog = web.service.catalog
    preview = {"file": name, "console": CONSOLES[result.console].title, "rows": result.rows, "hourly": result.hourly,
               "timezone": zone, "points": frame.height, "unmapped": result.unmapped_columns,
               "first": frame["ts"].min() if frame.height else None, "last": frame["ts"].max() if frame.height else None,
               "columns": [{"header": h, "metric": m, "name": _metric_name(catalog, m, lang),
                            "points": per_metric.get(m, (0, 0))[0], "total": per_metric.get(m, (0, 0))[1]} for h, m in mapped],
               "rejected": [f"{translate(lang, 'imports.point')} {r.index + 1}: {r.reason}" for r in rejected[:5]],
               "rejected_count": len(rejected), "content": base64.b64encode(body).decode()}
    if kept.get("action") != "import" or rejected:
        return _imports_page(request, web, form={**kept, "filename": name}, preview=preview,
                             status_code=422 if rejected else 200)
    with web.service.sessions() as session:
        write_points(web.service, session, points, user=user.username, now=now)
        audit(session, user.username, "import.upload", f"{platform}/{store}", now, file=name, points=len(points), via="web")
        session.commit()
    web.service.metrics.count_points(len(points), 0)
    return _imports_page(request, web, form={"platform": platform, "store": store},
                         done={"file": name, "points": len(points), "platform": platform, "store": store})


def _metric_name(catalog: Any, metric: str, lang: str) -> str:
    try:
        definition = catalog.get(metric)
    except (KeyError, ValueError):
        return metric
    return str(definition.name_en if lang == "en" else definition.name_zh)


__all__ = ["check_connection", "config_values", "model_fields", "router", "send_test"]
