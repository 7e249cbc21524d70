"""Sampling the broker's queues into ``sorami_queue_messages`` / ``sorami_queue_consumers``.

A passive declare answers a queue's ready-message and consumer counts without the management
API or the RabbitMQ Prometheus plugin, so the DLQ-depth and no-generator alerts work with any
broker Sorami can use. One process samples (the relay); several relays report the same
values, which the alert rules take the ``max`` of.
"""

from __future__ import annotations

import asyncio
import contextlib

import aio_pika
import aiormq

from . import metrics
from .logging import get_logger
from .messaging.connection import connect_failover
from .topology import ALL_QUEUES, generator_queue_spec

log = get_logger(__name__)

SAMPLED_QUEUES: tuple[str, ...] = tuple(
    name for spec in ALL_QUEUES for name in (spec.name, spec.dead_letter_queue)
)


async def sample_once(
    connection: aio_pika.abc.AbstractRobustConnection, extra: tuple[str, ...] = ()
) -> None:
    channel = await connection.channel()
    try:
        for name in SAMPLED_QUEUES + extra:
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aiormq.exceptions.ChannelNotFoundEntity:
                channel = await connection.channel()  # a failed passive declare closes it
                continue
            ok = queue.declaration_result
            metrics.QUEUE_MESSAGES.labels(name).set(ok.message_count or 0)
            metrics.QUEUE_CONSUMERS.labels(name).set(ok.consumer_count or 0)
    finally:
        with contextlib.suppress(Exception):
            await channel.close()


async def sample_queues(
    amqp_url: str, stop: asyncio.Event, *, interval_s: float = 15.0, models: tuple[str, ...] = ()
) -> None:
    """Until ``stop``: sample every ``interval_s``; a broker outage only skips samples.
    ``amqp_url``: one URL or a cluster's nodes (comma-separated); ``models``: their generator
    queues (and dead-letter queues) too."""
    extra = tuple(
        name
        for spec in map(generator_queue_spec, models)
        for name in (spec.name, spec.dead_letter_queue)
    )
    connection: aio_pika.abc.AbstractRobustConnection | None = None
    try:
        while not stop.is_set():
            try:
                if connection is None:
                    connection = await connect_failover(amqp_url, timeout=10)
                await sample_once(connection, extra)
            except Exception as exc:  # noqa: BLE001 - never take the relay down with it
                log.warning("queue sampling failed; will retry", error=repr(exc)[:300])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval_s):
                    await stop.wait()
    finally:
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.close()
