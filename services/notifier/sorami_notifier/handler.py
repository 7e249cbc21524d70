"""The consumer: generation outcome in, one stored notification and ``notification.created`` out."""

from __future__ import annotations

from typing import Any

from sorami_shared.events import (
    Envelope,
    GenerationCompleted,
    GenerationFailed,
    NotificationCreated,
    new_event,
)
from sorami_shared.logging import get_logger
from sorami_shared.messaging import Delivery, EventBus, Reject
from sqlalchemy.ext.asyncio import AsyncEngine

from . import metrics
from .content import draft_for, notification_event_id
from .store import save_notification

log = get_logger(__name__)

SOURCE = "sorami-notifier"


class OutcomeHandler:
    """Handles ``generation.completed`` / ``generation.failed``.

    Order: commit the row (idempotent insert), then publish ``notification.created`` with a
    deterministic event id, then return so the shared consumer acks. The event is published
    also when the row already existed: if a previous attempt crashed between commit and
    publish, the redelivery finishes the job; the gateway dedupes on the id.
    """

    def __init__(self, engine: AsyncEngine, bus: EventBus) -> None:
        self.engine = engine
        self.bus = bus

    async def __call__(self, envelope: Envelope[Any], delivery: Delivery) -> None:
        data = envelope.data
        if not isinstance(data, GenerationCompleted | GenerationFailed):
            raise Reject(f"the notifier does not handle {envelope.type}")
        draft = draft_for(data)
        stored = await save_notification(self.engine, draft)
        event = new_event(
            NotificationCreated(
                notification_id=stored.id,
                created_at=stored.created_at,
                **draft.model_dump(exclude={"id"}),
            ),
            source=SOURCE,
            correlation_id=envelope.correlationid,
            event_id=notification_event_id(stored.id),
        )
        await self.bus.publish(event)
        metrics.delivered("inbox", draft.outcome.value)
        log.info(
            "notification stored" if stored.inserted else "notification already stored",
            notification_id=str(stored.id),
            outcome=draft.outcome.value,
            attempt=delivery.attempt,
        )
