"""the watchdog's requeue counter and scan index on generations

Revision ID: 0003_issue5
Revises: 0002_issue6
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_issue5"  # recorded by existing databases: never renamed
down_revision = "0002_issue6"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "generations",
        sa.Column("watchdog_requeues", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index(
        "ix_generations_watchdog",
        "generations",
        ["updated_at"],
        postgresql_where=sa.text("status IN ('PENDING', 'PROCESSING')"),
    )


def downgrade() -> None:
    op.drop_index("ix_generations_watchdog", table_name="generations")
    op.drop_column("generations", "watchdog_requeues")
