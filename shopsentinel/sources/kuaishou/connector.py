"""The Kuaishou e-shop (快手小店) Source: config, client wiring and the stream list."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from shopsentinel.core.clock import Clock, SystemClock
from shopsentinel.sources.kit import IncrementalSource, Sleep, TokenListener, wall_sleep
from shopsentinel.sources.kuaishou.client import KuaishouClient
from shopsentinel.sources.kuaishou.signing import SignMethod
from shopsentinel.sources.kuaishou.streams import stream_specs


class KuaishouConfig(BaseModel):
    """One Kuaishou shop; ``SecretStr`` fields never appear in repr or logs and are encrypted at rest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    store: str
    app_key: str = Field(description="appkey of the app")
    app_secret: SecretStr = Field(description="app secret (token refresh)")
    sign_secret: SecretStr = Field(description="signSecret from the app console (request signing; not the app secret)")
    refresh_token: SecretStr = Field(description="the shop's refresh token (rotates on every refresh)")
    access_token: SecretStr | None = Field(default=None, description="current access token; refreshed when absent")
    base_url: str = "https://openapi.kwaixiaodian.com"
    sign_method: SignMethod = "MD5"
    start: datetime = Field(description="first sync reads from here")
    overlap_minutes: int = Field(default=10, ge=0)
    page_size: int = Field(default=100, ge=1, le=100)
    timeout_seconds: float = Field(default=30.0, gt=0)


class KuaishouSource(IncrementalSource):
    platform: ClassVar[str] = "kuaishou"
    config_model: ClassVar[type[BaseModel]] = KuaishouConfig

    def __init__(
        self,
        config: KuaishouConfig,
        *,
        clock: Clock | None = None,
        sleep: Sleep = wall_sleep,
        http: httpx.AsyncClient | None = None,
        on_tokens: TokenListener | None = None,
    ) -> None:
        super().__init__(clock=clock or SystemClock(), sleep=sleep, default_start=config.start, http=http,
                         base_url=config.base_url, timeout_seconds=config.timeout_seconds)
        self.config = config
        self.client = KuaishouClient(
            self.http, app_key=config.app_key, app_secret=config.app_secret, sign_secret=config.sign_secret,
            refresh_token=config.refresh_token, access_token=config.access_token, clock=self.clock,
            waiter=self.waiter, sign_method=config.sign_method, sleep=sleep, on_tokens=on_tokens,
        )
        self._register(stream_specs(self.client, overlap=timedelta(minutes=config.overlap_minutes),
                                    page_size=config.page_size))

    def __repr__(self) -> str:
        return f"KuaishouSource(store={self.config.store!r}, app_key={self.config.app_key!r})"
