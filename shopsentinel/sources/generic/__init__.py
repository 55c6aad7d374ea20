"""Generic HTTP/JSON source: an arbitrary aggregator API described by config (see README.md)."""

from shopsentinel.sources.generic.config import GenericConfig
from shopsentinel.sources.generic.connector import GenericSource
from shopsentinel.sources.generic.mapping import MappingError

__all__ = ["GenericConfig", "GenericSource", "MappingError"]
