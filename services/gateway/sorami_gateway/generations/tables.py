"""The generations and their files."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from ..infra.columns import timestamp, uuid_pk


class Status(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})


class GenerationBase(SQLModel):
    user_id: str = Field(sa_type=sa.Text, nullable=False)
    kind: str = Field(sa_type=sa.Text, nullable=False)
    status: str = Field(default=Status.PENDING.value, sa_type=sa.Text, nullable=False)
    progress: int = Field(default=0, nullable=False)
    error: str | None = Field(default=None, sa_type=sa.Text)
    error_code: str | None = Field(default=None, sa_type=sa.Text)


class Generation(GenerationBase, table=True):
    __tablename__ = "generations"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('image', 'video')", name="ck_generations_kind"),
        sa.CheckConstraint(
            "status IN ('PENDING', 'PROCESSING', 'COMPLETED', 'FAILED', 'CANCELLED')",
            name="ck_generations_status",
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="ck_generations_progress"),
        sa.Index(
            "ix_generations_history",
            "user_id",
            "kind",
            sa.text("created_at DESC"),
            sa.text("id DESC"),
        ),
        # The watchdog's scan: unfinished jobs by last change (see stalled.py).
        sa.Index(
            "ix_generations_watchdog",
            "updated_at",
            postgresql_where=sa.text("status IN ('PENDING', 'PROCESSING')"),
        ),
        # The per-user cap on unfinished jobs counts these (see guards/limits.py).
        sa.Index(
            "ix_generations_batch", "batch_id", postgresql_where=sa.text("batch_id IS NOT NULL")
        ),
        sa.Index(
            "ix_generations_unfinished",
            "user_id",
            postgresql_where=sa.text("status IN ('PENDING', 'PROCESSING')"),
        ),
        # The janitor's scan: expired results whose files are not removed yet (lifetimes.py).
        sa.Index(
            "ix_generations_expires_at",
            "expires_at",
            postgresql_where=sa.text("expires_at IS NOT NULL AND NOT files_expired"),
        ),
    )

    id: uuid.UUID | None = uuid_pk()
    params: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    correlation_id: str = Field(sa_type=sa.Text, nullable=False)
    created_at: datetime | None = timestamp(nullable=False, server_now=True)
    updated_at: datetime | None = timestamp(nullable=False, server_now=True)
    started_at: datetime | None = timestamp()
    completed_at: datetime | None = timestamp()
    # Lifetimes (issue 26): the results expire then (NULL: kept); the janitor removes their
    # files and sets files_expired; the row stays and answers 410 (see lifetimes.py).
    expires_at: datetime | None = timestamp()
    files_expired: bool = Field(
        default=False, nullable=False, sa_column_kwargs={"server_default": "false"}
    )
    # How often the watchdog re-sent this job's request after it stalled (see stalled.py).
    watchdog_requeues: int = Field(
        default=0, nullable=False, sa_column_kwargs={"server_default": "0"}
    )
    # the batch it came in (POST /api/batches); None: an interactive create
    batch_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)


class GenerationFileBase(SQLModel):
    index: int = Field(nullable=False)
    key: str = Field(sa_type=sa.Text, nullable=False)
    mime_type: str = Field(sa_type=sa.Text, nullable=False)
    bytes: int = Field(sa_type=sa.BigInteger, nullable=False)
    width: int = Field(nullable=False)
    height: int = Field(nullable=False)
    fps: float | None = None
    frame_count: int | None = None
    duration_s: float | None = None
    poster_key: str | None = Field(default=None, sa_type=sa.Text)


class GenerationFile(GenerationFileBase, table=True):
    __tablename__ = "generation_files"
    __table_args__ = (
        sa.UniqueConstraint("generation_id", "index", name="uq_generation_files_generation_index"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    generation_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("generations.id", ondelete="CASCADE"), nullable=False
        )
    )
    created_at: datetime | None = timestamp(nullable=False, server_now=True)
