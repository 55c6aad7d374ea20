"""Monthly range partitions of ``points`` on PostgreSQL (revision 0012).

The table is ``PARTITION BY RANGE (ts)`` (``ts``: epoch seconds UTC) with a ``points_default``
partition that takes whatever no month partition covers, so a write never fails for want of a
partition. :func:`ensure_months` creates the month partitions ``points_pYYYYMM`` a write is about
to need — the bulk path before every load, the live path once per new month a process sees, every
process for the months around now when it opens the store — and moves rows the default partition
already holds for that month into it (then attaches it; the primary key and the window index are
created on it by the attach). Old months can be dropped whole (``DROP TABLE points_p202401``)
instead of deleting rows. On SQLite nothing happens: the embedded file is one table.

>>> month_start(datetime(2026, 3, 17, 5, tzinfo=UTC))
datetime.datetime(2026, 3, 1, 0, 0, tzinfo=datetime.timezone.utc)
>>> partition_name(datetime(2026, 3, 1, tzinfo=UTC))
'points_p202603'
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Connection

# pg_advisory_xact_lock key: one process at a time creates partitions ("points partitions" folded)
PARTITION_LOCK_KEY = 0x5053_5F50_4152_5431 & 0x7FFF_FFFF_FFFF_FFFF
DEFAULT_PARTITION = "points_default"


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return month_start(start + timedelta(days=32))


def partition_name(start: datetime) -> str:
    return f"points_p{start:%Y%m}"


def months_between(lo: datetime, hi: datetime) -> list[datetime]:
    """Month starts covering ``[lo, hi]``."""
    out, month = [], month_start(lo)
    while month <= hi:
        out.append(month)
        month = next_month(month)
    return out


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    return bool(conn.execute(text(
        "SELECT 1 FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid "
        "WHERE c.relname = 'points' AND c.relnamespace = to_regnamespace(current_schema())::oid")).first())


def existing_months(conn: Connection) -> set[str]:
    rows = conn.execute(text(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "WHERE p.relname = 'points' AND p.relnamespace = to_regnamespace(current_schema())::oid"))
    return {r[0] for r in rows}


def ensure_months(conn: Connection, months: Iterable[datetime]) -> list[str]:
    """Create (and fill from the default partition) the month partitions of ``months`` that do not
    exist yet, inside the caller's transaction; returns the names created. PostgreSQL only."""
    wanted = sorted({month_start(m) for m in months})
    if not wanted or not is_partitioned(conn):
        return []
    have = existing_months(conn)
    missing = [m for m in wanted if partition_name(m) not in have]
    if not missing:
        return []
    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK_KEY})
    have = existing_months(conn)  # another process may have created them while we waited
    created = []
    for month in missing:
        name = partition_name(month)
        if name in have:
            continue
        lo, hi = int(month.timestamp()), int(next_month(month).timestamp())
        conn.execute(text(f'CREATE TABLE "{name}" (LIKE points INCLUDING DEFAULTS)'))
        conn.execute(text(f'WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE ts >= :lo AND ts < :hi RETURNING *) '
                          f'INSERT INTO "{name}" SELECT * FROM moved'), {"lo": lo, "hi": hi})
        conn.execute(text(f'ALTER TABLE points ATTACH PARTITION "{name}" FOR VALUES FROM ({lo}) TO ({hi})'))
        created.append(name)
    return created


__all__ = ["DEFAULT_PARTITION", "ensure_months", "is_partitioned", "month_start", "months_between", "partition_name"]
