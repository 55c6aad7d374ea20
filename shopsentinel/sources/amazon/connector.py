"""The Amazon Selling Partner API Source: config, LWA + client wiring and the stream list."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, Field, SecretStr

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.sources.amazon.client import AmazonClient
from shopsentinel.sources.amazon.signing import LWA_URL, LwaAuth
from shopsentinel.sources.amazon.streams import stream_specs
from shopsentinel.sources.kit import IncrementalSource, Sleep, wall_sleep


class AmazonConfig(BaseModel):
    """One seller account in one marketplace; ``SecretStr`` fields never appear in repr or logs."""

    store: str
    client_id: str
    client_secret: SecretStr
    refresh_token: SecretStr
    marketplace_id: str = "ATVPDKIKX0DER"  # amazon.com
    marketplace_timezone: str = "America/Los_Angeles"  # report days are marketplace-local
    endpoint: str = "https://sellingpartnerapi-na.amazon.com"
    lwa_url: str = LWA_URL
    start: datetime = Field(description="first sync reads from here (Orders API keeps two years)")
    overlap_minutes: int = 10
    traffic_overlap_days: int = 2  # report numbers settle over a couple of days
    page_size: int = Field(100, ge=1, le=100)
    report_poll_seconds: float = 15.0
    timeout_seconds: float = 30.0


class AmazonSource(IncrementalSource):
    platform: ClassVar[str] = "amazon"
    config_model: ClassVar[type[BaseModel]] = AmazonConfig

    def __init__(
        self,
        config: AmazonConfig,
        *,
        clock: Clock | None = None,
        sleep: Sleep = wall_sleep,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(clock=clock or SystemClock(), sleep=sleep, default_start=config.start, http=http,
                         base_url=config.endpoint, timeout_seconds=config.timeout_seconds)
        self.config = config
        self.auth = LwaAuth(self.http, client_id=config.client_id, client_secret=config.client_secret,
                            refresh_token=config.refresh_token, clock=self.clock, url=config.lwa_url)
        self.client = AmazonClient(self.http, self.auth, self.waiter, sleep=sleep)
        self._register(stream_specs(
            self.client, marketplace=config.marketplace_id, tz=ZoneInfo(config.marketplace_timezone), sleep=sleep,
            overlap=timedelta(minutes=config.overlap_minutes), traffic_overlap=timedelta(days=config.traffic_overlap_days),
            page_size=config.page_size, report_poll_seconds=config.report_poll_seconds,
        ))

    def __repr__(self) -> str:
        return f"AmazonSource(store={self.config.store!r}, marketplace={self.config.marketplace_id!r})"
