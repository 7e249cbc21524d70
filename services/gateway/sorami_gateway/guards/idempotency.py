"""``Idempotency-Key`` on creates: a client that retries a POST (the openai SDK does, on 5xx
and timeouts) gets the job it already created instead of a second one.

- same key + same request (same user, same route ``scope``) → the stored answer, again;
- same key + a different request → :class:`IdempotencyKeyReused` (409);
- a key answers for ``idempotency_key_ttl_s``; an expired key is ignored and may be reused,
  and expired rows are purged a batch at a time as new keys are stored.

Keys are per user and per scope (e.g. ``"POST /api/images/generate"``): two users, or two
routes, never share one. The lookup, the answer stored beside the job (``idempotency_keys``,
primary key ``(user_id, scope, key)``; an expired row with the same key is replaced) and the
purge of expired keys, a batch at a time as new keys are stored, are part of the create's one
statement (``sorami_admit_generation``, migration 0006, run by
:func:`sorami_gateway.generations.admission.admit`). Of two transactions racing with one key,
one commits and the other's insert finds the row: it rolls back (:class:`IdempotencyRace`).
The request is fingerprinted only when a key is sent.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import Header
from pydantic import BaseModel

HEADER = "Idempotency-Key"


class IdempotencyKeyReused(Exception):
    """The key was already used with a different request (409)."""


class IdempotencyRace(Exception):
    """Another transaction stored this key first (nothing was written): retry."""


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
