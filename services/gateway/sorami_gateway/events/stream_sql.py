"""The event stream's hot read, on the driver: the user's events after the stream's cursor
(``ix_user_events_user_id``), one statement, one round trip, no transaction block. Every open
stream runs it on each wake-up and each poll."""

from __future__ import annotations

import asyncpg

from .log import LoggedEvent

STATEMENT = (
    "SELECT id, type, data, created_at FROM user_events"
    " WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3"
)


async def events_after(
    conn: asyncpg.Connection, user_id: str, last_id: int, limit: int
) -> list[LoggedEvent]:
    rows = await conn.fetch(STATEMENT, user_id, last_id, limit)
    return [LoggedEvent(r[0], r[1], r[2], r[3]) for r in rows]
