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
    GenerationCancelled,
    GenerationCancelRequested,
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

from . import metrics, storage_deletions, user_events
from .db import SessionFactory
from .models import Generation, GenerationFile, Notification, ProcessedEvent, Status
from .transitions import Change, State, on_cancelled, on_completed, on_failed, on_progress

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


JobEvent = GenerationProgress | GenerationCompleted | GenerationFailed | GenerationCancelled


async def _locked_generation(session: AsyncSession, data: JobEvent) -> Generation | None:
    """The event's generation, locked; None for one its user deleted (the event is late: a
    ``completed`` re-arms the deletion of the objects it may have just written)."""
    generation = (
        await session.execute(
            sa.select(Generation).where(Generation.id == data.job_id).with_for_update()
        )
    ).scalar_one_or_none()
    if generation is None:
        tomb = await storage_deletions.tombstone(session, data.job_id)
        if tomb is not None and tomb.user_id == data.user_id:
            log.info("event for a deleted generation ignored")
            if isinstance(data, GenerationCompleted) or (
                isinstance(data, GenerationCancelled) and data.files_left
            ):
                await _schedule_cleanup(session, data, storage_deletions.DELETED)
            return None
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


async def _schedule_cleanup(session: AsyncSession, data: JobEvent, reason: str) -> None:
    await storage_deletions.schedule(
        session, job_id=data.job_id, user_id=data.user_id, kind=data.kind.value, reason=reason
    )


async def _changed(session: AsyncSession, generation: Generation) -> Generation:
    await session.refresh(generation)
    metrics.job_changed(session, generation)
    return generation


async def project(session: AsyncSession, envelope: Envelope[Any]) -> None:
    """Apply one event (inside the caller's transaction), and append what the user may watch
    to the event log (:mod:`sorami_gateway.user_events`) in the same transaction."""
    data = envelope.data
    at = envelope.time.isoformat()
    if isinstance(data, GenerationProgress):
        generation = await _locked_generation(session, data)
        if generation is None:
            return
        before = generation.status
        change = on_progress(_state(generation), data.progress)
        if change is not None:
            await _apply_change(session, data.job_id, change)
            generation = await _changed(session, generation)
            if generation.status != before:
                await user_events.append_generation(session, generation, user_events.STATUS, at=at)
            await user_events.append_generation(
                session,
                generation,
                user_events.PROGRESS,
                step=data.step,
                total_steps=data.total_steps,
                at=at,
            )
    elif isinstance(data, GenerationCompleted):
        generation = await _locked_generation(session, data)
        if generation is None:
            return
        change = on_completed(_state(generation))
        if change is None:
            log.info("completed ignored: generation already final", status=generation.status)
            if generation.status == Status.CANCELLED.value:
                # cancelled while its files were being written: they must not stay
                await _schedule_cleanup(session, data, storage_deletions.CANCELLED)
            return
        await _apply_change(session, data.job_id, change, error=None, error_code=None)
        await session.execute(
            insert(GenerationFile)
            .values([{"generation_id": data.job_id, **f.model_dump()} for f in data.files])
            .on_conflict_do_nothing(index_elements=["generation_id", "index"])
        )
        generation = await _changed(session, generation)
        await user_events.append_generation(
            session, generation, user_events.COMPLETED, files=len(data.files), at=at
        )
    elif isinstance(data, GenerationFailed):
        generation = await _locked_generation(session, data)
        if generation is None:
            return
        change = on_failed(_state(generation))
        if change is None:
            log.info("failed ignored: generation already final", status=generation.status)
            return
        await _apply_change(
            session, data.job_id, change, error=data.reason, error_code=data.code.value
        )
        generation = await _changed(session, generation)
        await user_events.append_generation(session, generation, user_events.FAILED, at=at)
    elif isinstance(data, GenerationCancelled):
        generation = await _locked_generation(session, data)
        if generation is None:
            return
        log.info(
            "generator stopped a cancelled job",
            stopped_after_step=data.stopped_after_step,
            total_steps=data.total_steps,
        )
        if data.files_left:
            await _schedule_cleanup(session, data, storage_deletions.CANCELLED)
        change = on_cancelled(_state(generation))
        if change is not None:  # normally the API already made it CANCELLED
            await _apply_change(session, data.job_id, change)
            generation = await _changed(session, generation)
            await user_events.append_generation(session, generation, user_events.CANCELLED, at=at)
    elif isinstance(data, GenerationCancelRequested):
        return  # the gateway's own signal to the generators; its effect is already committed
    elif isinstance(data, NotificationCreated):
        inserted = (
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
                .returning(Notification.id)
            )
        ).scalar_one_or_none()
        if inserted is not None:
            await user_events.append(
                session,
                user_id=data.user_id,
                type=user_events.NOTIFICATION,
                job_id=data.job_id,
                data={
                    "id": str(data.notification_id),
                    "type": f"generation.{data.outcome.value}",
                    "title": data.title,
                    "message": data.message,
                    "data": {**data.data, "job_id": str(data.job_id), "kind": data.kind.value},
                    "created_at": data.created_at.isoformat(),
                    "read_at": None,
                },
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
