"""Per-user abuse limits on creating generations, shared by every gateway replica.

Two limits, both answered 429 with ``Retry-After``:

- a **rate limit**: at most ``rate_limit_generations`` creates in any sliding window of
  ``rate_limit_window_s`` seconds (exact: the row keeps the start times of the creates still in
  the window, at most N of them);
- a **cap on unfinished jobs**: at most ``max_unfinished_jobs`` of the user's generations
  PENDING or PROCESSING at once (the GPU is the expensive thing).

The state lives in PostgreSQL, the database the create is written to anyway: the check, the
counter update and the generation insert are one transaction, so a create that fails or is
rolled back consumes nothing. :func:`lock_quota` takes the user's ``generation_quotas`` row FOR
UPDATE before anything is counted, which serializes one user's creates across all replicas
(other users are never blocked); the row's timestamps come from the database clock, so the
replicas' clocks do not matter. The arithmetic is pure (:func:`rate_refusal`,
:func:`cap_refusal`, :func:`window_after_create`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..settings import GatewaySettings
from .tables import GenerationQuota


class LimitExceeded(Exception):
    """A per-user limit refuses this create (429)."""

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after_s = max(1, retry_after_s)


@dataclass(frozen=True)
class UserQuota:
    now: datetime
    recent: list[datetime]


async def lock_quota(session: AsyncSession, user_id: str) -> UserQuota:
    """Take the user's quota row (created on first use) locked, in the caller's transaction;
    returns the database's ``now()`` and the creates still worth counting.

    One round trip: an upsert whose no-op update locks the row exactly as ``SELECT ... FOR
    UPDATE`` would, until the transaction ends, and returns what the check needs."""
    stmt = insert(GenerationQuota).values(user_id=user_id, recent=[])
    row = (
        await session.execute(
            stmt.on_conflict_do_update(
                index_elements=["user_id"], set_={"user_id": stmt.excluded.user_id}
            ).returning(GenerationQuota.recent, sa.func.clock_timestamp())
        )
    ).one()
    recent, now = row
    return UserQuota(now=now, recent=list(recent or []))


async def record_create(session: AsyncSession, user_id: str, window: list[datetime]) -> None:
    """Store the user's window after a create (row locked by :func:`lock_quota`)."""
    await session.execute(
        sa.update(GenerationQuota)
        .where(GenerationQuota.user_id == user_id)
        .values(recent=window, updated_at=window[-1])
    )


def in_window(times: list[datetime], now: datetime, window_s: int) -> list[datetime]:
    """The times still inside the sliding window ending at ``now``, oldest first."""
    start = now - timedelta(seconds=window_s)
    return sorted(t for t in times if t > start)


def rate_limit_wait_s(
    recent: list[datetime], now: datetime, limit: int, window_s: int
) -> int | None:
    """None when one more create fits in the window (or ``limit`` is 0: off); otherwise the
    whole seconds until the oldest create still counted leaves it."""
    if not limit or len(recent) < limit:
        return None
    oldest = recent[len(recent) - limit]
    return max(1, math.ceil((oldest + timedelta(seconds=window_s) - now).total_seconds()))


def rate_refusal(quota: UserQuota, settings: GatewaySettings) -> LimitExceeded | None:
    """The rate limit's refusal of one more create now, if it refuses."""
    limit, window_s = settings.rate_limit_generations, settings.rate_limit_window_s
    recent = in_window(quota.recent, quota.now, window_s)
    wait = rate_limit_wait_s(recent, quota.now, limit, window_s)
    if wait is None:
        return None
    return LimitExceeded(f"rate limit: {limit} generations per {window_s} s", wait)


def cap_refusal(unfinished: int, settings: GatewaySettings) -> LimitExceeded | None:
    """The unfinished-jobs cap's refusal of one more job, if it refuses (0: off)."""
    cap = settings.max_unfinished_jobs
    if not cap or unfinished < cap:
        return None
    return LimitExceeded(
        f"too many unfinished generations (at most {cap} at once)",
        settings.unfinished_jobs_retry_after_s,
    )


def window_after_create(quota: UserQuota, settings: GatewaySettings) -> list[datetime]:
    """The creates to keep counting once this one is made: at most the limit's worth."""
    limit = settings.rate_limit_generations
    recent = in_window(quota.recent, quota.now, settings.rate_limit_window_s)
    keep = recent[-(limit - 1) :] if limit > 1 else []
    return [*keep, quota.now]
