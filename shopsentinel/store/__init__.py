"""Storage: the embedded metric store (DuckDB) and, later, the state database."""

# The response loop's tables share the state metadata (migration 0004): register them on import.
from shopsentinel.store import response_state as response_state  # noqa: E402
