"""batches: when every job of a batch was finished (the batch.completed webhook, issue 25)"""

from __future__ import annotations

from sorami_gateway.migrations.sql import steps

revision = "0012"
down_revision = "0011"

UPGRADE = (
    "ALTER TABLE generation_batches ADD COLUMN completed_at TIMESTAMP WITH TIME ZONE",
    # the open batches: what each completion check looks at
    "CREATE INDEX ix_generation_batches_open ON generation_batches (id) WHERE completed_at IS NULL",
)

DOWNGRADE = (
    "DROP INDEX ix_generation_batches_open",
    "ALTER TABLE generation_batches DROP COLUMN completed_at",
)

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
