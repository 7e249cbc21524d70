"""Events a consumer of the gateway already applied (``processed_events``): recorded in the
transaction of their effect, so a redelivered event is recognised and changes nothing."""

from __future__ import annotations

from typing import Any

from sorami_shared.events import Envelope
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import ProcessedEvent


async def record_processed(session: AsyncSession, consumer: str, envelope: Envelope[Any]) -> bool:
    """True if this event was not processed before (and is now recorded as processed)."""
    result = await session.execute(
        insert(ProcessedEvent)
        .values(consumer=consumer, event_id=envelope.id, event_type=envelope.type)
        .on_conflict_do_nothing()
        .returning(ProcessedEvent.event_id)
    )
    return result.scalar_one_or_none() is not None
