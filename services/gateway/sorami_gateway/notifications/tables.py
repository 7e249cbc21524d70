"""The gateway's copy of the notifier's notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from ..infra.columns import timestamp


class NotificationBase(SQLModel):
    user_id: str = Field(sa_type=sa.Text, nullable=False)
    job_id: uuid.UUID = Field(sa_type=sa.Uuid, nullable=False)
    kind: str = Field(sa_type=sa.Text, nullable=False)
    type: str = Field(sa_type=sa.Text, nullable=False)
    title: str = Field(sa_type=sa.Text, nullable=False)
    message: str = Field(sa_type=sa.Text, nullable=False)


class Notification(NotificationBase, table=True):
    """The gateway's projection of ``notification.created`` (the notifier owns the truth)."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index(
            "ix_notifications_user", "user_id", sa.text("created_at DESC"), sa.text("id DESC")
        ),
        sa.Index(
            "ix_notifications_user_unread",
            "user_id",
            postgresql_where=sa.text("read_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    data: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    read_at: datetime | None = timestamp()
