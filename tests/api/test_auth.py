"""Bearer tokens with roles; the bootstrap token is stored as a hash only; changes audited."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shopsentinel.store.state import ApiTokenRow


def test_no_or_unknown_token_is_401(api: Any) -> None:
    assert api.as_token("").get("/api/v1/alerts").status_code == 401
    assert api.as_token("wrong").get("/api/v1/alerts").status_code == 401
    assert api.get("/api/v1/alerts").status_code == 200


def test_bootstrap_token_stored_as_hash_only(api: Any) -> None:
    with api.service.sessions() as session:
        rows = session.scalars(select(ApiTokenRow)).all()
    assert [(r.user, r.role) for r in rows] == [("admin", "admin")]
    assert rows[0].token_hash != "test-admin-token" and len(rows[0].token_hash) == 64


def test_viewer_reads_but_cannot_change(api: Any) -> None:
    r = api.post("/api/v1/tokens", json={"user": "li.viewer", "role": "viewer"})
    assert r.status_code == 201
    viewer = api.as_token(r.json()["token"])
    assert viewer.get("/api/v1/alerts").status_code == 200
    assert viewer.get("/api/v1/rules").status_code == 200
    point = {"ts": "2026-11-10T02:00:00Z", "platform": "tmall", "store": "tm-1", "metric": "orders", "value": 1}
    assert viewer.post("/api/v1/points", json={"points": [point]}).status_code == 403
    assert viewer.put("/api/v1/rules", json={"rules": []}).status_code == 403
    assert viewer.post("/api/v1/tokens", json={"user": "x", "role": "admin"}).status_code == 403
    assert viewer.get("/api/v1/audit").status_code == 403


def test_editor_changes_are_audited_with_its_user_and_revocation_works(api: Any) -> None:
    created = api.post("/api/v1/tokens", json={"user": "zhang.editor", "role": "editor"}).json()
    editor = api.as_token(created["token"])
    r = editor.post("/api/v1/calendar", json={"start": "2026-11-10T16:00:00Z", "end": "2026-11-11T16:00:00Z",
                                              "platform": "tmall", "name": "双11", "kind": "promotion"})
    assert r.status_code == 201
    assert editor.post("/api/v1/tokens", json={"user": "x", "role": "viewer"}).status_code == 403
    log = api.get("/api/v1/audit").json()
    assert (log[0]["actor"], log[0]["action"], log[0]["detail"]["name"]) == ("zhang.editor", "calendar.add", "双11")
    assert api.delete(f"/api/v1/tokens/{created['id']}").status_code == 204
    assert editor.get("/api/v1/alerts").status_code == 401
