"""The uploads table's statements: reserve (under the user's quota), mark ready, read, list,
delete (expire now), and the janitor's removal of expired uploads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..infra.cursor import Cursor, fetch_page
from ..media.deletions import NOTIFY_CHANNEL
from .tables import Upload

PENDING, READY = "pending", "ready"
_LOCK_SEED = 26_2026  # pg_advisory_xact_lock(seed, hashtext(user_id)): one user's reservations


def prefix_of(upload_id: uuid.UUID) -> str:
    return f"upload/{upload_id}/"


def key_of(upload_id: uuid.UUID, fmt: str | None) -> str:
    """``upload/{id}/source.{ext}``; ``upload/{id}/incoming`` for a direct (S3) PUT."""
    return f"{prefix_of(upload_id)}source.{fmt}" if fmt else f"{prefix_of(upload_id)}incoming"


@dataclass(frozen=True)
class QuotaExceeded(Exception):  # noqa: N818 - an answer, not a crash
    used: int
    quota: int


def _live() -> sa.ColumnElement[bool]:
    return Upload.expires_at > sa.func.now()  # type: ignore[return-value,operator]


async def reserve(session: AsyncSession, upload: Upload, *, quota: int) -> None:
    """Insert ``upload`` (caller's transaction) unless the user's live uploads would then
    exceed ``quota`` bytes (:class:`QuotaExceeded`). One user's reservations are serialized
    (advisory lock), so concurrent uploads cannot both squeeze under the quota."""
    await session.execute(
        sa.select(sa.func.pg_advisory_xact_lock(_LOCK_SEED, sa.func.hashtext(upload.user_id)))
    )
    used = await session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Upload.bytes), 0)).where(
            Upload.user_id == upload.user_id, _live()
        )
    )
    if int(used or 0) + upload.bytes > quota:
        raise QuotaExceeded(int(used or 0), quota)
    session.add(upload)
    await session.flush()


def expiry(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


async def get(
    session: AsyncSession, user_id: str, upload_id: uuid.UUID, *, lock: bool = False
) -> Upload | None:
    """The user's live upload (another user's, an expired or deleted one: None)."""
    query = sa.select(Upload).where(Upload.id == upload_id, Upload.user_id == user_id, _live())
    return (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()


async def page(
    session: AsyncSession, user_id: str, *, after: Cursor | None, limit: int
) -> tuple[list[Upload], bool]:
    query = sa.select(Upload).where(Upload.user_id == user_id, _live())
    return await fetch_page(
        session,
        query,
        (Upload.created_at, Upload.id),
        after=(after.created_at, after.id) if after else None,
        limit=limit,
    )


async def expire_now(session: AsyncSession, user_id: str, upload_id: uuid.UUID) -> bool:
    """Delete: the upload is gone for reads and the quota at once; the janitor (woken) removes
    its files and row. False when the user has no such live upload."""
    done = await session.execute(
        sa.update(Upload)
        .where(Upload.id == upload_id, Upload.user_id == user_id, _live())
        .values(expires_at=sa.func.now())
        .returning(Upload.id)
    )
    if done.first() is None:
        return False
    await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, "")))
    return True


async def due(session: AsyncSession, limit: int) -> list[uuid.UUID]:
    """Expired uploads to remove (locked for this transaction; other janitors skip them)."""
    rows = await session.execute(
        sa.select(Upload.id)
        .where(Upload.expires_at <= sa.func.now())  # type: ignore[operator]
        .order_by(Upload.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows.scalars())


async def forget(session: AsyncSession, upload_ids: list[uuid.UUID]) -> None:
    await session.execute(sa.delete(Upload).where(Upload.id.in_(upload_ids)))  # type: ignore[attr-defined]
