"""ShopSentinel — multi-platform store health monitoring and alerting (多平台店铺异常预警)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
