"""Logging set-up (shopsentinel/core/logs.py): the JSON and text formats, the one root handler with
redaction for every logger, the request-id middleware and its access line, the settings and the CLI."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from shopsentinel.cli import app as cli
from shopsentinel.core.logs import (
    ACCESS_LOGGER,
    RequestIdMiddleware,
    configure_from_env,
    configure_from_settings,
    configure_logging,
    remove_logging,
    request_id,
    sane_request_id,
)
from shopsentinel.core.settings import LogSettings, Settings
from shopsentinel.sim.platforms.serve import serve_in_thread


class Installed:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[str]:
        return [line for line in self.stream.getvalue().splitlines() if line]

    def records(self) -> list[dict]:
        return [json.loads(line) for line in self.lines()]


@pytest.fixture
def json_logs() -> Iterator[Installed]:
    yield from _installed("json")


@pytest.fixture
def text_logs() -> Iterator[Installed]:
    yield from _installed("text")


def _installed(fmt: str) -> Iterator[Installed]:
    root = logging.getLogger()
    level = root.level
    stream = io.StringIO()
    handler = configure_logging("DEBUG", fmt, stream=stream)
    try:
        yield Installed(stream)
    finally:
        remove_logging(handler)
        root.setLevel(level)
        logging.captureWarnings(False)


def test_json_lines_carry_utc_time_level_logger_message_and_extras(json_logs: Installed) -> None:
    before = datetime.now(UTC)
    logging.getLogger("shopsentinel.test").warning("库存 %s 不足 / stock %s low", "sku-1", "sku-1", extra={"store": "tm-1"})
    [entry] = json_logs.records()
    assert entry["level"] == "WARNING" and entry["logger"] == "shopsentinel.test"
    assert entry["message"] == "库存 sku-1 不足 / stock sku-1 low"
    assert entry["store"] == "tm-1"
    assert entry["time"].endswith("Z")
    assert datetime.fromisoformat(entry["time"].replace("Z", "+00:00")) >= before.replace(microsecond=0)
    assert "request_id" not in entry and "exception" not in entry  # only when there is one


def test_json_lines_carry_the_request_id_and_the_exception_text(json_logs: Installed) -> None:
    token = request_id.set("req-42")
    try:
        try:
            {}["missing"]
        except KeyError:
            logging.getLogger("shopsentinel.test").exception("failed")
    finally:
        request_id.reset(token)
    [entry] = json_logs.records()
    assert entry["request_id"] == "req-42" and entry["message"] == "failed"
    assert entry["exception"].startswith("Traceback") and "KeyError: 'missing'" in entry["exception"]


def test_text_lines_show_the_request_id(text_logs: Installed) -> None:
    token = request_id.set("req-7")
    try:
        logging.getLogger("shopsentinel.test").info("hello")
    finally:
        request_id.reset(token)
    logging.getLogger("shopsentinel.test").info("no request")
    first, second = text_logs.lines()
    assert first.endswith("INFO    shopsentinel.test [req-7] hello")
    assert second.endswith("INFO    shopsentinel.test no request")


def test_every_logger_is_redacted_by_the_root_handler(json_logs: Installed) -> None:
    for name in ("httpx", "httpcore.http11", "uvicorn.error", "some.library"):
        logging.getLogger(name).warning("GET https://x/send?access_token=%s&timestamp=1", f"tok-of-{name}")
    messages = [e["message"] for e in json_logs.records()]
    assert len(messages) == 4
    assert all(m == "GET https://x/send?access_token=[redacted]&timestamp=1" for m in messages)


def test_sql_statements_stay_out_even_at_debug(json_logs: Installed) -> None:
    logging.getLogger("sqlalchemy.engine.Engine").info("SELECT secret FROM t")
    logging.getLogger("shopsentinel.test").debug("kept")
    assert [e["message"] for e in json_logs.records()] == ["kept"]


def test_configuring_twice_keeps_one_handler() -> None:
    root = logging.getLogger()
    level = root.level
    first = configure_logging("INFO", "text", stream=io.StringIO())
    second = configure_logging("INFO", "json", stream=io.StringIO())
    try:
        ours = [h for h in root.handlers if getattr(h, "_shopsentinel", False)]
        assert ours == [second] and first not in root.handlers
    finally:
        remove_logging(second)
        root.setLevel(level)
        logging.captureWarnings(False)


@pytest.mark.parametrize(("given", "sane"), [
    ("abc-123", True), ("0f8fad5b-d9cb-469f-a165-70867728950e", True), ("a" * 128, True), ("a" * 129, False),
    ("", False), ("bad id", False), ("x\r\nSet-Cookie: y", False), ("<script>", False), ("-leading", False),
])  # fmt: skip
def test_sane_request_ids(given: str, sane: bool) -> None:
    assert (sane_request_id(given) == given) is sane


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    def item(item_id: str) -> dict[str, str | None]:
        logging.getLogger("shopsentinel.test").info("inside %s", item_id)
        return {"request_id": request_id.get()}

    app.add_middleware(RequestIdMiddleware)
    return app


def test_the_middleware_echoes_a_sane_id_and_puts_it_on_every_record(json_logs: Installed) -> None:
    with serve_in_thread(_app()) as base_url, httpx.Client(base_url=base_url) as client:
        response = client.get("/items/7?token=link-token-abc&page=2", headers={"X-Request-ID": "from-the-proxy-1"})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "from-the-proxy-1" == response.json()["request_id"]
    inside = [e for e in json_logs.records() if e["logger"] == "shopsentinel.test"]
    [access] = [e for e in json_logs.records() if e["logger"] == ACCESS_LOGGER]
    assert inside[0]["request_id"] == "from-the-proxy-1" and inside[0]["message"] == "inside 7"
    assert access["request_id"] == "from-the-proxy-1"
    assert (access["method"], access["path"], access["route"], access["status"]) == ("GET", "/items/7", "/items/{item_id}", 200)
    assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
    assert access["message"].startswith("GET /items/7 200 ")
    assert "link-token-abc" not in json_logs.stream.getvalue() and "page=2" not in access["message"]


def test_the_middleware_replaces_an_insane_id_and_makes_one_when_absent(json_logs: Installed) -> None:
    with serve_in_thread(_app()) as base_url, httpx.Client(base_url=base_url) as client:
        bad = client.get("/items/1", headers={"X-Request-ID": "x" * 300})
        none = client.get("/items/2")
        unknown = client.get("/nowhere")
    ids = [r.headers["x-request-id"] for r in (bad, none, unknown)]
    assert all(len(i) == 32 and sane_request_id(i) for i in ids) and len(set(ids)) == 3
    assert bad.json()["request_id"] == ids[0] and none.json()["request_id"] == ids[1]
    access = [e for e in json_logs.records() if e["logger"] == ACCESS_LOGGER]
    assert [(e["path"], e["status"], e["request_id"]) for e in access] == [
        ("/items/1", 200, ids[0]), ("/items/2", 200, ids[1]), ("/nowhere", 404, ids[2])]
    assert access[2]["route"] is None


def test_the_settings_read_level_and_format_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSENTINEL_LOG_LEVEL", "debug")
    monkeypatch.setenv("SHOPSENTINEL_LOG_FORMAT", "JSON")
    assert (LogSettings(_env_file=None).log_level, LogSettings(_env_file=None).log_format) == ("DEBUG", "json")  # type: ignore[call-arg]
    settings = Settings(database_url="sqlite://", _env_file=None)  # type: ignore[call-arg]
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")
    monkeypatch.delenv("SHOPSENTINEL_LOG_LEVEL")
    monkeypatch.delenv("SHOPSENTINEL_LOG_FORMAT")
    assert (Settings(database_url="sqlite://", _env_file=None).log_level,  # type: ignore[call-arg]
            Settings(database_url="sqlite://", _env_file=None).log_format) == ("INFO", "text")  # type: ignore[call-arg]


def test_invalid_settings_are_refused_in_chinese_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPSENTINEL_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match=r"^日志设置无效：SHOPSENTINEL_LOG_FORMAT.*/ invalid logging settings"):
        configure_from_env()
    result = CliRunner().invoke(cli, ["metrics", "list"])
    assert result.exit_code == 2
    assert "日志设置无效" in result.output and "SHOPSENTINEL_LOG_FORMAT" in result.output


def test_serve_settings_register_their_secrets_before_logging(capsys: pytest.CaptureFixture[str]) -> None:
    from pydantic import SecretStr

    root = logging.getLogger()
    level = root.level
    settings = Settings(database_url="sqlite://", bootstrap_token=SecretStr("serve-bootstrap-token-1"),  # type: ignore[call-arg]
                        bootstrap_admin=SecretStr("admin:serve-admin-password"), log_format="json", _env_file=None)
    handler = configure_from_settings(settings)  # the handler writes to whatever sys.stderr is now
    try:
        logging.getLogger("shopsentinel.test").info("token serve-bootstrap-token-1 password serve-admin-password")
    finally:
        remove_logging(handler)
        root.setLevel(level)
        logging.captureWarnings(False)
    [entry] = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert entry["message"] == "token [redacted] password [redacted]" and entry["logger"] == "shopsentinel.test"
