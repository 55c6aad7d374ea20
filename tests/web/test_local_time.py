"""People read local time: the alert center shows and takes times in the display zone (default
Asia/Shanghai, 北京时间) while the API stays UTC — a 双11 entered at 00:00 lands at 16:00Z the day
before, not 8 hours off."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopsentinel.core.clock import ManualClock
from shopsentinel.core.settings import Settings
from tests.web.conftest import ADMIN_TOKEN, Client, make_app


def _clients(tmp_path: Path, clock: ManualClock, **settings: str) -> tuple[Client, Client]:
    app = make_app(f"sqlite:///{tmp_path / 'state.db'}", clock, **settings)
    admin = Client(app)
    assert admin.login("admin").status_code == 303
    return admin, Client(app, ADMIN_TOKEN)


def test_a_calendar_event_entered_at_local_midnight_is_stored_in_utc_and_shown_as_entered(
        tmp_path: Path, clock: ManualClock) -> None:
    admin, api = _clients(tmp_path, clock)
    try:
        assert admin.form("/calendar", {"name": "双11", "kind": "promotion", "start": "2026-11-11T00:00",
                                        "end": "2026-11-12T00:00"}).status_code == 303
        [event] = api.get("/api/v1/calendar").json()["items"]
        assert (event["start"], event["end"]) == ("2026-11-10T16:00:00Z", "2026-11-11T16:00:00Z")
        page = admin.get("/calendar").text
        assert "2026-11-11 00:00" in page and "2026-11-12 00:00" in page
        assert "开始（北京时间）" in page and "页面时间均为北京时间" in page
        english = admin.get("/calendar", params={"lang": "en"}).text
        assert "Start (Beijing time)" in english and "Times on these pages are Beijing time" in english
        # An explicit offset in the form wins over the display zone.
        assert admin.form("/calendar", {"name": "黑五", "start": "2026-11-27T00:00-05:00",
                                        "end": "2026-11-28T00:00-05:00"}).status_code == 303
        starts = sorted(e["start"] for e in api.get("/api/v1/calendar").json()["items"])
        assert starts == ["2026-11-10T16:00:00Z", "2026-11-27T05:00:00Z"]
    finally:
        api.service.close()


def test_another_display_zone_moves_what_pages_show_not_what_the_api_stores(tmp_path: Path, clock: ManualClock) -> None:
    admin, api = _clients(tmp_path, clock, display_timezone="UTC")
    try:
        assert admin.form("/calendar", {"name": "双11", "start": "2026-11-11T00:00",
                                        "end": "2026-11-12T00:00"}).status_code == 303
        [event] = api.get("/api/v1/calendar").json()["items"]
        assert event["start"] == "2026-11-11T00:00:00Z"
        page = admin.get("/calendar").text
        assert "2026-11-11 00:00" in page and "开始（UTC）" in page and "北京时间" not in page
    finally:
        api.service.close()


def test_a_silence_until_a_local_time_ends_at_that_local_time(tmp_path: Path, clock: ManualClock) -> None:
    admin, api = _clients(tmp_path, clock)
    try:
        response = admin.form("/silences", {"name0": "store", "value0": "tm-1",
                                            "ends": "2030-01-01T08:00", "comment": "维护"})
        assert response.status_code == 303, response.text
        [silence] = api.get("/api/v1/silences").json()["items"]
        assert silence["ends_at"] == "2030-01-01T00:00:00Z"
        assert "2030-01-01 08:00" in admin.get("/silences").text
    finally:
        api.service.close()


def test_an_unknown_display_zone_is_refused_in_chinese_first() -> None:
    with pytest.raises(ValueError, match="未知时区"):
        Settings(database_url="sqlite://", display_timezone="Asia/Beijing", _env_file=None)  # type: ignore[call-arg]


def test_the_calendar_page_seeds_the_year_and_shows_it_in_beijing_time(tmp_path: Path, clock: ManualClock) -> None:
    admin, api = _clients(tmp_path, clock)
    try:
        page = admin.get("/calendar").text
        assert "导入节假日与大促" in page and f'value="{clock.now().year}"' in page
        assert admin.form("/calendar/seed", {"year": "2026", "countries": "US"}).status_code == 303
        events = api.get("/api/v1/calendar").json()["items"]
        assert any(e["name"] == "双11" and e["start"] == "2026-11-10T16:00:00Z" for e in events)
        page = admin.get("/calendar").text
        assert "双11" in page and "2026-11-11 00:00" in page  # shown as entered by the platform: Beijing midnight
        assert admin.form("/calendar/seed", {"year": "2026", "countries": "ZZ"}).status_code == 422
        assert len(api.get("/api/v1/calendar").json()["items"]) == len(events)
    finally:
        api.service.close()
