"""Subscriptions (千人千警): a user or a role subscribes by platform, store, category, severity."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from shopsentinel.alerting.routing import Subscription
from shopsentinel.api.deps import DbSession, Editor, Now, Reader, RowId
from shopsentinel.api.provisioned import refuse_if_provisioned
from shopsentinel.api.routing_schemas import SubscriptionPublic
from shopsentinel.store import provisioned
from shopsentinel.store.repository import audit
from shopsentinel.store.state import SubscriptionRow

router = APIRouter(prefix="/api/v1/subscriptions", tags=["routing"])


def _public(row: SubscriptionRow, session: DbSession) -> SubscriptionPublic:
    return SubscriptionPublic(provisioned_from=provisioned.source_of(session, "subscription", str(row.id)), id=row.id, subscription=Subscription.model_validate(row.body), created_by=row.created_by,
                              created_at=row.created_at)


@router.get("", response_model=list[SubscriptionPublic])
def list_subscriptions(session: DbSession, _reader: Reader) -> list[SubscriptionPublic]:
    return [_public(r, session) for r in session.scalars(select(SubscriptionRow).order_by(SubscriptionRow.id)).all()]


NEEDS_TARGET = "a subscription needs a user or a role"


def target_problem(body: Subscription) -> str | None:
    """What the API refuses in a subscription beyond its model (also checked for provisioning files)."""
    return NEEDS_TARGET if body.user is None and body.role is None else None


@router.post("", response_model=SubscriptionPublic, status_code=status.HTTP_201_CREATED)
def create_subscription(body: Subscription, session: DbSession, principal: Editor, now: Now) -> SubscriptionPublic:
    problem = target_problem(body)
    if problem is not None:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, problem)
    row = SubscriptionRow(body=body.model_dump(mode="json"), created_by=principal.user, created_at=now)
    session.add(row)
    session.flush()
    audit(session, principal.user, "subscription.create", str(row.id), now, **row.body)
    session.commit()
    return _public(row, session)


@router.delete("/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_subscription(subscription_id: RowId, session: DbSession, principal: Editor, now: Now) -> None:
    refuse_if_provisioned(session, "subscription", str(subscription_id))
    row = session.get(SubscriptionRow, subscription_id)
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no subscription {subscription_id}")
    session.delete(row)
    audit(session, principal.user, "subscription.delete", str(subscription_id), now)
    session.commit()
