"""Escalation policies: steps (on-duty → supervisor → director) with business hours."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import select

from shopsentinel.alerting.escalation import EscalationPolicy
from shopsentinel.api.deps import DbSession, Editor, Now, Reader
from shopsentinel.api.provisioned import refuse_if_provisioned
from shopsentinel.api.routing_schemas import EscalationPolicyPublic
from shopsentinel.store import provisioned
from shopsentinel.store.repository import audit
from shopsentinel.store.state import EscalationPolicyRow

router = APIRouter(prefix="/api/v1/escalation-policies", tags=["routing"])


def _public(row: EscalationPolicyRow, session: DbSession) -> EscalationPolicyPublic:
    return EscalationPolicyPublic(provisioned_from=provisioned.source_of(session, "escalation_policy", row.name), id=row.id, policy=EscalationPolicy.model_validate(row.body), created_by=row.created_by,
                                  created_at=row.created_at)


@router.get("", response_model=list[EscalationPolicyPublic])
def list_policies(session: DbSession, _reader: Reader) -> list[EscalationPolicyPublic]:
    return [_public(r, session) for r in session.scalars(select(EscalationPolicyRow).order_by(EscalationPolicyRow.id)).all()]


@router.put("/{name}", response_model=EscalationPolicyPublic)
def put_policy(name: str, body: EscalationPolicy, session: DbSession, principal: Editor, now: Now) -> EscalationPolicyPublic:
    """Create or replace the policy called ``name`` (routes refer to it by name)."""
    refuse_if_provisioned(session, "escalation_policy", name)
    if body.name != name:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the body's name must equal the path's")
    row = session.scalars(select(EscalationPolicyRow).where(EscalationPolicyRow.name == name)).first()
    stored = body.model_dump(mode="json")
    if row is None:
        row = EscalationPolicyRow(name=name, body=stored, created_by=principal.user, created_at=now)
        session.add(row)
    else:
        row.body = stored
    session.flush()
    audit(session, principal.user, "escalation_policy.put", name, now, steps=len(body.steps))
    session.commit()
    return _public(row, session)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
def delete_policy(name: str, session: DbSession, principal: Editor, now: Now) -> None:
    refuse_if_provisioned(session, "escalation_policy", name)
    row = session.scalars(select(EscalationPolicyRow).where(EscalationPolicyRow.name == name)).first()
    if row is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no escalation policy {name!r}")
    session.delete(row)
    audit(session, principal.user, "escalation_policy.delete", name, now)
    session.commit()
