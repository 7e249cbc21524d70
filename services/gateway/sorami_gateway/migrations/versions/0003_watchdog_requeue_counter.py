"""the watchdog's requeue counter and scan index on generations"""

from __future__ import annotations

from sorami_gateway.migrations.sql import steps

revision = "0003_issue5"  # recorded by existing databases: never renamed
down_revision = "0002_issue6"

UPGRADE = (
    "ALTER TABLE generations ADD COLUMN watchdog_requeues INTEGER DEFAULT '0' NOT NULL",
    """
    CREATE INDEX ix_generations_watchdog ON generations (updated_at)
    WHERE status IN ('PENDING', 'PROCESSING')
    """,
)

DOWNGRADE = (
    "DROP INDEX ix_generations_watchdog",
    "ALTER TABLE generations DROP COLUMN watchdog_requeues",
)

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
