"""The durable per-user event log behind ``GET /api/events``.

Every effect a user may watch (a generation's status, progress, outcome, deletion; a new
notification) appends one row IN THE TRANSACTION OF THE EFFECT, so the log and the tables never
disagree, and a client resuming with ``Last-Event-ID`` after a gateway restart finds every
event it missed (for ``events_retention_s``).

Ordering: ``id`` (the SSE id) comes from an identity column, and the append first takes a
transaction-scoped advisory lock per user. Two transactions of the same user therefore get
their ids in commit order: a reader that has seen id N never sees a smaller id of that user
appear later (the classic gap of sequences under concurrent commits). Callers append as the
LAST statement of their transaction (after their row locks), so the lock order is always
rows → user lock and cannot deadlock.

Wake-up: ``pg_notify(channel, user_id)``, transactional like the row, wakes the streams of that
user on every gateway replica (:mod:`sorami_gateway.events.hub`); streams also poll.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import UserEvent, UserEventLogState

NOTIFY_CHANNEL = "sorami_gateway_user_events"
# The scheduler's wake-up (scheduling/release.py): a create, and every logged event that may
# free a generator slot (a status change, a terminal event, a deletion). Progress, queue
# positions and notifications never do, so they do not wake it (a 20-step job's progress
# would otherwise cost a release pass each); its poll is the safety net.
SCHEDULER_CHANNEL = "sorami_gateway_queue"
# hashtextextended(user_id, USER_LOCK_SEED): the key of a user's advisory lock
USER_LOCK_SEED = 7

# Event types (the SSE ``event:`` field).
STATUS = "generation.status"
PROGRESS = "generation.progress"
COMPLETED = "generation.completed"
FAILED = "generation.failed"
CANCELLED = "generation.cancelled"
DELETED = "generation.deleted"
NOTIFICATION = "notification.created"
QUEUED = "generation.queued"
FREES_NO_SLOT = frozenset({PROGRESS, QUEUED, NOTIFICATION})


async def take_user_log_lock(session: AsyncSession, user_id: str) -> None:
    """The transaction-scoped advisory lock that orders one user's appends (see above)."""
    await session.execute(
        sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(user_id, USER_LOCK_SEED)))
    )


async def append(
    session: AsyncSession,
    *,
    user_id: str,
    type: str,
    data: dict[str, Any],
    job_id: uuid.UUID | None = None,
) -> None:
    """Append one event in the caller's transaction (call it last, see the module doc)."""
    await take_user_log_lock(session, user_id)
    await session.execute(
        sa.insert(UserEvent).values(user_id=user_id, type=type, job_id=job_id, data=data)
    )
    await session.execute(notify_user(user_id, wake_scheduler=type not in FREES_NO_SLOT))


def notify_user(user_id: str, *, wake_scheduler: bool) -> sa.Select[Any]:
    """One statement: the ``NOTIFY`` that wakes the user's streams, and the scheduler's too when
    what was written may free a slot or adds a job."""
    notify = [sa.func.pg_notify(NOTIFY_CHANNEL, user_id)]
    if wake_scheduler:
        notify.append(sa.func.pg_notify(SCHEDULER_CHANNEL, ""))
    return sa.select(*notify)


# append_many, on a pooled connection's driver, in ONE statement: the users' locks (in the
# order given: sorted) are an uncorrelated subquery of the INSERT's WHERE, a one-time filter
# PostgreSQL evaluates before the INSERT makes its first row; the NOTIFYs are sent at commit
# whatever their place in the transaction.
_APPEND_MANY = """WITH locked AS (
    SELECT count(pg_advisory_xact_lock(hashtextextended(l, $5))) AS n FROM unnest($6::text[]) AS l
), appended AS (
    INSERT INTO user_events (user_id, type, job_id, data)
    SELECT u, t, j, d::jsonb
    FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[]) AS x(u, t, j, d)
    WHERE (SELECT n FROM locked) >= 0
)
SELECT count(pg_notify(c, p)) FROM unnest($7::text[], $8::text[]) AS y(c, p)"""


async def append_many(
    conn: asyncpg.Connection,
    events: Sequence[tuple[str, str, uuid.UUID | None, dict[str, Any]]],
) -> None:
    """:func:`append` for many events, (user id, type, job id, data) in the order given, in
    the caller's transaction on ``conn`` (a pooled connection's driver), in one statement (one
    round trip): the users' locks (sorted: two writers never wait on each other in a cycle),
    the rows, one NOTIFY per user and the scheduler's when an event may free a slot."""
    if not events:
        return
    users = sorted({user for user, _, _, _ in events})
    channels, payloads = [NOTIFY_CHANNEL] * len(users), list(users)
    if any(type not in FREES_NO_SLOT for _, type, _, _ in events):  # a slot may be free
        channels.append(SCHEDULER_CHANNEL)
        payloads.append("")
    await conn.fetchval(
        _APPEND_MANY,
        [e[0] for e in events],
        [e[1] for e in events],
        [e[2] for e in events],
        [json.dumps(e[3]) for e in events],
        USER_LOCK_SEED,
        users,
        channels,
        payloads,
    )


@dataclass(frozen=True)
class LoggedEvent:
    id: int
    type: str
    data: dict[str, Any]
    created_at: datetime


async def head(session: AsyncSession, user_id: str) -> int:
    """Where a new stream of ``user_id`` starts: after every event committed so far. Taking
    the user's lock first waits out an append of this user still in flight, whose id could be
    below the global maximum."""
    async with session.begin():
        await take_user_log_lock(session, user_id)
        return int(
            (
                await session.execute(sa.select(sa.func.coalesce(sa.func.max(UserEvent.id), 0)))
            ).scalar_one()
        )


async def purged_through(session: AsyncSession) -> int:
    value = (await session.execute(sa.select(UserEventLogState.purged_through))).scalar()
    return int(value or 0)


async def purge(session: AsyncSession, retention_s: float) -> int:
    """Delete events older than the window (caller's transaction); returns how many."""
    cutoff = sa.func.now() - sa.func.make_interval(0, 0, 0, 0, 0, 0, retention_s)
    deleted = (
        (
            await session.execute(
                sa.delete(UserEvent).where(UserEvent.created_at < cutoff).returning(UserEvent.id)
            )
        )
        .scalars()
        .all()
    )
    if deleted:
        await session.execute(
            sa.update(UserEventLogState).values(
                purged_through=sa.func.greatest(UserEventLogState.purged_through, max(deleted))
            )
        )
    return len(deleted)
