"""Service settings: environment variables ``SHOPSENTINEL_*`` (or a ``.env`` file), read once.

>>> Settings(database_url="sqlite://").eval_window_days
35
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, BeforeValidator, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# A store that reports every hour and is fully silent for this many hours gets a data alert (also
# the backtest's threshold for historic whole-store outages).
STORE_SILENT_HOURS = 2


# Logging (shopsentinel/core/logs.py, docs/OPERATIONS.md 日志 / Logs): SHOPSENTINEL_LOG_LEVEL, SHOPSENTINEL_LOG_FORMAT.
LogLevel = Annotated[Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
                     BeforeValidator(lambda v: v.strip().upper() if isinstance(v, str) else v)]
LogFormat = Annotated[Literal["text", "json"], BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v)]
LOG_LEVEL_HELP = "root log level: DEBUG, INFO, WARNING, ERROR or CRITICAL"
LOG_FORMAT_HELP = "text (one readable line per record) or json (one JSON object per line)"


class LogSettings(BaseSettings):
    """Only the logging settings: what the CLI reads before any command runs (a bad unrelated
    setting must not stop ``shopsentinel backtest``)."""

    model_config = SettingsConfigDict(env_prefix="SHOPSENTINEL_", env_file=".env", extra="ignore")

    log_level: LogLevel = Field(default="INFO", description=LOG_LEVEL_HELP)
    log_format: LogFormat = Field(default="text", description=LOG_FORMAT_HELP)


class PushSourceSetting(BaseModel):
    """One RPA tool or aggregator allowed to push into one store (``POST /api/v1/push/{id}``)."""

    secret: SecretStr
    platform: str
    store: str
    timezone: str = "Asia/Shanghai"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPSENTINEL_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./shopsentinel.db"
    bootstrap_token: SecretStr | None = None
    bootstrap_user: str = "admin"
    host: str = "127.0.0.1"
    port: int = 8000
    rules_file: Path | None = Field(default=None, description="rule pack YAML; default: the built-in pack")
    rules_source: Literal["auto", "file", "web"] = Field(
        default="auto",
        description="which pack wins: auto = the newest version saved in the web, else rules_file, else the built-in "
        "pack (a web version overriding the file is logged and shown); file = rules_file (or the built-in pack) "
        "always, web/API editing read-only; web = the newest saved version (the file only until one is saved)",
    )
    eval_window_days: int = Field(default=35, ge=2, le=400, description="trailing history each evaluation sees")
    points_retention_days: int = Field(
        default=400, ge=0,
        description="points older than this many days are removed once a day (PostgreSQL: whole month "
        "partitions dropped); 0 keeps everything. Refused when shorter than the evaluation window or the "
        "longest rule history (store/retention.py)",
    )
    late_data_hours: int = Field(
        default=48, ge=1, le=24 * 60,
        description="once the window slides past a store's first point, new alerts are only created for "
        "episodes starting at most this long before the previous evaluation's end (data may arrive late); "
        "older hours are judged with truncated history",
    )
    stores_per_shard: int = Field(default=40, ge=1, le=1000, description="stores evaluated together in one panel")
    point_cache_stores: int = Field(
        default=100, ge=0,
        description="stores whose evaluation window is kept in memory between ticks; 0 when several "
        "processes write points into one database",
    )
    schedule_seconds: float = Field(default=60.0, gt=0, description="every store is re-evaluated this often")
    max_points_per_request: int = Field(default=200_000, ge=1)
    max_ingest_in_flight: int = Field(
        default_factory=lambda: min(16, 2 * (os.cpu_count() or 2)), ge=1,
        description="write requests (points, push, imports) processed at once, by default two per CPU core; the "
        "next is answered 503 with Retry-After at once instead of queueing (load shedding under a burst)",
    )
    max_body_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024,
        description="largest request body (Content-Length or streamed bytes), refused with 413 before it is "
        "parsed or any token is checked; a full batch of max_points_per_request points fits",
    )
    max_upload_bytes: int = Field(
        default=20_000_000, ge=1024,
        description="largest seller-console export file of POST /api/v1/imports; that route's body may be this "
        "plus 1 MiB of multipart framing and form fields",
    )
    point_max_age_days: float = Field(default=730.0, gt=0, description="a pushed point older than this "
                                      "(by the service clock) is rejected")
    point_max_future_hours: float = Field(default=24.0, gt=0, description="a pushed point further ahead of the "
                                          "service clock than this is rejected")
    point_max_abs_value: float = Field(default=1e15, gt=0, description="a point whose |value| exceeds this is rejected")
    push_sources: dict[str, PushSourceSetting] = Field(
        default_factory=dict,
        description='signed push sources by id, e.g. SHOPSENTINEL_PUSH_SOURCES=\'{"rpa-1": {"secret": "…", '
        '"platform": "tmall", "store": "s1"}}\'',
    )
    push_window_seconds: float = Field(default=300.0, gt=0, description="allowed clock skew of a push timestamp")
    sync_db: Path | None = Field(default=None, description="turns platform syncs on: the service syncs the stores "
                                 "registered in the state database (`stores add`) and feeds their points in; an older "
                                 "install's DuckDB sync file at this path is moved into the state database once at start "
                                 "(kept as <path>.moved)")
    sync_interval_seconds: float = Field(default=300.0, gt=0, description="each registered store is synced this often")
    sync_max_lag_hours: float = Field(default=3.0, gt=0, description="a store synced less recently is a data alert")
    store_silent_hours: int = Field(
        default=STORE_SILENT_HOURS, ge=1, le=72,
        description="late-arrival tolerance: a live store with no data at all for this many closed hours up to "
        "the service clock is a data alert (data.store_silent); judged at the live edge only, so a backfill "
        "of past hours never raises it",
    )
    bootstrap_admin: SecretStr | None = Field(default=None, description="'user:password': the first alert-center admin")
    session_secret: SecretStr | None = Field(default=None, description="signs web sessions; random per process if unset")
    session_idle_minutes: int = Field(default=480, ge=1, description="a web session ends after this long idle")
    public_url: str = Field(default="", description="the alert center's address, for links in notifications")
    display_timezone: str = Field(
        default="Asia/Shanghai",
        description="the zone the alert center shows times in and reads form times in (the API stays UTC)",
    )

    @field_validator("display_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"未知时区 {value!r}（例如 Asia/Shanghai）/ unknown time zone {value!r}") from None
        return value
    allow_degraded_key: bool = Field(
        default=False,
        description="start even when the secret key cannot open the stored secrets (logged at ERROR and "
        "audited as secret_key.degraded); by default the service refuses to start",
    )
    login_max_failures: int = Field(default=5, ge=1, description="wrong passwords per IP or account before back-off")
    login_backoff_seconds: float = Field(default=30.0, gt=0, description="first login back-off; doubles with each "
                                         "further failure, up to login_backoff_max_seconds")
    login_backoff_max_seconds: float = Field(default=900.0, gt=0)
    token_max_failures: int = Field(default=20, ge=1, description="unknown bearer tokens per IP within "
                                    "token_failure_window_seconds before the API answers 429")
    token_failure_window_seconds: float = Field(default=300.0, gt=0)
    log_level: LogLevel = Field(default="INFO", description=LOG_LEVEL_HELP)
    log_format: LogFormat = Field(default="text", description=LOG_FORMAT_HELP)
    provisioning_dir: Path | None = Field(
        default=None,
        description="configuration as code: a directory of YAML files (channels, routing tree, subscriptions, "
        "escalation policies, on-call schedules) applied at start in one transaction; objects from it are "
        "read-only in the API and the web (docs/OPERATIONS.md, 配置即代码 / Provisioning)",
    )
    # Scale-out on Celery (docs/DEPLOY.md): unset = everything runs inside `serve` (the embedded default).
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (redis://… by default, amqp://… for RabbitMQ); when set, `serve` runs no background "
        "runner and hands the stores to judge to `shopsentinel worker` processes, `shopsentinel scheduler` runs "
        "the periodic work",
    )
    broker_key_prefix: str = Field(default="", description="Redis broker: prefix of every key (kombu global_keyprefix), "
                                   "so several installations or tests share one Redis")
    broker_visibility_timeout_seconds: float = Field(
        default=3600.0, gt=0,
        description="Redis broker: a task a dead worker had taken is handed to another after this long (acks_late)",
    )
    backlog_stores_per_task: int = Field(
        default=5, ge=1, le=1000,
        description="with a broker: stores per backlog evaluation task (backfills, closing hours). Small, so a worker "
        "thread judging the past is free again within a fraction of a second for a crash on a live shard",
    )
    backlog_delay_seconds: float = Field(
        default=20.0, ge=0, le=600,
        description="with a broker: evaluations for past hours (backfills) run this long after they are sent, so the "
        "batches of one backfill that arrive meanwhile are judged by one evaluation (the others are skipped)",
    )
    shards: int = Field(default=4, ge=1, le=256, description="evaluation queues eval.0 … eval.<n-1>; each store "
                        "always goes to the same one (a stable hash of platform/store)")
    eval_retry_seconds: float = Field(
        default=60.0, gt=0,
        description="with a broker: a store whose live data is still unjudged this long after it arrived (its "
        "evaluation task died with a worker) is sent again by the scheduler's periodic pass",
    )


__all__ = ["STORE_SILENT_HOURS", "LogFormat", "LogLevel", "LogSettings", "PushSourceSetting", "Settings"]
