"""SHOPSENTINEL_RULES_SOURCE: which pack wins between SHOPSENTINEL_RULES_FILE and versions saved in the
web, shown on the rules page (zh, en) and returned by the rules API — one test per mode."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from shopsentinel.core.clock import ManualClock
from shopsentinel.runtime.rule_source import ORIGIN_TEXTS
from shopsentinel.store.db import open_database
from shopsentinel.store.repository import save_rule_pack
from shopsentinel.web.i18n import translate
from tests.web.conftest import ADMIN_TOKEN, Client, make_app

FILE_RULES = """rules:
  - id: file.only
    name: {zh: 文件规则, en: File rule}
    severity: warning
    when: {metric: orders, type: threshold, above: 100}
"""
WEB_RULE = {"id": "web.only", "name": {"zh": "网页规则", "en": "Web rule"}, "severity": "critical",
            "when": {"metric": "uv", "type": "threshold", "below": 1}}


@pytest.fixture
def start(tmp_path: Path, clock: ManualClock) -> Iterator[Any]:
    apps: list[FastAPI] = []
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(FILE_RULES, encoding="utf-8")

    def make(source: str | None, with_file: bool = True, saved: bool = False) -> FastAPI:
        settings: dict[str, Any] = {"rules_file": rules_file} if with_file else {}
        if source is not None:
            settings["rules_source"] = source
        url = f"sqlite:///{tmp_path / f'state{len(apps)}.db'}"
        if saved:  # a version saved in the web before this (re)start
            engine, sessions = open_database(url)
            with sessions() as session:
                save_rule_pack(session, {"version": 1, "rules": [WEB_RULE]}, "editor", clock.now())
                session.commit()
            engine.dispose()
        app = make_app(url, clock, **settings)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.service.close()


def _ids(api: Client) -> tuple[list[str], dict[str, Any]]:
    body = api.get("/api/v1/rules").json()
    return [r["id"] for r in body["pack"]["rules"]], body["source"]


def _page_source(client: Client, lang: str = "zh-CN") -> str:
    page = client.get("/rules", params={"lang": "en"} if lang == "en" else None)
    assert page.status_code == 200
    start = page.text.index('id="rule-source"')
    return html.unescape(page.text[start:page.text.index("</p>", start)])


def test_auto_is_todays_behaviour_but_says_the_web_version_overrides_the_file(start: Any,
                                                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="shopsentinel.rules"):
        app = start(None, saved=True)  # rules_source defaults to auto
    api = Client(app, ADMIN_TOKEN)
    ids, source = _ids(api)
    assert any("覆盖了规则文件" in r.getMessage() and "overrides the rule file" in r.getMessage() for r in caplog.records)
    assert ids == ["web.only"]
    assert (source["setting"], source["source"], source["version"], source["reason"], source["read_only"]) == \
        ("auto", "web", 1, "web_over_file", False)
    assert "rules.yaml" in source["message"] and source["message"].startswith("网页保存的版本 v1 覆盖了规则文件")
    client = Client(app)
    assert client.login("viewer").status_code == 303
    assert "网页保存的版本 v1 覆盖了规则文件" in _page_source(client)
    assert "Version v1 saved in the web overrides the rule file" in _page_source(client, "en")


def test_auto_without_a_saved_version_uses_the_file(start: Any) -> None:
    api = Client(start("auto"), ADMIN_TOKEN)
    ids, source = _ids(api)
    assert ids == ["file.only"] and (source["source"], source["reason"]) == ("file", "file_unsaved")
    saved = api.put("/api/v1/rules", json={"rules": [WEB_RULE]})
    assert saved.status_code == 200
    ids, source = _ids(api)
    assert ids == ["web.only"] and source["reason"] == "web_over_file"


def test_file_wins_and_editing_is_read_only(start: Any) -> None:
    app = start("file", saved=True)
    api = Client(app, ADMIN_TOKEN)
    ids, source = _ids(api)
    assert ids == ["file.only"]
    assert (source["source"], source["reason"], source["read_only"], source["version"]) == ("file", "file_locked", True, 0)
    refused = api.put("/api/v1/rules", json={"rules": [WEB_RULE]})
    assert refused.status_code == 409 and "rules_source=file" in refused.json()["detail"]
    assert api.get("/api/v1/rules/source").json()["reason"] == "file_locked"

    editor = Client(app)
    assert editor.login("editor").status_code == 303
    page = editor.get("/rules").text
    assert 'id="save-button"' not in page and "/rules/file.only/toggle" not in page
    assert "网页与 API 编辑为只读" in _page_source(editor)
    saved = editor.form("/rules", {"yaml_text": FILE_RULES.replace("above: 100", "above: 5"), "action": "save"})
    assert saved.status_code == 409 and 'id="rules-read-only"' in saved.text
    assert editor.form("/rules/file.only/toggle").status_code == 409
    assert _ids(api)[0] == ["file.only"] and app.state.service.rules.current().get("file.only").enabled
    assert [v["version"] for v in api.get("/api/v1/rules/versions").json()] == [1]  # nothing new was saved


def test_file_mode_without_a_file_locks_the_builtin_pack(start: Any) -> None:
    api = Client(start("file", with_file=False), ADMIN_TOKEN)
    ids, source = _ids(api)
    assert "orders.burst" in ids and (source["source"], source["reason"]) == ("builtin", "builtin_locked")
    assert api.put("/api/v1/rules", json={"rules": [WEB_RULE]}).status_code == 409


def test_web_mode_takes_the_saved_version_and_the_file_until_then(start: Any) -> None:
    api = Client(start("web"), ADMIN_TOKEN)
    ids, source = _ids(api)
    assert ids == ["file.only"] and (source["setting"], source["reason"]) == ("web", "file_unsaved")
    assert api.put("/api/v1/rules", json={"rules": [WEB_RULE]}).status_code == 200
    ids, source = _ids(api)
    assert ids == ["web.only"] and (source["source"], source["reason"]) == ("web", "web")  # no override warning


def test_the_page_and_the_api_say_the_same_sentences() -> None:
    for reason, (zh, en) in ORIGIN_TEXTS.items():
        assert translate("zh-CN", f"rules.origin.{reason}", v=2, file="f", setting="auto") == zh.format(v=2, file="f", setting="auto")
        assert translate("en", f"rules.origin.{reason}", v=2, file="f", setting="auto") == en.format(v=2, file="f", setting="auto")
