"""Configuration as code (配置即代码), Grafana-provisioning style: channels, the routing tree,
subscriptions, escalation policies and on-call schedules from YAML files, validated by the API's own
validators, applied at start in one transaction and read-only afterwards (docs/OPERATIONS.md)."""
