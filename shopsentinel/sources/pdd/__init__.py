"""Pinduoduo Open Platform connector."""

from shopsentinel.sources.pdd.connector import Config, PddConnector

__all__ = ["Config", "PddConnector"]
