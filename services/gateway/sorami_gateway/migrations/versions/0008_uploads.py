"""uploads: the images users send (issue 26)"""

from __future__ import annotations

from sorami_gateway.migrations.sql import steps

revision = "0008"
down_revision = "0007_issue25"

UPGRADE = (
    """
    CREATE TABLE uploads (
        id UUID NOT NULL,
        user_id TEXT NOT NULL,
        status TEXT NOT NULL,
        key TEXT NOT NULL,
        format TEXT,
        width INTEGER,
        height INTEGER,
        bytes BIGINT NOT NULL,
        sha256 TEXT,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
        expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
        PRIMARY KEY (id),
        CONSTRAINT ck_uploads_status CHECK (status IN ('pending', 'ready'))
    )
    """,
    "CREATE INDEX ix_uploads_user ON uploads (user_id, created_at DESC, id DESC)",
    "CREATE INDEX ix_uploads_expires_at ON uploads (expires_at)",
)

DOWNGRADE = ("DROP TABLE uploads",)

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
