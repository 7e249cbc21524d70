"""How generator events change generations: one small handler per event type, in
:data:`HANDLERS` (the projector, :mod:`sorami_gateway.workers.projector`, dispatches to them
inside the transaction that records the event as processed).

The state rules of :mod:`sorami_gateway.generations.transitions` make late and out-of-order
events harmless (a duplicate ``completed`` with another event id still finds a terminal status
and stops). An event for a job this gateway does not have (or whose user or kind does not
match) is dead-lettered with :class:`Reject`: the generation row commits before its
``generation.requested`` can leave the outbox, so no legitimate event can outrun it. An event
for a job its user deleted is ignored, but files it reports get their deletion re-armed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sorami_shared.events import (
    Envelope,
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationCompleted,
    GenerationFailed,
    GenerationProgress,
)
from sorami_shared.logging import get_logger
from sorami_shared.messaging import Reject
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..events import log as user_events
from ..infra.rows import locked_one
from ..media import deletions as storage_deletions
from . import metrics
from .feed import append_generation
from .tables import Generation, GenerationFile, Status
from .transitions import Change, State, on_cancelled, on_completed, on_failed, on_progress

log = get_logger(__name__)

JobEvent = GenerationProgress | GenerationCompleted | GenerationFailed | GenerationCancelled


def leaves_files(data: JobEvent) -> bool:
    """Whether the event says objects may be in storage (to remove, if the job is unwanted)."""
    if isinstance(data, GenerationCompleted):
        return True
    return isinstance(data, GenerationCancelled) and data.files_left


def belongs_to(generation: Generation, data: JobEvent) -> bool:
    return generation.user_id == data.user_id and generation.kind == data.kind.value


async def _schedule_cleanup(session: AsyncSession, data: JobEvent, reason: str) -> None:
    await storage_deletions.schedule(
        session, job_id=data.job_id, user_id=data.user_id, kind=data.kind.value, reason=reason
    )


async def _locked_generation(session: AsyncSession, data: JobEvent) -> Generation | None:
    """The event's generation, locked; None for one its user deleted (the event is late: a
    ``completed`` re-arms the deletion of the objects it may have just written)."""
    generation = await locked_one(session, Generation, Generation.id == data.job_id)
    if generation is None:
        tomb = await storage_deletions.tombstone(session, data.job_id)
        if tomb is not None and tomb.user_id == data.user_id:
            log.info("event for a deleted generation ignored")
            if leaves_files(data):
                await _schedule_cleanup(session, data, storage_deletions.DELETED)
            return None
        raise Reject(f"unknown job {data.job_id}")
    if not belongs_to(generation, data):
        raise Reject(f"event for job {data.job_id} does not match its user or kind")
    return generation


async def _apply(
    session: AsyncSession, generation: Generation, change: Change, **extra: Any
) -> Generation:
    """Write ``change`` (and ``extra`` columns); the generation as it now is."""
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
    job_id: uuid.UUID = generation.id  # type: ignore[assignment]
    await session.execute(sa.update(Generation).where(Generation.id == job_id).values(**values))
    await session.refresh(generation)
    metrics.job_changed(session, generation)
    return generation


def _state(generation: Generation) -> State:
    return State(status=Status(generation.status), progress=generation.progress)


async def project_progress(session: AsyncSession, envelope: Envelope[GenerationProgress]) -> None:
    data, at = envelope.data, envelope.time.isoformat()
    generation = await _locked_generation(session, data)
    if generation is None:
        return
    before = generation.status
    change = on_progress(_state(generation), data.progress)
    if change is None:
        return
    generation = await _apply(session, generation, change)
    if generation.status != before:
        await append_generation(session, generation, user_events.STATUS, at=at)
    await append_generation(
        session,
        generation,
        user_events.PROGRESS,
        step=data.step,
        total_steps=data.total_steps,
        at=at,
    )


async def _finish(
    session: AsyncSession,
    envelope: Envelope[Any],
    rule: Callable[[State], Change | None],
    **columns: Any,
) -> tuple[Generation, bool] | None:
    """Lock the event's generation and apply the terminal ``rule`` (with ``columns``):
    (the generation as it now is, whether it changed); None for a deleted generation."""
    generation = await _locked_generation(session, envelope.data)
    if generation is None:
        return None
    change = rule(_state(generation))
    if change is None:
        outcome = envelope.type.removeprefix("generation.")
        log.info(f"{outcome} ignored: generation already final", status=generation.status)
        return generation, False
    return await _apply(session, generation, change, **columns), True


async def project_completed(session: AsyncSession, envelope: Envelope[GenerationCompleted]) -> None:
    data = envelope.data
    found = await _finish(session, envelope, on_completed, error=None, error_code=None)
    if found is None:
        return
    generation, changed = found
    if not changed:
        if generation.status == Status.CANCELLED.value:
            # cancelled while its files were being written: they must not stay
            await _schedule_cleanup(session, data, storage_deletions.CANCELLED)
        return
    await session.execute(
        insert(GenerationFile)
        .values([{"generation_id": data.job_id, **f.model_dump()} for f in data.files])
        .on_conflict_do_nothing(index_elements=["generation_id", "index"])
    )
    at = envelope.time.isoformat()
    await append_generation(
        session, generation, user_events.COMPLETED, files=len(data.files), at=at
    )


async def project_failed(session: AsyncSession, envelope: Envelope[GenerationFailed]) -> None:
    data = envelope.data
    found = await _finish(
        session, envelope, on_failed, error=data.reason, error_code=data.code.value
    )
    if found is not None and found[1]:
        at = envelope.time.isoformat()
        await append_generation(session, found[0], user_events.FAILED, at=at)


async def project_cancelled(session: AsyncSession, envelope: Envelope[GenerationCancelled]) -> None:
    data = envelope.data
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
        generation = await _apply(session, generation, change)
        at = envelope.time.isoformat()
        await append_generation(session, generation, user_events.CANCELLED, at=at)


async def ignore_cancel_requested(
    session: AsyncSession, envelope: Envelope[GenerationCancelRequested]
) -> None:
    """The gateway's own signal to the generators; its effect is already committed."""


HANDLERS: dict[str, Any] = {
    GenerationProgress.event_type: project_progress,
    GenerationCompleted.event_type: project_completed,
    GenerationFailed.event_type: project_failed,
    GenerationCancelled.event_type: project_cancelled,
    GenerationCancelRequested.event_type: ignore_cancel_requested,
}
