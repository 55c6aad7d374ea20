"""The notification pass finds inhibiting roots among firing alerts it already loaded; that must
give exactly what the per-alert database query gives, on any mix of stores, incidents and states."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from shopsentinel.alerting.inhibit import firing_by_store, inhibiting_root, root_among
from shopsentinel.store.db import open_database
from shopsentinel.store.state import AlertRow

T0 = datetime(2026, 11, 1, tzinfo=UTC)

alert = st.tuples(
    st.sampled_from(["s1", "s2"]),                                             # store
    st.sampled_from(["data.store_silent", "traffic.crash", "orders.drop", "gmv.drop"]),  # rule
    st.sampled_from(["", "inc-a", "inc-b"]),                                   # incident
    st.integers(0, 2),                                                         # root rank
    st.sampled_from(["firing", "firing", "resolved"]),                         # state
    st.integers(0, 6),                                                         # start hour
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(alerts=st.lists(alert, min_size=1, max_size=12))
def test_root_among_equals_the_per_alert_query(tmp_path: Path, alerts: list[tuple[str, str, str, int, str, int]]) -> None:
    engine, sessions = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    with sessions() as session:
        session.execute(delete(AlertRow))
        for i, (store, rule, incident, rank, state, hour) in enumerate(alerts):
            session.add(AlertRow(id=f"a{i:02d}", rule=rule, severity="critical", kind="business", category="", platform="tmall",
                                 store=store, sku="", metric="uv", state=state, starts_at=T0 + timedelta(hours=hour),
                                 incident=incident, root_rank=rank, created_at=T0, updated_at=T0))
        session.commit()
        rows = session.scalars(select(AlertRow)).all()
        index = firing_by_store(rows)
        for row in rows:
            expected = inhibiting_root(session, row)
            got = root_among(row, index)
            assert (got.id if got else None) == (expected.id if expected else None), row.id
    engine.dispose()
