"""API tokens (admin only). The plain token is returned once; only its hash is stored."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from shopsentinel.api.deps import Admin, DbSession, Now, RowId
from shopsentinel.api.schemas import TokenCreate, TokenCreated, TokenPublic
from shopsentinel.store.repository import audit, create_token, list_tokens, revoke_token

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])


@router.get("", response_model=list[TokenPublic])
def tokens(session: DbSession, _admin: Admin) -> list[TokenPublic]:
    return [TokenPublic(id=t.id, user=t.user, role=t.role, revoked=t.revoked, created_at=t.created_at) for t in list_tokens(session)]


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def new_token(body: TokenCreate, session: DbSession, admin: Admin, now: Now) -> TokenCreated:
    row, plain = create_token(session, body.user, body.role, now)
    audit(session, admin.user, "token.create", str(row.id), now, user=body.user, role=body.role)
    session.commit()
    return TokenCreated(id=row.id, user=row.user, role=row.role, revoked=row.revoked, created_at=row.created_at, token=plain)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke(token_id: RowId, session: DbSession, admin: Admin, now: Now) -> None:
    if not revoke_token(session, token_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no token {token_id}")
    audit(session, admin.user, "token.revoke", str(token_id), now)
    session.commit()
