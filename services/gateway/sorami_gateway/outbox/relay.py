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
import json
from typing import NamedTuple

import sqlalchemy as sa
from sorami_shared.events import UnparseableEvent, parse_event
from sorami_shared.logging import get_logger, job_context
from sorami_shared.messaging import EventBus, PublishFailed
from sqlalchemy.ext.asyncio import AsyncSession

from ..infra.db import SessionFactory
from ..settings import GatewaySettings
from .tables import OutboxMessage

log = get_logger(__name__)


class BatchResult(NamedTuple):
    claimed: int
    published: int
    failed: bool


async def publish_batch(
    sessions: SessionFactory, bus: EventBus, settings: GatewaySettings
) -> BatchResult:
    """Claim up to ``relay_batch_size`` rows, publish them in order, mark what the broker
    confirmed; one transaction."""
    published: list[int] = []
    failure: tuple[int, str] | None = None
    async with sessions() as session, session.begin():
        rows = (
            await session.execute(
                sa.select(OutboxMessage.id, OutboxMessage.payload)
                .where(OutboxMessage.published_at.is_(None))  # type: ignore[union-attr]
                .order_by(OutboxMessage.id)
                .limit(settings.relay_batch_size)
                .with_for_update(skip_locked=True)
            )
        ).all()
        envelopes = []
        for row_id, payload in rows:
            try:
                envelopes.append((row_id, parse_event(json.dumps(payload))))
            except UnparseableEvent as exc:
                # Written by us, so this is a bug: keep the row, say why, go on.
                log.error("outbox row cannot be parsed", outbox_id=row_id, error=str(exc))
                await _record_error(session, row_id, str(exc))
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
            await session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id.in_(published))  # type: ignore[union-attr]
                .values(
                    published_at=sa.func.now(),
                    attempts=OutboxMessage.attempts + 1,
                    last_error=None,
                )
            )
        if failure is not None:
            await _record_error(session, *failure)
    if failure is not None:
        log.warning("publish failed; will retry", outbox_id=failure[0], error=failure[1])
    return BatchResult(claimed=len(rows), published=len(published), failed=failure is not None)


async def _record_error(session: AsyncSession, row_id: int, error: str) -> None:
    await session.execute(
        sa.update(OutboxMessage)
        .where(OutboxMessage.id == row_id)
        .values(attempts=OutboxMessage.attempts + 1, last_error=error[:2000])
    )
