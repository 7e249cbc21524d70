"""The dead-letter queues the fault run checks at the end: the work queues' and every model's
generator queue's, read without removing anything."""

from __future__ import annotations

import asyncio

from sorami_shared.messaging.connection import connect_failover

from .rabbit_cluster import RabbitCluster

WORK_QUEUES = ("generator.requests", "gateway.projection", "notifier.outcomes")


def dead_letter_queues(queues: dict[str, tuple[int, int]]) -> list[str]:
    """The work queues' DLQs and every model's generator queue's (``generator.requests.<model>
    .dlq``): a request dead-lettered there is released again by the gateway at once."""
    work = [f"{q}.dlq" for q in WORK_QUEUES]
    per_model = sorted(
        q for q in queues if q.startswith("generator.requests.") and q.endswith(".dlq")
    )
    return work + [q for q in per_model if q not in work]


async def dead_letters(cluster: RabbitCluster) -> dict[str, list[str]]:
    """message ids in each dead-letter queue (read without removing them)."""
    found: dict[str, list[str]] = {}
    names = dead_letter_queues(await asyncio.to_thread(cluster.queues))
    connection = await connect_failover(cluster.amqp_urls)
    try:
        channel = await connection.channel()
        for queue_name in names:
            queue = await channel.declare_queue(queue_name, passive=True)
            ids = []
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                ids.append(message.message_id or "")
            found[queue_name] = ids
    finally:
        await connection.close()  # unacknowledged: they stay in their queues
    return found
