"""per-user generation quotas (rate limit + unfinished-jobs cap) and idempotency keys"""

from __future__ import annotations

from sorami_gateway.migrations.sql import steps

revision = "0002_issue6"  # recorded by existing databases: never renamed
down_revision = "0001"

UPGRADE = (
    """
    CREATE TABLE generation_quotas (
        user_id TEXT NOT NULL,
        recent TIMESTAMP WITH TIME ZONE[] NOT NULL,
        updated_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
        PRIMARY KEY (user_id)
    )
    """,
    """
    CREATE TABLE idempotency_keys (
        user_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        job_id UUID NOT NULL,
        response JSONB NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
        expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
        PRIMARY KEY (user_id, scope, key)
    )
    """,
    "CREATE INDEX ix_idempotency_keys_expires_at ON idempotency_keys (expires_at)",
    """
    CREATE INDEX ix_generations_unfinished ON generations (user_id)
    WHERE status IN ('PENDING', 'PROCESSING')
    """,
)

DOWNGRADE = (
    "DROP INDEX ix_generations_unfinished",
    "DROP TABLE idempotency_keys, generation_quotas",
)

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
