"""Webhook tables (all in the gateway's database; see docs/webhooks.md).

- ``webhook_secrets``: each user's default signing secret (per-request webhooks), made on
  first use.
- ``webhook_endpoints``: a user's standing endpoints, each with an events filter and its own
  secret (the previous one still signs until ``previous_secret_until`` after a rotation).
- ``generation_webhooks``: the ``webhook_url`` / ``webhook_events`` of one generation.
- ``webhook_deliveries``: the delivery outbox. One row per (event, target), inserted in the
  transaction that projects the event; the deliverer works it off. ``webhook_id`` is the
  Standard Webhooks message id, derived from (job, event), so a receiver dedupes redeliveries.
- ``webhook_attempts``: one row per HTTP attempt of a delivery (what the listing shows).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlmodel import Field, SQLModel

from ..models import _timestamp as _ts
from ..models import _uuid_pk

PENDING, SUCCEEDED, FAILED, DISABLED = "pending", "succeeded", "failed", "disabled"
REQUEST_TARGET = "request"  # ``target`` of a per-request delivery (else the endpoint id)


def _events() -> Any:
    return Field(sa_column=sa.Column(ARRAY(sa.Text), nullable=False))


class WebhookSecret(SQLModel, table=True):
    __tablename__ = "webhook_secrets"

    user_id: str = Field(sa_column=sa.Column(sa.Text, primary_key=True))
    secret: str = Field(sa_type=sa.Text, nullable=False)
    created_at: datetime | None = _ts(nullable=False, server_now=True)


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (sa.Index("ix_webhook_endpoints_user", "user_id"),)

    id: uuid.UUID | None = _uuid_pk()
    user_id: str = Field(sa_type=sa.Text, nullable=False)
    url: str = Field(sa_type=sa.Text, nullable=False)
    events: list[str] = _events()
    secret: str = Field(sa_type=sa.Text, nullable=False)
    previous_secret: str | None = Field(default=None, sa_type=sa.Text)
    previous_secret_until: datetime | None = _ts()
    created_at: datetime | None = _ts(nullable=False, server_now=True)
    disabled_at: datetime | None = _ts()  # the receiver answered 410 Gone
    deleted_at: datetime | None = _ts()


class GenerationWebhook(SQLModel, table=True):
    __tablename__ = "generation_webhooks"

    generation_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("generations.id", ondelete="CASCADE"), primary_key=True
        )
    )
    url: str = Field(sa_type=sa.Text, nullable=False)
    events: list[str] = _events()


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("webhook_id", "target", name="uq_webhook_deliveries_message_target"),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'disabled')",
            name="ck_webhook_deliveries_status",
        ),
        sa.Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
        ),
        sa.Index("ix_webhook_deliveries_job", "job_id", "created_at"),
    )

    id: uuid.UUID | None = _uuid_pk()
    webhook_id: str = Field(sa_type=sa.Text, nullable=False)
    target: str = Field(sa_type=sa.Text, nullable=False)
    endpoint_id: uuid.UUID | None = Field(default=None, sa_type=sa.Uuid)
    user_id: str = Field(sa_type=sa.Text, nullable=False)
    job_id: uuid.UUID = Field(sa_type=sa.Uuid, nullable=False)
    kind: str = Field(sa_type=sa.Text, nullable=False)
    event: str = Field(sa_type=sa.Text, nullable=False)
    url: str = Field(sa_type=sa.Text, nullable=False)
    snapshot: dict[str, Any] = Field(sa_column=sa.Column(JSONB, nullable=False))
    status: str = Field(default=PENDING, sa_type=sa.Text, nullable=False)
    attempts: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    created_at: datetime | None = _ts(nullable=False, server_now=True)
    next_attempt_at: datetime | None = _ts(server_now=True)
    # retries stop retry_horizon_s after this (the event, or a manual redeliver)
    retry_from: datetime | None = _ts(nullable=False, server_now=True)
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    last_duration_ms: int | None = None
    finished_at: datetime | None = _ts()


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempts"
    __table_args__ = (sa.Index("ix_webhook_attempts_delivery", "delivery_id", "attempt"),)

    id: int | None = Field(
        default=None, sa_column=sa.Column(sa.BigInteger, sa.Identity(), primary_key=True)
    )
    delivery_id: uuid.UUID = Field(
        sa_column=sa.Column(
            sa.Uuid, sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), nullable=False
        )
    )
    attempt: int = Field(nullable=False)
    started_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    duration_ms: int = Field(nullable=False)
    status_code: int | None = None
    error: str | None = Field(default=None, sa_type=sa.Text)
