"""A user's uploaded images (the files live in storage under ``upload/{id}/``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ..infra.columns import timestamp


class Upload(SQLModel, table=True):
    """One image a user sent. ``pending``: a presigned PUT not completed yet (its declared
    size counts against the quota); ``ready``: checked, stored, usable as a job's input.
    Deleting sets ``expires_at`` to now; the janitor removes the files, then the row."""

    __tablename__ = "uploads"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'ready')", name="ck_uploads_status"),
        sa.Index("ix_uploads_user", "user_id", sa.text("created_at DESC"), sa.text("id DESC")),
        sa.Index("ix_uploads_expires_at", "expires_at"),
    )

    id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    user_id: str = Field(sa_type=sa.Text, nullable=False)
    status: str = Field(sa_type=sa.Text, nullable=False)
    key: str = Field(sa_type=sa.Text, nullable=False)
    format: str | None = Field(default=None, sa_type=sa.Text)
    width: int | None = Field(default=None, sa_type=sa.Integer)
    height: int | None = Field(default=None, sa_type=sa.Integer)
    bytes: int = Field(sa_type=sa.BigInteger, nullable=False)
    sha256: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime | None = timestamp(nullable=False, server_now=True)
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
