"""A pooled SQLAlchemy connection's asyncpg driver, for the hot paths' pre-built statements
(the gateway's create, status and projection; the notifier's batch). Needs the ``db`` extra
(SQLAlchemy's asyncio engine on asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

# What a broken connection raises on the driver: answered like SQLAlchemy's OperationalError
# (an outage, not the statement's fault), and the connection is dropped from the pool
# instead of being handed out again.
DRIVER_LOST = (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError)


@asynccontextmanager
async def driver_connection(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection's asyncpg connection, outside any transaction: each statement on it
    is its own implicit transaction and costs one round trip (no BEGIN/COMMIT/ROLLBACK), unless
    the caller opens ``conn.transaction()``."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        try:
            yield raw.driver_connection  # type: ignore[misc]
        except DRIVER_LOST as exc:
            await conn.invalidate(exc)
            raise OperationalError("driver statement", None, exc) from exc
