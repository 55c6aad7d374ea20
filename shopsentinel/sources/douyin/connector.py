"""The Douyin Shop (抖店) Source: config, client wiring and the stream list."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

import httpx
from pydantic import BaseModel, Field, SecretStr

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.sources.douyin.client import DouyinClient, TimestampStyle
from shopsentinel.sources.douyin.signing import SignMethod
from shopsentinel.sources.douyin.streams import stream_specs
from shopsentinel.sources.kit import IncrementalSource, Sleep, wall_sleep


class DouyinConfig(BaseModel):
    """Settings of one Doudian store; ``SecretStr`` fields never appear in repr or logs."""

    store: str
    app_key: str
    app_secret: SecretStr
    shop_id: str
    refresh_token: SecretStr | None = None  # tool/ISV apps; self-use apps mint tokens with token.create
    base_url: str = "https://openapi-fxg.jinritemai.com"
    sign_method: SignMethod = "md5"
    timestamp_style: TimestampStyle = "unix"
    start: datetime = Field(description="first sync reads from here (the API keeps ~90 days)")
    overlap_minutes: int = 10
    page_size: int = Field(100, ge=1, le=100)
    timeout_seconds: float = 30.0


class DouyinSource(IncrementalSource):
    platform: ClassVar[str] = "douyin"
    config_model: ClassVar[type[BaseModel]] = DouyinConfig

    def __init__(
        self,
        config: DouyinConfig,
        *,
        clock: Clock | None = None,
        sleep: Sleep = wall_sleep,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(clock=clock or SystemClock(), sleep=sleep, default_start=config.start, http=http,
                         base_url=config.base_url, timeout_seconds=config.timeout_seconds)
        self.config = config
        self.client = DouyinClient(
            self.http, app_key=config.app_key, app_secret=config.app_secret, shop_id=config.shop_id,
            clock=self.clock, waiter=self.waiter, refresh_token=config.refresh_token,
            sign_method=config.sign_method, timestamp_style=config.timestamp_style, sleep=sleep,
        )
        overlap = timedelta(minutes=config.overlap_minutes)
        self._register(stream_specs(self.client, self.clock, overlap=overlap, page_size=config.page_size))

    def __repr__(self) -> str:
        return f"DouyinSource(store={self.config.store!r}, app_key={self.config.app_key!r})"
