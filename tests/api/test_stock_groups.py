"""Shared-stock groups through the API (issue 13, "Cross-platform stock ... opt-in per SKU group"): what
is declared here is what the sync runner's 库存同步 check compares; values that can never match are
refused in Chinese first; with syncing off the resource does not exist."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shopsentinel.core.clock import ManualClock
from shopsentinel.ingest.sync_state import StockGroup, StockMember
from tests.support.service import make_api

GROUP = {"members": [{"platform": "tmall", "store": "tm-1", "sku": "A-1"},
                     {"platform": "jd", "store": "jd-1", "sku": "A-1-JD"},
                     {"platform": "jd", "store": "erp", "sku": "A-1", "reference": True}],
         "tolerance": 3, "lag_hours": 1.5}


def test_a_declared_group_is_what_the_stock_check_compares(tmp_path: Path, clock: ManualClock) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'state.db'}", clock, sync_db=tmp_path / "sync.duckdb")
    try:
        assert api.as_token("").get("/api/v1/stock-groups").status_code == 401
        put = api.put("/api/v1/stock-groups/羽绒服-A", json=GROUP)
        assert put.status_code == 200, put.text
        listed = [{**GROUP, "name": "羽绒服-A", "members": sorted(
            ({**m, "reference": m.get("reference", False)} for m in GROUP["members"]),
            key=lambda m: (m["platform"], m["store"], m["sku"]))}]
        assert put.json() == listed[0] and api.get("/api/v1/stock-groups").json() == listed
        with api.service.sync_runner().database(wait=5) as db:
            assert db is not None
            assert db.stock_groups() == [StockGroup("羽绒服-A", (
                StockMember("jd", "erp", "A-1", True), StockMember("jd", "jd-1", "A-1-JD"),
                StockMember("tmall", "tm-1", "A-1")), 3.0, 1.5)]
        moved = api.put("/api/v1/stock-groups/B", json={"members": GROUP["members"][:2]})
        assert moved.status_code == 200  # a SKU belongs to one group at most: it moves to B
        groups = {g["name"]: len(g["members"]) for g in api.get("/api/v1/stock-groups").json()}
        assert groups == {"羽绒服-A": 1, "B": 2}
        assert api.delete("/api/v1/stock-groups/B").status_code == 204
        assert api.delete("/api/v1/stock-groups/B").status_code == 404
    finally:
        api.service.close()


def _refused(api: Any, body: dict[str, Any]) -> str:
    response = api.put("/api/v1/stock-groups/bad", json=body)
    assert response.status_code == 422, response.text
    return str(response.text)


def test_groups_that_can_never_match_are_refused(tmp_path: Path, clock: ManualClock) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'state.db'}", clock, sync_db=tmp_path / "sync.duckdb")
    try:
        one = GROUP["members"][0]
        assert "未知平台" in _refused(api, {"members": [{**one, "platform": "天猫"}, GROUP["members"][1]]})
        assert "members" in _refused(api, {"members": [one]})  # one SKU is nothing to compare
        assert "重复" in _refused(api, {"members": [one, one]})
        assert "基准" in _refused(api, {"members": [{**one, "reference": True}, {**GROUP["members"][1], "reference": True}]})
        assert "tolerance" in _refused(api, {**GROUP, "tolerance": -1})
        assert api.get("/api/v1/stock-groups").json() == []
    finally:
        api.service.close()


def test_without_syncing_there_are_no_stock_groups(tmp_path: Path, clock: ManualClock) -> None:
    api = make_api(f"sqlite:///{tmp_path / 'state.db'}", clock)
    try:
        response = api.get("/api/v1/stock-groups")
        assert response.status_code == 404 and "平台同步未开启" in response.text
    finally:
        api.service.close()
