"""What the notifications API answers (never table objects)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel


class NotificationData(BaseModel):
    model_config = {"extra": "allow"}

    job_id: uuid.UUID
    kind: str


class NotificationPublic(BaseModel):
    id: uuid.UUID
    type: str
    title: str
    message: str
    data: NotificationData
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationPublic]
    unread_count: int
    next_cursor: str | None


class UnreadCount(BaseModel):
    unread_count: int


class MarkedAll(BaseModel):
    marked: int
    unread_count: int
