"""webhooks: secrets, endpoints, per-generation webhooks, the delivery outbox, attempts

Revision ID: 0005_issue15
Revises: 0004_issue7
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

revision = "0005_issue15"
down_revision = "0004_issue7"
branch_labels = None
depends_on = None


def _ts(name: str, *, nullable: bool = True, now: bool = False) -> sa.Column:
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=sa.func.now() if now else None,
    )


def _uuid_pk() -> sa.Column:
    return sa.Column("id", sa.Uuid, primary_key=True, server_default=sa.text("gen_random_uuid()"))


def upgrade() -> None:
    op.create_table(
        "webhook_secrets",
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("secret", sa.Text, nullable=False),
        _ts("created_at", nullable=False, now=True),
    )
    op.create_table(
        "webhook_endpoints",
        _uuid_pk(),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", ARRAY(sa.Text), nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("previous_secret", sa.Text),
        _ts("previous_secret_until"),
        _ts("created_at", nullable=False, now=True),
        _ts("disabled_at"),
        _ts("deleted_at"),
    )
    op.create_index("ix_webhook_endpoints_user", "webhook_endpoints", ["user_id"])
    op.create_table(
        "generation_webhooks",
        sa.Column(
            "generation_id",
            sa.Uuid,
            sa.ForeignKey("generations.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("events", ARRAY(sa.Text), nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        _uuid_pk(),
        sa.Column("webhook_id", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("endpoint_id", sa.Uuid),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("job_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("snapshot", JSONB, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _ts("created_at", nullable=False, now=True),
        _ts("next_attempt_at", now=True),
        _ts("retry_from", nullable=False, now=True),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("last_duration_ms", sa.Integer),
        _ts("finished_at"),
        sa.UniqueConstraint("webhook_id", "target", name="uq_webhook_deliveries_message_target"),
        sa.CheckConstraint(
            "status IN ('pending', 'succeeded', 'failed', 'disabled')",
            name="ck_webhook_deliveries_status",
        ),
    )
    op.create_index(
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_webhook_deliveries_job", "webhook_deliveries", ["job_id", "created_at"])
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column(
            "delivery_id",
            sa.Uuid,
            sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("attempt", sa.Integer, nullable=False),
        _ts("started_at", nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id", "attempt"])


def downgrade() -> None:
    for table in (
        "webhook_attempts",
        "webhook_deliveries",
        "generation_webhooks",
        "webhook_endpoints",
        "webhook_secrets",
    ):
        op.drop_table(table)
