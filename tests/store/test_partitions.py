"""PostgreSQL's monthly partitions of ``points`` (revision 0012), on the real server: existing
points are split by month by the migration, writes create the month they need (bulk and live path),
rows the default partition took are moved when their month is created, reads span months."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
from sqlalchemy import text

from shopsentinel.core.types import Point
from shopsentinel.store.db import make_engine, open_database
from shopsentinel.store.migrations import alembic_config
from shopsentinel.store.partitions import ensure_months, existing_months
from shopsentinel.store.points import FRAME_SCHEMA, PointStore
from tests.support.service import pg_schema


def rows_per_partition(engine: object) -> dict[str, int]:
    with engine.connect() as conn:  # type: ignore[attr-defined]
        return {r[0]: int(r[1]) for r in conn.execute(text(
            "SELECT tableoid::regclass::text, count(*) FROM points GROUP BY 1"))}


def test_migration_splits_existing_points_by_month_and_writes_create_their_month() -> None:
    from alembic import command

    with pg_schema("part") as (_user, _schema, url):
        engine = make_engine(url)
        command.upgrade(alembic_config(engine), "0011")  # an install from before the partitions
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO points VALUES ('tmall','s1','','uv',:a,1.0), ('tmall','s1','','uv',:b,2.0)"),
                         {"a": int(datetime(2026, 1, 31, 23, tzinfo=UTC).timestamp()),
                          "b": int(datetime(2026, 2, 1, tzinfo=UTC).timestamp())})
        engine.dispose()
        engine, _ = open_database(url)  # applies 0012
        try:
            assert rows_per_partition(engine) == {"points_p202601": 1, "points_p202602": 1}
            store = PointStore(engine, cache_stores=0)
            t = datetime(2026, 3, 31, 23, tzinfo=UTC)
            store.write(pl.DataFrame([(t, "tmall", "s1", "", "uv", 3.0), (t + timedelta(hours=1), "tmall", "s1", "", "uv", 4.0)],
                                     schema=FRAME_SCHEMA, orient="row"))
            store.upsert([Point(ts=datetime(2026, 5, 2, tzinfo=UTC), platform="tmall", store="s1", metric="uv", value=5.0)])
            assert rows_per_partition(engine) == {"points_p202601": 1, "points_p202602": 1, "points_p202603": 1,
                                                  "points_p202604": 1, "points_p202605": 1}
            frame = store.frame("tmall", "s1", datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC))
            assert frame["value"].to_list() == [1.0, 2.0, 3.0, 4.0, 5.0]
            # a row the default partition took (no month yet) moves when its month is created
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO points VALUES ('tmall','s1','','uv',:t,6.0)"),
                             {"t": int(datetime(2026, 9, 9, tzinfo=UTC).timestamp())})
            assert rows_per_partition(engine)["points_default"] == 1
            with engine.begin() as conn:
                assert ensure_months(conn, [datetime(2026, 9, 1, tzinfo=UTC)]) == ["points_p202609"]
                assert "points_p202609" in existing_months(conn)
            assert rows_per_partition(engine) == {"points_p202601": 1, "points_p202602": 1, "points_p202603": 1,
                                                  "points_p202604": 1, "points_p202605": 1, "points_p202609": 1}
            with engine.connect() as conn:  # the window index and the key exist on every partition
                indexes = {r[0] for r in conn.execute(text(
                    "SELECT indexdef FROM pg_indexes WHERE tablename = 'points_p202609'"))}
            assert any("(platform, store, ts)" in i for i in indexes)
            assert any("UNIQUE" in i and "(platform, store, sku, metric, ts)" in i for i in indexes)
        finally:
            engine.dispose()
