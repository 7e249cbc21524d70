"""The release order, as pure functions (no database, no broker): tested alone in
tests/unit/gateway/test_scheduling_policy.py; :mod:`.release` feeds it rows and writes back.

1. **Priority tier**: every ``interactive`` job before any ``batch`` job; and a ``batch`` job
   never takes a model's last ``reserved`` free slots, which wait for interactive jobs.
2. **Fair share inside a tier**: deficit round-robin over users, weighted by cost. Users form
   a ring (the one whose last turn ended longest ago first; a newcomer first of all). A user's
   turn adds one *quantum* (the largest head-of-queue cost in the tier) to their deficit, then
   releases their oldest jobs while the next one's cost fits in the deficit. Their turn ends
   when it no longer fits (they go to the back of the ring and keep the remainder) or their
   queue empties (the remainder is dropped). A turn cut short by a full generator stays open:
   the next pass goes on with it, without a second quantum. So over time each waiting user
   gets the same cost per round: a user of cheap jobs gets more of them, a 100-job backlog
   one job per round like a user with one job.
3. **Age** inside a user's queue (and between newcomers).

A job whose model has no free slot (its generators are full, or none consumes it) is skipped;
the others go on. :func:`plan` with ``free=None`` answers the whole order (for queue positions).

``SORAMI_GATEWAY_SCHEDULER_POLICY=fifo`` (:func:`plan_fifo`): age only, no tier, no share; the
baseline of ``make bench-scheduler``.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

TIERS = ("interactive", "batch")


@dataclass(frozen=True)
class Queued:
    job_id: uuid.UUID
    user_id: str
    tier: str
    model: str
    cost: float
    enqueued_at: float  # epoch seconds


@dataclass(frozen=True)
class Share:
    deficit: float = 0.0
    turn_open: bool = False
    served: float | None = None  # when their last turn ended (None: never, or queue emptied)


@dataclass
class Plan:
    released: list[Queued] = field(default_factory=list)
    shares: dict[tuple[str, str], Share] = field(default_factory=dict)  # (tier, user) -> share
    emptied: set[tuple[str, str]] = field(default_factory=set)  # shares to forget


def plan(
    queued: Iterable[Queued],
    shares: Mapping[tuple[str, str], Share],
    free: Mapping[str, int] | None,
    now: float,
    reserved: Mapping[str, int] | None = None,
) -> Plan:
    """The jobs to release now, in order, with every touched share's new state. ``free``:
    slots per model (a model not in it has none); ``None``: unlimited (the whole order).
    ``reserved``: of a model's free slots, how many only the first tier (``interactive``) may
    take: a batch never fills them, so an interactive job arriving behind a big batch finds
    a slot at once instead of waiting for one of the batch's jobs to finish."""
    slots = None if free is None else dict(free)
    result = Plan()
    by_tier: dict[str, dict[str, list[Queued]]] = {tier: {} for tier in TIERS}
    for job in sorted(queued, key=lambda j: (j.enqueued_at, str(j.job_id))):
        by_tier.setdefault(job.tier, {}).setdefault(job.user_id, []).append(job)
    clock = [now]
    for rank, (tier, users) in enumerate(by_tier.items()):
        if not users:
            continue
        if rank == 0 or slots is None or not reserved:
            _tier(tier, users, shares, slots, result, clock)
            continue
        mine = {m: max(0, n - reserved.get(m, 0)) for m, n in slots.items()}
        before = dict(mine)
        _tier(tier, users, shares, mine, result, clock)
        for model, left in mine.items():  # what this tier took leaves the later tiers
            slots[model] -= before[model] - left
    return result


POLICIES = ("fair", "fifo")


def plan_fifo(queued: Iterable[Queued], free: Mapping[str, int] | None) -> Plan:
    """Oldest first, whatever the tier or the user (shares are left alone)."""
    slots = None if free is None else dict(free)
    result = Plan()
    for job in sorted(queued, key=lambda j: (j.enqueued_at, str(j.job_id))):
        if _full(slots):
            break
        if _fits(job, slots):
            if slots is not None:
                slots[job.model] -= 1
            result.released.append(job)
    return result


def plan_by(
    policy: str,
    queued: Iterable[Queued],
    shares: Mapping[tuple[str, str], Share],
    free: Mapping[str, int] | None,
    now: float,
    reserved: Mapping[str, int] | None = None,
) -> Plan:
    """``fifo`` has no tiers, so nothing reserved for one."""
    if policy == "fifo":
        return plan_fifo(queued, free)
    return plan(queued, shares, free, now, reserved)


def _fits(job: Queued, slots: dict[str, int] | None) -> bool:
    return slots is None or slots.get(job.model, 0) > 0


def _tier(
    tier: str,
    users: dict[str, list[Queued]],
    shares: Mapping[tuple[str, str], Share],
    slots: dict[str, int] | None,
    result: Plan,
    clock: list[float],
) -> None:
    state = {user: shares.get((tier, user), Share()) for user in users}
    ring = deque(
        sorted(
            users,
            key=lambda u: (
                state[u].served is not None,
                state[u].served or 0.0,
                users[u][0].enqueued_at,
                u,
            ),
        )
    )
    queues = {user: deque(jobs) for user, jobs in users.items()}
    # one quantum covers any job of the tier: every turn that has a free slot releases
    quantum = max(job.cost for jobs in users.values() for job in jobs)
    skipped = 0  # users in a row skipped (no slot for any of their jobs): a full round ends it
    while ring and skipped < len(ring) and not _full(slots):
        user = ring[0]
        share, queue = state[user], queues[user]
        if not any(_fits(job, slots) for job in queue):
            ring.rotate(-1)  # nothing of theirs can go now: their share stays as it was
            skipped += 1
            continue
        skipped = 0
        if not share.turn_open:
            share = replace(share, deficit=share.deficit + quantum, turn_open=True)
        while not _full(slots):
            job = next((j for j in queue if _fits(j, slots)), None)
            if job is None or job.cost > share.deficit:
                break
            if slots is not None:
                slots[job.model] -= 1
            queue.remove(job)
            share = replace(share, deficit=share.deficit - job.cost)
            result.released.append(job)
        key = (tier, user)
        if not queue:  # their queue emptied: the remainder goes, and they leave the ring
            result.emptied.add(key)
            result.shares.pop(key, None)
            ring.popleft()
            continue
        nxt = next((j for j in queue if _fits(j, slots)), queue[0])
        if _full(slots) and nxt.cost <= share.deficit:
            result.shares[key] = state[user] = share  # the turn goes on in the next pass
            break
        clock[0] += 1e-6
        result.shares[key] = state[user] = replace(share, turn_open=False, served=clock[0])
        ring.rotate(-1)


def _full(slots: dict[str, int] | None) -> bool:
    return slots is not None and not any(n > 0 for n in slots.values())


def job_cost(num_images: int, num_frames: int | None, steps: int, width: int, height: int) -> float:
    """images x frames x steps x megapixels: the work a job asks of a generator."""
    return max(1, num_images) * max(1, num_frames or 1) * max(1, steps) * width * height / 1e6
