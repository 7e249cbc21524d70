"""The consumer: generation outcome in, one stored notification and ``notification.created`` out."""

from __future__ import annotations

import asyncio
from typing import Any

from sorami_shared.events import (
    Envelope,
    GenerationCompleted,
    GenerationFailed,
    NotificationCreated,
    new_event,
)
from sorami_shared.logging import get_logger
from sorami_shared.messaging import Delivery, EventBus, Item, Reject, log_each
from sqlalchemy.ext.asyncio import AsyncEngine

from . import metrics
from .content import NotificationDraft, draft_for, notification_event_id
from .store import StoredNotification, save_notification, save_notifications

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
        await self.bus.publish(created_event(envelope, draft, stored))
        metrics.delivered("inbox", draft.outcome.value)
        log.info(
            "notification stored" if stored.inserted else "notification already stored",
            notification_id=str(stored.id),
            outcome=draft.outcome.value,
            attempt=delivery.attempt,
        )

    async def handle_batch(self, items: list[Item]) -> list[Item]:
        """The same for many outcomes: one transaction, then every ``notification.created``
        published at once (the confirms overlap); acked together once all are confirmed. A
        publish that fails raises: the batch then takes the one-at-a-time path (idempotent:
        the rows exist, the events carry the same ids). Other types: deferred (rejected)."""
        mine = [
            i for i in items if isinstance(i.envelope.data, GenerationCompleted | GenerationFailed)
        ]
        if mine:
            drafts = [draft_for(i.envelope.data) for i in mine]
            stored = await save_notifications(self.engine, drafts)
            await asyncio.gather(
                *(
                    self.bus.publish(created_event(i.envelope, d, s))
                    for i, d, s in zip(mine, drafts, stored, strict=True)
                )
            )
            for d in drafts:
                metrics.delivered("inbox", d.outcome.value)
            log_each(mine, "notification stored (batch)", batch=len(mine))
        taken = {id(i) for i in mine}
        return [i for i in items if id(i) not in taken]


def created_event(
    cause: Envelope[Any], draft: NotificationDraft, stored: StoredNotification
) -> Envelope[NotificationCreated]:
    """``notification.created`` for ``stored`` (a deterministic event id)."""
    return new_event(
        NotificationCreated(
            notification_id=stored.id,
            created_at=stored.created_at,
            **draft.model_dump(exclude={"id"}),
        ),
        source=SOURCE,
        correlation_id=cause.correlationid,
        event_id=notification_event_id(stored.id),
    )
