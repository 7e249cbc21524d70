"""scheduling: the database is the queue of record (``generation_queue``, ``scheduler_shares``),
bulk jobs (``generation_batches``, ``generations.batch_id``)

A create no longer writes its ``generation.requested`` to the outbox: the admission function
(0006's, re-made with two more arguments, the model and the job's cost) stores it in
``generation_queue`` and NOTIFYs the scheduler, which moves it to the outbox when a generator
has room (see sorami_gateway.scheduling). The downgrade hands every queued job to the outbox,
so none is lost either way.
"""

from __future__ import annotations

import importlib

from sorami_gateway.migrations.sql import steps

revision = "0007_issue25"
down_revision = "0006_issue14"

_previous = importlib.import_module(
    "sorami_gateway.migrations.versions.0006_create_generation_function"
)

OLD_SIGNATURE_TYPES = (
    "uuid, text, text, jsonb, text, uuid, text, jsonb, text, jsonb, int, int, int, text, text,"
    " text, int, jsonb, int, text, text[], text, text, bigint"
)
NEW_SIGNATURE_TYPES = OLD_SIGNATURE_TYPES + ", text, double precision"

OUTBOX_INSERT = (
    "    INSERT INTO outbox (event_id, type, payload)"
    " VALUES (p_event_id, p_event_type, p_event_payload);\n"
    "    PERFORM pg_notify(p_outbox_channel, '');"
)
QUEUE_INSERT = """    INSERT INTO generation_queue
        (job_id, user_id, model, tier, cost, event_id, event_type, payload)
    VALUES (p_job_id, p_user_id, p_model, 'interactive', p_cost, p_event_id, p_event_type,
        p_event_payload);
    PERFORM pg_notify(p_outbox_channel, '');"""
assert OUTBOX_INSERT in _previous.FUNCTION

OLD_CAP = "WHERE g.user_id = p_user_id AND g.status IN ('PENDING', 'PROCESSING');"
NEW_CAP = (
    "WHERE g.user_id = p_user_id AND g.status IN ('PENDING', 'PROCESSING')\n"
    "          AND g.batch_id IS NULL;  -- batch jobs have a cap of their own"
)
assert OLD_CAP in _previous.FUNCTION

# p_outbox_channel now names the scheduler's channel (the NOTIFY that wakes it)
FUNCTION = (
    _previous.FUNCTION.replace(OUTBOX_INSERT, QUEUE_INSERT)
    .replace(OLD_CAP, NEW_CAP)
    .replace(
        "p_user_lock_seed bigint)",
        "p_user_lock_seed bigint,\n    p_model text, p_cost double precision)",
    )
)

UPGRADE = (
    """
    CREATE TABLE generation_batches (
        id UUID DEFAULT gen_random_uuid() NOT NULL,
        user_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        created_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
        PRIMARY KEY (id)
    )
    """,
    "CREATE INDEX ix_generation_batches_user ON generation_batches (user_id)",
    "ALTER TABLE generations ADD COLUMN batch_id UUID",
    "CREATE INDEX ix_generations_batch ON generations (batch_id) WHERE batch_id IS NOT NULL",
    """
    CREATE TABLE generation_queue (
        job_id UUID NOT NULL,
        user_id TEXT NOT NULL,
        model TEXT NOT NULL,
        tier TEXT NOT NULL,
        cost FLOAT NOT NULL,
        batch_id UUID,
        event_id UUID NOT NULL,
        event_type TEXT NOT NULL,
        payload JSONB NOT NULL,
        enqueued_at TIMESTAMP WITH TIME ZONE DEFAULT now() NOT NULL,
        position INTEGER,
        eta_s FLOAT,
        waiting_for TEXT,
        PRIMARY KEY (job_id),
        CONSTRAINT ck_generation_queue_tier CHECK (tier IN ('interactive', 'batch')),
        FOREIGN KEY(job_id) REFERENCES generations (id) ON DELETE CASCADE
    )
    """,
    "CREATE INDEX ix_generation_queue_order"
    " ON generation_queue (tier, user_id, enqueued_at, job_id)",
    """
    CREATE TABLE scheduler_shares (
        tier TEXT NOT NULL,
        user_id TEXT NOT NULL,
        deficit FLOAT NOT NULL,
        turn_open BOOLEAN NOT NULL,
        served FLOAT,
        PRIMARY KEY (tier, user_id)
    )
    """,
    f"DROP FUNCTION sorami_admit_generation({OLD_SIGNATURE_TYPES})",
    FUNCTION,
)

DOWNGRADE = (
    f"DROP FUNCTION sorami_admit_generation({NEW_SIGNATURE_TYPES})",
    _previous.FUNCTION,
    # every job still queued goes out as before the upgrade: none is lost
    "INSERT INTO outbox (event_id, type, payload)"
    " SELECT event_id, event_type, payload FROM generation_queue ORDER BY enqueued_at, job_id",
    "DROP TABLE scheduler_shares",
    "DROP TABLE generation_queue",
    "DROP INDEX ix_generations_batch",
    "ALTER TABLE generations DROP COLUMN batch_id",
    "DROP TABLE generation_batches",
)

upgrade, downgrade = steps(UPGRADE, DOWNGRADE)
