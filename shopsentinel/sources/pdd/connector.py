"""The Pinduoduo Source: streams orders, refunds and stock from the PDD open platform."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel

from shopsentinel.sources.kit import RouterClient, RouterConnector, Stream
from shopsentinel.sources.pdd.client import PddClient, PddConfig
from shopsentinel.sources.pdd.streams import build_streams

Config = PddConfig


class PddConnector(RouterConnector):
    """``PddConnector(Config(...), clock=..., sleep=...)``; see README.md in this folder."""

    platform: ClassVar[str] = "pdd"
    config_model: ClassVar[type[BaseModel]] = PddConfig
    client_class: ClassVar[type[RouterClient]] = PddClient
    client: PddClient
    config: PddConfig  # RouterConnector.__init__ checks the type

    def _build_streams(self) -> Sequence[Stream]:
        return build_streams(self.client, self.config)

