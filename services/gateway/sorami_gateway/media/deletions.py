"""Durable orders to remove a generation's objects from storage (``storage_deletions``).

Scheduled in the transaction that makes the objects unwanted (a DELETE, or a generation that
ended CANCELLED yet reported files), drained by the janitor (:mod:`sorami_gateway.media.drain`)
with back-off, so objects leave storage even when storage is down at the time. The prefix
``{kind}/{job_id}/`` covers every object the generator may have written, recorded or not.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import StorageDeletion

NOTIFY_CHANNEL = "sorami_gateway_storage_deletions"
DELETED = "deleted"
CANCELLED = "cancelled"
EXPIRED = "expired"  # a result past its lifetime (generations.lifetimes): the row stays


def prefix_of(kind: str, job_id: uuid.UUID) -> str:
    return f"{kind}/{job_id}/"


async def schedule(
    session: AsyncSession, *, job_id: uuid.UUID, user_id: str, kind: str, reason: str
) -> None:
    """(Re-)arm the deletion of the job's objects, due now (caller's transaction)."""
    statement = insert(StorageDeletion).values(
        job_id=job_id, user_id=user_id, kind=kind, prefix=prefix_of(kind, job_id), reason=reason
    )
    table = StorageDeletion.__table__
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["job_id"],
            set_={
                "done_at": None,
                "gave_up_at": None,
                "attempts": 0,
                "last_error": None,
                "next_attempt_at": sa.func.now(),
                # once deleted, always deleted (the tombstone of a DELETE)
                "reason": sa.case(
                    (statement.excluded.reason == DELETED, DELETED), else_=table.c.reason
                ),
            },
        )
    )
    await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")))


async def tombstone(session: AsyncSession, job_id: uuid.UUID) -> StorageDeletion | None:
    """The deletion order of a DELETEd generation, if any."""
    return (
        await session.execute(
            sa.select(StorageDeletion).where(
                StorageDeletion.job_id == job_id, StorageDeletion.reason == DELETED
            )
        )
    ).scalar_one_or_none()
