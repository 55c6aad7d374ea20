"""Export upload (``POST /api/v1/imports``) and signed push (``/api/v1/push``) in the live service:
points land in the service's point store through the ingest path; bad input stores nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.sources.push import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_push

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "exports"
SECRET = "rpa-secret-77"
WEEK = (datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 11, 12, tzinfo=UTC))
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


Api = Any  # tests/support/service.py's synchronous client


@pytest.fixture
def service_api(database_url: str, clock: ManualClock, api_factory: Any) -> Api:
    push_sources = {"rpa-tm": {"secret": SECRET, "platform": "tmall", "store": "tm-push"}}
    return api_factory(database_url, clock, push_sources=push_sources)


def upload(api: Api, fixture: str, store: str = "tm-1", **form: str) -> tuple[int, dict[str, object]]:
    path = FIXTURES / fixture
    response = api.post("/api/v1/imports", files={"file": (path.name, path.read_bytes(), "text/csv")},
                        data={"platform": "tmall", "store": store, **form})
    return response.status_code, response.json()


def stored(api: Api, store: str) -> dict[tuple[datetime, str], float]:
    frame = api.service.points.frame("tmall", store, *WEEK)
    return {(ts, metric): value for ts, metric, value in frame.select("ts", "metric", "value").iter_rows()}


def test_a_sycm_hourly_export_uploads_into_the_point_store_and_registers_the_store(service_api: Api) -> None:
    status, body = upload(service_api, "sycm_hourly.csv")
    assert status == 200, body
    assert body["console"] == "sycm" and body["hourly"] is True and body["timezone"] == "Asia/Shanghai"
    points = stored(service_api, "tm-1")
    assert body["accepted"] == len(points) > 20
    # 2026-11-01 00:00-01:00 Beijing time = 2026-10-31 16:00 UTC: 访客数 "1,024", 支付金额 "¥2,345.60"
    first_hour = datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert points[first_hour, "uv"] == 1024.0
    assert points[first_hour, "gmv"] == pytest.approx(2345.60)
    store = service_api.get("/api/v1/stores/tmall/tm-1").json()
    assert datetime.fromisoformat(store["first_point_at"]).replace(tzinfo=UTC) == first_hour
    assert ("tmall", "tm-1") in service_api.service.scheduler.pending()


def test_a_malformed_export_is_422_naming_file_row_and_column_and_stores_nothing(service_api: Api) -> None:
    assert upload(service_api, "sycm_hourly.csv")[0] == 200
    before = stored(service_api, "tm-1")
    status, body = upload(service_api, "sycm_malformed.csv")
    assert status == 422
    assert "sycm_malformed.csv, line 5, column '支付金额'" in str(body["detail"])
    assert "/tmp" not in str(body["detail"])  # the temporary copy's path does not leak
    assert stored(service_api, "tm-1") == before
    status, body = upload(service_api, "sycm_malformed.csv", store="tm-new")
    assert status == 422 and stored(service_api, "tm-new") == {}
    assert service_api.get("/api/v1/stores/tmall/tm-new").status_code == 404


def test_a_dry_run_previews_the_mapped_columns_and_stores_nothing(service_api: Api) -> None:
    status, body = upload(service_api, "sycm_hourly.csv", dry_run="true")
    assert status == 200, body
    assert body["dry_run"] is True and body["accepted"] == 0
    assert stored(service_api, "tm-1") == {}
    assert service_api.get("/api/v1/stores/tmall/tm-1").status_code == 404
    columns = {c["header"]: c for c in body["columns"]}
    assert columns["访客数"]["metric"] == "uv" and columns["支付金额"]["metric"] == "gmv"
    # the preview's figures are the ones the real import then stores
    status, done = upload(service_api, "sycm_hourly.csv")
    assert status == 200 and done["accepted"] == body["points"]
    points = stored(service_api, "tm-1")
    uv = [v for (_, metric), v in points.items() if metric == "uv"]
    assert columns["访客数"]["points"] == len(uv) and columns["访客数"]["total"] == pytest.approx(sum(uv))
    assert datetime.fromisoformat(body["first"]) == min(ts for ts, _ in points)
    assert datetime.fromisoformat(body["last"]) == max(ts for ts, _ in points)


def test_a_dry_run_of_a_malformed_export_is_the_same_422(service_api: Api) -> None:
    status, body = upload(service_api, "sycm_malformed.csv", dry_run="true")
    assert status == 422 and "sycm_malformed.csv, line 5, column '支付金额'" in str(body["detail"])


def test_wrong_suffix_and_unknown_zone_are_refused_in_chinese_first(service_api: Api) -> None:
    response = service_api.post("/api/v1/imports", files={"file": ("data.txt", b"x", "text/plain")},
                                data={"platform": "tmall", "store": "tm-1"})
    assert response.status_code == 422 and str(response.json()["detail"]).startswith("data.txt：只支持")
    status, body = upload(service_api, "sycm_hourly.csv", timezone="Mars/Olympus")
    assert status == 422 and str(body["detail"]).startswith("未知时区")


def test_upload_needs_an_editor_token(service_api: Api) -> None:
    status, _ = upload(service_api.as_token("not-a-token"), "sycm_hourly.csv")
    assert status == 401 and stored(service_api, "tm-1") == {}


def push(api: Api, body: bytes, *, secret: str = SECRET, skew: timedelta = timedelta()) -> int:
    stamp = int((api.service.clock.now() + skew).timestamp())
    headers = {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign_push(secret, stamp, body),
               "Content-Type": "application/json"}
    return api.as_token("").post("/api/v1/push/rpa-tm", content=body, headers=headers).status_code


def test_a_signed_push_is_stored_and_a_bad_signature_or_stale_timestamp_is_rejected(service_api: Api) -> None:
    rows = {"rows": [{"ts": "2026-11-09T20:00:00+08:00", "metric": "uv", "value": 3980},
                     {"ts": "2026-11-09T12:00:00Z", "metric": "stock", "value": 12, "sku": "SKU-1"}]}
    body = json.dumps(rows).encode()
    assert push(service_api, body, secret="wrong-secret") == 401
    assert push(service_api, body, skew=-timedelta(hours=1)) == 401
    assert stored(service_api, "tm-push") == {}
    assert push(service_api, body) == 200
    assert stored(service_api, "tm-push") == {(datetime(2026, 11, 9, 12, tzinfo=UTC), "uv"): 3980.0,
                                              (datetime(2026, 11, 9, 12, tzinfo=UTC), "stock"): 12.0}
    assert push(service_api, body) == 409  # the same signed request again is a replay


def test_a_pushed_impossible_value_is_refused_whole(service_api: Api) -> None:
    rows = {"rows": [{"ts": "2026-11-09T12:00:00Z", "metric": "uv", "value": 5},
                     {"ts": "2026-11-09T13:00:00Z", "metric": "orders", "value": -3}]}
    assert push(service_api, json.dumps(rows).encode()) == 422
    assert stored(service_api, "tm-push") == {}
