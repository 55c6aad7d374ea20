"""The JD Source: streams orders and stock from JOS."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from pydantic import BaseModel

from shopsentinel.sources.jd.client import JdClient, JdConfig
from shopsentinel.sources.jd.streams import build_streams
from shopsentinel.sources.kit import RouterClient, RouterConnector, Stream

Config = JdConfig


class JdConnector(RouterConnector):
    """``JdConnector(Config(...), clock=..., sleep=...)``; see README.md in this folder."""

    platform: ClassVar[str] = "jd"
    config_model: ClassVar[type[BaseModel]] = JdConfig
    client_class: ClassVar[type[RouterClient]] = JdClient
    client: JdClient
    config: JdConfig  # RouterConnector.__init__ checks the type

    def _build_streams(self) -> Sequence[Stream]:
        return build_streams(self.client, self.config)

