"""Which objects of the routing configuration a provisioning file manages (配置即代码).

A marker per object: ``kind`` (``channel``, ``subscription``, ``escalation_policy``, ``oncall``,
``routing``), its ``name`` in the files, ``ref`` — the stored object's own key (channel or policy name,
role, subscription id, ``routing``) — and the file it came from. The API and the web refuse to change
a marked object (:func:`managed_message`); the start-up loader writes and removes the markers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from shopsentinel.store.state import ProvisionedObjectRow

KINDS: tuple[str, ...] = ("channel", "subscription", "escalation_policy", "oncall", "routing")
ROUTING_REF = "routing"


def source_of(session: Session, kind: str, ref: str) -> str | None:
    """The provisioning file that manages the ``kind`` object stored under ``ref``, else None."""
    return session.scalars(select(ProvisionedObjectRow.source_file).where(
        ProvisionedObjectRow.kind == kind, ProvisionedObjectRow.ref == ref).limit(1)).first()


def sources(session: Session, kind: str) -> dict[str, str]:
    """``ref`` → source file of every ``kind`` object a file manages."""
    rows = session.execute(select(ProvisionedObjectRow.ref, ProvisionedObjectRow.source_file)
                           .where(ProvisionedObjectRow.kind == kind)).all()
    return {ref: source for ref, source in rows}


def markers(session: Session, kind: str) -> list[ProvisionedObjectRow]:
    return list(session.scalars(select(ProvisionedObjectRow).where(ProvisionedObjectRow.kind == kind)
                                .order_by(ProvisionedObjectRow.id)).all())


def marker(session: Session, kind: str, name: str) -> ProvisionedObjectRow | None:
    return session.scalars(select(ProvisionedObjectRow).where(ProvisionedObjectRow.kind == kind,
                                                              ProvisionedObjectRow.name == name)).first()


def mark(session: Session, kind: str, name: str, ref: str, source_file: str, now: datetime) -> None:
    """Record (or move) the marker of ``kind``/``name``; the caller commits."""
    row = marker(session, kind, name)
    if row is None:
        session.add(ProvisionedObjectRow(kind=kind, name=name, ref=ref, source_file=source_file, updated_at=now))
    else:
        row.ref, row.source_file, row.updated_at = ref, source_file, now
    session.flush()


def unmark(session: Session, kind: str, *, name: str | None = None, ref: str | None = None) -> None:
    query = select(ProvisionedObjectRow).where(ProvisionedObjectRow.kind == kind)
    if name is not None:
        query = query.where(ProvisionedObjectRow.name == name)
    if ref is not None:
        query = query.where(ProvisionedObjectRow.ref == ref)
    for row in session.scalars(query).all():
        session.delete(row)
    session.flush()


def managed_message(source_file: str) -> str:
    """What the API and the web answer when someone tries to change a provisioned object."""
    return (f"该配置由文件 {source_file} 管理，请修改文件后重启 / "
            f"managed by provisioning file {source_file}: change the file and restart")


__all__ = ["KINDS", "ROUTING_REF", "managed_message", "mark", "marker", "markers", "source_of", "sources", "unmark"]
