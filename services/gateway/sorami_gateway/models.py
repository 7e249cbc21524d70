"""Tables (SQLModel). API shapes live in :mod:`sorami_gateway.schemas`: a table object is
never returned to a client.

Enumerated columns are plain text with CHECK constraints (cheap to extend in a migration,
unlike PostgreSQL enum types)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel


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


def _uuid_pk() -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()")),
    )


def _timestamp(*, nullable: bool = True, server_now: bool = False) -> Any:
    return Field(
        default=None,
        sa_column=sa.Column(
            sa.DateTime(timezone=True),
            nullable=nullable,
            server_default=sa.func.now() if server_now else None,
        ),
    )


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
        # The watchdog's scan: unfinished jobs by last change (see watchdog.py).
        sa.Index(
            "ix_generations_watchdog",
            "updated_at",
            postgresql_where=sa.text("status IN ('PENDING', 'PROCESSING')"),
        ),
        # The per-user cap on unfinished jobs counts these (see rate_limits.py).
        sa.Index(
            "ix_generations_unfinished",
            "user_id",
            postgresql_where=sa.text("status IN ('PENDING', 'PROCESSING')"),
        ),
    )

    id: uuid.UUID | None = _uuid_pk()
    params: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    correlation_id: str = Field(sa_type=sa.Text, nullable=False)
    created_at: datetime | None = _timestamp(nullable=False, server_now=True)
    updated_at: datetime | None = _timestamp(nullable=False, server_now=True)
    started_at: datetime | None = _timestamp()
    completed_at: datetime | None = _timestamp()
    # How often the watchdog re-sent this job's request after it stalled (see watchdog.py).
    watchdog_requeues: int = Field(
        default=0, nullable=False, sa_column_kwargs={"server_default": "0"}
    )


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
    created_at: datetime | None = _timestamp(nullable=False, server_now=True)


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
    created_at: datetime | None = _timestamp(nullable=False, server_now=True)
    published_at: datetime | None = _timestamp()
    attempts: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = Field(default=None, sa_type=sa.Text)


class ProcessedEvent(SQLModel, table=True):
    __tablename__ = "processed_events"

    consumer: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid, primary_key=True))
    event_type: str = Field(sa_type=sa.Text, nullable=False)
    processed_at: datetime | None = _timestamp(nullable=False, server_now=True)


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
    read_at: datetime | None = _timestamp()


class GenerationQuota(SQLModel, table=True):
    """One row per user who ever generated: the lock that serializes that user's creates
    across gateway replicas, and the start times of their creates in the current rate window."""

    __tablename__ = "generation_quotas"

    user_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    recent: list[datetime] = Field(
        sa_column=sa.Column(ARRAY(sa.DateTime(timezone=True)), nullable=False)
    )
    updated_at: datetime | None = _timestamp(nullable=False, server_now=True)


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
    created_at: datetime | None = _timestamp(nullable=False, server_now=True)
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class UserEvent(SQLModel, table=True):
    """The durable log behind ``GET /api/events``: one row per thing a user may watch (status,
    progress, outcome, notification), written in the same transaction as its effect. ``id`` is
    the SSE event id; rows older than ``events_retention_s`` are purged (see user_events.py)."""

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


class StorageDeletion(SQLModel, table=True):
    """A durable order to remove ``prefix`` from storage, retried with back-off until it
    succeeds (storage may be down when a generation is deleted). Kept after it is done as the
    tombstone of a deleted generation (a second DELETE answers 204; a late event is ignored)."""

    __tablename__ = "storage_deletions"
    __table_args__ = (
        sa.CheckConstraint(
            "reason IN ('deleted', 'cancelled')", name="ck_storage_deletions_reason"
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
    requested_at: datetime | None = _timestamp(nullable=False, server_now=True)
    next_attempt_at: datetime | None = _timestamp(nullable=False, server_now=True)
    attempts: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    done_at: datetime | None = _timestamp()
    gave_up_at: datetime | None = _timestamp()


metadata = SQLModel.metadata

# the webhook feature's tables live in its package; registered in the same metadata
from .webhooks import models as _webhook_tables  # noqa: E402,F401
