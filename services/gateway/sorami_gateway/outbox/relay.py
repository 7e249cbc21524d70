"""The outbox relay's pass: publishes unpublished outbox rows, oldest first, then marks them
(the loop around it is :mod:`sorami_gateway.workers.relay`).

- Several relays may run at once: a batch is claimed with ``FOR UPDATE SKIP LOCKED``, so two
  relays never hold the same row; the row lock lasts one short transaction (publishes have a
  timeout of a few seconds) and is never held across a back-off wait.
- A crash between publish and mark re-publishes the row later (consumers dedupe on the event
  id); a row is marked only after the broker confirmed it, so none is ever lost.
- A batch's rows are published all at once, in order on the one channel, and their confirms
  awaited together.
- Broker down: publishes fail, the batch commits what went out and records ``attempts`` /
  ``last_error`` on the first row that failed, the relay backs off and retries; the robust
  connection reconnects by itself, so no restart is needed.
- Woken by ``LISTEN``/``NOTIFY`` at commit of each new row, with a poll as fallback.
"""

from __future__ import annotations

import asyncio
from typing import NamedTuple

import asyncpg
from sorami_shared.events import UnparseableEvent, parse_event
from sorami_shared.logging import get_logger, job_context
from sorami_shared.messaging import EventBus, PublishFailed
from sqlalchemy.ext.asyncio import AsyncEngine

from ..infra.db import driver_connection
from ..settings import GatewaySettings

log = get_logger(__name__)

# On the driver (no ORM): the payload as the text PostgreSQL keeps, parsed once, straight
# into its typed event.
_CLAIM = (
    "SELECT id, payload::text FROM outbox WHERE published_at IS NULL"
    " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED"
)
_MARK = (
    "UPDATE outbox SET published_at = now(), attempts = attempts + 1, last_error = NULL"
    " WHERE id = ANY($1::bigint[])"
)
_RECORD_ERROR = "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE id = $1"


class BatchResult(NamedTuple):
    claimed: int
    published: int
    failed: bool


async def publish_batch(
    engine: AsyncEngine, bus: EventBus, settings: GatewaySettings
) -> BatchResult:
    """Claim up to ``relay_batch_size`` rows, publish them in order, mark what the broker
    confirmed; one transaction on a pooled connection's driver."""
    published: list[int] = []
    failure: tuple[int, str] | None = None
    async with driver_connection(engine) as conn, conn.transaction():
        rows = await conn.fetch(_CLAIM, settings.relay_batch_size)
        envelopes = []
        for row_id, payload in rows:
            try:
                envelopes.append((row_id, parse_event(payload)))
            except UnparseableEvent as exc:
                # Written by us, so this is a bug: keep the row, say why, go on.
                log.error("outbox row cannot be parsed", outbox_id=row_id, error=str(exc))
                await _record_error(conn, row_id, str(exc))
        # all in flight at once, in order on the one channel: the broker confirms them
        # together (one wait per batch, not one per row)
        outcomes = await asyncio.gather(
            *(bus.publish(e, timeout=settings.relay_publish_timeout_s) for _, e in envelopes),
            return_exceptions=True,
        )
        for (row_id, envelope), outcome in zip(envelopes, outcomes, strict=True):
            if isinstance(outcome, PublishFailed):
                failure = failure or (row_id, str(outcome))
                continue
            if isinstance(outcome, BaseException):
                raise outcome
            with job_context(job_id=envelope.job_id, correlation_id=envelope.correlationid):
                log.info("event published", event_type=envelope.type, event_id=str(envelope.id))
            published.append(row_id)
        if published:
            await conn.execute(_MARK, published)
        if failure is not None:
            await _record_error(conn, *failure)
    if failure is not None:
        log.warning("publish failed; will retry", outbox_id=failure[0], error=failure[1])
    return BatchResult(claimed=len(rows), published=len(published), failed=failure is not None)


async def _record_error(conn: asyncpg.Connection, row_id: int, error: str) -> None:
    await conn.execute(_RECORD_ERROR, row_id, error[:2000])
