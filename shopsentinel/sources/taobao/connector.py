"""The Taobao/Tmall Source: streams orders, refunds, reviews and stock from TOP."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel

from shopsentinel.sources.kit import RouterClient, RouterConnector, Stream
from shopsentinel.sources.taobao.client import TaobaoClient, TaobaoConfig
from shopsentinel.sources.taobao.streams import build_streams

Config = TaobaoConfig


class TaobaoConnector(RouterConnector):
    """``TaobaoConnector(Config(...), clock=..., sleep=...)``; see README.md in this folder."""

    platform: ClassVar[str] = "taobao"
    config_model: ClassVar[type[BaseModel]] = TaobaoConfig
    client_class: ClassVar[type[RouterClient]] = TaobaoClient
    client: TaobaoClient
    config: TaobaoConfig  # RouterConnector.__init__ checks the type

    def _build_streams(self) -> Sequence[Stream]:
        return build_streams(self.client, self.config)



class TmallConnector(TaobaoConnector):
    """Tmall shops use the same TOP APIs; only the platform name differs."""

    platform: ClassVar[str] = "tmall"
