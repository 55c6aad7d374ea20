"""The evaluation marks count each store's live changes in one statement per batch, and what is
unjudged follows the counts, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

from shopsentinel.store.db import open_database
from shopsentinel.store.evaluation_marks import (
    change_counts,
    judged_counts,
    mark_changed,
    mark_judged,
    unjudged,
)

T0 = datetime(2026, 11, 11, tzinfo=UTC)
S1, S2, S3 = ("tmall", "s1"), ("jd", "s2"), ("tmall", "s3")


def test_a_batch_of_stores_is_counted_in_one_statement(database_url: str) -> None:
    engine, _ = open_database(database_url)
    sessions = sessionmaker(engine)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with sessions() as session:
        mark_changed(session, [S2, S1, S2, S3], T0)  # S2 twice in one batch: one change
        session.commit()
    upserts = [s for s in statements if "evaluation_marks" in s]
    assert len(upserts) == 1, upserts
    with sessions() as session:
        mark_changed(session, [S1, S3], T0 + timedelta(minutes=5))
        mark_changed(session, [], T0 + timedelta(minutes=6))  # nothing to count: no statement
        session.commit()
        assert change_counts(session, [S1, S2, S3]) == {S1: 2, S2: 1, S3: 2}
        mark_judged(session, {S1: 2, S2: 1, S3: 1})
        mark_judged(session, {S1: 1})  # a late, older evaluation never moves a mark back
        session.commit()
        assert judged_counts(session, [S1, S2, S3]) == {S1: 2, S2: 1, S3: 1}
        # S3's second change is unjudged; its changed_at moved to the latest change (T0 + 5 min)
        assert unjudged(session, T0 + timedelta(minutes=5)) == []
        assert unjudged(session, T0 + timedelta(minutes=5, seconds=1)) == [S3]
    engine.dispose()
