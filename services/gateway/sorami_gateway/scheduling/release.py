"""One scheduler pass, one transaction: release what the generators have room for, in the
order of :mod:`.policy`, by moving each job's ``generation.requested`` from
``generation_queue`` to the outbox (a DELETE ... RETURNING feeding an INSERT: a job leaves the
queue exactly when its event enters the outbox, or neither happens).

Several relays may run: a pass holds a transaction-scoped advisory lock (``pg_try_...``; a
replica that does not get it skips its pass), and a job can only be deleted from the queue
once, so none is ever released twice. A SIGKILL mid-pass rolls the whole pass back.

In flight, per model (a generator queue each): jobs PENDING or PROCESSING that left the queue
(released, not finished). Free slots = the model's capacity (:mod:`.capacity`) minus that; a
model without a consumer gets none, and its queued jobs say ``waiting_for = 'worker'``. Of
those free slots, ``reserved_slots`` per model are the interactive tier's alone (a batch never
takes them; see :func:`.policy.plan`).

On the driver (asyncpg, pre-built statements, no ORM): a pass is on every job's path from
create to generator, so it costs six round trips whatever it releases (the lock; the counts;
in flight; waiting_for, unless nothing changed; the candidates with their shares; the move
with the outbox wake-up), plus one to save the shares.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import asyncpg

from ..events.log import SCHEDULER_CHANNEL
from ..outbox.writer import NOTIFY_CHANNEL as OUTBOX_CHANNEL
from .policy import Queued, Share, plan_by

QUEUE_CHANNEL = SCHEDULER_CHANNEL  # NOTIFYed by a create and a freed slot: wakes a pass
SCHEDULER_LOCK = 0x5C4ED01E  # pg_try_advisory_xact_lock key: one pass at a time


@dataclass
class PassResult:
    ran: bool  # False: another replica held the lock
    released: list[uuid.UUID] = field(default_factory=list)
    queued: int = 0
    by_model: dict[str, int] = field(default_factory=dict)  # still queued, per model
    # queued models this pass left with no free slot at all (the scheduler's gate: a create of
    # one of them cannot release anything until a slot frees, which NOTIFYs)
    full: frozenset[str] = frozenset()


_LOCK = f"SELECT pg_try_advisory_xact_lock({SCHEDULER_LOCK})"
# the queued jobs per model. Every queued job is PENDING: one that leaves PENDING (cancelled,
# failed) leaves the queue by a trigger (migration 0016), a deleted one by the foreign key.
_COUNT = "SELECT model, count(*) FROM generation_queue GROUP BY model"
IN_FLIGHT = (  # jobs per model released and not finished (positions.py too)
    "SELECT g.params->>'model', count(*) FROM generations g"
    " WHERE g.status IN ('PENDING', 'PROCESSING')"
    " AND NOT EXISTS (SELECT 1 FROM generation_queue q WHERE q.job_id = g.id) GROUP BY 1"
)
_WAITING = (
    "UPDATE generation_queue SET waiting_for = CASE WHEN model = ANY($1::text[])"
    " THEN 'worker' END WHERE waiting_for IS DISTINCT FROM"
    " (CASE WHEN model = ANY($1::text[]) THEN 'worker' END)"
)
# each (tier, user)'s oldest jobs, with that user's share in the tier (NULLs: none yet). The
# (tier, user) pairs come from a skip scan of ix_generation_queue_order (one index probe per
# pair) and each pair's jobs from the same index, so a pass reads what it may release, not
# the whole queue: a window function over the queue took 42 ms at 50,000 queued, this 12.
_CANDIDATES = (
    "WITH RECURSIVE pairs AS ("
    " (SELECT tier, user_id FROM generation_queue ORDER BY tier, user_id LIMIT 1)"
    " UNION ALL SELECT n.tier, n.user_id FROM pairs p CROSS JOIN LATERAL ("
    " SELECT q.tier, q.user_id FROM generation_queue q"
    " WHERE (q.tier, q.user_id) > (p.tier, p.user_id) ORDER BY q.tier, q.user_id LIMIT 1) n)"
    " SELECT c.job_id, c.user_id, c.tier, c.model, c.cost, extract(epoch FROM c.enqueued_at),"
    " s.deficit, s.turn_open, s.served FROM pairs p CROSS JOIN LATERAL ("
    " SELECT * FROM generation_queue q WHERE q.tier = p.tier AND q.user_id = p.user_id"
    " AND q.model = ANY($1::text[]) ORDER BY q.enqueued_at, q.job_id LIMIT $2) c"
    " LEFT JOIN scheduler_shares s ON s.tier = c.tier AND s.user_id = c.user_id"
)
# the released jobs' events go to the outbox in release order, their pending lease starts
# now (the watchdog's), and the relay is woken: one statement
_MOVE = (
    "WITH moved AS (DELETE FROM generation_queue WHERE job_id = ANY($1::uuid[])"
    " RETURNING job_id, event_id, event_type, payload),"
    " queued AS (INSERT INTO outbox (event_id, type, payload)"
    " SELECT m.event_id, m.event_type, m.payload FROM moved m"
    " JOIN unnest($1::uuid[]) WITH ORDINALITY AS o(job_id, n) ON o.job_id = m.job_id"
    " ORDER BY o.n),"
    " touched AS (UPDATE generations SET updated_at = now()"
    " WHERE id = ANY($1::uuid[]) AND status = 'PENDING')"
    f" SELECT pg_notify('{OUTBOX_CHANNEL}', '')"
)
_SAVE_SHARES = (
    "INSERT INTO scheduler_shares (tier, user_id, deficit, turn_open, served)"
    " SELECT * FROM unnest($1::text[], $2::text[], $3::float8[], $4::boolean[], $5::float8[])"
    " ON CONFLICT (tier, user_id) DO UPDATE SET deficit = excluded.deficit,"
    " turn_open = excluded.turn_open, served = excluded.served"
)
_FORGET_SHARES = (
    "DELETE FROM scheduler_shares s USING unnest($1::text[], $2::text[]) AS f(tier, user_id)"
    " WHERE s.tier = f.tier AND s.user_id = f.user_id"
)


async def release_pass(
    conn: asyncpg.Connection,
    free_slots: Callable[[set[str]], Awaitable[dict[str, int]]],
    now: float,
    policy: str = "fair",
    reserved_slots: Callable[[set[str]], dict[str, int]] | None = None,
    mark_waiting: Callable[[frozenset[str]], bool] | None = None,
) -> PassResult:
    """Inside the caller's transaction on ``conn`` (a pooled connection's driver).
    ``free_slots(models)`` awaits capacity per model (see :class:`.capacity.BrokerCapacity`);
    ``reserved_slots(models)`` answers the slots per model kept for interactive jobs (none if
    not given). ``mark_waiting(models without a worker)`` answers whether to write
    ``waiting_for`` this pass (a scan of the queue: the scheduler skips it while no model
    lacks a worker and nothing changed; always when not given)."""
    if not await conn.fetchval(_LOCK):
        return PassResult(ran=False)
    queued_models = {m: n for m, n in await conn.fetch(_COUNT)}
    result = PassResult(ran=True, queued=sum(queued_models.values()), by_model=queued_models)
    if not queued_models:
        return result
    in_flight = {m: n for m, n in await conn.fetch(IN_FLIGHT)}
    capacity = await free_slots(set(queued_models))
    no_worker = frozenset(m for m in queued_models if capacity.get(m, 0) <= 0)
    if mark_waiting is None or mark_waiting(no_worker):
        await conn.execute(_WAITING, list(no_worker))
    free = {m: capacity.get(m, 0) - in_flight.get(m, 0) for m in queued_models}
    open_models = [m for m in queued_models if free[m] > 0]
    result.full = frozenset(m for m in queued_models if free[m] <= 0)
    if not open_models:
        return result
    per_user = sum(n for n in free.values() if n > 0) + 1  # one more: a queue never looks empty
    candidates: list[Queued] = []
    shares: dict[tuple[str, str], Share] = {}
    for job_id, user, tier, model, cost, at, deficit, turn_open, served in await conn.fetch(
        _CANDIDATES, open_models, per_user
    ):
        candidates.append(Queued(job_id, user, tier, model, cost, float(at)))
        if deficit is not None:
            shares[(tier, user)] = Share(deficit, turn_open, served)
    reserved = reserved_slots(set(open_models)) if reserved_slots else None
    open_free = {q: n for q, n in free.items() if n > 0}
    decided = plan_by(policy, candidates, shares, open_free, now, reserved)
    ids = [job.job_id for job in decided.released]
    if ids:
        await conn.execute(_MOVE, ids)
    await _save_shares(conn, decided.shares, decided.emptied)
    result.released = ids
    result.queued -= len(ids)
    for job in decided.released:
        result.by_model[job.model] -= 1
        free[job.model] -= 1
    result.full = frozenset(m for m in queued_models if free[m] <= 0)
    return result


async def _save_shares(
    conn: asyncpg.Connection,
    shares: dict[tuple[str, str], Share],
    emptied: set[tuple[str, str]],
) -> None:
    if shares:
        keys = sorted(shares)
        await conn.execute(
            _SAVE_SHARES,
            [t for t, _ in keys],
            [u for _, u in keys],
            [shares[k].deficit for k in keys],
            [shares[k].turn_open for k in keys],
            [shares[k].served for k in keys],
        )
    if emptied:
        keys = sorted(emptied)
        await conn.execute(_FORGET_SHARES, [t for t, _ in keys], [u for _, u in keys])
