"""Admitting a generation: idempotency, per-user limits, then the create — one transaction.

Every route that creates generations (``POST /api/{kind}/generate``, the OpenAI-compatible
facade...) goes through :func:`submit_generation`, so none of them can bypass the limits.
The caller commits when ``replayed`` is False (nothing to commit otherwise).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sorami_shared.events import Kind
from sqlalchemy.ext.asyncio import AsyncSession

from .. import idempotency, rate_limits
from ..generation_requests import GenerateRequestBase
from ..settings import GatewaySettings
from . import generations


@dataclass(frozen=True)
class Admitted:
    job_id: uuid.UUID
    status_code: int
    body: dict[str, Any]
    replayed: bool  # True: an Idempotency-Key retry; the stored answer, nothing created


def _default_answer(job_id: uuid.UUID) -> dict[str, Any]:
    return {"job_id": str(job_id), "status": "PENDING"}


async def submit_generation(
    session: AsyncSession,
    *,
    settings: GatewaySettings,
    user_id: str,
    kind: Kind,
    request: GenerateRequestBase,
    correlation_id: str,
    idempotency_key: str | None = None,
    scope: str | None = None,
    status_code: int = 202,
    answer: Callable[[uuid.UUID], dict[str, Any]] = _default_answer,
) -> Admitted:
    """Create a generation for ``user_id`` unless a limit refuses it
    (:class:`~sorami_gateway.rate_limits.LimitExceeded`, 429) or the key was used for another
    request (:class:`~sorami_gateway.idempotency.IdempotencyKeyReused`, 409).

    ``scope`` names the route for idempotency keys (default ``"POST /api/{kind}/generate"``);
    ``answer(job_id)`` is the JSON body stored for replays (default ``{job_id, status}``).
    """
    scope = scope or f"POST /api/{kind.value}s/generate"
    fingerprint = idempotency.request_fingerprint(scope, request)
    # The user's row lock first: it serializes this user's creates on every replica, so a
    # concurrent retry with the same key waits here and then finds the committed answer.
    quota = await rate_limits.lock_user(session, user_id)
    if idempotency_key is not None:
        stored = await idempotency.find(
            session, user_id=user_id, scope=scope, key=idempotency_key, fingerprint=fingerprint
        )
        if stored is not None:
            return Admitted(stored.job_id, stored.status_code, stored.body, replayed=True)
    await rate_limits.charge_generation(session, user_id, quota, settings)
    job_id = await generations.create_generation(
        session, user_id=user_id, kind=kind, request=request, correlation_id=correlation_id
    )
    body = answer(job_id)
    if idempotency_key is not None:
        await idempotency.remember(
            session,
            user_id=user_id,
            scope=scope,
            key=idempotency_key,
            fingerprint=fingerprint,
            job_id=job_id,
            status_code=status_code,
            body=body,
            ttl_s=settings.idempotency_key_ttl_s,
        )
    return Admitted(job_id, status_code, body, replayed=False)
