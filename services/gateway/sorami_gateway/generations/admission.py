"""Admitting a generation: the one function every create goes through (``POST
/api/{kind}/generate``, ``POST /v1/images/generations``, ``POST /v1/videos``), so none of them
can bypass the limits.

In one transaction, under the user's quota row lock (which serializes one user's creates on
every replica, so a retry racing its first attempt waits for it and then finds its job):

1. with an ``Idempotency-Key``: the answer stored for the same key and request, again (409
   :class:`~sorami_gateway.guards.idempotency.IdempotencyKeyReused` for another request);
2. without one, on an SDK retry (the official openai SDK retries a POST without a key but says
   ``x-stainless-retry-count``): the job the first attempt stored, if any; a first attempt
   always creates, so two deliberate identical requests are two jobs;
3. the per-user limits (429 :class:`~sorami_gateway.guards.limits.LimitExceeded`);
4. the create, and the key's answer stored beside it.

The decisions are here; the reads and writes are behind :class:`AdmissionStore` (the SQL one is
:class:`~sorami_gateway.generations.admission_store.SqlAdmissionStore`). The caller commits
when ``replayed`` is False (nothing to commit otherwise).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sorami_shared.events import Kind
from sorami_shared.logging import get_logger

from ..guards.idempotency import StoredResponse, request_fingerprint
from ..guards.limits import UserQuota, cap_refusal, rate_refusal, window_after_create
from ..settings import GatewaySettings
from .requests import GenerateRequestBase

log = get_logger(__name__)


@dataclass(frozen=True)
class Ask:
    """A request to create a generation, as a route received it."""

    user_id: str
    kind: Kind
    request: GenerateRequestBase
    correlation_id: str
    scope: str  # the route, e.g. "POST /api/images/generate": keys are per user and scope
    idempotency_key: str | None = None
    sdk_retry: bool = False  # a retried POST without a key: answer the first attempt's job


@dataclass(frozen=True)
class Admitted:
    job_id: uuid.UUID
    status_code: int
    body: dict[str, Any]
    replayed: bool  # True: a retry; the stored answer, nothing created


def accepted_body(job_id: uuid.UUID) -> dict[str, Any]:
    return {"job_id": str(job_id), "status": "PENDING"}


class AdmissionStore(Protocol):
    async def lock_quota(self, user_id: str) -> UserQuota: ...
    async def stored_answer(self, ask: Ask, fingerprint: str) -> StoredResponse | None: ...
    async def earlier_attempt(self, ask: Ask) -> uuid.UUID | None: ...
    async def count_unfinished(self, user_id: str) -> int: ...
    async def record_create(self, user_id: str, window: list[datetime]) -> None: ...
    async def create(self, ask: Ask) -> uuid.UUID: ...
    async def remember(self, ask: Ask, fingerprint: str, admitted: Admitted) -> None: ...


async def admit(store: AdmissionStore, settings: GatewaySettings, ask: Ask) -> Admitted:
    """Create the generation ``ask`` describes, or answer the one a retry of it created."""
    fingerprint = request_fingerprint(ask.scope, ask.request)
    quota = await store.lock_quota(ask.user_id)
    if ask.idempotency_key is not None:
        stored = await store.stored_answer(ask, fingerprint)
        if stored is not None:
            return Admitted(stored.job_id, stored.status_code, stored.body, replayed=True)
    elif ask.sdk_retry:
        job_id = await store.earlier_attempt(ask)
        if job_id is not None:
            log.info("SDK retry answered with the job it created", job_id=str(job_id))
            return Admitted(job_id, 200, {"job_id": str(job_id)}, replayed=True)
    refusal = rate_refusal(quota, settings)
    if refusal is None and settings.max_unfinished_jobs:
        refusal = cap_refusal(await store.count_unfinished(ask.user_id), settings)
    if refusal is not None:
        raise refusal
    await store.record_create(ask.user_id, window_after_create(quota, settings))
    job_id = await store.create(ask)
    admitted = Admitted(job_id, 202, accepted_body(job_id), replayed=False)
    if ask.idempotency_key is not None:
        await store.remember(ask, fingerprint, admitted)
    return admitted
