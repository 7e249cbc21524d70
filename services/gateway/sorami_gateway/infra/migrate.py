"""``sorami-gateway migrate``: Alembic upgrade to head, from any working directory."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    # The URL is an attribute, not an ini option: it may hold '%' (configparser syntax).
    config = Config(attributes={"database_url": database_url})
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking; runs its own event loop (call it from a thread inside async code)."""
    command.upgrade(alembic_config(database_url), revision)
