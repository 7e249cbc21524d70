"""Engine and session factories (built by the process that needs them; none at import time)."""

from __future__ import annotations

from sorami_shared.pg import driver_connection
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ..settings import GatewaySettings

# driver_connection: sorami_shared.pg's, re-exported where the gateway's code looks for it
__all__ = [
    "SessionFactory",
    "asyncpg_dsn",
    "create_engine",
    "create_session_factory",
    "driver_connection",
]

SessionFactory = async_sessionmaker[AsyncSession]


def create_engine(settings: GatewaySettings, **overrides: object) -> AsyncEngine:
    options: dict[str, object] = {
        "pool_size": settings.db_pool_size,
        "max_overflow": settings.db_max_overflow,
        "pool_pre_ping": False,
    }
    options.update(overrides)
    return create_async_engine(settings.database_url, **options)


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, expire_on_commit=False)


def asyncpg_dsn(database_url: str) -> str:
    """The plain ``postgresql://`` DSN of a SQLAlchemy URL (for a raw asyncpg LISTEN)."""
    url = make_url(database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)
