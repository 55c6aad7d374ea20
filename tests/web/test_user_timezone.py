"""Each person reads and enters times in their own zone (issue 13, "Local time": per-user setting):
``users.timezone`` set through the API or the user form; pages show it, forms read times in it; an
unknown zone is refused in Chinese first, naming the field; the API stays UTC."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tests.web.conftest import ADMIN_TOKEN, Client


def _silence_ends(admin: Client) -> list[str]:
    return sorted(s["ends_at"] for s in admin.get("/api/v1/silences").json()["items"])


def test_a_person_reads_and_enters_times_in_their_own_zone(web_app: FastAPI, client_factory: Any) -> None:
    admin = Client(web_app, ADMIN_TOKEN)
    made = admin.post("/api/v1/users", json={"username": "tom", "role": "editor", "password": "long-enough-1",
                                             "timezone": "Europe/London"})
    assert made.status_code == 201, made.text
    assert made.json()["timezone"] == "Europe/London"
    london = Client(web_app)
    assert london.login("tom", "long-enough-1").status_code == 303
    page = london.get("/silences")
    assert page.status_code == 200 and "Europe/London" in page.text and "北京时间" not in page.text
    # the same wall-clock entry lands 8 hours apart in UTC for a London and a Beijing editor
    assert london.form("/silences", {"name0": "store", "value0": "tm-1", "ends": "2026-11-20T00:00"}).status_code == 303
    beijing = client_factory("editor")  # no zone of their own: the installation's (Asia/Shanghai)
    assert "北京时间" in beijing.get("/silences").text
    assert beijing.form("/silences", {"name0": "store", "value0": "tm-2", "ends": "2026-11-20T00:00"}).status_code == 303
    ends = _silence_ends(admin)
    assert [e[:16] for e in ends] == ["2026-11-19T16:00", "2026-11-20T00:00"], ends


def test_an_unknown_zone_is_refused_and_nothing_changes(web_app: FastAPI, client_factory: Any) -> None:
    admin = Client(web_app, ADMIN_TOKEN)
    bad = admin.post("/api/v1/users", json={"username": "amy", "password": "long-enough-1", "timezone": "Beijing"})
    assert bad.status_code == 422 and "未知时区" in bad.text and "timezone" in bad.text, bad.text
    assert "amy" not in {u["username"] for u in admin.get("/api/v1/users").json()}
    page = client_factory("admin")
    form = page.form("/users", {"username": "viewer", "existing": "1", "role": "viewer", "timezone": "Mars/Olympus"})
    assert form.status_code == 422 and "未知时区" in form.text
    assert {u["username"]: u["timezone"] for u in admin.get("/api/v1/users").json()}["viewer"] == ""
    saved = page.form("/users", {"username": "viewer", "existing": "1", "role": "viewer", "timezone": "Asia/Tokyo"})
    assert saved.status_code == 303, saved.text
    assert {u["username"]: u["timezone"] for u in admin.get("/api/v1/users").json()}["viewer"] == "Asia/Tokyo"
