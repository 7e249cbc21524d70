"""The caller's notifications (a projection of ``notification.created``). No commits here."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from ..infra.cursor import Cursor, fetch_page, next_cursor
from .schemas import NotificationData, NotificationPage, NotificationPublic
from .tables import Notification


def to_public(row: Notification) -> NotificationPublic:
    data = dict(row.data or {})
    data.setdefault("job_id", str(row.job_id))
    data.setdefault("kind", row.kind)
    return NotificationPublic(
        id=row.id,
        type=row.type,
        title=row.title,
        message=row.message,
        data=NotificationData.model_validate(data),
        created_at=row.created_at,
        read_at=row.read_at,
    )


async def unread_count(session: AsyncSession, user_id: str) -> int:
    result = await session.execute(
        sa.select(sa.func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))  # type: ignore[union-attr]
    )
    return int(result.scalar_one())


async def list_notifications(
    session: AsyncSession, *, user_id: str, cursor: Cursor | None, limit: int
) -> NotificationPage:
    rows, more = await fetch_page(
        session,
        sa.select(Notification).where(Notification.user_id == user_id),
        (Notification.created_at, Notification.id),
        after=(cursor.created_at, cursor.id) if cursor is not None else None,
        limit=limit,
    )
    return NotificationPage(
        items=[to_public(r) for r in rows],
        unread_count=await unread_count(session, user_id),
        next_cursor=next_cursor(rows, more),
    )


async def mark_read(
    session: AsyncSession, *, user_id: str, notification_id: uuid.UUID
) -> NotificationPublic | None:
    result = await session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.user_id == user_id)
        .values(read_at=sa.func.coalesce(Notification.read_at, sa.func.now()))
        .returning(Notification)
    )
    row = result.scalar_one_or_none()
    return to_public(row) if row is not None else None


async def mark_all_read(session: AsyncSession, *, user_id: str) -> int:
    result = await session.execute(
        sa.update(Notification)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))  # type: ignore[union-attr]
        .values(read_at=sa.func.now())
    )
    return int(result.rowcount or 0)
