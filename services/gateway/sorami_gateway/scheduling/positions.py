"""Queue positions and ETAs, recomputed by the scheduler at most every
``scheduler_position_interval_s``: the whole queue planned as if every slot were free
(:func:`.policy.plan` with ``free=None``), so a position is the order the scheduler will
really follow (as long as nobody with a better claim arrives). A job's position counts the
queued jobs of its model ahead of it (1 = next). Its ETA: the jobs ahead of it, in flight
included, over the model's recent rate (jobs completed in the last ``RATE_WINDOW_S``); none
while that rate is unknown.

A user sees a ``generation.queued`` event (SSE) when their job's position changes
meaningfully (:func:`meaningful`): first placed, into the last five, or by a fifth or more.
Bounded: at most one per job per recomputation, only on such changes, only for interactive
jobs, at most ``MAX_EVENTS`` per recomputation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..events import log as user_events
from ..events.tables import UserEvent
from .policy import Queued, Share, plan_by
from .release import SCHEDULER_LOCK

QUEUED_EVENT = user_events.QUEUED
RATE_WINDOW_S = 120
MAX_EVENTS = 500  # per recomputation; batch jobs get none (the batch's page shows positions)

_ALL = sa.text(
    "SELECT q.job_id, q.user_id, q.tier, q.model, q.cost, extract(epoch FROM q.enqueued_at),"
    " q.position, g.kind FROM generation_queue q JOIN generations g ON g.id = q.job_id"
)
_SHARES = sa.text("SELECT tier, user_id, deficit, turn_open, served FROM scheduler_shares")
_RATES = sa.text(
    "SELECT params->>'model', count(*) FROM generations WHERE status = 'COMPLETED'"
    f" AND completed_at > now() - interval '{RATE_WINDOW_S} seconds' GROUP BY 1"
)
_IN_FLIGHT = sa.text(
    "SELECT g.params->>'model', count(*) FROM generations g"
    " WHERE g.status IN ('PENDING', 'PROCESSING')"
    " AND NOT EXISTS (SELECT 1 FROM generation_queue q WHERE q.job_id = g.id) GROUP BY 1"
)
_SAVE = sa.text(
    "UPDATE generation_queue q SET position = p.position, eta_s = p.eta_s"
    " FROM unnest(CAST(:ids AS uuid[]), CAST(:positions AS int[]), CAST(:etas AS float8[]))"
    " AS p(job_id, position, eta_s) WHERE q.job_id = p.job_id"
)


@dataclass(frozen=True)
class Placed:
    job_id: uuid.UUID
    user_id: str
    kind: str
    position: int
    eta_s: float | None
    before: int | None


def meaningful(before: int | None, now: int) -> bool:
    """Worth telling the user: the first position, any change within the last five, or a
    change of at least a fifth."""
    if before is None:
        return True
    if before == now:
        return False
    return now <= 5 or abs(before - now) >= max(1, before // 5)


def place(
    queued: list[Queued],
    shares: dict[tuple[str, str], Share],
    rates: dict[str, float],
    in_flight: dict[str, int],
    now: float,
    policy: str = "fair",
) -> dict[uuid.UUID, tuple[int, float | None]]:
    """job id -> (position among its model's queued jobs, ETA in seconds or None)."""
    ahead: dict[str, int] = {}
    placed = {}
    for job in plan_by(policy, queued, shares, None, now).released:
        ahead[job.model] = ahead.get(job.model, 0) + 1
        position = ahead[job.model]
        rate = rates.get(job.model, 0.0)
        eta = round((in_flight.get(job.model, 0) + position - 1) / rate, 1) if rate > 0 else None
        placed[job.job_id] = (position, eta)
    return placed


async def update_positions(session: AsyncSession, now: float, policy: str = "fair") -> list[Placed]:
    """Recompute and store every queued job's position and ETA; append a
    ``generation.queued`` user event for each meaningful change (caller's transaction)."""
    if not await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(SCHEDULER_LOCK))):
        return []
    rows = (await session.execute(_ALL)).all()
    if not rows:
        return []
    queued = [Queued(r[0], r[1], r[2], r[3], r[4], float(r[5])) for r in rows]
    shares = {
        (tier, user): Share(deficit, turn_open, served)
        for tier, user, deficit, turn_open, served in (await session.execute(_SHARES)).all()
    }
    rates = {m: n / RATE_WINDOW_S for m, n in (await session.execute(_RATES)).all()}
    in_flight = dict((await session.execute(_IN_FLIGHT)).all())
    placed = place(queued, shares, rates, in_flight, now, policy)
    ids = list(placed)
    await session.execute(
        _SAVE,
        {
            "ids": ids,
            "positions": [placed[i][0] for i in ids],
            "etas": [placed[i][1] for i in ids],
        },
    )
    told = [
        Placed(r[0], r[1], r[7], *placed[r[0]], before=r[6])
        for r in rows
        if r[2] == "interactive" and meaningful(r[6], placed[r[0]][0])
    ][:MAX_EVENTS]
    await _tell(session, told)
    return told


async def _tell(session: AsyncSession, told: list[Placed]) -> None:
    """One ``generation.queued`` per job, appended as :func:`..events.log.append` does
    (each user's log lock first, in a fixed order; then the rows; then one NOTIFY per user),
    in one statement."""
    users = sorted({p.user_id for p in told})
    for user in users:
        await user_events.take_user_log_lock(session, user)
    if told:
        await session.execute(
            sa.insert(UserEvent),
            [
                {
                    "user_id": p.user_id,
                    "type": QUEUED_EVENT,
                    "job_id": p.job_id,
                    "data": {
                        "job_id": str(p.job_id),
                        "kind": p.kind,
                        "status": "PENDING",
                        "queue_position": p.position,
                        "eta_s": p.eta_s,
                    },
                }
                for p in sorted(told, key=lambda p: (p.user_id, p.position))
            ],
        )
    for user in users:
        await session.execute(sa.select(sa.func.pg_notify(user_events.NOTIFY_CHANNEL, user)))
