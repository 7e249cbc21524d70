"""The projection of generator (and notifier) events into the gateway's tables.

Each event's effect and its ``processed_events`` record commit in ONE transaction, so a
redelivered event is recognised and changes nothing; the state rules of
:mod:`sorami_gateway.transitions` make late and out-of-order events harmless too (a
duplicate ``completed`` with another event id still finds a terminal status and stops).

An event for a job this gateway does not have (or whose user or kind does not match) is
dead-lettered with :class:`Reject`: the generation row commits before its
``generation.requested`` can leave the outbox, so no legitimate event can outrun it; such an
event is a bug or a misrouted message, and the DLQ keeps it for a person to look at instead of
dropping it.

Database unreachable (connection refused, dropped, pool timeout): the handler retries the
transaction itself, with back-off, for up to ``db_outage_s``, instead of letting the message be
requeued: a requeue counts against the queue's delivery limit, and a database restart must not
dead-letter a ``completed``. Any other error propagates: the shared consumer requeues it with
back-off, and the delivery limit bounds how often.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import sqlalchemy as sa
from sorami_shared.events import (
    Envelope,
    GenerationCompleted,
    GenerationFailed,
    GenerationProgress,
    NotificationCreated,
)
from sorami_shared.logging import get_logger
from sorami_shared.messaging import Delivery, Reject
from sorami_shared.topology import GATEWAY_PROJECTION
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from .db import SessionFactory
from .models import Generation, GenerationFile, Notification, ProcessedEvent, Status
from .transitions import Change, State, on_completed, on_failed, on_progress

log = get_logger(__name__)

CONSUMER = GATEWAY_PROJECTION.name


async def record_processed(session: AsyncSession, envelope: Envelope[Any]) -> bool:
    """True if this event was not processed before (and is now recorded as processed)."""
    result = await session.execute(
        insert(ProcessedEvent)
        .values(consumer=CONSUMER, event_id=envelope.id, event_type=envelope.type)
        .on_conflict_do_nothing()
        .returning(ProcessedEvent.event_id)
    )
    return result.scalar_one_or_none() is not None


async def _locked_generation(
    session: AsyncSession, data: GenerationProgress | GenerationCompleted | GenerationFailed
) -> Generation:
    generation = (
        await session.execute(
            sa.select(Generation).where(Generation.id == data.job_id).with_for_update()
        )
    ).scalar_one_or_none()
    if generation is None:
        raise Reject(f"unknown job {data.job_id}")
    if generation.user_id != data.user_id or generation.kind != data.kind.value:
        raise Reject(f"event for job {data.job_id} does not match its user or kind")
    return generation


async def _apply_change(
    session: AsyncSession, job_id: uuid.UUID, change: Change, **extra: Any
) -> None:
    values: dict[str, Any] = {
        "status": change.status.value,
        "progress": change.progress,
        "updated_at": sa.func.now(),
        **extra,
    }
    if change.started:
        values["started_at"] = sa.func.coalesce(Generation.started_at, sa.func.now())
    if change.finished:
        values["completed_at"] = sa.func.now()
    await session.execute(sa.update(Generation).where(Generation.id == job_id).values(**values))


def _state(generation: Generation) -> State:
    return State(status=Status(generation.status), progress=generation.progress)


async def project(session: AsyncSession, envelope: Envelope[Any]) -> None:
    """Apply one event (inside the caller's transaction)."""
    data = envelope.data
    if isinstance(data, GenerationProgress):
        generation = await _locked_generation(session, data)
        change = on_progress(_state(generation), data.progress)
        if change is not None:
            await _apply_change(session, data.job_id, change)
    elif isinstance(data, GenerationCompleted):
        generation = await _locked_generation(session, data)
        change = on_completed(_state(generation))
        if change is None:
            log.info("completed ignored: generation already final", status=generation.status)
            return
        await _apply_change(session, data.job_id, change, error=None, error_code=None)
        await session.execute(
            insert(GenerationFile)
            .values([{"generation_id": data.job_id, **f.model_dump()} for f in data.files])
            .on_conflict_do_nothing(index_elements=["generation_id", "index"])
        )
    elif isinstance(data, GenerationFailed):
        generation = await _locked_generation(session, data)
        change = on_failed(_state(generation))
        if change is None:
            log.info("failed ignored: generation already final", status=generation.status)
            return
        await _apply_change(
            session, data.job_id, change, error=data.reason, error_code=data.code.value
        )
    elif isinstance(data, NotificationCreated):
        await session.execute(
            insert(Notification)
            .values(
                id=data.notification_id,
                user_id=data.user_id,
                job_id=data.job_id,
                kind=data.kind.value,
                type=f"generation.{data.outcome.value}",
                title=data.title,
                message=data.message,
                data={**data.data, "job_id": str(data.job_id), "kind": data.kind.value},
                created_at=data.created_at,
            )
            .on_conflict_do_nothing(index_elements=["id"])
        )
    else:
        raise Reject(f"the gateway projection does not handle {envelope.type}")


TRANSIENT_DB_ERRORS = (OSError, OperationalError, InterfaceError, PoolTimeout)


class Projector:
    def __init__(self, sessions: SessionFactory, *, db_outage_s: float = 300.0) -> None:
        self.sessions = sessions
        self.db_outage_s = db_outage_s

    async def handle(self, envelope: Envelope[Any], delivery: Delivery) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.db_outage_s
        delay = 0.2
        while True:
            try:
                await self._apply(envelope, delivery)
                return
            except TRANSIENT_DB_ERRORS as exc:
                if loop.time() + delay > deadline:
                    raise
                log.warning("database unavailable; retrying", error=repr(exc), in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _apply(self, envelope: Envelope[Any], delivery: Delivery) -> None:
        async with self.sessions() as session, session.begin():
            if not await record_processed(session, envelope):
                log.info("duplicate event ignored", attempt=delivery.attempt)
                return
            await project(session, envelope)
        log.info("event projected", attempt=delivery.attempt)
