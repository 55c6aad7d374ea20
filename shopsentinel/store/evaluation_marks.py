"""Durable "data changed after the last evaluation" marks (revision 0010), for the scale-out roles.

With a broker (docs/DEPLOY.md) the evaluation of a store whose data just arrived at the live edge
is a Celery task. Should that task die with its worker (``kill -9``), the store's
``evaluated_until`` may already be current — the periodic pass would not see it stale — and only
the broker's visibility timeout would bring the task back. So the write path counts each live
change of a store (``changes``), the evaluation records the count it saw before it read the
points (``judged``), and the scheduler's periodic pass sends again every store whose count is
still ahead of its judged count some time after the change (``unjudged``). Counters, not clocks,
decide what is judged, so clock skew between processes can only delay a resend, never lose one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Integer, String, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from shopsentinel.store.state import Base

StoreKey = tuple[str, str]


class EvaluationMarkRow(Base):
    """One store's live changes (``changes``) and how many of them an evaluation has seen (``judged``)."""

    __tablename__ = "evaluation_marks"
    platform: Mapped[str] = mapped_column(String(64), primary_key=True)
    store: Mapped[str] = mapped_column(String(200), primary_key=True)
    changes: Mapped[int] = mapped_column(Integer, default=0)
    judged: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime]  # the latest change, or the latest resend (so resends are spaced)


def mark_changed(session: Session, keys: Iterable[StoreKey], now: datetime) -> None:
    """Count one live change of each store: one multi-row upsert for the whole batch (safe under
    concurrency; rows in key order, so two writers never deadlock on them). The caller commits."""
    wanted = sorted(set(keys))
    if not wanted:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(EvaluationMarkRow).values(
        [{"platform": p, "store": s, "changes": 1, "judged": 0, "changed_at": now} for p, s in wanted])
    session.execute(stmt.on_conflict_do_update(
        index_elements=["platform", "store"],
        set_={"changes": EvaluationMarkRow.changes + 1, "changed_at": stmt.excluded.changed_at},
    ))


def change_counts(session: Session, keys: Iterable[StoreKey]) -> dict[StoreKey, int]:
    """The live-change count of each of these stores that has one (read before an evaluation)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = session.execute(select(EvaluationMarkRow.platform, EvaluationMarkRow.store, EvaluationMarkRow.changes)
                           .where(tuple_(EvaluationMarkRow.platform, EvaluationMarkRow.store).in_(wanted))).all()
    return {(p, s): int(n) for p, s, n in rows}


def judged_counts(session: Session, keys: Iterable[StoreKey]) -> dict[StoreKey, int]:
    """How many changes of each store an evaluation has seen (for stores with a mark)."""
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = session.execute(select(EvaluationMarkRow.platform, EvaluationMarkRow.store, EvaluationMarkRow.judged)
                           .where(tuple_(EvaluationMarkRow.platform, EvaluationMarkRow.store).in_(wanted))).all()
    return {(p, s): int(n) for p, s, n in rows}


def mark_judged(session: Session, counts: dict[StoreKey, int]) -> None:
    """An evaluation that read the points after ``counts`` were taken has judged those changes
    (never moves a mark back). The caller commits."""
    for (platform, store), count in sorted(counts.items()):
        session.execute(update(EvaluationMarkRow)
                        .where(EvaluationMarkRow.platform == platform, EvaluationMarkRow.store == store,
                               EvaluationMarkRow.judged < count)
                        .values(judged=count))


def unjudged(session: Session, changed_before: datetime) -> list[StoreKey]:
    """Stores with a live change no evaluation has seen, last changed (or resent) before ``changed_before``."""
    rows = session.execute(select(EvaluationMarkRow.platform, EvaluationMarkRow.store)
                           .where(EvaluationMarkRow.changes > EvaluationMarkRow.judged,
                                  EvaluationMarkRow.changed_at < changed_before)
                           .order_by(EvaluationMarkRow.platform, EvaluationMarkRow.store)).all()
    return [(p, s) for p, s in rows]


def touch(session: Session, keys: Iterable[StoreKey], now: datetime) -> None:
    """Record that these stores were just sent again (the next resend waits as long again). The caller commits."""
    wanted = sorted(set(keys))
    if wanted:
        session.execute(update(EvaluationMarkRow)
                        .where(tuple_(EvaluationMarkRow.platform, EvaluationMarkRow.store).in_(wanted))
                        .values(changed_at=now))


__all__ = ["EvaluationMarkRow", "change_counts", "judged_counts", "mark_changed", "mark_judged", "touch", "unjudged"]
