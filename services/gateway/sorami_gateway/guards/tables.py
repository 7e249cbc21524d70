"""Per-user quota rows and ``Idempotency-Key`` answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from ..infra.columns import timestamp


class GenerationQuota(SQLModel, table=True):
    """One row per user who ever generated: the lock that serializes that user's creates
    across gateway replicas, and the start times of their creates in the current rate window."""

    __tablename__ = "generation_quotas"

    user_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    recent: list[datetime] = Field(
        sa_column=sa.Column(ARRAY(sa.DateTime(timezone=True)), nullable=False)
    )
    updated_at: datetime | None = timestamp(nullable=False, server_now=True)


class IdempotencyKey(SQLModel, table=True):
    """An ``Idempotency-Key`` seen on a create: the same key and body answer the same job."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (sa.Index("ix_idempotency_keys_expires_at", "expires_at"),)

    user_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    scope: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    key: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    request_hash: str = Field(sa_type=sa.Text, nullable=False)
    job_id: uuid.UUID = Field(sa_type=sa.Uuid, nullable=False)
    response: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    created_at: datetime | None = timestamp(nullable=False, server_now=True)
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
