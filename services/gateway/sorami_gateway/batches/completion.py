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

import asyncpg

from ..webhooks.outbox import batch_body, queue_deliveries, webhook_id
from ..webhooks.urls import WebhookEvent

EVENT = WebhookEvent.batch_completed
__all__ = ["batch_body", "complete_batches"]

_COMPLETE = (
    "UPDATE generation_batches b SET completed_at = now()"
    " WHERE b.completed_at IS NULL AND NOT EXISTS (SELECT 1 FROM generations g"
    " WHERE g.batch_id = b.id AND g.status IN ('PENDING', 'PROCESSING'))"
    " RETURNING b.id, b.user_id, b.kind, b.size, b.created_at, b.completed_at"
)
_COUNTS = (
    "SELECT batch_id, status, count(*) FROM generations WHERE batch_id = ANY($1::uuid[])"
    " GROUP BY 1, 2"
)
_ENDPOINTS = (
    "SELECT id, url, user_id FROM webhook_endpoints WHERE user_id = ANY($1::text[])"
    " AND deleted_at IS NULL AND disabled_at IS NULL AND $2 = ANY(events)"
)


async def complete_batches(conn: asyncpg.Connection) -> list[uuid.UUID]:
    """Mark the batches just finished and queue their webhooks (in the caller's transaction on
    ``conn``, a pooled connection's driver: one statement when no batch finished, as on every
    pass of the scheduler)."""
    done = await conn.fetch(_COMPLETE)
    if not done:
        return []
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for batch_id, status, n in await conn.fetch(_COUNTS, [b["id"] for b in done]):
        counts.setdefault(batch_id, {})[status] = n
    endpoints = await conn.fetch(_ENDPOINTS, list({b["user_id"] for b in done}), EVENT.value)
    rows: list[dict[str, Any]] = []
    for batch in done:
        snapshot = {
            "batch_id": str(batch["id"]),
            "kind": batch["kind"],
            "size": batch["size"],
            "counts": counts.get(batch["id"], {}),
            "created_at": batch["created_at"].isoformat(),
            "completed_at": batch["completed_at"].isoformat(),
        }
        rows += [
            {
                "webhook_id": webhook_id(batch["id"], EVENT.value),
                "target": str(e["id"]),
                "endpoint_id": str(e["id"]),
                "user_id": batch["user_id"],
                "job_id": str(batch["id"]),  # the batch's id: what the delivery is about
                "kind": batch["kind"],
                "event": EVENT.value,
                "url": e["url"],
                "snapshot": snapshot,
                "status": "pending",
            }
            for e in endpoints
            if e["user_id"] == batch["user_id"]
        ]
    await queue_deliveries(conn, rows)
    return [batch["id"] for batch in done]
