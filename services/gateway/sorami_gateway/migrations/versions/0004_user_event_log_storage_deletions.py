"""the per-user event log (user_events, user_event_log_state) and storage_deletions

Revision ID: 0004_issue7
Revises: 0003_issue5
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_issue7"  # recorded by existing databases: never renamed
down_revision = "0003_issue5"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("job_id", sa.Uuid),
        sa.Column("data", JSONB, nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.clock_timestamp(),
        ),
    )
    op.create_index("ix_user_events_user_id", "user_events", ["user_id", "id"])
    op.create_index("ix_user_events_created_at", "user_events", ["created_at"])
    op.create_table(
        "user_event_log_state",
        sa.Column("singleton", sa.Boolean, primary_key=True, server_default=sa.true()),
        sa.Column("purged_through", sa.BigInteger, nullable=False, server_default="0"),
        sa.CheckConstraint("singleton", name="ck_user_event_log_state_singleton"),
    )
    op.execute("INSERT INTO user_event_log_state (singleton, purged_through) VALUES (true, 0)")
    op.create_table(
        "storage_deletions",
        sa.Column("job_id", sa.Uuid, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column(
            "requested_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("gave_up_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "reason IN ('deleted', 'cancelled')", name="ck_storage_deletions_reason"
        ),
    )
    op.create_index(
        "ix_storage_deletions_due",
        "storage_deletions",
        ["next_attempt_at"],
        postgresql_where=sa.text("done_at IS NULL AND gave_up_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("storage_deletions")
    op.drop_table("user_event_log_state")
    op.drop_table("user_events")
