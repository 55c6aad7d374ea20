"""Two writers of one sync state (serve and the CLI, two workers) on the same state database — SQLite
and the real PostgreSQL — each with its own engine and connections: no update is lost. Failure
counters add up, every page's entities and cursor are stored, and the dirty window is the earliest
either writer touched."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from shopsentinel.ingest.sync_state import StoreRecord, SyncDB
from shopsentinel.sources.base import Order
from shopsentinel.store.db import open_database

T0 = datetime(2026, 6, 1, tzinfo=UTC)
ROUNDS = 25


def test_two_writers_lose_no_update(database_url: str) -> None:
    engine, _ = open_database(database_url)  # migrated once; each writer opens its own engine below
    engine.dispose()
    with SyncDB(database_url) as setup:
        setup.put_store(StoreRecord("jd", "jd-1", "Asia/Shanghai", T0, {}))
    errors: list[BaseException] = []
    start = threading.Barrier(2, timeout=60)  # a writer that failed to open breaks it, never hangs the other

    def writer(db: SyncDB, name: str, offset: int) -> None:
        try:
            with db:
                start.wait()
                for i in range(ROUNDS):
                    db.record_failure("jd", "jd-1", T0 + timedelta(minutes=i), f"{name} {i}")
                    orders = [Order(order_id=f"{name}-{i}-{k}", created_at=T0 + timedelta(hours=offset + i), status="已付款",
                                    amount=1.0) for k in range(3)]
                    db.store_page("jd", "jd-1", f"orders-{name}", orders, [], {"page": i}, T0 + timedelta(minutes=i))
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            errors.append(exc)

    # each writer its own engine (opened here: alembic's upgrade at open is not thread-safe; two processes
    # would each run their own)
    threads = [threading.Thread(target=writer, args=(SyncDB(database_url), n, o)) for n, o in (("a", 5), ("b", 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with SyncDB(database_url) as db:
        health = db.health("jd", "jd-1")
        assert health.consecutive_failures == 2 * ROUNDS
        assert db.entity_count("jd", "jd-1") == {"orders": 2 * ROUNDS * 3}
        assert db.cursors("jd", "jd-1") == {"orders-a": {"page": ROUNDS - 1}, "orders-b": {"page": ROUNDS - 1}}
        assert health.dirty_from == T0 + timedelta(hours=2)  # the earliest hour either writer's pages touch
