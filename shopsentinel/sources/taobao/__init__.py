"""Taobao / Tmall Open Platform (TOP) connector."""

from shopsentinel.sources.taobao.connector import Config, TaobaoConnector, TmallConnector

__all__ = ["Config", "TaobaoConnector", "TmallConnector"]
