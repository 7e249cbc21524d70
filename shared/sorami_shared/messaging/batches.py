"""Consuming in batches: the deliveries waiting in the channel's prefetch are handed to ONE
call of a batch handler, which applies them in one transaction; they are acknowledged together
after it returns (after its commit), one ``ack(multiple=True)`` per channel.

A batch handler answers the items it did not apply (``deferred``): those go, in order, through
the one-at-a-time :class:`~.consumer.Consumer` policy (a per-event transaction, ``Reject`` to
the dead-letter queue, requeue with back-off on failure). If the batch handler raises, every
item of the batch takes that path, so one poison event never holds the others back. A
transient error (the database or broker is away) is ridden out in place first, as long as the
delivering channel is open and the outage window lasts.

Under load a batch is whatever arrived while the previous one was being applied (up to
``max_batch``): no timer, so a lone event is applied at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aio_pika.abc import AbstractIncomingMessage

from .. import metrics
from ..events import Envelope, UnparseableEvent, parse_event
from ..logging import get_logger
from .consumer import Consumer, settle
from .policy import Delivery, backoff_seconds

log = get_logger(__name__)


@dataclass(frozen=True)
class Item:
    envelope: Envelope[Any]
    delivery: Delivery
    message: AbstractIncomingMessage


BatchHandler = Callable[[list[Item]], Awaitable[list[Item]]]  # returns the deferred items


def log_each(items: list[Item], event: str, **fields: Any) -> None:
    """One log line per item, with its job's identifiers bound (as the one-at-a-time path
    writes them), after a batch committed."""
    for item in items:  # the identifiers as the line's own keys: no contextvars to set
        env = item.envelope
        ids = {"job_id": env.job_id, "user_id": env.user_id}
        log.info(
            event,
            **{k: str(v) for k, v in ids.items() if v is not None},
            correlation_id=env.correlationid,
            event_id=str(env.id),
            event_type=env.type,
            attempt=item.delivery.attempt,
            **fields,
        )


def delivery_of(message: AbstractIncomingMessage, max_attempts: int) -> Delivery:
    previous = int((message.headers or {}).get("x-delivery-count", 0) or 0)
    return Delivery(
        attempt=previous + 1,
        max_attempts=max_attempts,
        redelivered=bool(message.redelivered) or previous > 0,
    )


class BatchConsumer:
    """Feeds ``handler`` from ``single``'s queue; ``single`` is the per-event fallback."""

    def __init__(self, single: Consumer, handler: BatchHandler, *, max_batch: int) -> None:
        self.single = single
        self.handler = handler
        self.max_batch = max_batch
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._tag: str | None = None
        self._worker: asyncio.Task[None] | None = None
        self._busy = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    async def start(self) -> None:
        self._worker = asyncio.create_task(self._run(), name=f"batches-{self.single.spec.name}")
        self._tag = await self.single.queue.consume(self._inbox.put)

    async def cancel(self) -> None:
        if self._tag is not None:
            with contextlib.suppress(Exception):
                await self.single.queue.cancel(self._tag)
            self._tag = None

    async def drain(self, timeout: float) -> bool:
        """Wait for the batch in flight; what is still in the inbox is left unacknowledged
        (the broker redelivers it once the channel closes)."""
        if self._worker is None:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            drained = True
        except TimeoutError:
            drained = False
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        return drained

    async def _run(self) -> None:
        while True:
            messages = [await self._inbox.get()]
            while len(messages) < self.max_batch and not self._inbox.empty():
                messages.append(self._inbox.get_nowait())
            self._busy.set()
            self._idle.clear()
            try:
                await self._process(messages)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the worker must outlive any one batch
                log.exception("batch consumer failed; messages left for redelivery")
            finally:
                self._busy.clear()
                self._idle.set()

    async def _process(self, messages: list[AbstractIncomingMessage]) -> None:
        spec = self.single.spec
        items: list[Item] = []
        for message in messages:
            try:
                envelope = parse_event(message.body)
            except UnparseableEvent:
                await self.single.handle(message)  # dead-letters it, as one at a time would
                continue
            items.append(Item(envelope, delivery_of(message, spec.delivery_limit + 1), message))
        if not items:
            return
        try:
            deferred = await self._apply(items)
        except Exception as exc:  # noqa: BLE001 - each item then takes the one-at-a-time path
            log.warning("batch failed; applying its events one at a time", error=repr(exc)[:500])
            deferred = items
        waiting = {id(i) for i in deferred}
        done = [i for i in items if id(i) not in waiting]
        for item in deferred:  # settled one by one, before the multiple ack below covers them
            await self.single.handle(item.message)
        await ack_together([i.message for i in done])
        for _ in done:
            metrics.settled(spec.name, "acked")

    async def _apply(self, items: list[Item]) -> list[Item]:
        """The handler, re-run in place while it fails transiently (see the module doc)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.single.outage_window_s
        retry = 0
        while True:
            try:
                return await self.handler(items)
            except Exception as exc:
                if not self.single.is_transient(exc):
                    raise
                retry += 1
                metrics.retried_in_place(self.single.spec.name)
                delay = backoff_seconds(retry, base=0.2, cap=5.0)
                if loop.time() + delay > deadline or not all(_open(i.message) for i in items):
                    raise
                log.warning(
                    "infrastructure unavailable; retrying the batch in place",
                    retry=retry,
                    in_s=delay,
                    error=repr(exc)[:500],
                )
            await asyncio.sleep(delay)


def _open(message: AbstractIncomingMessage) -> bool:
    try:
        return not message.channel.is_closed
    except Exception:  # noqa: BLE001 - aio_pika raises once the channel is gone
        return False


async def ack_together(messages: list[AbstractIncomingMessage]) -> None:
    """Acknowledge ``messages``: one ``multiple`` ack per channel, on its highest tag. Only
    when every delivery below that tag on the channel is among them or already settled: the
    channel's one consumer takes its deliveries in order and settles each batch whole."""
    by_channel: dict[int, list[AbstractIncomingMessage]] = {}
    for m in messages:
        by_channel.setdefault(id(m.channel), []).append(m)
    for group in by_channel.values():
        last = max(group, key=lambda m: m.delivery_tag or 0)
        await settle(last.ack(multiple=True))
