"""lifetimes: a generation's results expire at ``expires_at`` (issue 26; NULL: kept)"""

from __future__ import annotations

from sorami_gateway.migrations.sql import steps

revision = "0011"
down_revision = "0008"

UPGRADE = (
    "ALTER TABLE generations ADD COLUMN expires_at TIMESTAMP WITH TIME ZONE",
    "ALTER TABLE generations ADD COLUMN files_expired BOOLEAN DEFAULT false NOT NULL",
    # the janitor's scan: expired results whose files are not yet removed
    "CREATE INDEX ix_generations_expires_at ON generations (expires_at)"
    " WHERE expires_at IS NOT NULL AND NOT files_expired",
    "ALTER TABLE storage_deletions DROP CONSTRAINT ck_storage_deletions_reason",
    "ALTER TABLE storage_deletions ADD CONSTRAINT ck_storage_deletions_reason"
    " CHECK (reason IN ('deleted', 'cancelled', 'expired'))",
)

DOWNGRADE = (
    "ALTER TABLE storage_deletions DROP CONSTRAINT ck_storage_deletions_reason",
    "DELETE FROM storage_deletions WHERE reason = 'expired'",
    "ALTER TABLE storage_deletions ADD CONSTRAINT ck_storage_deletions_reason"
    " CHECK (reason IN ('deleted', 'cancelled'))",
    "DROP INDEX ix_generations_expires_at",
    "ALTER TABLE generations DROP COLUMN files_expired",
    "ALTER TABLE generations DROP COLUMN expires_at",
)

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
