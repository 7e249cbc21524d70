"""``/api/notifications``: the caller's notifications (projected from `notification.created`)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status

from ..rest.deps import CurrentUser, CursorQuery, SessionDep, page_cursor
from ..rest.errors import UNAUTHENTICATED
from . import service as notifications
from .schemas import MarkedAll, NotificationPage, NotificationPublic, UnreadCount

router = APIRouter(prefix="/api/notifications", tags=["notifications"], responses=UNAUTHENTICATED)


@router.get("", response_model=NotificationPage)
async def list_notifications(
    user_id: CurrentUser,
    session: SessionDep,
    cursor: CursorQuery = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> NotificationPage:
    return await notifications.list_notifications(
        session, user_id=user_id, cursor=page_cursor(cursor), limit=limit
    )


@router.get("/unread-count", response_model=UnreadCount)
async def unread_count(user_id: CurrentUser, session: SessionDep) -> UnreadCount:
    return UnreadCount(unread_count=await notifications.unread_count(session, user_id))


@router.post("/read-all", response_model=MarkedAll)
async def read_all(user_id: CurrentUser, session: SessionDep) -> MarkedAll:
    marked = await notifications.mark_all_read(session, user_id=user_id)
    await session.commit()
    return MarkedAll(marked=marked, unread_count=await notifications.unread_count(session, user_id))


@router.post(
    "/{notification_id}/read",
    response_model=NotificationPublic,
    responses={404: {"description": "No such notification for this user"}},
)
async def read_one(
    notification_id: uuid.UUID, user_id: CurrentUser, session: SessionDep
) -> NotificationPublic:
    item = await notifications.mark_read(session, user_id=user_id, notification_id=notification_id)
    if item is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "notification not found")
    await session.commit()
    return item
