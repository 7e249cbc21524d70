"""Writing to the transactional outbox (inside the caller's transaction)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sorami_shared.events import Envelope
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import OutboxMessage

NOTIFY_CHANNEL = "sorami_gateway_outbox"


async def add_to_outbox(session: AsyncSession, envelope: Envelope[Any]) -> None:
    """Queue ``envelope`` for the relay; it leaves only if the caller's transaction commits.

    ``pg_notify`` is transactional too: the relay is woken at commit, never before."""
    await session.execute(
        sa.insert(OutboxMessage).values(
            event_id=envelope.id,
            type=envelope.type,
            payload=envelope.model_dump(mode="json"),
        )
    )
    await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")))
