"""Alembic migrations of the state database, run programmatically (``upgrade head``) at start.

>>> from sqlalchemy import create_engine
>>> upgrade_to_head(create_engine("sqlite://"))  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).parent


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = engine
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema behind ``engine`` to the newest revision (idempotent)."""
    command.upgrade(alembic_config(engine), "head")


__all__ = ["MIGRATIONS_DIR", "alembic_config", "upgrade_to_head"]
