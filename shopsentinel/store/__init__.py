"""Storage: the embedded metric store (DuckDB) and, later, the state database."""

# Tables that share the state metadata, registered on import: the scale-out roles' evaluation marks
# (migration 0010) and the response loop's tables (migration 0004).
from shopsentinel.store import evaluation_marks as evaluation_marks  # noqa: E402
from shopsentinel.store import response_state as response_state  # noqa: E402
