"""A ``generation.requested`` the broker dead-lettered (its model queue's delivery limit: a
worker lost on every attempt; or a worker that rejected it) is released again at once, not
after the watchdog's pending lease (an hour): until then its job would count in flight for
its model and hold one of the model's slots (``scheduling/release.py``): a model could stall.

Per job, in one transaction (the row locked, as the projector and the watchdog lock it):

- finished (or unknown) job: nothing; the dead letter is dropped.
- re-sent fewer than ``watchdog_max_requeues`` times (the watchdog's count: one bound for
  both ways a request is re-sent): a new ``generation.requested`` (same job id, parameters,
  correlation id) goes to the outbox, the count goes up, the lease restarts.
- else the job fails with ``too_many_attempts`` and a reason that says the broker gave up on
  it (the generator's deterministic ``generation.failed`` id: the first terminal state wins).

The consumer around it is :mod:`sorami_gateway.workers.dead_letters`.
"""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sorami_shared.events import (
    Envelope,
    FailureCode,
    GenerationFailed,
    GenerationParams,
    GenerationRequested,
    Kind,
    derived_id,
    new_event,
)
from sorami_shared.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession

from ..outbox.writer import add_to_outbox
from ..settings import GatewaySettings
from .service import EVENT_SOURCE
from .tables import Generation, Status

log = get_logger(__name__)


class Outcome(StrEnum):
    RELEASED = "released"
    FAILED = "failed"
    IGNORED = "ignored"


def dead_letter_reason(queue: str, resent: int) -> str:
    return (
        f"the broker dead-lettered the job's request from {queue} after {resent + 1} "
        f"release(s) (its delivery limit: the worker was lost on every attempt, or rejected "
        f"the request); re-sent {resent} time(s), then given up."
    )


async def release_dead_letter(
    session: AsyncSession, settings: GatewaySettings, envelope: Envelope[Any], queue: str
) -> Outcome:
    """Inside the caller's transaction: re-send or fail the job of one dead-lettered request."""
    job_id = uuid.UUID(str(envelope.job_id))
    generation = (
        await session.execute(
            sa.select(Generation).where(Generation.id == job_id).with_for_update()
        )
    ).scalar_one_or_none()
    if generation is None or generation.status not in (
        Status.PENDING.value,
        Status.PROCESSING.value,
    ):
        log.info("dead letter of a finished job dropped", queue=queue)
        return Outcome.IGNORED
    resent = generation.watchdog_requeues
    if resent < settings.watchdog_max_requeues:
        event = new_event(
            GenerationRequested(
                job_id=job_id,
                user_id=generation.user_id,
                kind=Kind(generation.kind),
                params=GenerationParams.model_validate(generation.params),
            ),
            source=EVENT_SOURCE,
            correlation_id=generation.correlation_id,
        )
        outcome = Outcome.RELEASED
        log.warning("dead-lettered request released again", queue=queue, requeue=resent + 1)
    else:
        reason = dead_letter_reason(queue, resent)
        event = new_event(
            GenerationFailed(
                job_id=job_id,
                user_id=generation.user_id,
                kind=Kind(generation.kind),
                code=FailureCode.TOO_MANY_ATTEMPTS,
                reason=reason,
            ),
            source=EVENT_SOURCE,
            correlation_id=generation.correlation_id,
            event_id=derived_id("generation.failed", job_id),
        )
        outcome = Outcome.FAILED
        log.error("dead-lettered job failed", queue=queue, reason=reason)
    await add_to_outbox(session, event)
    await session.execute(
        sa.update(Generation)
        .where(Generation.id == job_id)
        .values(watchdog_requeues=Generation.watchdog_requeues + 1, updated_at=sa.func.now())
    )
    return outcome
