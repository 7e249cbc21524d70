"""Events published straight to the exchange, bypassing every service: duplicates, late and
reordered events for finished jobs, and poison messages that must end in dead-letter queues."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import aio_pika
from sorami_shared.events import (
    FileInfo,
    GenerationCompleted,
    GenerationProgress,
    Kind,
    derived_id,
    new_event,
)
from sorami_shared.messaging import to_message
from sorami_shared.messaging.connection import connect_failover
from sorami_shared.topology import EXCHANGE

SOURCE = "sorami-fault-harness"


@dataclass
class Poison:
    message_id: str
    what: str
    dead_letter_queues: tuple[str, ...]


@dataclass
class Injector:
    amqp_url: str | list[str]  # straight to the broker's nodes, not through a proxy
    poisons: list[Poison] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)

    async def _publish(self, messages: list[tuple[aio_pika.Message, str]]) -> None:
        connection = await connect_failover(self.amqp_url)  # any node that is up
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(EXCHANGE)
            for message, routing_key in messages:
                await exchange.publish(message, routing_key=routing_key, mandatory=True)
        finally:
            await connection.close()

    def _count(self, what: str, n: int = 1) -> None:
        self.sent[what] = self.sent.get(what, 0) + n

    async def poison(self) -> None:
        """Garbage body, unknown type, a data version from the future: one for each consumer
        queue they can reach."""
        job = uuid.uuid4()
        future = new_event(
            GenerationProgress(job_id=job, user_id="mallory", kind=Kind.IMAGE, progress=5),
            source=SOURCE,
            correlation_id="poison",
        ).model_dump(mode="json")
        future["dataversion"] = 99
        unknown = {**future, "id": str(uuid.uuid4()), "type": "generation.exploded"}
        unknown["dataversion"] = 1
        cases = [
            (
                "garbage body",
                b"\xff\x00{not json",
                "generation.completed",
                ("gateway.projection.dlq", "notifier.outcomes.dlq"),
            ),
            (
                "unknown type",
                json.dumps(unknown).encode(),
                "generation.requested",
                ("generator.requests.dlq",),
            ),
            (
                "schema version from the future",
                json.dumps(future).encode(),
                "generation.progress",
                ("gateway.projection.dlq",),
            ),
        ]
        messages = []
        for what, body, key, dlqs in cases:
            message_id = f"poison-{uuid.uuid4().hex[:12]}"
            self.poisons.append(Poison(message_id, what, dlqs))
            messages.append(
                (
                    aio_pika.Message(
                        body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                    ),
                    key,
                )
            )
            self._count(f"poison: {what}")
        await self._publish(messages)

    async def duplicates_for(self, job: dict) -> None:
        """For one COMPLETED job (a row of the checker's snapshot): the very same completed
        event again (redelivery), a completed with another id and other files (a second
        worker), then a late progress (reordered after the completion)."""
        job_id = uuid.UUID(job["job_id"])
        kind = Kind(job["kind"])
        files = [FileInfo(**f) for f in job["files"]]
        same = new_event(
            GenerationCompleted(
                job_id=job_id,
                user_id=job["user"],
                kind=kind,
                model=job["model"],
                seed=job["seed"],
                files=files,
            ),
            source=SOURCE,
            correlation_id="dup",
            event_id=derived_id("generation.completed", job_id),
        )
        other_files = [
            f.model_copy(
                update={
                    "index": f.index + 10,
                    "key": f.key.replace(f"/{f.index}.", f"/{f.index + 10}."),
                }
            )
            for f in files
        ]
        other = new_event(
            GenerationCompleted(
                job_id=job_id,
                user_id=job["user"],
                kind=kind,
                model=job["model"],
                seed=job["seed"] + 1,
                files=other_files,
            ),
            source=SOURCE,
            correlation_id="dup2",
        )
        late = new_event(
            GenerationProgress(job_id=job_id, user_id=job["user"], kind=kind, progress=30),
            source=SOURCE,
            correlation_id="late",
        )
        late = late.model_copy(update={"time": datetime.now(UTC) - timedelta(minutes=5)})
        await self._publish(
            [
                (to_message(same), same.type),
                (to_message(other), other.type),
                (to_message(late), late.type),
                (to_message(same), same.type),
            ]
        )
        self._count("duplicate completed (same id)", 2)
        self._count("duplicate completed (other id, other files)")
        self._count("late/reordered progress after completion")
