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
user on every gateway replica (:mod:`sorami_gateway.events.hub`); streams also poll. The
NOTIFYs of :func:`append_many` and of the create (migration 0013) carry the events they
wake for (``PAYLOAD_MAX``), so a stream sends them without reading the log.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import UserEvent, UserEventLogState

NOTIFY_CHANNEL = "sorami_gateway_user_events"
# The scheduler's wake-up (scheduling/release.py): a create, and every logged event that may
# free a generator slot or queue a job (a terminal event, a deletion, a status change other
# than a start). Progress, queue positions, notifications and a job's start (PENDING ->
# PROCESSING: it was in flight already) never do, so they do not wake it (each would cost a
# release pass, and most would find no slot free: wakes_scheduler); its poll is the safety net.
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


def wakes_scheduler(type: str, data: dict[str, Any]) -> bool:
    """Whether a logged event may free a generator slot or queue a job (see above)."""
    if type in FREES_NO_SLOT:
        return False
    return not (type == STATUS and data.get("status") == "PROCESSING")


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
    await session.execute(notify_user(user_id, wake_scheduler=wakes_scheduler(type, data)))


def notify_user(user_id: str, *, wake_scheduler: bool) -> sa.Select[Any]:
    """One statement: the ``NOTIFY`` that wakes the user's streams, and the scheduler's too when
    what was written may free a slot or adds a job."""
    notify = [sa.func.pg_notify(NOTIFY_CHANNEL, user_id)]
    if wake_scheduler:
        notify.append(sa.func.pg_notify(SCHEDULER_CHANNEL, ""))
    return sa.select(*notify)


# A NOTIFY's payload on NOTIFY_CHANNEL: a user id alone (read the user's log), or, from
# append_many, the user id, a newline and the events that transaction appended for the user,
# as JSON: [[id, type, data, created_at], ...] in id order. User ids are printable (no
# newline: sorami_shared.dev_tokens.valid_user_id). PostgreSQL refuses a payload of 8,000
# bytes or more: a bigger one goes as the user id alone.
PAYLOAD_MAX = 7900


def split_payload(payload: str) -> tuple[str, str | None]:
    """(user id, the events' JSON or None) of a NOTIFY payload (see above)."""
    user, _, body = payload.partition("\n")
    return user, body or None


def payload_events(body: str) -> list[LoggedEvent]:
    """The events a NOTIFY payload carries, as the stream's read returns them."""
    return [
        LoggedEvent(id, type, data, datetime.fromisoformat(at).astimezone(UTC))
        for id, type, data, at in json.loads(body)
    ]


# append_many, on a pooled connection's driver, in ONE statement: the users' locks (in the
# order given: sorted) are an uncorrelated subquery of the INSERT's WHERE, a one-time filter
# PostgreSQL evaluates before the INSERT makes its first row; the NOTIFYs are sent at commit
# whatever their place in the transaction. Each user's NOTIFY carries the events it appended
# (PAYLOAD_MAX, split_payload), so the user's streams need not read them back.
_APPEND_MANY = f"""WITH locked AS (
    SELECT count(pg_advisory_xact_lock(hashtextextended(l, $5))) AS n FROM unnest($6::text[]) AS l
), appended AS (
    INSERT INTO user_events (user_id, type, job_id, data)
    SELECT u, t, j, d::jsonb
    FROM unnest($1::text[], $2::text[], $3::uuid[], $4::text[]) AS x(u, t, j, d)
    WHERE (SELECT n FROM locked) >= 0
    RETURNING id, user_id, type, data, created_at
), payloads AS (
    SELECT user_id AS u,
        json_agg(json_build_array(id, type, data, created_at) ORDER BY id)::text AS e
    FROM appended GROUP BY user_id
)
SELECT (SELECT count(pg_notify($7, CASE WHEN octet_length(u) + octet_length(e) < {PAYLOAD_MAX}
        THEN u || E'\\n' || e ELSE u END)) FROM payloads)
    + (SELECT count(pg_notify($8, '')) WHERE $9::bool)"""


async def append_many(
    conn: asyncpg.Connection,
    events: Sequence[tuple[str, str, uuid.UUID | None, dict[str, Any]]],
) -> None:
    """:func:`append` for many events, (user id, type, job id, data) in the order given, in
    the caller's transaction on ``conn`` (a pooled connection's driver), in one statement (one
    round trip): the users' locks (sorted: two writers never wait on each other in a cycle),
    the rows, one NOTIFY per user carrying its events, and the scheduler's when an event may
    free a slot."""
    if not events:
        return
    users = sorted({user for user, _, _, _ in events})
    await conn.fetchval(
        _APPEND_MANY,
        [e[0] for e in events],
        [e[1] for e in events],
        [e[2] for e in events],
        [json.dumps(e[3]) for e in events],
        USER_LOCK_SEED,
        users,
        NOTIFY_CHANNEL,
        SCHEDULER_CHANNEL,
        any(wakes_scheduler(type, data) for _, type, _, data in events),
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
