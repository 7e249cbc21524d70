"""Publishing and consuming events with an explicit delivery policy.

Publishing: persistent messages, ``mandatory``, and the call returns only once the broker has
confirmed (an unroutable or nacked message raises :class:`PublishFailed`).

Consuming: a message is acknowledged only after its handler returned, i.e. after the handler
committed its effect. What cannot be parsed is ``reject``-ed (dead-lettered at once). A handler
raising :class:`Reject` dead-letters the message; any other exception requeues it after a short
backoff, and the quorum queue's delivery limit bounds how often that can happen.

Infrastructure outages are not the message's fault: a handler failing with a transient
infrastructure error (:func:`is_transient`: a dropped or refused connection to the database or
the broker, a pool or publish timeout) is re-run IN PLACE with backoff, without returning the
message to the queue, for up to ``outage_window_s`` (default 300 s). A requeue would count
against the delivery limit, so an outage of a few seconds would otherwise dead-letter valid
events. In-place retrying stops as soon as the channel that delivered the message is gone (the
broker has requeued it by then) and once the window is spent (then the normal requeue applies).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from . import metrics, metrics_server
from .events import Envelope, UnparseableEvent, parse_event
from .logging import get_logger, job_context
from .topology import QueueSpec, StreamSpec, declare_queue, declare_stream, declare_topology

log = get_logger(__name__)

HEADER_CORRELATION_ID = "x-correlation-id"
HEADER_JOB_ID = "x-job-id"
HEADER_USER_ID = "x-user-id"


class PublishFailed(RuntimeError):
    """The broker did not confirm the message (nacked, returned as unroutable, or timed out)."""


class Reject(Exception):
    """Raised by a handler: this message can never succeed; dead-letter it now."""


@dataclass(frozen=True)
class Delivery:
    """What a handler may want to know about the delivery it is handling."""

    attempt: int  # 1 for the first delivery
    max_attempts: int
    redelivered: bool

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Handler = Callable[[Envelope[Any], Delivery], Awaitable[None]]


def to_message(envelope: Envelope[Any]) -> aio_pika.Message:
    headers: dict[str, Any] = {HEADER_CORRELATION_ID: envelope.correlationid}
    if envelope.job_id is not None:
        headers[HEADER_JOB_ID] = str(envelope.job_id)
    if envelope.user_id is not None:
        headers[HEADER_USER_ID] = envelope.user_id
    return aio_pika.Message(
        body=envelope.to_json(),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(envelope.id),
        correlation_id=envelope.correlationid,
        type=envelope.type,
        app_id=envelope.source,
        timestamp=envelope.time,
        headers=headers,
    )


def _transient_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = [
        # Not all of OSError: a missing file is a logic error that must count its attempts.
        ConnectionError,  # refused, reset, aborted, broken pipe
        TimeoutError,  # asyncio.TimeoutError is an alias on 3.11
        PublishFailed,
        aiormq.exceptions.AMQPConnectionError,
        aiormq.exceptions.ChannelInvalidStateError,
    ]
    try:  # services with a database (gateway, notifier); the generator has none
        import sqlalchemy.exc as sa_exc

        types += [sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError]
    except ImportError:  # pragma: no cover
        pass
    try:
        import asyncpg

        types += [asyncpg.PostgresConnectionError, asyncpg.InterfaceError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = _transient_error_types()


def is_transient(exc: BaseException) -> bool:
    """An infrastructure failure (connection lost or refused, timeout) rather than a handler
    logic error; looks through ``raise ... from`` chains."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, Reject):
            return False
        if isinstance(current, TRANSIENT_ERRORS):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


DEFAULT_OUTAGE_WINDOW_S = 300.0


def backoff_seconds(attempt: int, *, base: float = 0.5, cap: float = 10.0) -> float:
    """Exponential backoff before requeueing attempt ``attempt`` (1-based)."""
    return min(cap, base * (2 ** max(0, attempt - 1)))


class EventBus:
    """One robust connection per process: a confirming channel for publishing, and one
    channel per consumer (so a consumer's prefetch does not limit another's)."""

    def __init__(self, url: str, *, source: str, publish_timeout: float = 10.0) -> None:
        self.url = url
        self.source = source
        self.publish_timeout = publish_timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._consumers: list[Consumer] = []
        metrics_server.watch_connection(self)  # the metrics port's /readyz

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def connect(self, *, retry_for: float | None = None) -> None:
        """Connect and declare the topology. With ``retry_for``, keep trying that long
        (seconds; ``float('inf')`` forever) while the broker is unreachable — or reachable but
        not ready: right after a restart, a queue or stream whose replica is still recovering
        refuses declarations for a moment (``NOT_FOUND - home node ... is down``)."""
        delay, waited = 0.5, 0.0
        while True:
            connection: AbstractRobustConnection | None = None
            try:
                connection = await aio_pika.connect_robust(self.url, timeout=10)
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                exchange = await declare_topology(channel)
            except (TimeoutError, OSError, aiormq.exceptions.AMQPError) as exc:
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await connection.close()
                if retry_for is None or waited >= retry_for:
                    raise
                log.warning("broker unreachable or not ready, retrying", error=str(exc), in_s=delay)
                await asyncio.sleep(delay)
                waited += delay
                delay = min(delay * 2, 5.0)
            else:
                self._connection, self._channel, self._exchange = connection, channel, exchange
                return

    async def publish(self, envelope: Envelope[Any], *, timeout: float | None = None) -> None:
        if self._exchange is None:
            raise PublishFailed("not connected")
        try:
            confirmation = await self._exchange.publish(
                to_message(envelope),
                routing_key=envelope.type,
                mandatory=True,
                timeout=timeout or self.publish_timeout,
            )
        except aiormq.exceptions.DeliveryError as exc:
            metrics.publish_failed(envelope.type)
            raise PublishFailed(f"{envelope.type} {envelope.id} returned: {exc}") from exc
        except (TimeoutError, aiormq.exceptions.AMQPError, RuntimeError) as exc:
            metrics.publish_failed(envelope.type)
            raise PublishFailed(f"{envelope.type} {envelope.id} not confirmed: {exc!r}") from exc
        if not isinstance(confirmation, aiormq.spec.Basic.Ack):
            metrics.publish_failed(envelope.type)
            raise PublishFailed(f"{envelope.type} {envelope.id} nacked by the broker")
        metrics.published(envelope.type)

    async def consume(
        self,
        spec: QueueSpec,
        handler: Handler,
        *,
        prefetch: int = 10,
        outage_window_s: float = DEFAULT_OUTAGE_WINDOW_S,
    ) -> Consumer:
        if self._connection is None:
            raise RuntimeError("connect() first")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await declare_queue(channel, spec)
        consumer = Consumer(spec, queue, handler, outage_window_s=outage_window_s)
        await consumer.start()
        self._consumers.append(consumer)
        return consumer

    async def subscribe(
        self,
        stream: StreamSpec,
        handler: Callable[[Envelope[Any]], Awaitable[None]],
        *,
        replay_s: float,
    ) -> AbstractQueue:
        """Broadcast: read ``stream`` from ``replay_s`` seconds back, then live. A stream is
        non-destructive, so every replica hears every message, and one that starts late
        still hears what was said before it started (within the stream's retention). The
        robust connection re-subscribes after a reconnect (from the same offset: handlers
        must be idempotent). Messages are signals, not work: an unparseable one or a failing
        handler is logged and acknowledged, never retried."""
        if self._connection is None:
            raise RuntimeError("connect() first")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=100)  # streams require a prefetch
        queue = await declare_stream(channel, stream)
        since = datetime.now(UTC) - timedelta(seconds=replay_s)

        async def on_message(message: AbstractIncomingMessage) -> None:
            try:
                envelope = parse_event(message.body)
            except UnparseableEvent as exc:
                log.error("unparseable broadcast ignored", reason=str(exc), queue=queue.name)
            else:
                try:
                    await handler(envelope)
                except Exception:  # noqa: BLE001 - a signal handler must not kill the consumer
                    log.exception("broadcast handler failed", event_type=envelope.type)
            await _settle(message.ack())

        await queue.consume(on_message, arguments={"x-stream-offset": since})
        return queue

    async def stop_consuming(self) -> None:
        for consumer in self._consumers:
            await consumer.cancel()

    async def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for handlers in flight; True if all finished."""
        results = [await c.drain(timeout) for c in self._consumers]
        return all(results)

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
        self._connection = self._channel = self._exchange = None
        self._consumers.clear()


class Consumer:
    def __init__(
        self,
        spec: QueueSpec,
        queue: AbstractQueue,
        handler: Handler,
        *,
        outage_window_s: float = DEFAULT_OUTAGE_WINDOW_S,
    ) -> None:
        self.spec = spec
        self.queue = queue
        self.handler = handler
        self.outage_window_s = outage_window_s
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
            await handle_delivery(
                message, self.handler, self.spec, outage_window_s=self.outage_window_s
            )
        finally:
            if task is not None:
                self._in_flight.discard(task)


def _channel_open(message: AbstractIncomingMessage) -> bool:
    try:
        return not message.channel.is_closed
    except Exception:  # noqa: BLE001 - aio_pika raises once the channel is gone
        return False


async def _run_riding_out_outages(
    handler: Handler,
    envelope: Envelope[Any],
    delivery: Delivery,
    message: AbstractIncomingMessage,
    spec: QueueSpec,
    outage_window_s: float,
) -> None:
    """Run the handler; re-run it in place while it fails with a transient infrastructure
    error, the delivering channel is still open, and the outage window is not spent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + outage_window_s
    retry = 0
    while True:
        try:
            await handler(envelope, delivery)
            return
        except Exception as exc:
            if not is_transient(exc):
                raise
            retry += 1
            metrics.retried_in_place(spec.name)
            delay = backoff_seconds(retry, base=0.2, cap=5.0)
            if loop.time() + delay > deadline or not _channel_open(message):
                raise
            log.warning(
                "infrastructure unavailable; retrying in place",
                queue=spec.name,
                retry=retry,
                in_s=delay,
                error=repr(exc)[:500],
            )
            failure = exc
        await asyncio.sleep(delay)
        if not _channel_open(message):
            raise failure


async def handle_delivery(
    message: AbstractIncomingMessage,
    handler: Handler,
    spec: QueueSpec,
    *,
    outage_window_s: float = DEFAULT_OUTAGE_WINDOW_S,
) -> None:
    """The ack policy, in one place."""
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
        await _settle(message.reject(requeue=False))
        return
    with job_context(
        job_id=envelope.job_id,
        user_id=envelope.user_id,
        correlation_id=envelope.correlationid,
        event_id=str(envelope.id),
        event_type=envelope.type,
    ):
        try:
            await _run_riding_out_outages(
                handler, envelope, delivery, message, spec, outage_window_s
            )
        except Reject as exc:
            log.error("message dead-lettered by handler", queue=spec.name, reason=str(exc))
            metrics.dead_lettered(spec.name, "rejected")
            await _settle(message.reject(requeue=False))
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
            await _settle(message.nack(requeue=True))
        else:
            metrics.settled(spec.name, "acked")
            await _settle(message.ack())


async def _settle(action: Awaitable[None]) -> None:
    # After a connection loss the delivery tag is stale; the broker redelivers the message
    # (consumers are idempotent), so there is nothing more to do than say so.
    try:
        await action
    except Exception as exc:  # noqa: BLE001
        log.warning("could not settle delivery; it will be redelivered", error=repr(exc))
