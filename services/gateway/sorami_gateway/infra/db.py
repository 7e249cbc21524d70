"""Engine and session factories (built by the process that needs them; none at import time)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from ..settings import GatewaySettings

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


# What a broken connection raises on the driver: answered like SQLAlchemy's OperationalError
# (503), and the connection is dropped from the pool instead of being handed out again.
_DRIVER_LOST = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection's asyncpg connection, outside any transaction: each statement on it
    is its own implicit transaction and costs one round trip (no BEGIN/COMMIT/ROLLBACK). For
    the hot paths' pre-built statements (``generations.create_sql``, ``status_sql``)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        try:
            yield raw.driver_connection  # type: ignore[misc]
        except _DRIVER_LOST as exc:
            await conn.invalidate(exc)
            raise OperationalError("driver statement", None, exc) from exc
