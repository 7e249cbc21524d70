"""``notification.created`` (the notifier owns the truth) becomes the gateway's copy and an
event in the user's log, once: the notification id is the key."""

from __future__ import annotations

from typing import Any

from sorami_shared.events import Envelope, NotificationCreated
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ..events import log as user_events
from .tables import Notification


def public_data(data: NotificationCreated) -> dict[str, Any]:
    """The notification's ``data``: the notifier's, plus the job it is about."""
    return {**data.data, "job_id": str(data.job_id), "kind": data.kind.value}


def row_of(data: NotificationCreated) -> dict[str, Any]:
    """The gateway's row for the notifier's notification (same id)."""
    return {
        "id": data.notification_id,
        "user_id": data.user_id,
        "job_id": data.job_id,
        "kind": data.kind.value,
        "type": f"generation.{data.outcome.value}",
        "title": data.title,
        "message": data.message,
        "data": public_data(data),
        "created_at": data.created_at,
    }


def event_data(row: dict[str, Any]) -> dict[str, Any]:
    """The ``notification.created`` event of the stream: the item of ``GET
    /api/notifications``."""
    shown = {key: row[key] for key in ("type", "title", "message", "data")}
    return {
        **shown,
        "id": str(row["id"]),
        "created_at": row["created_at"].isoformat(),
        "read_at": None,
    }


async def project_notification(
    session: AsyncSession, envelope: Envelope[NotificationCreated]
) -> None:
    row = row_of(envelope.data)
    statement = insert(Notification).values(**row).on_conflict_do_nothing(index_elements=["id"])
    inserted = await session.scalar(statement.returning(Notification.id))
    if inserted is not None:
        await user_events.append(
            session,
            user_id=row["user_id"],
            type=user_events.NOTIFICATION,
            job_id=row["job_id"],
            data=event_data(row),
        )


HANDLERS: dict[str, Any] = {NotificationCreated.event_type: project_notification}
