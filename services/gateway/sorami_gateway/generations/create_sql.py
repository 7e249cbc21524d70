"""The create path's one statement: ``sorami_admit_generation`` (migration 0006, re-made by
0007 to queue the job in ``generation_queue`` for the scheduler), called on
the pooled connection's driver, outside any transaction block, so the whole admission (quota
lock and charge, idempotency, limits, the rows, both NOTIFYs) is ONE round trip and one
implicit transaction. The statement text is built once; asyncpg prepares it once per
connection and then only binds and executes it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

ARGUMENTS = (
    "job_id user_id kind params correlation_id event_id event_type event_payload "
    "user_event_type user_event_data rate_limit rate_window_s max_unfinished "
    "scope idempotency_key fingerprint idempotency_ttl_s retry_params retry_window_s "
    "webhook_url webhook_events outbox_channel events_channel user_lock_seed model cost"
).split()

STATEMENT = (
    "SELECT o_outcome, o_job_id, o_status, o_body, o_retry_after FROM sorami_admit_generation("
    + ", ".join(f"p_{name} => ${i}" for i, name in enumerate(ARGUMENTS, start=1))
    + ")"
)

# Raised by the function when another transaction stored the same Idempotency-Key first.
KEY_RACE_SQLSTATE = "SR409"


@dataclass(frozen=True)
class Outcome:
    """``created``, ``replayed``, ``sdk_replay``, ``key_reused``, ``rate`` or ``cap``."""

    outcome: str
    job_id: uuid.UUID | None
    status_code: int
    body: dict[str, Any] | None
    retry_after_s: int | None


class KeyRace(Exception):
    """The function's SR409: nothing was written."""


async def admit_statement(conn: asyncpg.Connection, arguments: dict[str, Any]) -> Outcome:
    """Run the statement with ``arguments`` (every name of :data:`ARGUMENTS`; JSON ones as
    text)."""
    try:
        row = await conn.fetchrow(STATEMENT, *(arguments[name] for name in ARGUMENTS))
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == KEY_RACE_SQLSTATE:
            raise KeyRace(str(exc)) from exc
        raise
    assert row is not None
    return Outcome(row[0], row[1], row[2], row[3], row[4])
