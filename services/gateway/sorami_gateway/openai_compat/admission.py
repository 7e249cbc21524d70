"""Creating a generation from ``/v1``, safe against the SDK's retries.

Every create goes through :func:`sorami_gateway.services.admission.submit_generation` (the
same per-user limits and ``Idempotency-Key`` handling as ``/api``). The official SDK retries a
POST on a dropped connection, a timeout or a 5xx, but sends no idempotency key; it does send
``x-stainless-retry-count`` (0 on the first attempt). So:

- with an ``Idempotency-Key`` header: the shared mechanism (same key and request → same job);
- without one, on a retry (count > 0): the newest generation of this user with the same
  parameters (seed aside, when the client let the gateway pick it) created within
  ``openai_retry_window_s`` is the one the first attempt stored, and is answered again;
- a first attempt always creates: two deliberate identical requests are two jobs.

The user's quota row lock (taken first) serializes one user's creates across replicas, so a
retry racing its own first attempt waits for it and then finds its job.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sorami_shared.events import Kind
from sorami_shared.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncSession

from .. import rate_limits
from ..generation_requests import GenerateRequestBase
from ..models import Generation
from ..services.admission import Admitted, submit_generation
from ..settings import GatewaySettings

log = get_logger(__name__)

RETRY_COUNT_HEADER = "x-stainless-retry-count"


def retry_count(value: str | None) -> int:
    try:
        return max(0, int(value)) if value is not None else 0
    except ValueError:
        return 0


async def earlier_attempt(
    session: AsyncSession,
    *,
    user_id: str,
    kind: Kind,
    request: GenerateRequestBase,
    window_s: int,
) -> uuid.UUID | None:
    """The job a previous attempt of this very request stored, if any."""
    params = request.to_params().model_dump(mode="json")
    if getattr(request, "seed", None) is None:
        params.pop("seed")  # picked by the gateway: it differs between attempts
    since = sa.func.clock_timestamp() - timedelta(seconds=window_s)
    return (
        await session.execute(
            sa.select(Generation.id)
            .where(
                Generation.user_id == user_id,
                Generation.kind == kind.value,
                Generation.created_at > since,
                Generation.params.contains(params),  # type: ignore[attr-defined]
            )
            .order_by(Generation.created_at.desc(), Generation.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def admit(
    session: AsyncSession,
    *,
    settings: GatewaySettings,
    user_id: str,
    kind: Kind,
    request: GenerateRequestBase,
    correlation_id: str,
    scope: str,
    idempotency_key: str | None,
    retries_taken: int,
) -> Admitted:
    """Create (or find again) the job; the caller commits when ``replayed`` is False."""
    if idempotency_key is None and retries_taken > 0:
        await rate_limits.lock_user(session, user_id)
        job_id = await earlier_attempt(
            session,
            user_id=user_id,
            kind=kind,
            request=request,
            window_s=settings.openai_retry_window_s,
        )
        if job_id is not None:
            log.info("SDK retry answered with the job it created", job_id=str(job_id))
            return Admitted(job_id, 200, {"job_id": str(job_id)}, replayed=True)
    return await submit_generation(
        session,
        settings=settings,
        user_id=user_id,
        kind=kind,
        request=request,
        correlation_id=correlation_id,
        idempotency_key=idempotency_key,
        scope=scope,
    )
