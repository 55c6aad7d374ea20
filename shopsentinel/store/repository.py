"""Repositories of the service: every SQL statement the API needs lives here, not in routes.

Stores, the calendar, API tokens, the audit log and rule-pack versions. Alerts, comments,
feedback, incidents, silences and the outbox are in :mod:`shopsentinel.alerting.repository`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import case, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from shopsentinel.catalog.festivals import seed_events
from shopsentinel.core.secrets import sealed_values
from shopsentinel.core.types import DEFAULT_TIMEZONES, CalendarEvent
from shopsentinel.store.response_state import PlaybookRow
from shopsentinel.store.state import ApiTokenRow, AuditRow, CalendarRow, ChannelRow, RulePackRow, StoreRow

ROLES = ("viewer", "editor", "admin")


# --- stores -----------------------------------------------------------------------------------

def stores_by_key(session: Session, keys: Iterable[tuple[str, str]]) -> list[StoreRow]:
    keys = list(keys)
    if not keys:
        return []
    query = select(StoreRow).where(tuple_(StoreRow.platform, StoreRow.store).in_(keys)).order_by(StoreRow.id)
    return list(session.scalars(query).all())


def all_store_keys(session: Session) -> list[tuple[str, str]]:
    return [(p, s) for p, s in session.execute(select(StoreRow.platform, StoreRow.store).order_by(StoreRow.id)).all()]


def stale_store_keys(session: Session, before: datetime) -> list[tuple[str, str]]:
    """Stores with points whose last evaluation ended before ``before`` (or that were never evaluated)."""
    query = (select(StoreRow.platform, StoreRow.store)
             .where(StoreRow.first_point_at.is_not(None))
             .where(or_(StoreRow.evaluated_until.is_(None), StoreRow.evaluated_until < before))
             .order_by(StoreRow.id))
    return [(p, s) for p, s in session.execute(query).all()]


def calendar_signature(session: Session) -> tuple[int, int]:
    """Changes whenever an event is added or deleted: (count, highest id)."""
    count, top = session.execute(select(func.count(CalendarRow.id), func.max(CalendarRow.id))).one()
    return int(count or 0), int(top or 0)


def list_stores(session: Session) -> list[StoreRow]:
    return list(session.scalars(select(StoreRow).order_by(StoreRow.platform, StoreRow.store)).all())


def get_store(session: Session, platform: str, store: str) -> StoreRow | None:
    return session.scalars(select(StoreRow).where(StoreRow.platform == platform, StoreRow.store == store)).first()


def note_points(session: Session, spans: dict[tuple[str, str], tuple[datetime, datetime]], now: datetime) -> list[StoreRow]:
    """Register unknown stores (platform default time zone) and widen their point span.
    Returns the stores that were created.

    Safe under concurrency: two requests bringing the first points of one new store both insert
    with ON CONFLICT DO NOTHING (only one creates it), and the span is widened by one UPDATE with
    the comparison in SQL, so neither request loses the other's hours."""
    if not spans:
        return []
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    known = {(r.platform, r.store) for r in stores_by_key(session, spans)}
    created_keys = []
    for (platform, store), (lo, hi) in spans.items():
        if (platform, store) in known:
            continue
        stmt = insert(StoreRow).values(
            platform=platform, store=store, name=store, timezone=DEFAULT_TIMEZONES.get(platform, "UTC"), currency="",
            first_point_at=lo, last_point_at=hi, created_at=now,
        ).on_conflict_do_nothing(index_elements=["platform", "store"]).returning(StoreRow.id)
        if session.execute(stmt).first() is not None:
            created_keys.append((platform, store))
    for (platform, store), (lo, hi) in spans.items():
        first, last = StoreRow.first_point_at, StoreRow.last_point_at
        session.execute(
            update(StoreRow)
            .where(StoreRow.platform == platform, StoreRow.store == store)
            .values(first_point_at=case((first.is_(None) | (first > lo), lo), else_=first),
                    last_point_at=case((last.is_(None) | (last < hi), hi), else_=last))
            .execution_options(synchronize_session=False)
        )
    session.expire_all()
    return stores_by_key(session, created_keys) if created_keys else []


# --- calendar ---------------------------------------------------------------------------------

def calendar_events(session: Session) -> list[CalendarEvent]:
    rows = session.scalars(select(CalendarRow).order_by(CalendarRow.starts_at, CalendarRow.id)).all()
    return [CalendarEvent(r.starts_at, r.ends_at, r.platform, r.store, r.name, r.kind) for r in rows]


def list_calendar(session: Session) -> list[CalendarRow]:
    return list(session.scalars(select(CalendarRow).order_by(CalendarRow.starts_at, CalendarRow.id)).all())


def add_calendar_event(session: Session, event: CalendarEvent) -> CalendarRow:
    row = CalendarRow(starts_at=event.start, ends_at=event.end, platform=event.platform, store=event.store,
                      name=event.name, kind=event.kind)
    session.add(row)
    session.flush()
    return row


def seed_calendar(session: Session, year: int, countries: Sequence[str]) -> tuple[list[str], int]:
    """Add ``year``'s holidays and platform festivals (:mod:`shopsentinel.catalog.festivals`) that are
    not there yet (same name, start, platform and store); returns (names added, how many skipped).
    ``NotImplementedError``/``KeyError`` for a country the holidays package does not know."""
    events = seed_events(year, [c.strip().upper() for c in countries if c.strip()])
    have = {(r.name, r.starts_at if r.starts_at.tzinfo else r.starts_at.replace(tzinfo=UTC), r.platform, r.store)
            for r in list_calendar(session)}
    added: list[str] = []
    for event in events:
        key = (event.name, event.start, event.platform, event.store)
        if key not in have:
            have.add(key)
            add_calendar_event(session, event)
            added.append(event.name)
    return added, len(events) - len(added)


def delete_calendar_event(session: Session, event_id: int) -> bool:
    row = session.get(CalendarRow, event_id)
    if row is None:
        return False
    session.delete(row)
    return True


# --- API tokens -------------------------------------------------------------------------------

def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_user(session: Session, token: str) -> ApiTokenRow | None:
    row = session.scalars(select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_token(token))).first()
    return None if row is None or row.revoked else row


def create_token(session: Session, user: str, role: str, now: datetime, token: str | None = None) -> tuple[ApiTokenRow, str]:
    """Store a token's hash only; return the row and the plain token (shown once)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    plain = token or secrets.token_urlsafe(32)
    row = ApiTokenRow(token_hash=hash_token(plain), user=user, role=role, revoked=False, created_at=now)
    session.add(row)
    session.flush()
    return row, plain


BOOTSTRAP_TOKEN_MIN_LENGTH = 16


def check_bootstrap_token(token: str) -> None:
    """A bootstrap token must be long enough not to be guessed (``ValueError`` otherwise, never echoing it)."""
    if len(token) < BOOTSTRAP_TOKEN_MIN_LENGTH:
        raise ValueError(
            f"SHOPSENTINEL_BOOTSTRAP_TOKEN 太短（{len(token)} 个字符，至少需要 {BOOTSTRAP_TOKEN_MIN_LENGTH} 个）/ "
            f"SHOPSENTINEL_BOOTSTRAP_TOKEN is too short ({len(token)} characters, at least "
            f"{BOOTSTRAP_TOKEN_MIN_LENGTH} required); e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'")


def ensure_bootstrap_token(session: Session, token: str, user: str, now: datetime) -> bool:
    """Create the admin token from ``SHOPSENTINEL_BOOTSTRAP_TOKEN`` unless it exists, and revoke every
    earlier bootstrap token (rotating the setting retires the old value). Earlier bootstrap tokens are
    the ones audited as ``token.bootstrap`` and, from before that audit, the admin tokens of ``user``
    that no ``token.create`` (the API) made. Returns whether a token was created."""
    check_bootstrap_token(token)
    current = session.scalars(select(ApiTokenRow).where(ApiTokenRow.token_hash == hash_token(token))).first()
    created = current is None
    if current is None:
        current, _ = create_token(session, user, "admin", now, token)
        audit(session, "system", "token.bootstrap", str(current.id), now, user=user)
    elif current.revoked and _revoked_by_rotation(session, current.id):
        # rotated back to an earlier value (a configuration rollback): the setting is the bootstrap
        # token again. One an admin revoked by hand stays revoked.
        current.revoked = False
        audit(session, "system", "token.bootstrap", str(current.id), now, user=user, restored=True)
    audited = select(AuditRow.action, AuditRow.target).where(AuditRow.action.in_(("token.bootstrap", "token.create")))
    by_action: dict[str, set[str]] = {"token.bootstrap": set(), "token.create": set()}
    for action, target in session.execute(audited).all():
        by_action[action].add(target)
    for row in session.scalars(select(ApiTokenRow).where(ApiTokenRow.id != current.id, ApiTokenRow.revoked.is_(False))):
        key = str(row.id)
        legacy = row.user == user and row.role == "admin" and key not in by_action["token.create"]
        if key in by_action["token.bootstrap"] or legacy:
            row.revoked = True
            audit(session, "system", "token.revoke", key, now, reason="bootstrap token rotated")
    return created


def _revoked_by_rotation(session: Session, token_id: int) -> bool:
    """Whether the last revocation of the token was a bootstrap rotation (not an admin's)."""
    last = session.scalars(select(AuditRow).where(AuditRow.action == "token.revoke", AuditRow.target == str(token_id))
                           .order_by(AuditRow.id.desc()).limit(1)).first()
    return last is not None and last.actor == "system" and last.detail.get("reason") == "bootstrap token rotated"


def sealed_secrets(session: Session) -> list[str]:
    """Every value sealed with the service key in the state database (channel settings, playbook
    integrations): what the key is checked against at start."""
    values: list[str] = []
    for settings in session.scalars(select(ChannelRow.settings)):
        values.extend(sealed_values(settings))
    for body in session.scalars(select(PlaybookRow.body)):
        values.extend(sealed_values(body))
    return values


def list_tokens(session: Session) -> list[ApiTokenRow]:
    return list(session.scalars(select(ApiTokenRow).order_by(ApiTokenRow.id)).all())


def revoke_token(session: Session, token_id: int) -> bool:
    row = session.get(ApiTokenRow, token_id)
    if row is None:
        return False
    row.revoked = True
    return True


# --- audit log --------------------------------------------------------------------------------

def audit(session: Session, actor: str, action: str, target: str, now: datetime, **detail: Any) -> None:
    session.add(AuditRow(ts=now, actor=actor, action=action, target=target, detail=detail))


def list_audit(session: Session, limit: int = 200) -> list[AuditRow]:
    return list(session.scalars(select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)).all())


# --- rule packs -------------------------------------------------------------------------------

def latest_rule_pack(session: Session) -> RulePackRow | None:
    return session.scalars(select(RulePackRow).order_by(RulePackRow.version.desc()).limit(1)).first()


def rule_pack_versions(session: Session) -> list[RulePackRow]:
    return list(session.scalars(select(RulePackRow).order_by(RulePackRow.version.desc())).all())


def save_rule_pack(session: Session, body: dict[str, Any], actor: str, now: datetime) -> RulePackRow:
    current = session.scalar(select(func.max(RulePackRow.version)))
    row = RulePackRow(version=(current or 0) + 1, body=body, created_by=actor, created_at=now)
    session.add(row)
    session.flush()
    return row


__all__ = [
    "ROLES",
    "add_calendar_event",
    "all_store_keys",
    "calendar_signature",
    "audit",
    "calendar_events",
    "create_token",
    "delete_calendar_event",
    "seed_calendar",
    "BOOTSTRAP_TOKEN_MIN_LENGTH",
    "check_bootstrap_token",
    "ensure_bootstrap_token",
    "sealed_secrets",
    "get_store",
    "hash_token",
    "latest_rule_pack",
    "list_audit",
    "list_calendar",
    "list_stores",
    "stale_store_keys",
    "list_tokens",
    "note_points",
    "revoke_token",
    "rule_pack_versions",
    "save_rule_pack",
    "stores_by_key",
    "token_user",
]
