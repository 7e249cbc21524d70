"""Purging the bus bookkeeping: outbox rows published long ago and old dedupe records (never
an unpublished outbox row). Bounded batches, so one purge stays a short transaction."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import OutboxMessage, ProcessedEvent

PURGE_BATCH = 5000


async def delete_older_than(
    session: AsyncSession, table: Any, key: tuple[Any, ...], stamp: Any, retention_s: float
) -> int:
    """Delete up to :data:`PURGE_BATCH` rows whose ``stamp`` is older than the window (a NULL
    stamp — an unpublished outbox row — never is); the next interval takes the rest."""
    cutoff = sa.func.now() - timedelta(seconds=retention_s)
    oldest = sa.select(*key).where(stamp < cutoff).limit(PURGE_BATCH)
    doomed = sa.tuple_(*key).in_(oldest)
    return (await session.execute(sa.delete(table).where(doomed))).rowcount or 0


async def purge_published(session: AsyncSession, retention_s: float) -> int:
    return await delete_older_than(
        session, OutboxMessage, (OutboxMessage.id,), OutboxMessage.published_at, retention_s
    )


async def purge_processed(session: AsyncSession, retention_s: float) -> int:
    return await delete_older_than(
        session,
        ProcessedEvent,
        (ProcessedEvent.consumer, ProcessedEvent.event_id),
        ProcessedEvent.processed_at,
        retention_s,
    )
