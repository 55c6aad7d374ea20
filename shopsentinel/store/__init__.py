"""Storage: the state database (alerts, stores, configuration) and its one metric store (points)."""

# Tables that share the state metadata, registered on import: the scale-out roles' evaluation marks
# (migration 0010), the response loop's tables (migration 0004) and the import records (0011).
from shopsentinel.store import evaluation_marks as evaluation_marks  # noqa: E402
from shopsentinel.store import import_state as import_state  # noqa: E402
from shopsentinel.store import response_state as response_state  # noqa: E402
from shopsentinel.store import sync_tables as sync_tables  # noqa: E402  (0015: sync state, catalog versions)
