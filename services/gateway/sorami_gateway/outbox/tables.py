"""The gateway's side of the bus: events going out (``outbox``) and events already
projected (``processed_events``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from ..infra.columns import timestamp


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index(
            "ix_outbox_unpublished",
            "id",
            postgresql_where=sa.text("published_at IS NULL"),
        ),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, nullable=False, unique=True))
    type: str = Field(sa_type=sa.Text, nullable=False)
    payload: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime | None = timestamp(nullable=False, server_now=True)
    published_at: datetime | None = timestamp()
    attempts: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = Field(default=None, sa_type=sa.Text)


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"

    consumer: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    event_type: str = Field(sa_type=sa.Text, nullable=False)
    processed_at: datetime | None = timestamp(nullable=False, server_now=True)
