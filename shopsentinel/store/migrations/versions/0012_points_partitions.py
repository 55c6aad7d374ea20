"""points: monthly range partitions on PostgreSQL (PARTITION BY RANGE (ts), a default partition)

On SQLite nothing changes (the embedded file keeps one table). On PostgreSQL the table is rebuilt
partitioned: a partition per month that holds points (created before the copy, so every row lands
in its month), ``points_default`` for everything else; the primary key and ``ix_points_store_ts``
are declared on the parent, so every partition has them.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from datetime import UTC, datetime

from alembic import op
from sqlalchemy import text

from shopsentinel.store.partitions import months_between, next_month, partition_name

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE points RENAME TO points_unpartitioned")
    op.execute("ALTER INDEX ix_points_store_ts RENAME TO ix_points_store_ts_old")
    op.execute("ALTER TABLE points_unpartitioned RENAME CONSTRAINT points_pkey TO points_unpartitioned_pkey")
    op.execute("CREATE TABLE points (platform VARCHAR(64) NOT NULL, store VARCHAR(200) NOT NULL, "
               "sku VARCHAR(200) NOT NULL, metric VARCHAR(200) NOT NULL, ts BIGINT NOT NULL, "
               "value DOUBLE PRECISION NOT NULL, CONSTRAINT points_pkey PRIMARY KEY (platform, store, sku, metric, ts)) "
               "PARTITION BY RANGE (ts)")
    op.execute("CREATE INDEX ix_points_store_ts ON points (platform, store, ts)")
    op.execute("CREATE TABLE points_default PARTITION OF points DEFAULT")
    lo, hi = bind.execute(text("SELECT min(ts), max(ts) FROM points_unpartitioned")).one()
    if lo is not None:
        for month in months_between(datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)):
            start, end = int(month.timestamp()), int(next_month(month).timestamp())
            op.execute(f'CREATE TABLE "{partition_name(month)}" PARTITION OF points FOR VALUES FROM ({start}) TO ({end})')
    op.execute("INSERT INTO points SELECT platform, store, sku, metric, ts, value FROM points_unpartitioned")
    op.execute("DROP TABLE points_unpartitioned")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE points RENAME TO points_partitioned")
    op.execute("ALTER INDEX ix_points_store_ts RENAME TO ix_points_store_ts_partitioned")
    op.execute("ALTER TABLE points_partitioned RENAME CONSTRAINT points_pkey TO points_partitioned_pkey")
    op.execute("CREATE TABLE points (platform VARCHAR(64) NOT NULL, store VARCHAR(200) NOT NULL, "
               "sku VARCHAR(200) NOT NULL, metric VARCHAR(200) NOT NULL, ts BIGINT NOT NULL, "
               "value DOUBLE PRECISION NOT NULL, CONSTRAINT points_pkey PRIMARY KEY (platform, store, sku, metric, ts))")
    op.execute("CREATE INDEX ix_points_store_ts ON points (platform, store, ts)")
    op.execute("INSERT INTO points SELECT platform, store, sku, metric, ts, value FROM points_partitioned")
    op.execute("DROP TABLE points_partitioned CASCADE")
