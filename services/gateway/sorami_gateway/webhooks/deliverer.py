"""The deliverer (``sorami-gateway webhooks``): works off the webhook delivery outbox.

- Due deliveries are claimed with ``FOR UPDATE SKIP LOCKED`` and leased (``next_attempt_at``
  pushed ``lease_s`` ahead, ``attempts`` + 1) in one short transaction, then sent with no row
  lock held; several deliverers never send the same attempt. A deliverer killed mid-attempt
  leaves the lease to expire: the delivery is sent again, with the same ``webhook-id``.
- The outcome is recorded only if the lease is still ours (``attempts`` unchanged).
- One job's events reach one target in their order (started, progress by step, the outcome):
  a delivery is due only once no earlier one of the same job and target is pending
  (:func:`in_order`), so a retried or slower ``started`` is never overtaken by its progress.
- Any 2xx: succeeded. 410: the endpoint is disabled (no more deliveries to it). A refusal by
  the SSRF guard or a redirect to another host: failed at once. Anything else: retried with
  exponential backoff and full jitter until ``retry_horizon_s`` after the event, then failed.
- The loop around :meth:`Deliverer.deliver_due` is the gateway's one worker loop
  (:mod:`sorami_gateway.workers.webhooks`): woken by ``NOTIFY`` when a delivery commits, else
  it waits until the next retry is due (:meth:`Deliverer.until_due`), the poll at most.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import sqlalchemy as sa
import sqlalchemy.orm
from sorami_shared.logging import get_logger, job_context
from sqlalchemy.ext.asyncio import AsyncSession

from ..infra.db import SessionFactory
from ..webhook_settings import WebhookSettings
from . import metrics
from .addresses import AddressPolicy, Resolver, SystemResolver
from .secrets import body_of, signed_headers
from .sender import Attempt, Sender
from .signing_keys import keys_for
from .tables import (
    DISABLED,
    FAILED,
    PENDING,
    SUCCEEDED,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from .urls import redacted

log = get_logger(__name__)

# The body of one delivery: ``{type, timestamp, data}``, built at the time of the attempt (the
# generations feature's :func:`sorami_gateway.generations.webhook_payload.build`).
PayloadBuilder = Callable[[AsyncSession, WebhookDelivery], Awaitable[dict[str, Any]]]


class Deliverer:
    def __init__(
        self,
        settings: WebhookSettings,
        policy: AddressPolicy,
        sessions: SessionFactory,
        payload: PayloadBuilder,
        *,
        resolver: Resolver | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.payload = payload
        self.sender = Sender(settings, policy, resolver or SystemResolver())

    async def aclose(self) -> None:
        await self.sender.aclose()

    def backoff_s(self, attempts: int) -> float:
        """Full jitter over an exponential ceiling (base, 2 base, 4 base... up to the max)."""
        s = self.settings
        ceiling = min(s.backoff_max_s, s.backoff_base_s * 2 ** max(0, attempts - 1))
        return random.uniform(ceiling / 2, ceiling)

    async def _claim(self) -> list[WebhookDelivery]:
        async with self.sessions() as session, session.begin():
            due = (
                sa.select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.status == PENDING,
                    WebhookDelivery.next_attempt_at <= sa.func.now(),
                    in_order(),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(self.settings.concurrency)
                .with_for_update(skip_locked=True)
            )
            return list(
                (
                    await session.execute(
                        sa.update(WebhookDelivery)
                        .where(WebhookDelivery.id.in_(due.scalar_subquery()))  # type: ignore[union-attr]
                        .values(
                            attempts=WebhookDelivery.attempts + 1,
                            next_attempt_at=sa.func.now()
                            + timedelta(seconds=self.settings.lease_s),
                        )
                        .returning(WebhookDelivery)
                    )
                ).scalars()
            )

    async def deliver_due(self) -> int:
        """One pass: claim what is due and send it all concurrently; returns how many."""
        claimed = await self._claim()
        outcomes = await asyncio.gather(
            *(self._deliver(d) for d in claimed), return_exceptions=True
        )
        for delivery, outcome in zip(claimed, outcomes, strict=True):
            if isinstance(outcome, Exception):  # its lease expires; it is tried again then
                with job_context(job_id=delivery.job_id, user_id=delivery.user_id):
                    log.error(
                        "webhook attempt crashed",
                        webhook_id=delivery.webhook_id,
                        error=repr(outcome),
                    )
        return len(claimed)

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        with job_context(job_id=delivery.job_id, user_id=delivery.user_id):
            async with self.sessions() as session, session.begin():
                keys = await keys_for(session, delivery)
                body = body_of(await self.payload(session, delivery))
            started = datetime.now(UTC)
            if keys is None:  # its endpoint was deleted or disabled since
                result = Attempt(None, 0, "endpoint deleted or disabled")
            else:
                headers = signed_headers(keys, delivery.webhook_id, started, body)
                result = await self.sender.post(delivery.url, body, headers)
            await self._record(delivery, started, result, gone=keys is None)

    async def _record(
        self, delivery: WebhookDelivery, started: datetime, result: Attempt, *, gone: bool
    ) -> None:
        values: dict[str, object] = {
            "last_status_code": result.status_code,
            "last_error": result.error,
            "last_duration_ms": result.duration_ms,
        }
        retry_in = self.backoff_s(delivery.attempts)
        horizon = delivery.retry_from + timedelta(seconds=self.settings.retry_horizon_s)  # type: ignore[operator]
        if result.ok:
            status = SUCCEEDED
        elif gone or result.status_code == 410:
            status = DISABLED
        elif result.refused or datetime.now(UTC) + timedelta(seconds=retry_in) > horizon:
            status = FAILED
        else:
            status = PENDING
            values["next_attempt_at"] = sa.func.now() + timedelta(seconds=retry_in)
        if status != PENDING:
            values.update(status=status, next_attempt_at=None, finished_at=sa.func.now())
        async with self.sessions() as session, session.begin():
            recorded = (
                await session.execute(
                    sa.update(WebhookDelivery)
                    .where(
                        WebhookDelivery.id == delivery.id,
                        WebhookDelivery.attempts == delivery.attempts,
                        WebhookDelivery.status == PENDING,
                    )
                    .values(**values)
                )
            ).rowcount
            if recorded and not gone:
                await _attempt_row(session, delivery, started, result)
            if recorded and result.status_code == 410 and delivery.endpoint_id is not None:
                await _disable_endpoint(session, delivery.endpoint_id)
        if recorded:
            metrics.attempt_recorded(status, result.duration_ms)
        self._log(delivery, result, status, retry_in)

    def _log(
        self, delivery: WebhookDelivery, result: Attempt, status: str, retry_in: float
    ) -> None:
        fields = {
            "webhook_id": delivery.webhook_id,
            "webhook_event": delivery.event,
            "url": redacted(delivery.url),
            "attempt": delivery.attempts,
            "status_code": result.status_code,
            "duration_ms": result.duration_ms,
            "outcome": status,
        }
        if status == SUCCEEDED:
            log.info("webhook delivered", **fields)
        elif status == PENDING:
            log.warning(
                "webhook attempt failed; will retry",
                error=result.error,
                in_s=round(retry_in, 1),
                **fields,
            )
        else:
            log.warning("webhook delivery ended", error=result.error, **fields)

    async def until_due(self) -> float:
        """Seconds until the next retry is due (the poll interval at most)."""
        poll = self.settings.poll_interval_s
        try:
            async with self.sessions() as session:
                due = (
                    await session.execute(
                        sa.select(
                            sa.func.extract(
                                "epoch",
                                sa.func.min(WebhookDelivery.next_attempt_at) - sa.func.now(),
                            )
                        ).where(WebhookDelivery.status == PENDING, in_order())
                    )
                ).scalar()
        except (OSError, sa.exc.DBAPIError, asyncpg.PostgresError):
            return poll
        return poll if due is None else min(poll, max(0.02, float(due)))


def _position(row: Any) -> tuple[Any, ...]:
    """Where a delivery stands among its job's events: started, then progress by step (or
    percent), then the outcome; the time it was queued breaks a tie."""
    rank = sa.case((row.event == "started", 0), (row.event == "progress", 1), else_=2)
    step = sa.func.coalesce(
        row.snapshot["step"].as_integer(), row.snapshot["progress"].as_integer(), 0
    )
    return rank, step, row.created_at, row.id


def in_order() -> Any:
    """No earlier delivery of the same job to the same target is still pending (in flight,
    waiting for its retry, or not yet sent)."""
    earlier = sa.orm.aliased(WebhookDelivery)
    mine, theirs = _position(WebhookDelivery), _position(earlier)
    return ~sa.exists().where(
        earlier.job_id == WebhookDelivery.job_id,
        earlier.target == WebhookDelivery.target,
        earlier.status == PENDING,
        sa.tuple_(*theirs) < sa.tuple_(*mine),
    )


async def _attempt_row(
    session: AsyncSession, delivery: WebhookDelivery, started: datetime, result: Attempt
) -> None:
    await session.execute(
        sa.insert(WebhookAttempt).values(
            delivery_id=delivery.id,
            attempt=delivery.attempts,
            started_at=started,
            duration_ms=result.duration_ms,
            status_code=result.status_code,
            error=result.error,
        )
    )


async def _disable_endpoint(session: AsyncSession, endpoint_id: uuid.UUID) -> None:
    await session.execute(
        sa.update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.disabled_at.is_(None))
        .values(disabled_at=sa.func.now())
    )
