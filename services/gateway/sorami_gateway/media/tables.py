"""Durable orders to remove a generation's objects from storage."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ..infra.columns import timestamp


class StorageDeletion(SQLModel, table=True):
    """A durable order to remove ``prefix`` from storage, retried with back-off until it
    succeeds (storage may be down when a generation is deleted). Kept after it is done as the
    tombstone of a deleted generation (a second DELETE answers 204; a late event is ignored)."""

    __tablename__ = "storage_deletions"
    __table_args__ = (
        sa.CheckConstraint(
            "reason IN ('deleted', 'cancelled', 'expired')", name="ck_storage_deletions_reason"
        ),
        sa.Index(
            "ix_storage_deletions_due",
            "next_attempt_at",
            postgresql_where=sa.text("done_at IS NULL AND gave_up_at IS NULL"),
        ),
    )

    job_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    user_id: str = Field(sa_type=sa.Text, nullable=False)
    kind: str = Field(sa_type=sa.Text, nullable=False)
    prefix: str = Field(sa_type=sa.Text, nullable=False)
    reason: str = Field(sa_type=sa.Text, nullable=False)
    requested_at: datetime | None = timestamp(nullable=False, server_now=True)
    next_attempt_at: datetime | None = timestamp(nullable=False, server_now=True)
    attempts: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    done_at: datetime | None = timestamp()
    gave_up_at: datetime | None = timestamp()
