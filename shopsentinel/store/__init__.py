"""Storage: the embedded metric store (DuckDB) and, later, the state database."""
