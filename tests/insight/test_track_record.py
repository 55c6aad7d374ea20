"""The stock-out forecasts' track record in the live service (SQLite and PostgreSQL): every round keeps
its forecasts, their outcomes are read off the stock that followed once 72 hours have passed, and a
record of over-confidence lowers the next forecasts — enough that a SKU the bare model would page
about is no longer paged, with the report saying why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from shopsentinel.core.types import Point
from shopsentinel.insight import track_record
from shopsentinel.store.response_state import StockoutForecastRow
from tests.insight.conftest import HOUR, upsert
from tests.insight.test_predictive_alerts import _selling


def _rows(api: Any, made_at: datetime) -> dict[str, StockoutForecastRow]:
    with api.service.sessions() as session:
        return {r.sku: r for r in session.scalars(select(StockoutForecastRow).where(StockoutForecastRow.made_at == made_at))}


def test_each_round_keeps_its_forecasts_and_settles_them_from_the_stock_that_followed(api: Any, clock: Any) -> None:
    now = clock.now()
    upsert(api, _selling("tm-1", "SKU-OUT", now, 28, final_stock=150))           # will sell out
    upsert(api, _selling("tm-1", "SKU-SAVED", now, 28, final_stock=150, seed=6))  # will be restocked in time
    upsert(api, _selling("tm-1", "SKU-GONE", now, 28, final_stock=150, seed=7))   # stops reporting stock
    upsert(api, _selling("tm-1", "SKU-DEEP", now, 28, final_stock=5000, seed=8))  # no risk: not kept
    api.service.notify()
    kept = _rows(api, now)
    assert set(kept) == {"SKU-OUT", "SKU-SAVED", "SKU-GONE"}
    assert all(r.probability >= 0.85 and r.calibrated == r.probability and r.ran_out is None for r in kept.values())
    assert all(r.made_at == now and r.stock == 150 and r.supply == "unknown" for r in kept.values())  # no deliveries seen

    later = [Point(now + h * HOUR, "tmall", "tm-1", "stock", max(150.0 - 6 * h, 0.0), "SKU-OUT") for h in range(1, 73)]
    later += [Point(now + h * HOUR, "tmall", "tm-1", "stock", 150.0 - 6 * h if h < 20 else 900.0, "SKU-SAVED")
              for h in range(1, 73)]
    upsert(api, later)
    clock.advance(71 * HOUR)
    api.service.notify()
    assert all(r.ran_out is None for r in _rows(api, now).values())  # 72 hours not yet over

    clock.advance(HOUR)
    api.service.notify()
    first = _rows(api, now)
    assert (first["SKU-OUT"].ran_out, first["SKU-SAVED"].ran_out, first["SKU-GONE"].ran_out) == (True, False, None)
    assert all(r.settled_at == now + 72 * HOUR for r in first.values())


def _overconfident_history(api: Any, end: datetime, windows: int = 40) -> None:
    """Forecasts of 99% made hourly over past 72-hour windows, of which only two in five came true."""
    with api.service.sessions() as session:
        for w in range(windows):
            for h in range(0, 72, 3):
                made = end - (w + 2) * 72 * HOUR + h * HOUR
                session.add(StockoutForecastRow(platform="tmall", store=f"old-{w % 4}", sku=f"OLD-{w}", made_at=made,
                                                probability=0.99, calibrated=0.99, stock=100.0, ran_out=w % 5 < 2,
                                                settled_at=made + 72 * HOUR))
        session.commit()


def test_a_record_of_over_confidence_lowers_the_forecast_and_the_page_is_not_sent(api: Any, clock: Any) -> None:
    now = clock.now()
    _overconfident_history(api, now)
    upsert(api, _selling("tm-1", "SKU-LOW", now, 28, final_stock=150))
    api.service.notify()
    assert api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"] == []  # the model alone would page
    calibration = api.service.response.predictive.calibration
    assert not calibration.is_identity and calibration(0.99) < 0.6

    [risk] = api.get("/api/v1/predictions/stockouts", params={"platform": "tmall", "store": "tm-1"}).json()["items"]
    assert risk["raw_probability"] >= 0.85 > risk["probability"]
    record = api.get("/api/v1/predictions/track-record", params={"days": 180}).json()
    assert record["given_85_or_more"] == record["model_given_85_or_more"] == 40 * 24
    assert record["ran_out_when_85_or_more"] == 0.4
    assert record["recalibration"]["identity"] is False and record["recalibration"]["evidence_windows"] > 10
    with api.service.sessions() as session:
        assert track_record.fit(session, now - 3000 * HOUR).is_identity  # nothing had settled back then


def test_the_message_says_the_probability_was_recalibrated(api: Any, clock: Any) -> None:
    now = clock.now()
    _overconfident_history(api, now, windows=2)  # a little doubt: still paged, at a lower probability
    upsert(api, _selling("tm-1", "SKU-LOW", now, 28, final_stock=100))
    api.service.notify()
    [alert] = api.get("/api/v1/alerts", params={"state": "firing"}).json()["items"]
    assert "按过往预测的实际命中率校准，模型原值" in alert["message"]
    detail = api.get(f"/api/v1/alerts/{alert['id']}").json()
    assert "recalibrated on past forecasts' outcomes" in detail["message_en"]
    assert 0.85 <= alert["value"] < 1.0


def test_forecasts_older_than_the_report_window_are_deleted(api: Any, clock: Any) -> None:
    now = clock.now()
    with api.service.sessions() as session:
        for sku, age in (("OLD", track_record.KEEP + HOUR), ("KEPT", track_record.KEEP - HOUR)):
            session.add(StockoutForecastRow(platform="tmall", store="tm-1", sku=sku, made_at=now - age, probability=0.9,
                                            calibrated=0.9, stock=10.0, ran_out=True, settled_at=now - age + 72 * HOUR))
        session.commit()
    api.service.notify()
    with api.service.sessions() as session:
        assert [r.sku for r in session.scalars(select(StockoutForecastRow))] == ["KEPT"]
