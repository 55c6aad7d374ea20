"""No silent warm-up: fixed thresholds judge from the first point, baseline rules start after about
three days with the history they have and honestly wider bands, and every rule's learning state is
reported (backtest summary) instead of waiting eight days in silence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from shopsentinel.catalog import default_catalog
from shopsentinel.core.types import StoreInfo
from shopsentinel.detect.baselines import few_sample_cv
from shopsentinel.detect.evaluator import evaluate_panel
from shopsentinel.detect.learning import rule_learning
from shopsentinel.detect.panel import build_panel
from shopsentinel.detect.rules import default_rules
from shopsentinel.runtime.backtest import run_backtest
from shopsentinel.runtime.summary import learning_table
from tests.detect.conftest import LOCAL_SHAPE

START = datetime(2026, 9, 1, tzinfo=UTC)
STORE = StoreInfo("s1", "tmall", "s1", "Asia/Shanghai")
HOURS = int(6.5 * 24) + 6  # 6.5 days of history, then the 6 hours judged
CRASH = slice(HOURS - 4, HOURS - 1)  # 3 hours at 20% of the usual traffic (Shanghai mid-afternoon)


def young_store(seed: int, crash: bool) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    ts = [START + timedelta(hours=i) for i in range(HOURS)]
    shape = LOCAL_SHAPE[(np.arange(HOURS) + 8) % 24]
    uv = rng.poisson(1500 * shape).astype(float)
    if crash:
        uv[CRASH] = np.round(uv[CRASH] * 0.2)
    orders = rng.binomial(uv.astype(int), 0.05).astype(float)
    series = {"uv": uv, "orders": orders, "paid_orders": orders, "gmv": orders * 90.0}
    return pl.concat([pl.DataFrame({"ts": ts, "platform": "tmall", "store": "s1", "sku": "", "metric": m, "value": v})
                      for m, v in series.items()]).with_columns(pl.col("ts").dt.cast_time_unit("us"))


def alerts(frame: pl.DataFrame, rule_ids: list[str] | None = None) -> list[str]:
    catalog = default_catalog()
    rules = [r for r in default_rules().enabled() if r.mode == "alert" and (rule_ids is None or r.id in rule_ids)]
    panel = build_panel(frame, [STORE], [], catalog, start=START, hours=HOURS)
    return [e.rule for e in evaluate_panel(panel, rules, catalog) if e.start >= START + timedelta(hours=CRASH.start)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_uv_crash_after_six_and_a_half_days_raises_a_traffic_alert(seed: int) -> None:
    found = alerts(young_store(seed, crash=True))
    assert "traffic.uv_drop_vs_yesterday" in found


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_same_young_store_without_the_crash_is_quiet(seed: int) -> None:
    assert alerts(young_store(seed, crash=False)) == []


def test_a_fixed_threshold_judges_from_the_first_point() -> None:
    """A payment failure rate of 40% on the store's very first hours: no history is needed to page."""
    hours = 6
    ts = [START + timedelta(hours=i) for i in range(hours)]
    attempts, failures = np.full(hours, 60.0), np.full(hours, 24.0)
    frame = pl.concat([pl.DataFrame({"ts": ts, "platform": "tmall", "store": "s1", "sku": "", "metric": m, "value": v})
                       for m, v in {"payment_attempts": attempts, "payment_failures": failures}.items()]
                      ).with_columns(pl.col("ts").dt.cast_time_unit("us"))
    catalog = default_catalog()
    panel = build_panel(frame, [STORE], [], catalog, start=START, hours=hours)
    fired = evaluate_panel(panel, [default_rules().get("payment.failure_rate_high")], catalog)
    assert [e.start for e in fired] == [START]


def test_bands_are_wider_with_few_days_and_tighten_as_they_accrue() -> None:
    cv = np.full(8, 0.05)
    widened = few_sample_cv(cv, np.arange(1, 9))
    assert np.all(np.diff(widened[:6]) < 0)  # every extra day tightens
    assert widened[0] > 3 * cv[0]
    assert np.allclose(widened[6:], cv[6:])  # a full week: the measured variation as it is


def test_learning_states_and_days_left() -> None:
    rule = default_rules().get("traffic.uv_drop_vs_yesterday")
    assert (s := rule_learning(rule, 36.0)).state == "learning" and s.days_left == 2 and "还需 2 天" in s.message
    assert rule_learning(rule, 4 * 24.0).state == "partial"
    assert rule_learning(rule, 15 * 24.0).state == "ready"
    threshold = default_rules().get("payment.failure_rate_high")
    assert rule_learning(threshold, 0.0).state == "ready"


def test_backtest_reports_each_rules_learning_state(tmp_path: Path) -> None:
    frame = young_store(1, crash=False).with_columns(pl.col("ts").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    frame.write_csv(tmp_path / "metrics.csv")
    (tmp_path / "stores.csv").write_text("store,platform,name,timezone\ns1,tmall,s1,Asia/Shanghai\n")
    result = run_backtest(tmp_path, workers=1)
    states = {s.rule: s for s in result.learning[("tmall", "s1")]}
    assert states["orders.decline"].state == "partial" and states["orders.decline"].days_left == 8  # 6.75 of 14 days
    assert states["payment.failure_rate_high"].state == "ready"
    table = learning_table(result)
    assert table is not None and table.row_count == 1
