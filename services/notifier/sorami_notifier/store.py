"""Persistence: insert a notification once per (job, outcome), whatever the redeliveries."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
import sqlalchemy as sa
from sorami_shared.messaging import transient_classifier
from sorami_shared.pg import driver_connection
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from .content import NotificationDraft
from .tables import notifications


@dataclass(frozen=True)
class StoredNotification:
    id: uuid.UUID
    created_at: datetime
    inserted: bool  # False: it already existed (a redelivery or a duplicate event)


# Database failures that are an outage, not the message's fault: the bus rides them out in
# place (with its own broker and connection errors) instead of spending delivery attempts.
is_transient = transient_classifier(
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
)


def make_engine(database_url: str) -> AsyncEngine:
    """No ping on checkout (a round trip, and a ROLLBACK at checkin, per batch): a pooled
    connection the server dropped fails its first statement, which is an outage
    (``is_transient``, ``DRIVER_LOST``): the connection is invalidated and the batch retried
    in place on a new one, as the gateway's engine does."""
    return create_async_engine(database_url, pool_size=5, max_overflow=5, pool_pre_ping=False)


async def save_notification(engine: AsyncEngine, draft: NotificationDraft) -> StoredNotification:
    """Insert ``draft`` unless a notification for its (job, outcome) exists; one transaction.

    Returns the stored row's id and creation time either way, so a redelivery republishes the
    very same ``notification.created``.
    """
    stmt = (
        insert(notifications)
        .values(
            **draft.model_dump(exclude={"kind", "outcome"}),
            kind=draft.kind.value,
            outcome=draft.outcome.value,
        )
        .on_conflict_do_nothing()
        .returning(notifications.c.id, notifications.c.created_at)
    )
    async with engine.begin() as conn:
        row = (await conn.execute(stmt)).first()
        if row is not None:
            return StoredNotification(id=row.id, created_at=row.created_at, inserted=True)
        existing = (
            await conn.execute(
                sa.select(notifications.c.id, notifications.c.created_at).where(
                    notifications.c.job_id == draft.job_id,
                    notifications.c.outcome == draft.outcome.value,
                )
            )
        ).one()
        return StoredNotification(id=existing.id, created_at=existing.created_at, inserted=False)


# One statement (its own transaction, one round trip): the new rows, and those a previous
# delivery stored (the outer SELECT's snapshot does not see what the CTE inserts).
_SAVE_MANY = (
    "WITH new AS (INSERT INTO notifications"
    " (id, user_id, job_id, kind, outcome, title, message, data)"
    " SELECT id, user_id, job_id, kind, outcome, title, message, data"
    " FROM jsonb_populate_recordset(NULL::notifications, $1::jsonb)"
    " ON CONFLICT DO NOTHING RETURNING id, created_at)"
    " SELECT id, created_at, true FROM new"
    " UNION ALL SELECT id, created_at, false FROM notifications"
    " WHERE id = ANY($2::uuid[]) AND id NOT IN (SELECT id FROM new)"
)
_CREATED = "SELECT id, created_at FROM notifications WHERE id = ANY($1::uuid[])"


async def save_notifications(
    engine: AsyncEngine, drafts: list[NotificationDraft]
) -> list[StoredNotification]:
    """:func:`save_notification` for many drafts in one statement on the driver (the batch
    path); the result is in the order of ``drafts``. A row another replica committed while
    the statement waited on it is outside the statement's snapshot: read after it."""
    values = [
        {**d.model_dump(mode="json", exclude={"kind", "outcome"}), "kind": d.kind.value,
         "outcome": d.outcome.value}
        for d in drafts
    ]  # fmt: skip
    ids = [d.id for d in drafts]
    async with driver_connection(engine) as conn:
        rows = await conn.fetch(_SAVE_MANY, json.dumps(values), ids)
        inserted = {r[0] for r in rows if r[2]}
        created = {r[0]: r[1] for r in rows}
        if len(created) < len(set(ids)):
            created |= {r["id"]: r["created_at"] for r in await conn.fetch(_CREATED, ids)}
    return [StoredNotification(id=i, created_at=created[i], inserted=i in inserted) for i in ids]


async def check_database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))
