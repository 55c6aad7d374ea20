"""A composite metric definition several tests upload (``metrics define``, catalog versions, the move of an
old catalog file): one place, so a change to the catalog's YAML shape is made once."""

ORDER_HEALTH_YAML = """
metrics:
  - id: order_health
    name: {zh: 订单健康度, en: Order health}
    formula: "pay_conversion_rate * (1 - refund_rate)"
    unit: score
    level: strategic
    good_direction: up
"""
