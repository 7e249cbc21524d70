"""The event bus: one robust connection per process (to one broker, or failing over between the
nodes of a cluster: :mod:`.connection`), a confirming channel for publishing, and one channel
per consumer (so a consumer's prefetch does not limit another's)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from .. import metrics_server
from ..events import Envelope, UnparseableEvent, parse_event, prepare_envelopes
from ..logging import get_logger
from ..retrying import retry_until_up
from ..topology import (
    EXCHANGE,
    QueueSpec,
    StreamSpec,
    declare_queue,
    declare_stream,
    declare_topology,
)
from .batches import BatchConsumer, BatchHandler
from .connection import BrokerNodes, connect_failover
from .consumer import Consumer, settle
from .policy import DEFAULT_OUTAGE_WINDOW_S, Handler, TransientClassifier, is_transient
from .publisher import PublishFailed, publish_confirmed, publish_live

log = get_logger(__name__)


class EventBus:
    """``url``: one broker URL, or a cluster's nodes (a comma-separated string or a list).
    ``is_transient`` decides which handler failures are ridden out in place (see
    :mod:`.policy`); a service with a database passes one that knows its driver's errors."""

    def __init__(
        self,
        url: str | Sequence[str],
        *,
        source: str,
        publish_timeout: float = 10.0,
        is_transient: TransientClassifier = is_transient,
    ) -> None:
        self.nodes = BrokerNodes(url)
        self.source = source
        self.publish_timeout = publish_timeout
        self.is_transient = is_transient
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        self._live: AbstractExchange | None = None  # on a channel without confirms
        self._live_opening = asyncio.Lock()
        self._consumers: list[Consumer | BatchConsumer] = []
        metrics_server.watch_connection(self)  # the metrics port's /readyz

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.is_closed

    async def connect(self, *, retry_for: float | None = None) -> None:
        """Connect and declare the topology. With ``retry_for``, keep trying that long
        (seconds; ``float('inf')`` forever) while the broker is unreachable — or reachable but
        not ready: right after a restart, a queue or stream whose replica is still recovering
        refuses declarations for a moment (``NOT_FOUND - home node ... is down``); the next
        attempt starts on another node."""

        async def attempt() -> tuple[AbstractRobustConnection, AbstractChannel, AbstractExchange]:
            connection = await connect_failover(self.nodes, timeout=10)
            try:
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                return connection, channel, await declare_topology(channel)
            except BaseException:
                with contextlib.suppress(Exception):
                    await connection.close()
                self.nodes.advance()
                raise

        self._connection, self._channel, self._exchange = await retry_until_up(
            attempt,
            retry_for=retry_for,
            errors=(TimeoutError, OSError, aiormq.exceptions.AMQPError),
            log=log,
            unreachable="broker unreachable or not ready, retrying",
        )
        prepare_envelopes()  # not on the first message's path

    async def publish(self, envelope: Envelope[Any], *, timeout: float | None = None) -> None:
        if self._exchange is None:
            raise PublishFailed("not connected")
        await publish_confirmed(self._exchange, envelope, timeout=timeout or self.publish_timeout)

    async def publish_live(self, envelope: Envelope[Any]) -> None:
        """Best effort, for what is worthless once late (live previews): transient, not
        ``mandatory``, no confirm awaited (:func:`.publisher.publish_live`), on a channel of
        its own, opened at first use."""
        if self._connection is None:
            raise PublishFailed("not connected")
        async with self._live_opening:  # one channel, however many wait for it
            if self._live is None:
                self._live = await self._open_live()
        await publish_live(self._live, envelope)

    async def _open_live(self) -> AbstractExchange:
        assert self._connection is not None
        try:
            channel = await self._connection.channel(publisher_confirms=False)
        except (aiormq.exceptions.AMQPError, RuntimeError, OSError) as exc:
            raise PublishFailed(f"no channel for live messages: {exc!r}") from exc
        return await channel.get_exchange(EXCHANGE, ensure=False)

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
        consumer = Consumer(
            spec,
            queue,
            handler,
            outage_window_s=outage_window_s,
            is_transient=self.is_transient,
        )
        await consumer.start()
        self._consumers.append(consumer)
        return consumer

    async def consume_batches(
        self,
        spec: QueueSpec,
        handler: BatchHandler,
        single: Handler,
        *,
        prefetch: int = 200,
        max_batch: int = 100,
        outage_window_s: float = DEFAULT_OUTAGE_WINDOW_S,
    ) -> BatchConsumer:
        """Consume ``spec`` in batches (:mod:`.batches`); ``single`` applies one event, for
        what the batch handler defers and when a batch fails."""
        if self._connection is None:
            raise RuntimeError("connect() first")
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await declare_queue(channel, spec)
        one = Consumer(
            spec, queue, single, outage_window_s=outage_window_s, is_transient=self.is_transient
        )
        consumer = BatchConsumer(one, handler, max_batch=max_batch)
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
            await settle(message.ack())

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
        self._connection = self._channel = self._exchange = self._live = None
        self._consumers.clear()
