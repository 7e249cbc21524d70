"""The watchdog's sweep: unfinished jobs that stopped making progress are re-sent, then
failed (the loop around it is :mod:`sorami_gateway.workers.watchdog`).

Why it exists. Delivery is at least once, and the broker redelivers a job whose worker died.
But a ``generation.requested`` can still end up nowhere: dead-lettered after the queue's
delivery limit (a worker killed on every attempt), purged by an operator, or held by a worker
that hangs without dying. Nothing else would ever move such a job out of PENDING/PROCESSING.

Policy, per job (``SORAMI_GATEWAY_WATCHDOG_*``):

- PROCESSING with no change (progress, status) for ``processing_lease_s``, or PENDING for
  ``pending_lease_s`` since it was accepted: the job is *stalled*. Once re-sent, a job is
  judged by ``pending_lease_s`` whatever its status: the re-sent request waits at the back
  of the queue like a new one (the fault run at cluster scale found jobs failed after two
  re-sends of 45 s while their re-send was still queued behind 1,500 others).
- A stalled job is re-sent: a new ``generation.requested`` (same job id, parameters and
  correlation id) goes through the outbox, in the same transaction that counts the re-send and
  restarts the lease. At most ``max_requeues`` times.
- A job still stalled after that is failed: ``generation.failed`` with code
  ``too_many_attempts`` and a reason saying what happened, through the outbox, with the same
  deterministic event id the generator would use. The projector applies it (the first terminal
  state wins, so a late ``completed`` from a slow worker changes nothing), the notifier
  notifies. The job is then never touched again: bounded, never spinning.

Re-running a job is safe: storage keys are deterministic (a second run overwrites the same
objects) and the completed/failed event ids are derived from the job id, so consumers dedupe.

Several watchdogs may run (one per gateway replica): each sweep claims rows with
``FOR UPDATE SKIP LOCKED``; the projector locks the same row when it applies an event, so a
progress event and a sweep never interleave on one job.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sorami_shared.events import (
    FailureCode,
    GenerationFailed,
    GenerationParams,
    GenerationRequested,
    Kind,
    derived_id,
    new_event,
)
from sorami_shared.logging import get_logger, job_context
from sqlalchemy.ext.asyncio import AsyncSession

from ..infra.db import SessionFactory
from ..outbox.writer import add_to_outbox
from ..scheduling.tables import QueuedJob
from ..settings import GatewaySettings
from .service import EVENT_SOURCE
from .tables import Generation, Status

log = get_logger(__name__)


@dataclass
class SweepResult:
    requeued: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)


def _stalled(settings: GatewaySettings) -> sa.ColumnElement[bool]:
    now = sa.func.now()
    processing = sa.and_(
        Generation.status == Status.PROCESSING.value,
        Generation.watchdog_requeues == 0,
        Generation.updated_at < now - timedelta(seconds=settings.watchdog_processing_lease_s),
    )
    pending = sa.and_(
        sa.or_(Generation.status == Status.PENDING.value, Generation.watchdog_requeues > 0),
        Generation.updated_at < now - timedelta(seconds=settings.watchdog_pending_lease_s),
    )
    return sa.and_(
        # a finished job is never stalled, re-sent or not (a re-sent job that completed kept
        # its count: without this it was re-sent and failed once its pending lease passed)
        Generation.status.in_([Status.PENDING.value, Status.PROCESSING.value]),  # type: ignore[attr-defined]
        sa.or_(processing, pending),
        # still in the scheduler's queue: waiting its turn, not stalled (its lease starts
        # when it is released)
        ~sa.exists().where(QueuedJob.job_id == Generation.id),
        Generation.watchdog_requeues <= settings.watchdog_max_requeues,
    )


def _lease_of(settings: GatewaySettings, generation: Generation) -> float:
    if generation.status == Status.PROCESSING.value and generation.watchdog_requeues == 0:
        return settings.watchdog_processing_lease_s
    return settings.watchdog_pending_lease_s


async def sweep(sessions: SessionFactory, settings: GatewaySettings) -> SweepResult:
    """One pass: claim stalled jobs, re-send or fail each; one transaction."""
    result = SweepResult()
    async with sessions() as session, session.begin():
        stalled = (
            (
                await session.execute(
                    sa.select(Generation)
                    .where(_stalled(settings))
                    .order_by(Generation.updated_at)
                    .limit(settings.watchdog_batch_size)
                    .with_for_update(skip_locked=True)
                )
            )
            .scalars()
            .all()
        )
        for generation in stalled:
            with job_context(job_id=generation.id, correlation_id=generation.correlation_id):
                if generation.watchdog_requeues < settings.watchdog_max_requeues:
                    await _requeue(session, settings, generation)
                    result.requeued.append(generation.id)  # type: ignore[arg-type]
                else:
                    await _fail(session, settings, generation)
                    result.failed.append(generation.id)  # type: ignore[arg-type]
    return result


async def _count_and_restart_lease(session: AsyncSession, job_id: uuid.UUID) -> None:
    await session.execute(
        sa.update(Generation)
        .where(Generation.id == job_id)
        .values(
            watchdog_requeues=Generation.watchdog_requeues + 1,
            updated_at=sa.func.now(),
        )
    )


async def _requeue(
    session: AsyncSession, settings: GatewaySettings, generation: Generation
) -> None:
    event = new_event(
        GenerationRequested(
            job_id=generation.id,  # type: ignore[arg-type]
            user_id=generation.user_id,
            kind=Kind(generation.kind),
            params=GenerationParams.model_validate(generation.params),
        ),
        source=EVENT_SOURCE,
        correlation_id=generation.correlation_id,
    )
    await add_to_outbox(session, event)
    await _count_and_restart_lease(session, generation.id)  # type: ignore[arg-type]
    log.warning(
        "stalled job re-sent",
        status=generation.status,
        no_progress_s=_lease_of(settings, generation),
        requeue=generation.watchdog_requeues + 1,
        max_requeues=settings.watchdog_max_requeues,
        event_id=str(event.id),
    )


def failure_reason(settings: GatewaySettings, generation: Generation) -> str:
    lease = _lease_of(settings, generation)
    state = "started" if generation.status == Status.PROCESSING.value else "picked up"
    return (
        f"the job made no progress for {lease:g}s and was not {state} again after being "
        f"re-sent {generation.watchdog_requeues} time(s); the worker was probably lost or the "
        "job hangs. Given up by the watchdog."
    )


async def _fail(session: AsyncSession, settings: GatewaySettings, generation: Generation) -> None:
    reason = failure_reason(settings, generation)
    event = new_event(
        GenerationFailed(
            job_id=generation.id,  # type: ignore[arg-type]
            user_id=generation.user_id,
            kind=Kind(generation.kind),
            code=FailureCode.TOO_MANY_ATTEMPTS,
            reason=reason,
        ),
        source=EVENT_SOURCE,
        correlation_id=generation.correlation_id,
        event_id=derived_id("generation.failed", generation.id),
    )
    await add_to_outbox(session, event)
    await _count_and_restart_lease(session, generation.id)  # type: ignore[arg-type]
    log.error("stalled job failed", status=generation.status, reason=reason)
