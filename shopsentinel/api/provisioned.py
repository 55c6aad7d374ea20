"""Objects managed by a provisioning file are read-only in the API: 409 with the file's name."""

from __future__ import annotations

from fastapi import HTTPException, status
from sqlalchemy.orm import Session

from shopsentinel.store import provisioned


def refuse_if_provisioned(session: Session, kind: str, ref: str) -> None:
    """409 (Chinese first) when a provisioning file manages the ``kind`` object ``ref``."""
    source = provisioned.source_of(session, kind, ref)
    if source is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, provisioned.managed_message(source))


__all__ = ["refuse_if_provisioned"]
