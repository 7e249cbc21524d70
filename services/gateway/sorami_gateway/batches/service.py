"""Creating, reading and cancelling a batch (in the caller's transaction; the route commits).

A batch's jobs are stored like any generation, each with its ``generation.requested`` queued
at the ``batch`` tier (the scheduler releases them after every interactive job, fairly among
the users with batches), in ONE transaction with the batch row: all of them or none. They
count against ``max_unfinished_batch_jobs``, not against the interactive cap (a team's bulk
work never blocks its members' single jobs). No first event per job goes to the user's live
stream (a thousand cards at once); each job appears there when it starts.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sorami_shared.events import GenerationRequested, Kind, new_event
from sqlalchemy.ext.asyncio import AsyncSession

from ..events import log as user_events
from ..generations import control
from ..generations.feed import append_generation
from ..generations.requests import GenerateRequestBase
from ..generations.service import EVENT_SOURCE
from ..generations.tables import Generation, Status
from ..guards.limits import BATCH_JOBS, LimitExceeded
from ..scheduling.policy import job_cost
from ..scheduling.tables import QueuedJob
from ..settings import GatewaySettings
from .schemas import BatchCreated, BatchJob, BatchPublic
from .tables import GenerationBatch

BATCH_LOCK_SEED = 25  # hashtextextended(user_id, seed): serializes one user's batch creates
UNFINISHED = (Status.PENDING.value, Status.PROCESSING.value)


async def create_batch(
    session: AsyncSession,
    settings: GatewaySettings,
    *,
    user_id: str,
    kind: Kind,
    items: list[GenerateRequestBase],
    correlation_id: str,
) -> BatchCreated:
    await session.execute(
        sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(user_id, BATCH_LOCK_SEED)))
    )
    unfinished = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Generation)
        .where(
            Generation.user_id == user_id,
            Generation.batch_id.is_not(None),  # type: ignore[union-attr]
            Generation.status.in_(UNFINISHED),  # type: ignore[attr-defined]
        )
    )
    cap = settings.max_unfinished_batch_jobs
    if cap and (unfinished or 0) + len(items) > cap:
        raise LimitExceeded(
            f"too many unfinished batch jobs ({unfinished} + {len(items)} > {cap})",
            settings.unfinished_jobs_retry_after_s,
            BATCH_JOBS,
        )
    batch_id = uuid.uuid4()
    session.add(GenerationBatch(id=batch_id, user_id=user_id, kind=kind.value, size=len(items)))
    await session.flush()
    start = datetime.now(UTC)
    generations: list[dict[str, Any]] = []
    queued: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        job_id, params = uuid.uuid4(), item.to_params()
        at = start + timedelta(microseconds=index)  # submission order, to the microsecond
        event = new_event(
            GenerationRequested(job_id=job_id, user_id=user_id, kind=kind, params=params),
            source=EVENT_SOURCE,
            correlation_id=correlation_id,
        )
        generations.append(
            {
                "id": job_id,
                "user_id": user_id,
                "kind": kind.value,
                "status": Status.PENDING.value,
                "progress": 0,
                "params": params.model_dump(mode="json"),
                "correlation_id": correlation_id,
                "batch_id": batch_id,
                "created_at": at,
                "updated_at": at,
            }
        )
        cost = job_cost(
            params.num_images,
            params.num_frames,
            params.num_inference_steps,
            params.width,
            params.height,
        )
        queued.append(
            {
                "job_id": job_id,
                "user_id": user_id,
                "model": params.model,
                "tier": "batch",
                "cost": cost,
                "batch_id": batch_id,
                "event_id": event.id,
                "event_type": event.type,
                "payload": event.model_dump(mode="json"),
                "enqueued_at": at,
            }
        )
    await session.execute(sa.insert(Generation), generations)
    await session.execute(sa.insert(QueuedJob), queued)
    # wakes the user's streams and the scheduler at commit
    await session.execute(user_events.notify_user(user_id, wake_scheduler=True))
    return BatchCreated(batch_id=batch_id, size=len(items), job_ids=[g["id"] for g in generations])


async def owned_batch(
    session: AsyncSession, user_id: str, batch_id: uuid.UUID
) -> GenerationBatch | None:
    batch = await session.get(GenerationBatch, batch_id)
    return batch if batch is not None and batch.user_id == user_id else None


async def batch_view(
    session: AsyncSession, batch: GenerationBatch, *, offset: int, limit: int
) -> BatchPublic:
    counts = dict(
        (
            await session.execute(
                sa.select(Generation.status, sa.func.count())
                .where(Generation.batch_id == batch.id)
                .group_by(Generation.status)
            )
        ).all()
    )
    rows = (
        await session.execute(
            sa.select(
                Generation.id,
                Generation.status,
                Generation.progress,
                Generation.error_code,
                QueuedJob.position,
            )
            .outerjoin(QueuedJob, QueuedJob.job_id == Generation.id)
            .where(Generation.batch_id == batch.id)
            .order_by(Generation.created_at, Generation.id)
            .offset(offset)
            .limit(limit)
        )
    ).all()
    jobs = [
        BatchJob(job_id=r[0], status=r[1], progress=r[2], error_code=r[3], queue_position=r[4])
        for r in rows
    ]
    more = offset + len(jobs) < sum(counts.values())
    return BatchPublic(
        batch_id=batch.id,  # type: ignore[arg-type]
        kind=Kind(batch.kind),
        size=batch.size,
        created_at=batch.created_at,  # type: ignore[arg-type]
        counts=counts,
        done=not any(counts.get(s, 0) for s in UNFINISHED),
        jobs=jobs,
        next_cursor=str(offset + len(jobs)) if more else None,
    )


async def cancel_batch(session: AsyncSession, batch: GenerationBatch, correlation_id: str) -> int:
    """Cancel every unfinished job of the batch; how many. Jobs still queued just leave the
    queue (nothing was sent); released ones are cancelled like one job (a signal to the
    generators, an event on the user's stream)."""
    queued = (
        (
            await session.execute(
                sa.delete(QueuedJob)
                .where(QueuedJob.batch_id == batch.id)
                .returning(QueuedJob.job_id)
            )
        )
        .scalars()
        .all()
    )
    cancelled = 0
    if queued:
        result = await session.execute(
            sa.update(Generation)
            .where(Generation.id.in_(queued), Generation.status == Status.PENDING.value)  # type: ignore[union-attr]
            .values(
                status=Status.CANCELLED.value, updated_at=sa.func.now(), completed_at=sa.func.now()
            )
        )
        cancelled += result.rowcount or 0  # type: ignore[attr-defined]
    running = (
        (
            await session.execute(
                sa.select(Generation)
                .where(Generation.batch_id == batch.id, Generation.status.in_(UNFINISHED))  # type: ignore[attr-defined]
                .order_by(Generation.id)
                .with_for_update()
            )
        )
        .scalars()
        .all()
    )
    for generation in running:
        await control.cancel_locked(session, generation, correlation_id)
    for generation in running:  # the user's log lock last, after every row lock
        await append_generation(session, generation, user_events.CANCELLED)
    return cancelled + len(running)
