"""``shopsentinel import DIR`` into the install's metric store — the state database (SQLite and the
real PostgreSQL): all-or-nothing imports, replacement of changed points, findings; catalog versions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from shopsentinel.catalog import default_catalog
from shopsentinel.catalog.composite import parse_metric_file
from shopsentinel.core.errors import CatalogError, ImportFileError
from shopsentinel.ingest.importer import import_directory
from shopsentinel.store.catalog_file import CatalogFile
from shopsentinel.store.db import open_database
from shopsentinel.store.points import PointStore
from tests.support.metrics import ORDER_HEALTH_YAML

HEADER = "ts,platform,store,metric,value,sku\n"


def make_dir(root: Path, name: str, rows: list[str], stores: str | None = None, calendar: str | None = None) -> Path:
    d = root / name
    d.mkdir()
    (d / "metrics.csv").write_text(HEADER + "".join(r + "\n" for r in rows), encoding="utf-8")
    if stores is not None:
        (d / "stores.csv").write_text(stores, encoding="utf-8")
    if calendar is not None:
        (d / "calendar.csv").write_text(calendar, encoding="utf-8")
    return d


BASE_ROWS = [f"2026-03-01T{h:02d}:00:00Z,tmall,s1,uv,{100 + h}," for h in range(6)] + [
    "2026-03-01T00:00:00Z,tmall,s1,stock,50,SKU-1",
    "2026-03-01T00:00:00+08:00,jd,j1,orders,7,",
]


def sql(store: PointStore, query: str, **params: object) -> list[tuple[object, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query), params)]


def snapshot(store: PointStore) -> list[tuple[object, ...]]:
    return sql(store, "SELECT ts, platform, store, sku, metric, value FROM points ORDER BY 1, 2, 3, 4, 5")


def values(store: PointStore, *, store_id: str, metric: str) -> list[float]:
    rows = sql(store, "SELECT value FROM points WHERE store = :s AND metric = :m ORDER BY ts", s=store_id, m=metric)
    return [float(v) for (v,) in rows]  # type: ignore[arg-type]


def utc_times(store: PointStore, *, store_id: str) -> list[datetime]:
    rows = sql(store, "SELECT ts FROM points WHERE store = :s ORDER BY ts", s=store_id)
    return [datetime.fromtimestamp(int(e), UTC) for (e,) in rows]  # type: ignore[call-overload]


def stores_of(store: PointStore) -> list[tuple[object, ...]]:
    return sql(store, "SELECT platform, store, name, timezone FROM stores ORDER BY platform, store")


def open_store(url: str) -> PointStore:
    engine, _ = open_database(url)
    return PointStore(engine, cache_stores=0)


@pytest.fixture
def loaded(tmp_path: Path, database_url: str) -> Iterator[PointStore]:
    store = open_store(database_url)
    summary = import_directory(store, make_dir(
        tmp_path, "base", BASE_ROWS,
        stores="store,platform,name,timezone\ns1,tmall,店1,Asia/Shanghai\n",
        calendar="start,end,platform,store,name,kind\n2026-03-02T00:00:00Z,2026-03-03T00:00:00Z,tmall,,大促,promotion\n",
    ))
    assert summary["stored_points_total"] == 8
    assert summary["replaced_existing_points"] == 0
    yield store
    store.engine.dispose()


def test_import_stores_points_in_utc(loaded: PointStore) -> None:
    assert values(loaded, store_id="j1", metric="orders") == [7.0]
    assert utc_times(loaded, store_id="j1") == [datetime(2026, 2, 28, 16, tzinfo=UTC)]
    assert values(loaded, store_id="s1", metric="uv") == [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    assert stores_of(loaded) == [("jd", "j1", "j1", "Asia/Shanghai"), ("tmall", "s1", "店1", "Asia/Shanghai")]
    assert sql(loaded, "SELECT name, kind FROM calendar_events") == [("大促", "promotion")]


@pytest.mark.parametrize(
    ("files", "line", "field", "culprit"),
    [
        ({"metrics.csv": HEADER + "2026-03-01T00:00:00Z,tmall,s1,uv,1,\n2026-03-01T01:00:00Z,tmall,s1,uv,lots,\n"}, 3, "value", "metrics.csv"),
        ({"metrics.csv": HEADER + "2026-03-01T00:00:00Z,tmall,s1,uv,1,\n2026-03-01 01:00,tmall,s1,uv,2,\n"}, 3, "ts", "metrics.csv"),
        ({"metrics.csv": HEADER + "2026-03-01T00:00:00Z,tmall,s1,uv,999,\n",
          "stores.csv": "store,platform,name,timezone\ns1,tmall,a,Asia/Beijing\n"}, 2, "timezone", "stores.csv"),
        ({"metrics.csv": HEADER + "2026-03-01T00:00:00Z,tmall,s1,uv,999,\n",
          "calendar.csv": "start,end,platform,store,name,kind\n2026-03-01T00:00:00Z,2026-03-02T00:00:00Z,,,x,sale\n"}, 2, "kind", "calendar.csv"),
    ],
)
def test_bad_import_raises_and_leaves_store_untouched(
    loaded: PointStore, tmp_path: Path, files: dict[str, str], line: int, field: str, culprit: str
) -> None:
    before = snapshot(loaded)
    stores_before = sql(loaded, "SELECT * FROM stores ORDER BY platform")
    batches_before = sql(loaded, "SELECT count(*) FROM import_batches")
    bad = tmp_path / "bad"
    bad.mkdir()
    for name, content in files.items():
        (bad / name).write_text(content, encoding="utf-8")
    with pytest.raises(ImportFileError) as info:
        import_directory(loaded, bad)
    assert info.value.file == str(bad / culprit)
    assert (info.value.line, info.value.field) == (line, field)
    assert loaded.count() == 8
    assert snapshot(loaded) == before
    assert sql(loaded, "SELECT * FROM stores ORDER BY platform") == stores_before
    assert sql(loaded, "SELECT count(*) FROM import_batches") == batches_before


def test_directory_without_metrics_is_an_error(loaded: PointStore, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ImportFileError):
        import_directory(loaded, empty)
    assert loaded.count() == 8


def test_reimport_replaces_changed_values_and_counts_them(loaded: PointStore, tmp_path: Path) -> None:
    rows = [
        "2026-03-01T00:00:00Z,tmall,s1,uv,100,",  # unchanged
        "2026-03-01T01:00:00Z,tmall,s1,uv,555,",  # changed
        "2026-03-01T02:00:00Z,tmall,s1,uv,666,",  # changed
        "2026-03-01T06:00:00Z,tmall,s1,uv,106,",  # new
    ]
    summary = import_directory(loaded, make_dir(tmp_path, "again", rows))
    assert summary["replaced_existing_points"] == 2
    assert summary["stored_points_total"] == 9
    assert values(loaded, store_id="s1", metric="uv") == [100.0, 555.0, 666.0, 103.0, 104.0, 105.0, 106.0]
    # the same file again changes nothing
    summary = import_directory(loaded, tmp_path / "again")
    assert summary["replaced_existing_points"] == 0
    assert summary["stored_points_total"] == 9


def test_import_cleans_before_storing(tmp_path: Path, database_url: str) -> None:
    rows = [
        "2026-03-01T00:00:00Z,tmall,s1,orders,5,",
        "2026-03-01T00:00:00Z,tmall,s1,orders,5,",  # exact duplicate
        "2026-03-01T01:00:00Z,tmall,s1,orders,6,",
        "2026-03-01T01:00:00Z,tmall,s1,orders,8,",  # conflicting, the later line wins
        "2026-03-01T02:00:00Z,tmall,s1,orders,-3,",  # impossible
        "2026-03-01T03:00:00Z,tmall,s1,orders,,",  # empty
    ]
    store = open_store(database_url)
    summary = import_directory(store, make_dir(tmp_path, "dirty", rows))
    assert summary["exact_duplicates"] == 1
    assert summary["conflicting_duplicates"] == 1
    assert summary["quarantined"] == 1
    assert summary["missing_values"] == 1
    assert values(store, store_id="s1", metric="orders") == [5.0, 8.0]
    findings = sql(store, "SELECT kind, line FROM import_findings ORDER BY line")
    assert findings == [("conflict", 4), ("impossible", 6), ("missing_value", 7)]
    assert sql(store, "SELECT count(*) FROM import_batches") == [(1,)]
    store.engine.dispose()


def test_the_store_reads_the_imported_frame(loaded: PointStore) -> None:
    uv = loaded.read(store="s1", metric="uv")
    assert uv.columns == ["ts", "platform", "store", "sku", "metric", "value"]
    assert uv.get_column("value").to_list() == [100.0, 101.0, 102.0, 103.0, 104.0, 105.0]
    assert uv.get_column("ts").to_list()[0].astimezone(UTC) == datetime(2026, 3, 1, tzinfo=UTC)


def test_store_survives_reopen(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url)
    import_directory(store, make_dir(tmp_path, "d", BASE_ROWS))
    store.engine.dispose()
    again = open_store(url)
    assert again.count() == 8
    again.engine.dispose()


# --------------------------------------------------------------------------- catalog versions
HEALTH_V1 = ORDER_HEALTH_YAML


def test_define_metric_versions_with_author_and_time(tmp_path: Path) -> None:
    path = tmp_path / "state.db"  # the catalog's versions live in the state database (0015)
    (v1,) = parse_metric_file(HEALTH_V1, "health.yaml")
    with CatalogFile(path) as store:
        saved = store.define_metric(v1, author="alice")
        assert (saved.version, saved.author) == (1, "alice")
        assert datetime.strptime(saved.changed_at, "%Y-%m-%dT%H:%M:%SZ")
        again = store.define_metric(v1, author="bob")  # unchanged: no new version
        assert (again.version, again.author, again.changed_at) == (1, "alice", saved.changed_at)
        v2 = replace(v1, formula="pay_conversion_rate * (1 - 2 * refund_rate)")
        changed = store.define_metric(v2, author="bob")
        assert (changed.version, changed.author) == (2, "bob")
        with store.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, version, author FROM metric_versions ORDER BY version")).all()
        assert rows == [("order_health", 1, "alice"), ("order_health", 2, "bob")]
    with CatalogFile(path) as store:
        catalog = store.catalog()
        current = catalog.get("order_health")
        assert (current.version, current.formula, current.author) == (2, "pay_conversion_rate * (1 - 2 * refund_rate)", "bob")
        assert [d.version for d in catalog.history("order_health")] == [1, 2]
        assert catalog.history("order_health")[0].formula == "pay_conversion_rate * (1 - refund_rate)"
        assert current.custom is False


def test_redefining_a_canonical_metric_keeps_the_old_version(tmp_path: Path) -> None:
    with CatalogFile(tmp_path / "state.db") as store:
        base = default_catalog().get("conversion_rate")
        saved = store.define_metric(replace(base, formula="paid_orders / uv"), author="carol")
        assert saved.version == 2
        history = store.catalog().history("conversion_rate")
        assert [(d.version, d.formula) for d in history] == [(1, "orders / uv"), (2, "paid_orders / uv")]


def test_define_metric_with_unknown_input_is_refused(tmp_path: Path) -> None:
    (v1,) = parse_metric_file(HEALTH_V1.replace("refund_rate", "no_such_metric"), "health.yaml")
    with CatalogFile(tmp_path / "state.db") as store:
        with pytest.raises(CatalogError, match="no_such_metric"):
            store.define_metric(v1, author="alice")
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM metric_versions")).scalar() == 0
