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


async def project_notification(
    session: AsyncSession, envelope: Envelope[NotificationCreated]
) -> None:
    data = envelope.data
    type_ = f"generation.{data.outcome.value}"
    inserted = (
        await session.execute(
            insert(Notification)
            .values(
                id=data.notification_id,
                user_id=data.user_id,
                job_id=data.job_id,
                kind=data.kind.value,
                type=type_,
                title=data.title,
                message=data.message,
                data=public_data(data),
                created_at=data.created_at,
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(Notification.id)
        )
    ).scalar_one_or_none()
    if inserted is None:
        return
    await user_events.append(
        session,
        user_id=data.user_id,
        type=user_events.NOTIFICATION,
        job_id=data.job_id,
        data={
            "id": str(data.notification_id),
            "type": type_,
            "title": data.title,
            "message": data.message,
            "data": public_data(data),
            "created_at": data.created_at.isoformat(),
            "read_at": None,
        },
    )


HANDLERS: dict[str, Any] = {NotificationCreated.event_type: project_notification}
