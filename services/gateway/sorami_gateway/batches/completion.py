"""``batch.completed``: once every job of a batch is finished (COMPLETED, FAILED or CANCELLED),
the batch is marked ``completed_at`` and a webhook delivery is queued for each of its user's
live endpoints that asked for ``batch.completed``, in one transaction.

Run by the scheduler (every relay), woken by every status change. Exactly once per batch: the
``UPDATE ... WHERE completed_at IS NULL`` claims a batch for one transaction only (a second
relay's concurrent pass re-reads the row and skips it), and the delivery's id derives from the
batch id (``ON CONFLICT DO NOTHING``). The body is the batch's counts, with no job list
(``GET /api/batches/{id}`` pages through them).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..webhooks.outbox import NOTIFY_CHANNEL, batch_body, webhook_id
from ..webhooks.tables import WebhookDelivery, WebhookEndpoint
from ..webhooks.urls import WebhookEvent

EVENT = WebhookEvent.batch_completed
__all__ = ["batch_body", "complete_batches"]

_COMPLETE = sa.text(
    "UPDATE generation_batches b SET completed_at = now()"
    " WHERE b.completed_at IS NULL AND NOT EXISTS (SELECT 1 FROM generations g"
    " WHERE g.batch_id = b.id AND g.status IN ('PENDING', 'PROCESSING'))"
    " RETURNING b.id, b.user_id, b.kind, b.size, b.created_at, b.completed_at"
)
_COUNTS = sa.text(
    "SELECT batch_id, status, count(*) FROM generations WHERE batch_id = ANY(:ids) GROUP BY 1, 2"
)


async def complete_batches(session: AsyncSession) -> list[uuid.UUID]:
    """Mark the batches just finished and queue their webhooks (caller's transaction)."""
    done = (await session.execute(_COMPLETE)).all()
    if not done:
        return []
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for batch_id, status, n in (
        await session.execute(_COUNTS, {"ids": [row.id for row in done]})
    ).all():
        counts.setdefault(batch_id, {})[status] = n
    rows: list[dict[str, Any]] = []
    for batch in done:
        endpoints = (
            await session.execute(
                sa.select(WebhookEndpoint.id, WebhookEndpoint.url).where(
                    WebhookEndpoint.user_id == batch.user_id,
                    WebhookEndpoint.deleted_at.is_(None),  # type: ignore[union-attr]
                    WebhookEndpoint.disabled_at.is_(None),  # type: ignore[union-attr]
                    WebhookEndpoint.events.any(EVENT.value),  # type: ignore[attr-defined]
                )
            )
        ).all()
        snapshot = {
            "batch_id": str(batch.id),
            "kind": batch.kind,
            "size": batch.size,
            "counts": counts.get(batch.id, {}),
            "created_at": batch.created_at.isoformat(),
            "completed_at": batch.completed_at.isoformat(),
        }
        rows += [
            {
                "webhook_id": webhook_id(batch.id, EVENT.value),
                "target": str(endpoint_id),
                "endpoint_id": endpoint_id,
                "user_id": batch.user_id,
                "job_id": batch.id,  # the batch's id: what the delivery is about
                "kind": batch.kind,
                "event": EVENT.value,
                "url": url,
                "snapshot": snapshot,
                "status": "pending",
            }
            for endpoint_id, url in endpoints
        ]
    if rows:
        await session.execute(insert(WebhookDelivery).values(rows).on_conflict_do_nothing())
        await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")))
    return [batch.id for batch in done]
