"""The queue of record (``generation_queue``) and each user's share of it (``scheduler_shares``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from ..infra.columns import timestamp

TIERS = ("interactive", "batch")  # release order: every interactive job before any batch job


class QueuedJob(SQLModel, table=True):
    """A job accepted but not yet released to the broker: its ``generation.requested`` waits
    here (the outbox gets it only when the scheduler releases the job)."""

    __tablename__ = "generation_queue"
    __table_args__ = (
        sa.CheckConstraint("tier IN ('interactive', 'batch')", name="ck_generation_queue_tier"),
        sa.Index("ix_generation_queue_order", "tier", "user_id", "enqueued_at", "job_id"),
    )

    job_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True
        )
    )
    user_id: str = Field(sa_type=sa.Text, nullable=False)
    model: str = Field(sa_type=sa.Text, nullable=False)
    tier: str = Field(sa_type=sa.Text, nullable=False)
    # images x frames x steps x megapixels: what one job costs its user's share
    cost: float = Field(sa_type=sa.Float, nullable=False)
    batch_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    event_id: uuid.UUID = Field(sa_type=sa.Uuid, nullable=False)
    event_type: str = Field(sa_type=sa.Text, nullable=False)
    payload: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    enqueued_at: datetime | None = timestamp(nullable=False, server_now=True)
    # where the last planning pass put it (1 = next), and when that was
    position: int | None = None
    eta_s: float | None = Field(default=None, sa_type=sa.Float)
    waiting_for: str | None = Field(default=None, sa_type=sa.Text)


class SchedulerShare(SQLModel, table=True):
    """One user's deficit round-robin state in one tier (deleted when their queue empties)."""

    __tablename__ = "scheduler_shares"

    tier: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    user_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    deficit: float = Field(default=0.0, sa_type=sa.Float, nullable=False)
    turn_open: bool = Field(default=False, nullable=False)
    served: float | None = Field(default=None, sa_type=sa.Float)  # end of their last turn
