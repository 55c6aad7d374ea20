"""A calendar that knows the year: seeding adds the Chinese holidays (调休 named), overseas holidays and
the platform festivals in their market's local days, stored in UTC, once — and each seeded event is an
ordinary event that can be deleted."""

from __future__ import annotations

from typing import Any

from tests.support.service import Api


def _events(api: Api) -> list[dict[str, Any]]:
    return list(api.get("/api/v1/calendar").json()["items"])


def test_seeding_a_year_adds_holidays_and_festivals_once(api: Api) -> None:
    response = api.post("/api/v1/calendar/seed", json={"year": 2026, "countries": ["US"]})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["added"] > 30 and result["skipped"] == 0
    events = _events(api)
    national = [e for e in events if e["name"].startswith("国庆节")]
    assert [(e["start"], e["end"], e["platform"], e["kind"]) for e in national] == [
        ("2026-09-30T16:00:00Z", "2026-10-07T16:00:00Z", "", "holiday")]  # 10-01 .. 10-07 in Beijing
    assert "调休上班" in national[0]["name"]
    double11 = {e["platform"]: e["start"] for e in events if e["name"] == "双11"}
    assert double11["tmall"] == "2026-11-10T16:00:00Z" and "amazon" not in double11
    black_friday = {e["platform"]: e["start"] for e in events if e["name"] == "Black Friday"}
    assert black_friday == {"amazon": "2026-11-27T05:00:00Z", "shopify": "2026-11-27T05:00:00Z"}  # New York midnight
    assert any(e["name"] == "Independence Day (US)" and e["platform"] == "amazon" for e in events)

    again = api.post("/api/v1/calendar/seed", json={"year": 2026, "countries": ["US"]}).json()
    assert (again["added"], again["skipped"]) == (0, result["added"])
    assert len(_events(api)) == len(events)

    # an ordinary event: deleted, and only it comes back on the next seed
    assert api.delete(f"/api/v1/calendar/{national[0]['id']}").status_code == 204
    assert api.post("/api/v1/calendar/seed", json={"year": 2026}).json()["added"] == 1


def test_a_year_beyond_the_published_arrangement_still_gets_the_statutory_days(api: Api) -> None:
    result = api.post("/api/v1/calendar/seed", json={"year": 2027, "countries": []}).json()
    names = {e["name"] for e in _events(api)}
    assert result["added"] > 0 and "春节" in names and "国庆节" in names and "双11" in names


def test_an_unknown_country_is_refused_and_nothing_is_added(api: Api) -> None:
    response = api.post("/api/v1/calendar/seed", json={"year": 2026, "countries": ["XX"]})
    assert response.status_code == 422 and "未知国家" in response.json()["detail"]
    assert _events(api) == []
