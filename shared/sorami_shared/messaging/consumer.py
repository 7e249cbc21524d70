"""Consuming: the ack policy applied to one delivery, and the consumer that feeds it.

In-place retrying of transient failures (see :mod:`.policy`) stops as soon as the channel
that delivered the message is gone (the broker has requeued it by then) and once the outage
window is spent (then the normal, counted requeue applies).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from .. import metrics
from ..events import Envelope, UnparseableEvent, parse_event
from ..logging import get_logger, job_context
from ..topology import QueueSpec
from . import policy
from .policy import Delivery, Handler, Reject, backoff_seconds
from .publisher import HEADER_CORRELATION_ID

log = get_logger(__name__)


class Consumer:
    def __init__(
        self,
        spec: QueueSpec,
        queue: AbstractQueue,
        handler: Handler,
        *,
        outage_window_s: float = policy.DEFAULT_OUTAGE_WINDOW_S,
        is_transient: policy.TransientClassifier = policy.is_transient,
    ) -> None:
        self.spec = spec
        self.queue = queue
        self.handler = handler
        self.outage_window_s = outage_window_s
        self.is_transient = is_transient
        self._tag: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._tag = await self.queue.consume(self._on_message)

    async def cancel(self) -> None:
        if self._tag is not None:
            with contextlib.suppress(Exception):
                await self.queue.cancel(self._tag)
            self._tag = None

    async def drain(self, timeout: float) -> bool:
        pending = {t for t in self._in_flight if not t.done()}
        if not pending:
            return True
        _, still = await asyncio.wait(pending, timeout=timeout)
        return not still

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            await self.handle(message)
        finally:
            if task is not None:
                self._in_flight.discard(task)

    async def handle(self, message: AbstractIncomingMessage) -> None:
        """The ack policy, in one place."""
        spec = self.spec
        previous = int((message.headers or {}).get("x-delivery-count", 0) or 0)
        delivery = Delivery(
            attempt=previous + 1,
            max_attempts=spec.delivery_limit + 1,
            redelivered=bool(message.redelivered) or previous > 0,
        )
        try:
            envelope = parse_event(message.body)
        except UnparseableEvent as exc:
            log.error(
                "unparseable message dead-lettered",
                queue=spec.name,
                reason=str(exc),
                message_id=message.message_id,
                correlation_id=(message.headers or {}).get(HEADER_CORRELATION_ID),
            )
            metrics.dead_lettered(spec.name, "unparseable")
            await settle(message.reject(requeue=False))
            return
        with job_context(
            job_id=envelope.job_id,
            user_id=envelope.user_id,
            correlation_id=envelope.correlationid,
            event_id=str(envelope.id),
            event_type=envelope.type,
        ):
            try:
                await self._run_riding_out_outages(envelope, delivery, message)
            except Reject as exc:
                log.error("message dead-lettered by handler", queue=spec.name, reason=str(exc))
                metrics.dead_lettered(spec.name, "rejected")
                await settle(message.reject(requeue=False))
            except asyncio.CancelledError:
                # Shutting down mid-handler: leave it unacknowledged; the broker redelivers it.
                raise
            except Exception as exc:
                log.exception(
                    "handler failed, requeueing",
                    queue=spec.name,
                    attempt=delivery.attempt,
                    max_attempts=delivery.max_attempts,
                    error=str(exc),
                )
                metrics.settled(spec.name, "requeued")
                await asyncio.sleep(backoff_seconds(delivery.attempt))
                await settle(message.nack(requeue=True))
            else:
                metrics.settled(spec.name, "acked")
                await settle(message.ack())

    async def _run_riding_out_outages(
        self, envelope: Envelope[Any], delivery: Delivery, message: AbstractIncomingMessage
    ) -> None:
        """Run the handler; re-run it in place while it fails with a transient infrastructure
        error, the delivering channel is still open, and the outage window is not spent."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.outage_window_s
        retry = 0
        while True:
            try:
                await self.handler(envelope, delivery)
                return
            except Exception as exc:
                if not self.is_transient(exc):
                    raise
                retry += 1
                metrics.retried_in_place(self.spec.name)
                delay = backoff_seconds(retry, base=0.2, cap=5.0)
                if loop.time() + delay > deadline or not _channel_open(message):
                    raise
                log.warning(
                    "infrastructure unavailable; retrying in place",
                    queue=self.spec.name,
                    retry=retry,
                    in_s=delay,
                    error=repr(exc)[:500],
                )
                failure = exc
            await asyncio.sleep(delay)
            if not _channel_open(message):
                raise failure


def _channel_open(message: AbstractIncomingMessage) -> bool:
    try:
        return not message.channel.is_closed
    except Exception:  # noqa: BLE001 - aio_pika raises once the channel is gone
        return False


async def settle(action: Awaitable[None]) -> None:
    """Ack, nack or reject. After a connection loss the delivery tag is stale; the broker
    redelivers the message (consumers are idempotent), so there is nothing more to do than
    say so."""
    try:
        await action
    except Exception as exc:  # noqa: BLE001
        log.warning("could not settle delivery; it will be redelivered", error=repr(exc))
