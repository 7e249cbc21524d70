"""Admitting a generation: the one function every create goes through (``POST
/api/{kind}/generate``, ``POST /v1/images/generations``, ``POST /v1/videos``), so none of them
can bypass the limits.

One statement (:mod:`.create_sql`, the function of migration 0006), one implicit transaction,
under the user's quota row lock (which serializes one user's creates on every replica, so a
retry racing its first attempt waits for it and then finds its job):

1. with an ``Idempotency-Key``: the answer stored for the same key and request, again (409
   :class:`~sorami_gateway.guards.idempotency.IdempotencyKeyReused` for another request);
2. without one, on an SDK retry (the official openai SDK retries a POST without a key but says
   ``x-stainless-retry-count``): the job the first attempt stored, if any; a first attempt
   always creates, so two deliberate identical requests are two jobs;
3. the per-user limits (429 :class:`~sorami_gateway.guards.limits.LimitExceeded`);
4. the create (the generation, its ``generation.requested`` queued for the scheduler, its
   webhook, the first event of the user's log), and the key's answer stored beside it.

The job id is minted here, before anything else, and is the row's id and the event's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sorami_shared.events import GenerationRequested, InputFile, Kind, new_event
from sorami_shared.logging import get_logger
from sqlalchemy.ext.asyncio import AsyncEngine

from ..events import log as user_events
from ..guards.idempotency import (
    HEADER,
    IdempotencyKeyReused,
    IdempotencyRace,
    request_fingerprint,
)
from ..guards.limits import cap_refusal, rate_refusal
from ..infra.db import driver_connection
from ..scheduling.policy import job_cost
from ..scheduling.release import QUEUE_CHANNEL
from ..settings import GatewaySettings
from ..webhooks.outbox import chosen_events
from . import metrics
from .create_sql import KeyRace, admit_statement
from .feed import status_data
from .requests import GenerateRequestBase
from .service import EVENT_SOURCE
from .tables import Status

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
    inputs: list[InputFile] | None = None  # the request's input images, resolved (issue 26)
    lifetime_s: int | None = None  # the results' lifetime (lifetimes.py); None: kept


@dataclass(frozen=True)
class Admitted:
    job_id: uuid.UUID
    status_code: int
    body: dict[str, Any]
    replayed: bool  # True: a retry; the stored answer, nothing created


EXPIRES_AT = (
    "UPDATE generations SET expires_at = created_at + make_interval(secs => $2) WHERE id = $1"
)


def accepted_body(job_id: uuid.UUID) -> dict[str, Any]:
    return {"job_id": str(job_id), "status": "PENDING"}


def statement_arguments(
    settings: GatewaySettings, ask: Ask, job_id: uuid.UUID
) -> tuple[dict[str, Any], str]:
    """What :func:`~.create_sql.admit_statement` binds for ``ask`` (JSON as text), and the
    model the job runs."""
    request, key = ask.request, ask.idempotency_key
    params = request.to_params(ask.inputs)
    event = new_event(
        GenerationRequested(job_id=job_id, user_id=ask.user_id, kind=ask.kind, params=params),
        source=EVENT_SOURCE,
        correlation_id=ask.correlation_id,
    )
    retry_params = None
    if ask.sdk_retry and key is None:
        wanted = params.model_dump(mode="json")
        if getattr(request, "seed", None) is None:
            wanted.pop("seed")  # picked by the gateway: it differs between attempts
        retry_params = json.dumps(wanted)
    first_event = status_data(job_id, ask.kind.value, Status.PENDING.value, 0)
    arguments = {
        "job_id": job_id,
        "user_id": ask.user_id,
        "kind": ask.kind.value,
        "params": params.model_dump_json(),
        "correlation_id": ask.correlation_id,
        "event_id": event.id,
        "event_type": event.type,
        "event_payload": event.model_dump_json(),
        "user_event_type": user_events.STATUS,
        "user_event_data": json.dumps(first_event),
        "rate_limit": settings.rate_limit_generations,
        "rate_window_s": settings.rate_limit_window_s,
        "max_unfinished": settings.max_unfinished_jobs,
        "scope": ask.scope,
        "idempotency_key": key,
        # no key, no fingerprint: hashing the request is only worth it for a key
        "fingerprint": request_fingerprint(ask.scope, request) if key is not None else None,
        "idempotency_ttl_s": settings.idempotency_key_ttl_s,
        "retry_params": retry_params,
        "retry_window_s": settings.openai_retry_window_s,
        "webhook_url": request.webhook_url,
        "webhook_events": chosen_events(request.webhook_events) if request.webhook_url else None,
        "outbox_channel": QUEUE_CHANNEL,  # the job waits in generation_queue: wake the scheduler
        "events_channel": user_events.NOTIFY_CHANNEL,
        "user_lock_seed": user_events.USER_LOCK_SEED,
        "model": params.model,
        "cost": job_cost(
            params.num_images,
            params.num_frames,
            params.num_inference_steps,
            params.width,
            params.height,
        ),
    }
    return arguments, params.model


async def admit(engine: AsyncEngine, settings: GatewaySettings, ask: Ask) -> Admitted:
    """Create the generation ``ask`` describes, or answer the one a retry of it created."""
    job_id = uuid.uuid4()  # first: the row's id, the event's, the answer's
    arguments, model = statement_arguments(settings, ask, job_id)
    try:
        async with driver_connection(engine) as conn:
            if ask.lifetime_s is None:  # one statement, one round trip
                done = await admit_statement(conn, arguments)
            else:  # the expiry in the transaction that creates the row
                async with conn.transaction():
                    done = await admit_statement(conn, arguments)
                    if done.outcome == "created":
                        await conn.execute(EXPIRES_AT, job_id, ask.lifetime_s)
    except KeyRace:
        raise IdempotencyRace(ask.idempotency_key or "") from None
    if done.outcome == "created":
        metrics.job_created(ask.kind.value, model)
        return Admitted(job_id, 202, accepted_body(job_id), replayed=False)
    if done.outcome == "replayed":
        assert done.job_id is not None and done.body is not None
        return Admitted(done.job_id, done.status_code, done.body, replayed=True)
    if done.outcome == "sdk_replay":
        assert done.job_id is not None
        log.info("SDK retry answered with the job it created", job_id=str(done.job_id))
        return Admitted(done.job_id, 200, {"job_id": str(done.job_id)}, replayed=True)
    if done.outcome == "key_reused":
        raise IdempotencyKeyReused(f"this {HEADER} was already used with a different request")
    if done.outcome == "rate":
        raise rate_refusal(settings, done.retry_after_s or 1)
    raise cap_refusal(settings)
