"""How many jobs each model's generator queue can hold in flight: its consumers (declaring the
queue, idempotent, answers their count and makes the queue exist before a job is routed to it)
times the slots a consumer takes
(``SORAMI_GATEWAY_SCHEDULER_SLOTS_PER_CONSUMER``: a generator's prefetch, what it batches and
keeps ready), of which ``SORAMI_GATEWAY_SCHEDULER_INTERACTIVE_RESERVE`` per consumer are never
given to batch jobs. A queue with no consumer has no slot: its jobs wait in the database, saying
``waiting_for: "worker"``. Answers are cached for ``scheduler_capacity_refresh_s``; with the
broker unreachable the last counts hold (none known yet: no slot; jobs wait in the database,
the ones released wait in the outbox)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

import aio_pika
from sorami_shared.logging import get_logger
from sorami_shared.messaging.connection import connect_failover
from sorami_shared.topology import declare_queue, generator_queue_spec

log = get_logger(__name__)


class BrokerCapacity:
    def __init__(
        self,
        amqp_url: str,
        *,
        slots_per_consumer: int,
        refresh_s: float,
        interactive_reserve: int = 0,
    ) -> None:
        self.amqp_url = amqp_url
        self.slots_per_consumer = slots_per_consumer
        self.interactive_reserve = interactive_reserve
        self.refresh_s = refresh_s
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._cached: dict[str, int] = {}
        self._at = -1e9

    async def slots(self, models: Iterable[str]) -> dict[str, int]:
        """Slots per model (its queue's consumers x slots per consumer)."""
        wanted = set(models)
        if time.monotonic() - self._at > self.refresh_s or not wanted <= set(self._cached):
            try:
                self._cached = await self._consumers(wanted | set(self._cached))
            except Exception as exc:  # noqa: BLE001 - an outage: go on with what was last known
                log.warning("queue consumers unknown; last counts kept", error=repr(exc)[:300])
                with contextlib.suppress(Exception):
                    if self._connection is not None:
                        await self._connection.close()
                self._connection = None
            self._at = time.monotonic()
        return {q: self._cached.get(q, 0) * self.slots_per_consumer for q in wanted}

    def reserved(self, models: Iterable[str]) -> dict[str, int]:
        """Slots per model kept for interactive jobs (from the counts :meth:`slots` fetched)."""
        return {q: self._cached.get(q, 0) * self.interactive_reserve for q in models}

    async def _consumers(self, models: set[str]) -> dict[str, int]:
        if self._connection is None:
            self._connection = await connect_failover(self.amqp_url, timeout=10)
        counts: dict[str, int] = {}
        channel = await self._connection.channel()
        try:
            for model in sorted(models):
                queue = await declare_queue(channel, generator_queue_spec(model))
                counts[model] = queue.declaration_result.consumer_count or 0
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
        return counts

    async def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()
            self._connection = None
