"""The broker topology: one durable topic exchange, and per consumer a durable quorum queue
with a delivery limit that dead-letters into its own queue.

Every service declares the WHOLE topology at start (declarations are idempotent), so that a
``mandatory`` publish is routable even before the consuming service has ever run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

EXCHANGE = "sorami.events"
DEAD_LETTER_EXCHANGE = "sorami.dead-letter"


@dataclass(frozen=True)
class QueueSpec:
    name: str
    routing_keys: tuple[str, ...]
    # Redeliveries before a message is dead-lettered. A delivery lost with its consumer
    # (crash, SIGKILL, connection cut) counts too, so keep room for a few of those.
    delivery_limit: int = 5
    # Also copy every dead letter into ``<name>.dlq.release`` (bound to the same dead-letter
    # key), which the gateway's releaser consumes: a dead-lettered request goes out again at
    # once. The DLQ itself keeps every dead letter for operators (and its depth alert).
    release_dead_letters: bool = False

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dlq"

    @property
    def release_queue(self) -> str:
        return f"{self.dead_letter_queue}.release"

    @property
    def arguments(self) -> dict[str, object]:
        return {
            "x-queue-type": "quorum",
            "x-delivery-limit": self.delivery_limit,
            "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": self.name,
            # at-least-once dead-lettering: a rejected message is not dropped if the DLQ
            # is momentarily unavailable (needs reject-publish overflow).
            "x-dead-letter-strategy": "at-least-once",
            "x-overflow": "reject-publish",
        }


GENERATOR_REQUESTS = QueueSpec(
    "generator.requests", ("generation.requested",), release_dead_letters=True
)


REQUESTED = "generation.requested"


def generator_queue_spec(model: str) -> QueueSpec:
    """A model's own queue of ``generation.requested``: the generators that serve the model
    consume it, the scheduler counts its consumers. Routed by :func:`routing_key`."""
    return QueueSpec(
        f"{GENERATOR_REQUESTS.name}.{model}", (f"{REQUESTED}.{model}",), release_dead_letters=True
    )


def generator_queue(model: str) -> str:
    return generator_queue_spec(model).name


def routing_key(envelope: Any) -> str:
    """An event's routing key: its type; a ``generation.requested`` adds its model (a queue
    per model). ``generator.requests`` (bound to the bare type) is the queue of the single-queue
    release: nothing is routed there any more, generators drain it (docs/scaling.md)."""
    if envelope.type == REQUESTED:
        return f"{REQUESTED}.{envelope.data.params.model}"
    return str(envelope.type)


GATEWAY_PROJECTION = QueueSpec(
    "gateway.projection",
    (
        "generation.progress",
        "generation.completed",
        "generation.failed",
        "generation.cancelled",
        # Bound so that a cancel request is always routable (``mandatory``) even while no
        # generator runs; the projector acknowledges it without effect.
        "generation.cancel_requested",
        "notification.created",
    ),
)
CANCEL_ROUTING_KEY = "generation.cancel_requested"


@dataclass(frozen=True)
class StreamSpec:
    """A RabbitMQ stream: a retained, non-destructive log. Every consumer reads every message
    from the offset it asks for, so a replica that starts late can replay what it missed."""

    name: str
    routing_keys: tuple[str, ...]
    max_age: str = "1h"

    @property
    def arguments(self) -> dict[str, object]:
        return {
            "x-queue-type": "stream",
            "x-max-age": self.max_age,
            # Retention drops whole segments: keep them small so max-age really applies.
            "x-stream-max-segment-size-bytes": 1_000_000,
            "x-max-length-bytes": 100_000_000,
        }


# Cancel signals: every generator replica reads this stream (see ``EventBus.subscribe``), from
# ``max_age`` back at start, so a cancel reaches the replica running the job — and a replica
# that starts after the cancel still knows it before it picks the job up.
GENERATOR_CANCELS = StreamSpec("generator.cancels", (CANCEL_ROUTING_KEY,))
NOTIFIER_OUTCOMES = QueueSpec("notifier.outcomes", ("generation.completed", "generation.failed"))

ALL_QUEUES: tuple[QueueSpec, ...] = (GENERATOR_REQUESTS, GATEWAY_PROJECTION, NOTIFIER_OUTCOMES)


async def declare_exchange(channel: AbstractChannel) -> AbstractExchange:
    return await channel.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_queue(channel: AbstractChannel, spec: QueueSpec) -> AbstractQueue:
    exchange = await declare_exchange(channel)
    dlx = await channel.declare_exchange(
        DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
    )
    dlq = await channel.declare_queue(
        spec.dead_letter_queue, durable=True, arguments={"x-queue-type": "quorum"}
    )
    await dlq.bind(dlx, routing_key=spec.name)
    if spec.release_dead_letters:
        copy = await channel.declare_queue(
            spec.release_queue, durable=True, arguments={"x-queue-type": "quorum"}
        )
        await copy.bind(dlx, routing_key=spec.name)
    queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
    for key in spec.routing_keys:
        await queue.bind(exchange, routing_key=key)
    return queue


async def declare_stream(channel: AbstractChannel, spec: StreamSpec) -> AbstractQueue:
    exchange = await declare_exchange(channel)
    stream = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments)
    for key in spec.routing_keys:
        await stream.bind(exchange, routing_key=key)
    return stream


async def declare_topology(channel: AbstractChannel) -> AbstractExchange:
    """Declare the exchange, every consumer's queue and the streams; returns the exchange."""
    exchange = await declare_exchange(channel)
    for spec in ALL_QUEUES:
        await declare_queue(channel, spec)
    await declare_stream(channel, GENERATOR_CANCELS)
    return exchange
