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

A ``generation.progress`` of several jobs (version 2, one per generator batch step) is applied
as its entries (:func:`~sorami_shared.events.progress_events`), each recorded as processed
under its own derived id: on the batch path, if one entry is deferred so is the whole message,
and the one-at-a-time path then skips the entries already applied.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sorami_shared.events import Envelope, GenerationProgressBatch, progress_events
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
    if isinstance(envelope.data, GenerationProgressBatch):
        return await _project_entries(session, envelope)
    handler = HANDLERS.get(envelope.type)
    if handler is None:
        raise Reject(f"the gateway projection does not handle {envelope.type}")
    await handler(session, envelope)


async def _project_entries(session: AsyncSession, envelope: Envelope[Any]) -> None:
    """Each job's entry as its own progress event; one for a job this gateway does not know
    is logged and skipped (progress is best effort; the others of the message still count)."""
    for entry in progress_events(envelope):
        if not await record_processed(session, CONSUMER, entry):
            continue
        try:  # raised before any write (generations/projection.py)
            await project(session, entry)
        except Reject as exc:
            log.warning("progress entry ignored", job_id=str(entry.job_id), reason=str(exc))


def expand(items: list[Item]) -> tuple[list[Item], dict[int, Item]]:
    """Version 2 progress items as one item per entry (same delivery); child -> message."""
    parents: dict[int, Item] = {}
    out: list[Item] = []
    for item in items:
        if not isinstance(item.envelope.data, GenerationProgressBatch):
            out.append(item)
            continue
        for env in progress_events(item.envelope):
            child = Item(env, item.delivery, item.message)
            parents[id(child)] = item
            out.append(child)
    return out, parents


def collapse(deferred: list[Item], parents: dict[int, Item]) -> list[Item]:
    """The messages of the deferred items, once each, in order."""
    out: dict[int, Item] = {}
    for item in deferred:
        parent = parents.get(id(item), item)
        out.setdefault(id(parent), parent)
    return list(out.values())


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
        expanded, parents = expand(items)
        async with driver_connection(self.engine) as conn, conn.transaction():
            outcome = await apply_batch(conn, CONSUMER, expanded)
        outcome.record_metrics()
        deferred = collapse(outcome.deferred, parents)
        waiting = {id(i) for i in deferred}
        done = [i for i in expanded if id(parents.get(id(i), i)) not in waiting]
        log_each(done, "event projected", batch=len(items))
        return deferred

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
