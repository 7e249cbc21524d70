"""``Idempotency-Key`` on creates: a client that retries a POST (the openai SDK does, on 5xx
and timeouts) gets the job it already created instead of a second one.

- same key + same request (same user, same route ``scope``) → the stored answer, again;
- same key + a different request → :class:`IdempotencyKeyReused` (409);
- a key answers for ``idempotency_key_ttl_s``; an expired key is ignored and may be reused,
  and expired rows are purged a batch at a time as new keys are stored.

Keys are per user and per scope (e.g. ``"POST /api/images/generate"``): two users, or two
routes, never share one. Use from a route:

    key: IdempotencyKeyHeader                       # the header, validated (422 naming it)
    fingerprint = request_fingerprint(scope, parsed_body)
    stored = await find(session, user_id=..., scope=..., key=key, fingerprint=fingerprint)
    ... create, then, in the same transaction:
    await remember(session, ..., job_id=job_id, status_code=202, body=answer, ttl_s=...)

``remember`` relies on the ``(user_id, scope, key)`` primary key: of two transactions racing
with one key, one commits and the other's insert finds the row (:class:`IdempotencyRace`;
roll back and :func:`find` again). :func:`sorami_gateway.generations.admission.admit`
does all of this (and the per-user limits) for generation creates.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Header
from pydantic import BaseModel
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .tables import IdempotencyKey

HEADER = "Idempotency-Key"
PURGE_BATCH = 100


class IdempotencyKeyReused(Exception):
    """The key was already used with a different request (409)."""


class IdempotencyRace(Exception):
    """Another transaction stored this key first: roll back, then :func:`find` again."""


@dataclass(frozen=True)
class StoredResponse:
    job_id: uuid.UUID
    status_code: int
    body: dict[str, Any]


IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias=HEADER,
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "Any unique string (a UUID is fine), 1-255 visible ASCII characters. Retrying the "
            "same request with the same key returns the job it created; reusing the key for a "
            "different request answers 409. Keys are remembered for a configurable window "
            "(24 h by default)."
        ),
    ),
]


def request_fingerprint(scope: str, request: BaseModel | dict[str, Any]) -> str:
    """A stable hash of what was asked (after validation, so key order, whitespace and
    spelled-out defaults do not make two identical requests differ)."""
    data = request.model_dump(mode="json") if isinstance(request, BaseModel) else request
    canonical = json.dumps([scope, data], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def find(
    session: AsyncSession, *, user_id: str, scope: str, key: str, fingerprint: str
) -> StoredResponse | None:
    """The stored answer for this key, None if unused or expired; raises
    :class:`IdempotencyKeyReused` if it was used for another request."""
    row = (
        await session.execute(
            sa.select(IdempotencyKey).where(
                IdempotencyKey.user_id == user_id,
                IdempotencyKey.scope == scope,
                IdempotencyKey.key == key,
                IdempotencyKey.expires_at > sa.func.clock_timestamp(),
            )
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    if row.request_hash != fingerprint:
        raise IdempotencyKeyReused(f"this {HEADER} was already used with a different request")
    return StoredResponse(
        job_id=row.job_id,
        status_code=int(row.response["status_code"]),
        body=dict(row.response["body"]),
    )


async def remember(
    session: AsyncSession,
    *,
    user_id: str,
    scope: str,
    key: str,
    fingerprint: str,
    job_id: uuid.UUID,
    status_code: int,
    body: dict[str, Any],
    ttl_s: int,
) -> None:
    """Store the answer under the key, in the transaction that created the job (an expired
    row with the same key is replaced). Raises :class:`IdempotencyRace` if a live row exists."""
    now = sa.func.clock_timestamp()
    values = {
        "user_id": user_id,
        "scope": scope,
        "key": key,
        "request_hash": fingerprint,
        "job_id": job_id,
        "response": {"status_code": status_code, "body": body},
        "created_at": now,
        "expires_at": now + timedelta(seconds=ttl_s),
    }
    statement = insert(IdempotencyKey).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=["user_id", "scope", "key"],
        set_={k: statement.excluded[k] for k in values if k not in ("user_id", "scope", "key")},
        where=IdempotencyKey.expires_at <= now,  # type: ignore[arg-type]
    ).returning(IdempotencyKey.key)
    if (await session.execute(statement)).first() is None:
        raise IdempotencyRace(key)
    await purge_expired(session)


async def purge_expired(session: AsyncSession, *, limit: int = PURGE_BATCH) -> int:
    """Delete up to ``limit`` expired keys (skipping rows another transaction holds)."""
    expired = (
        sa.select(IdempotencyKey.user_id, IdempotencyKey.scope, IdempotencyKey.key)
        .where(IdempotencyKey.expires_at <= sa.func.clock_timestamp())
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    result = await session.execute(
        sa.delete(IdempotencyKey).where(
            sa.tuple_(IdempotencyKey.user_id, IdempotencyKey.scope, IdempotencyKey.key).in_(expired)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
