"""JD Open Platform (JOS / 宙斯) connector."""

from shopsentinel.sources.jd.connector import Config, JdConnector

__all__ = ["Config", "JdConnector"]
