"""Alembic revisions of the state database (a package so it ships in wheels)."""
