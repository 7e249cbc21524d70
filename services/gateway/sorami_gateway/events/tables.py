"""The durable per-user event log."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class UserEvent(SQLModel, table=True):
    """The durable log behind ``GET /api/events``: one row per thing a user may watch (status,
    progress, outcome, notification), written in the same transaction as its effect. ``id`` is
    the SSE event id; rows older than ``events_retention_s`` are purged (see events/log.py)."""

    __tablename__ = "user_events"
    __table_args__ = (
        sa.Index("ix_user_events_user_id", "user_id", "id"),
        sa.Index("ix_user_events_created_at", "created_at"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    user_id: str = Field(sa_type=sa.Text, nullable=False)
    type: str = Field(sa_type=sa.Text, nullable=False)
    job_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    data: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime | None = Field(
        default=None,
        sa_column=sa.Column(
            sa.DateTime(timezone=True), nullable=False, server_default=sa.func.clock_timestamp()
        ),
    )


class UserEventLogState(SQLModel, table=True):
    """One row: the highest event id purged (a resume from below it missed events)."""

    __tablename__ = "user_event_log_state"
    __table_args__ = (sa.CheckConstraint("singleton", name="ck_user_event_log_state_singleton"),)

    singleton: bool = Field(
        default=True, sa_column=sa.Column(sa.Boolean, primary_key=True, server_default=sa.true())
    )
    purged_through: int = Field(
        default=0, sa_column=sa.Column(sa.BigInteger, nullable=False, server_default="0")
    )
