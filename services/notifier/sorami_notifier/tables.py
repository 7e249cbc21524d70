"""The notifier's one table. Only the notifier writes it; nothing else reads it (the gateway
keeps its own projection of ``notification.created``)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData()

notifications = sa.Table(
    "notifications",
    metadata,
    # derived_id("notification", job_id, outcome): the same outcome always maps to one id.
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.String(255), nullable=False),
    sa.Column("job_id", sa.Uuid, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("data", postgresql.JSONB, nullable=False),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
    sa.UniqueConstraint("job_id", "outcome", name="uq_notifications_job_outcome"),
    sa.Index("ix_notifications_user_created", "user_id", "created_at"),
)
