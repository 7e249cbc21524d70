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

import asyncpg

from ..events import log as user_events
from .policy import Queued, Share, plan_by
from .release import IN_FLIGHT, SCHEDULER_LOCK

QUEUED_EVENT = user_events.QUEUED
RATE_WINDOW_S = 120
MAX_EVENTS = 500  # per recomputation; batch jobs get none (the batch's page shows positions)

# On the driver (pre-built statements, no ORM session), in the caller's transaction.
_TRY_LOCK = f"SELECT pg_try_advisory_xact_lock({SCHEDULER_LOCK})"
_ALL = (
    "SELECT q.job_id, q.user_id, q.tier, q.model, q.cost, extract(epoch FROM q.enqueued_at),"
    " q.position, g.kind, q.eta_s FROM generation_queue q JOIN generations g ON g.id = q.job_id"
)
_SHARES = "SELECT tier, user_id, deficit, turn_open, served FROM scheduler_shares"
_RATES = (
    "SELECT params->>'model', count(*) FROM generations WHERE status = 'COMPLETED'"
    f" AND completed_at > now() - interval '{RATE_WINDOW_S} seconds' GROUP BY 1"
)
_SAVE = (
    "UPDATE generation_queue q SET position = p.position, eta_s = p.eta_s"
    " FROM unnest($1::uuid[], $2::int[], $3::float8[]) AS p(job_id, position, eta_s)"
    " WHERE q.job_id = p.job_id"
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


async def update_positions(
    conn: asyncpg.Connection, now: float, policy: str = "fair"
) -> list[Placed]:
    """Recompute and store every queued job's position and ETA; append a
    ``generation.queued`` user event for each meaningful change (in the caller's transaction
    on ``conn``, a pooled connection's driver)."""
    if not await conn.fetchval(_TRY_LOCK):
        return []
    rows = await conn.fetch(_ALL)
    if not rows:
        return []
    queued = [Queued(r[0], r[1], r[2], r[3], r[4], float(r[5])) for r in rows]
    shares = {
        (tier, user): Share(deficit, turn_open, served)
        for tier, user, deficit, turn_open, served in await conn.fetch(_SHARES)
    }
    rates = {m: n / RATE_WINDOW_S for m, n in await conn.fetch(_RATES)}
    in_flight = {m: n for m, n in await conn.fetch(IN_FLIGHT)}
    placed = place(queued, shares, rates, in_flight, now, policy)
    ids = [r[0] for r in rows if placed[r[0]] != (r[6], r[8])]  # only what changed is written
    if ids:
        await conn.execute(_SAVE, ids, [placed[i][0] for i in ids], [placed[i][1] for i in ids])
    told = [
        Placed(r[0], r[1], r[7], *placed[r[0]], before=r[6])
        for r in rows
        if r[2] == "interactive" and meaningful(r[6], placed[r[0]][0])
    ][:MAX_EVENTS]
    await _tell(conn, told)
    return told


async def _tell(conn: asyncpg.Connection, told: list[Placed]) -> None:
    """One ``generation.queued`` per job, by user and position, appended as every writer of the
    log does (:func:`..events.log.append_many`)."""
    await user_events.append_many(
        conn,
        [
            (p.user_id, QUEUED_EVENT, p.job_id, {
                "job_id": str(p.job_id), "kind": p.kind, "status": "PENDING",
                "queue_position": p.position, "eta_s": p.eta_s,
            })
            for p in sorted(told, key=lambda p: (p.user_id, p.position))
        ],
    )  # fmt: skip
