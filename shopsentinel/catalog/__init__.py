"""The metric library (指标库): canonical definitions, derived formulas, composites, versions."""

from shopsentinel.catalog.metrics import (
    CANONICAL_METRICS,
    Catalog,
    MetricDefinition,
    default_catalog,
)

__all__ = ["CANONICAL_METRICS", "Catalog", "MetricDefinition", "default_catalog"]
