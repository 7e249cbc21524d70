"""``GET /api/{kind}/{id}/status`` as one statement on the driver: a primary-key lookup (the
owner and the kind are filters on that one row), one round trip, no transaction block, and
the answer built from the row without a table object."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from sorami_shared.events import Kind

STATEMENT = (
    "SELECT g.status, g.progress, g.error, g.error_code, q.position, q.eta_s, q.waiting_for,"
    " g.expires_at"
    " FROM generations g LEFT JOIN generation_queue q ON q.job_id = g.id"
    " WHERE g.id = $1 AND g.user_id = $2 AND g.kind = $3"
)


async def status_answer(
    conn: asyncpg.Connection, user_id: str, kind: Kind, job_id: uuid.UUID
) -> dict[str, Any] | None:
    """The ``/status`` body of the caller's generation of that kind; None for a missing one,
    another user's, or another kind's (indistinguishable on purpose)."""
    row = await conn.fetchrow(STATEMENT, job_id, user_id, kind.value)
    if row is None:
        return None
    return {
        "job_id": str(job_id),
        "kind": kind.value,
        "status": row[0],
        "progress": row[1],
        "error": row[2],
        "error_code": row[3],
        "queue_position": row[4],
        "eta_s": row[5],
        "waiting_for": row[6],
        "expires_at": row[7].isoformat() if row[7] is not None else None,
    }
