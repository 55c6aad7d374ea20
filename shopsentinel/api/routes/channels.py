"""Channels of receivers (a DingTalk robot, an SMS account, ...). Secret settings are sealed with
the service's SecretBox before they are stored and are never returned; admin only."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from shopsentinel.api.deps import Admin, DbSession, Now, ServiceDep
from shopsentinel.api.provisioned import refuse_if_provisioned
from shopsentinel.api.routing_schemas import ChannelCreate, ChannelPublic
from shopsentinel.core.errors import InputError
from shopsentinel.core.secrets import SecretBox, SecretKeyError
from shopsentinel.notify import repository as repo
from shopsentinel.runtime.service import Service
from shopsentinel.store import provisioned
from shopsentinel.store.repository import audit
from shopsentinel.store.state import ChannelRow

router = APIRouter(prefix="/api/v1/channels", tags=["routing"])


def _public(service: Service, row: ChannelRow, session: DbSession) -> ChannelPublic:
    return ChannelPublic(provisioned_from=provisioned.source_of(session, "channel", row.name), id=row.id, name=row.name, kind=row.kind, medium=row.medium, receiver=row.receiver,
                         settings=repo.public_settings(service.channels, row),
                         secret_fields=repo.secret_field_names(service.channels, row.kind), per_minute=row.per_minute,
                         created_by=row.created_by, created_at=row.created_at)


@router.get("", response_model=list[ChannelPublic])
def list_channels(service: ServiceDep, session: DbSession, _admin: Admin) -> list[ChannelPublic]:
    return [_public(service, r, session) for r in session.scalars(select(ChannelRow).order_by(ChannelRow.id)).all()]


@router.put("", response_model=ChannelPublic)
def put_channel(body: ChannelCreate, service: ServiceDep, session: DbSession, principal: Admin, now: Now) -> ChannelPublic:
    """Create or replace the channel called ``body.name``."""
    refuse_if_provisioned(session, "channel", body.name)
    try:
        sealed = repo.seal_channel_settings(service.channels, SecretBox(service.secret_keys()), body.kind, body.settings)
    except InputError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    except SecretKeyError as exc:  # a degraded start: never seal with a key that was made up just now
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                            f"密钥不可用，无法保存渠道机密 / the secret key is unavailable: {exc}") from None
    row = session.scalars(select(ChannelRow).where(ChannelRow.name == body.name)).first()
    if row is None:
        row = ChannelRow(name=body.name, created_by=principal.user, created_at=now, kind=body.kind, medium=body.medium,
                         receiver=body.receiver, settings=sealed, per_minute=body.per_minute)
        session.add(row)
    else:
        row.kind, row.medium, row.receiver, row.settings, row.per_minute = (
            body.kind, body.medium, body.receiver, sealed, body.per_minute)
    session.flush()
    audit(session, principal.user, "channel.put", body.name, now, kind=body.kind, medium=body.medium, receiver=body.receiver)
    session.commit()
    return _public(service, row, session)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_channel(name: str, session: DbSession, principal: Admin, now: Now) -> None:
    refuse_if_provisioned(session, "channel", name)
    row = session.scalars(select(ChannelRow).where(ChannelRow.name == name)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no channel {name!r}")
    session.delete(row)
    audit(session, principal.user, "channel.delete", name, now)
    session.commit()
