"""A batch: one request's many generations (each generation row names it: ``batch_id``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from ..infra.columns import timestamp, uuid_pk


class GenerationBatch(SQLModel, table=True):
    __tablename__ = "generation_batches"
    __table_args__ = (
        sa.Index("ix_generation_batches_user", "user_id"),
        sa.Index(
            "ix_generation_batches_open", "id", postgresql_where=sa.text("completed_at IS NULL")
        ),
    )

    id: uuid.UUID | None = uuid_pk()
    user_id: str = Field(sa_type=sa.Text, nullable=False)
    kind: str = Field(sa_type=sa.Text, nullable=False)
    size: int = Field(nullable=False)
    created_at: datetime | None = timestamp(nullable=False, server_now=True)
    # set once every job is finished (COMPLETED, FAILED or CANCELLED): batch.completed sent
    completed_at: datetime | None = timestamp()
