"""The Shopify Admin GraphQL Source: config, client wiring and the stream list."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, Field, SecretStr, model_validator

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.sources.kit import IncrementalSource, Sleep, wall_sleep
from shopsentinel.sources.shopify.client import ShopifyClient
from shopsentinel.sources.shopify.streams import stream_specs


class ShopifyConfig(BaseModel):
    """One shop. Either a custom-app ``access_token``, or app credentials that can mint one.

    ``SecretStr`` fields never appear in repr or logs; ``webhook_secret`` verifies webhooks.
    """

    store: str
    shop_url: str = Field(description="https://{shop}.myshopify.com")
    api_version: str = "2025-10"  # shopifyqlQuery needs ≥ 2025-10
    access_token: SecretStr | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    refresh_token: SecretStr | None = None  # expiring offline tokens [R]
    webhook_secret: SecretStr | None = None
    shop_timezone: str = "America/New_York"
    start: datetime
    overlap_minutes: int = 10
    traffic_overlap_hours: int = 24
    page_size: int = Field(100, ge=1, le=250)
    timeout_seconds: float = 30.0

    @model_validator(mode="after")
    def _has_credentials(self) -> ShopifyConfig:
        if self.access_token is None and not (self.client_id and self.client_secret):
            raise ValueError("give access_token, or client_id and client_secret")
        return self


class ShopifySource(IncrementalSource):
    platform: ClassVar[str] = "shopify"
    config_model: ClassVar[type[BaseModel]] = ShopifyConfig

    def __init__(
        self,
        config: ShopifyConfig,
        *,
        clock: Clock | None = None,
        sleep: Sleep = wall_sleep,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(clock=clock or SystemClock(), sleep=sleep, default_start=config.start, http=http,
                         base_url=config.shop_url, timeout_seconds=config.timeout_seconds)
        self.config = config
        self.client = ShopifyClient(
            self.http, api_version=config.api_version, clock=self.clock, waiter=self.waiter,
            access_token=config.access_token, client_id=config.client_id, client_secret=config.client_secret,
            refresh_token=config.refresh_token, sleep=sleep,
        )
        self._register(stream_specs(
            self.client, tz=ZoneInfo(config.shop_timezone), overlap=timedelta(minutes=config.overlap_minutes),
            traffic_overlap=timedelta(hours=config.traffic_overlap_hours), page_size=config.page_size,
        ))

    def __repr__(self) -> str:
        return f"ShopifySource(store={self.config.store!r}, shop_url={self.config.shop_url!r})"
