"""The webhook delivery outbox: rows inserted IN THE TRANSACTION that projects the event.

:func:`on_generation_event` is called wherever a generation's status, progress or outcome is
recorded (``generations.feed.append_generation``: the projector for started, progress, completed,
failed and a generator's cancelled; the api for a user's cancel), so a delivery commits or
rolls back with its cause and can never be lost between them. The deliverer
(:mod:`.deliverer`) sends them later, woken by ``NOTIFY`` at commit.

One row per (event, target): the generation's own ``webhook_url`` and each of its user's live
endpoints whose filter names the event. ``webhook_id`` derives from (job, event) only (and
the step for progress), so a redelivery, manual or not, carries the same id.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import sqlalchemy as sa
from sorami_shared.events import derived_id
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..outbox.retention import delete_older_than
from .tables import REQUEST_TARGET, GenerationWebhook, WebhookDelivery, WebhookEndpoint
from .urls import DEFAULT_EVENTS, WebhookEvent

NOTIFY_CHANNEL = "sorami_gateway_webhooks"

_INSERT_DELIVERIES = """INSERT INTO webhook_deliveries (webhook_id, target, endpoint_id, user_id,
    job_id, kind, event, url, snapshot, status)
SELECT webhook_id, target, endpoint_id, user_id, job_id, kind, event, url, snapshot, status
FROM jsonb_populate_recordset(NULL::webhook_deliveries, $1::jsonb) ON CONFLICT DO NOTHING"""

# The gateway's event-log types (user_events) → webhook events.
_EVENTS = {
    "generation.progress": WebhookEvent.progress,
    "generation.completed": WebhookEvent.completed,
    "generation.failed": WebhookEvent.failed,
    "generation.cancelled": WebhookEvent.cancelled,
}


def webhook_id(job_id: uuid.UUID, event: str, step: Any = None) -> str:
    """The Standard Webhooks message id of ``event`` of ``job_id``."""
    parts = ["webhook", str(job_id), event] + ([str(step)] if step is not None else [])
    return f"msg_{derived_id(*parts).hex}"


async def queue_deliveries(conn: asyncpg.Connection, rows: list[dict[str, Any]]) -> None:
    """Insert delivery rows (the table's columns; a row already there is left as it is) and
    wake the deliverer, in the caller's transaction on ``conn`` (a pooled connection's
    driver)."""
    if rows:
        await conn.execute(_INSERT_DELIVERIES, json.dumps(rows, default=str))
        await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)


def _event_of(type: str, status: str) -> WebhookEvent | None:
    if type == "generation.status":
        return WebhookEvent.started if status == "PROCESSING" else None
    return _EVENTS.get(type)


def chosen_events(events: list[str] | None) -> list[str]:
    """The events a generation's ``webhook_url`` receives (the defaults if none named)."""
    return [WebhookEvent(e).value for e in (events or DEFAULT_EVENTS)]


async def on_generation_event(
    session: AsyncSession, generation: Any, type: str, data: dict[str, Any]
) -> int:
    """Queue the deliveries ``type`` calls for (caller's transaction); returns how many."""
    event = _event_of(type, generation.status)
    if event is None:
        return 0
    # one round trip (this runs for every projected progress step too)
    own = sa.select(
        sa.literal(REQUEST_TARGET), sa.cast(sa.null(), sa.Uuid), GenerationWebhook.url
    ).where(
        GenerationWebhook.generation_id == generation.id,
        GenerationWebhook.events.any(event.value),  # type: ignore[attr-defined]
    )
    endpoints = sa.select(
        sa.cast(WebhookEndpoint.id, sa.Text), WebhookEndpoint.id, WebhookEndpoint.url
    ).where(
        WebhookEndpoint.user_id == generation.user_id,
        WebhookEndpoint.deleted_at.is_(None),  # type: ignore[union-attr]
        WebhookEndpoint.disabled_at.is_(None),  # type: ignore[union-attr]
        WebhookEndpoint.events.any(event.value),  # type: ignore[attr-defined]
    )
    targets = (await session.execute(sa.union_all(own, endpoints))).all()
    if not targets:
        return 0
    step = None
    if event == WebhookEvent.progress:  # one message per step (or percent, if no step)
        step = data["step"] if data.get("step") is not None else data.get("progress")
    message = webhook_id(generation.id, event.value, step)
    rows = [
        {
            "webhook_id": message,
            "target": target,
            "endpoint_id": endpoint_id,
            "user_id": generation.user_id,
            "job_id": generation.id,
            "kind": generation.kind,
            "event": event.value,
            "url": url,
            "snapshot": data,
            "status": "pending",
        }
        for target, endpoint_id, url in targets
    ]
    await session.execute(insert(WebhookDelivery).values(rows).on_conflict_do_nothing())
    await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")))
    return len(rows)


async def purge_finished(session: AsyncSession, retention_s: float) -> int:
    """Deliveries finished longer ago than ``retention_s`` (a pending one has no
    ``finished_at``, so it is never purged); a bounded batch per call, like the outbox's."""
    return await delete_older_than(
        session,
        WebhookDelivery,
        (WebhookDelivery.id,),
        WebhookDelivery.finished_at,
        retention_s,
    )


def batch_body(delivery: WebhookDelivery) -> dict[str, Any]:
    """The Standard Webhooks body of a ``batch.completed`` delivery."""
    return {
        "type": WebhookEvent.batch_completed.value,
        "timestamp": delivery.snapshot["completed_at"],
        "data": delivery.snapshot,
    }
