"""The projector: generator and notifier events into the gateway's tables.

One dispatch table, :data:`HANDLERS`, from event type to a small handler in the feature that
owns the effect (:mod:`sorami_gateway.generations.projection`,
:mod:`sorami_gateway.notifications.projection`). Each event's effect and its
``processed_events`` record commit in ONE transaction, so a redelivered event is recognised
and changes nothing. A type without a handler is dead-lettered (:class:`Reject`).

Database unreachable (connection refused, dropped, pool timeout): the handler retries the
transaction itself, with back-off, for up to ``db_outage_s``, instead of letting the message be
requeued: a requeue counts against the queue's delivery limit, and a database restart must not
dead-letter a ``completed``. Any other error propagates: the shared consumer requeues it with
back-off, and the delivery limit bounds how often.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sorami_shared.events import Envelope
from sorami_shared.logging import get_logger
from sorami_shared.messaging import Delivery, EventBus, Item, Reject, log_each
from sorami_shared.topology import GATEWAY_PROJECTION
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from ..generations import projection as generations
from ..infra.db import SessionFactory, driver_connection
from ..notifications import projection as notifications
from ..outbox.processed import record_processed
from .loop import Backoff, until_stopped
from .projector_batch import apply_batch

log = get_logger(__name__)

CONSUMER = GATEWAY_PROJECTION.name
TRANSIENT_DB_ERRORS = (OSError, OperationalError, InterfaceError, PoolTimeout)

Handler = Callable[[AsyncSession, Envelope[Any]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {**generations.HANDLERS, **notifications.HANDLERS}


async def project(session: AsyncSession, envelope: Envelope[Any]) -> None:
    """Apply one event inside the caller's transaction; what the user may watch goes to the
    event log in the same transaction."""
    handler = HANDLERS.get(envelope.type)
    if handler is None:
        raise Reject(f"the gateway projection does not handle {envelope.type}")
    await handler(session, envelope)


class Projector:
    """``handle``: one event in its own transaction (the ORM path). ``handle_batch``: many in
    one transaction on the driver (projector_batch.py), deferring to ``handle`` what only the
    one-at-a-time path does."""

    def __init__(
        self,
        sessions: SessionFactory,
        *,
        db_outage_s: float = 300.0,
        engine: AsyncEngine | None = None,
        prefetch: int = 200,
        max_batch: int = 100,
    ) -> None:
        self.sessions = sessions
        self.db_outage_s = db_outage_s
        self.engine = engine
        self.prefetch, self.max_batch = prefetch, max_batch

    async def handle_batch(self, items: list[Item]) -> list[Item]:
        assert self.engine is not None
        async with driver_connection(self.engine) as conn, conn.transaction():
            outcome = await apply_batch(conn, CONSUMER, items)
        outcome.record_metrics()
        waiting = {id(i) for i in outcome.deferred}
        log_each([i for i in items if id(i) not in waiting], "event projected", batch=len(items))
        return outcome.deferred

    async def handle(self, envelope: Envelope[Any], delivery: Delivery) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.db_outage_s
        backoff = Backoff(0.2, 5.0)
        delay = backoff.next()
        while True:
            try:
                await self._apply(envelope, delivery)
                return
            except TRANSIENT_DB_ERRORS as exc:
                if loop.time() + delay > deadline:
                    raise
                log.warning("database unavailable; retrying", error=repr(exc), in_s=delay)
                await asyncio.sleep(delay)
                delay = backoff.next()

    async def _apply(self, envelope: Envelope[Any], delivery: Delivery) -> None:
        async with self.sessions() as session, session.begin():
            if not await record_processed(session, CONSUMER, envelope):
                log.info("duplicate event ignored", attempt=delivery.attempt)
                return
            await project(session, envelope)
        log.info("event projected", attempt=delivery.attempt)


async def serve(projector: Projector, bus: EventBus, stop: asyncio.Event) -> None:
    """Consume the projection queue until ``stop``, then drain what is in flight."""
    if not await until_stopped(bus.connect(retry_for=float("inf")), stop):
        return
    if projector.engine is None:
        await bus.consume(GATEWAY_PROJECTION, projector.handle)
    else:
        await bus.consume_batches(
            GATEWAY_PROJECTION,
            projector.handle_batch,
            projector.handle,
            prefetch=projector.prefetch,
            max_batch=projector.max_batch,
        )
    log.info("projector running", queue=GATEWAY_PROJECTION.name)
    await stop.wait()
    log.info("projector stopping")
    await bus.stop_consuming()
    await bus.drain(timeout=10)
