"""Cancel and delete a generation (in the caller's transaction; the route commits).

Cancel: a PENDING or PROCESSING generation becomes CANCELLED at once (the user's decision is
final: a 202 means it ends CANCELLED), and ``generation.cancel_requested`` goes out through the
outbox to every generator replica: a running job stops at its next denoising step and removes
what it wrote; a queued one is skipped when picked up. Whatever a generator still reports
afterwards is ignored by the projection, and a late ``completed`` gets its objects deleted.

Delete: the generation and its file rows go in one transaction with a durable storage-deletion
order (drained by the janitor with retries), which stays as the tombstone that makes a repeated
DELETE answer 204. A running generation is cancelled first.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sorami_shared.events import GenerationCancelRequested, Kind, derived_id, new_event
from sorami_shared.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession

from ..events import log as user_events
from ..infra.rows import locked_one
from ..media import deletions as storage_deletions
from ..outbox.writer import add_to_outbox
from . import metrics
from .feed import append_generation, generation_data
from .service import EVENT_SOURCE
from .tables import Generation, Status
from .transitions import State, on_cancelled

log = get_logger(__name__)


class CannotCancel(Exception):
    """The generation already finished (COMPLETED or FAILED): 409."""

    def __init__(self, status: Status) -> None:
        super().__init__(f"generation is already {status.value}; it can no longer be cancelled")
        self.status = status


async def _locked(
    session: AsyncSession, *, user_id: str, kind: Kind, job_id: uuid.UUID
) -> Generation | None:
    return await locked_one(
        session,
        Generation,
        Generation.id == job_id,
        Generation.user_id == user_id,
        Generation.kind == kind.value,
    )


async def cancel_locked(session: AsyncSession, generation: Generation, correlation_id: str) -> None:
    change = on_cancelled(State(Status(generation.status), generation.progress))
    assert change is not None  # the caller checked the status under the row lock
    await session.execute(
        sa.update(Generation)
        .where(Generation.id == generation.id)
        .values(
            status=change.status.value,
            updated_at=sa.func.now(),
            completed_at=sa.func.now(),
        )
    )
    await session.refresh(generation)
    metrics.job_changed(session, generation)
    event = new_event(
        GenerationCancelRequested(
            job_id=generation.id,  # type: ignore[arg-type]
            user_id=generation.user_id,
            kind=Kind(generation.kind),
        ),
        source=EVENT_SOURCE,
        correlation_id=correlation_id,
        event_id=derived_id("generation.cancel_requested", generation.id),
    )
    await add_to_outbox(session, event)
    log.info("generation cancelled by its user", job_id=str(generation.id))


async def cancel_generation(
    session: AsyncSession, *, user_id: str, kind: Kind, job_id: uuid.UUID, correlation_id: str
) -> tuple[Generation, bool] | None:
    """(generation, changed) — changed False when it was already CANCELLED; None when the
    caller has no such generation; raises :class:`CannotCancel` when it already finished."""
    generation = await _locked(session, user_id=user_id, kind=kind, job_id=job_id)
    if generation is None:
        return None
    status = Status(generation.status)
    if status == Status.CANCELLED:
        return generation, False
    if status.terminal:
        raise CannotCancel(status)
    await cancel_locked(session, generation, correlation_id)
    await append_generation(session, generation, user_events.CANCELLED)
    return generation, True


async def delete_generation(
    session: AsyncSession, *, user_id: str, kind: Kind, job_id: uuid.UUID, correlation_id: str
) -> bool:
    """True: the generation is gone (now, or by an earlier DELETE of this user); False: the
    caller never had it (404)."""
    generation = await _locked(session, user_id=user_id, kind=kind, job_id=job_id)
    if generation is None:
        tomb = await storage_deletions.tombstone(session, job_id)
        return tomb is not None and tomb.user_id == user_id and tomb.kind == kind.value
    if not Status(generation.status).terminal:
        await cancel_locked(session, generation, correlation_id)
    await storage_deletions.schedule(
        session,
        job_id=job_id,
        user_id=user_id,
        kind=kind.value,
        reason=storage_deletions.DELETED,
    )
    data = generation_data(generation)
    await session.execute(sa.delete(Generation).where(Generation.id == job_id))
    await user_events.append(
        session,
        user_id=user_id,
        type=user_events.DELETED,
        job_id=job_id,
        data={**data, "status": "DELETED"},
    )
    log.info("generation deleted by its user", job_id=str(job_id))
    return True
