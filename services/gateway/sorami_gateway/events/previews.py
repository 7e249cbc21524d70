"""Live previews for their owner's open streams, never stored.

Each API process binds its own exclusive, auto-deleted queue to ``generation.preview`` (a
short TTL and length cap: a slow process drops old previews, never piles them up) and hands
every preview to :class:`~sorami_gateway.events.hub.EventHub`, which gives it to that user's
streams on this process only: ``GET /api/events`` sends it as a ``preview`` frame without an
id (not in the replay log, not resumable), ``POST /v1/images/generations`` with ``stream``
as ``image_generation.partial_image``. Nothing is written to the database or to storage; with
no API process listening, the generator's publish is unroutable and the preview dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aio_pika
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from sorami_shared.events import GenerationPreview, UnparseableEvent, parse_event
from sorami_shared.logging import get_logger
from sorami_shared.messaging.connection import connect_failover
from sorami_shared.topology import declare_exchange

from .hub import EventHub

log = get_logger(__name__)

ROUTING_KEY = GenerationPreview.event_type
QUEUE_ARGUMENTS = {"x-message-ttl": 10_000, "x-max-length": 1_000, "x-overflow": "drop-head"}


def frame_data(preview: GenerationPreview) -> dict[str, Any]:
    """A ``preview`` frame's data: the picture as a ``data:`` URL, its step, its size."""
    return {
        "job_id": str(preview.job_id),
        "kind": preview.kind.value,
        "index": preview.index,
        "step": preview.step,
        "total_steps": preview.total_steps,
        "width": preview.width,
        "height": preview.height,
        "mime_type": preview.mime_type,
        "url": f"data:{preview.mime_type};base64,{preview.data_b64}",
    }


class PreviewListener:
    def __init__(self, amqp_url: str, hub: EventHub, *, retry_s: float = 2.0) -> None:
        self.amqp_url, self.hub, self.retry_s = amqp_url, hub, retry_s
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._connection: AbstractRobustConnection | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="previews")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()

    async def _run(self) -> None:
        delay = self.retry_s
        while self._connection is None:  # the robust connection reconnects by itself after
            try:
                connection = await connect_failover(self.amqp_url, timeout=5)
                channel = await connection.channel()
                exchange = await declare_exchange(channel)
                queue = await channel.declare_queue(
                    exclusive=True, auto_delete=True, arguments=QUEUE_ARGUMENTS
                )
                await queue.bind(exchange, routing_key=ROUTING_KEY)
                await queue.consume(self._on_message, no_ack=True)
                self._connection = connection
                self.listening.set()
            except (TimeoutError, OSError, aio_pika.exceptions.AMQPError) as exc:
                log.warning(
                    "preview listener cannot reach the broker; retrying",
                    error=repr(exc),
                    in_s=delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            envelope = parse_event(message.body)
        except UnparseableEvent as exc:
            log.warning("unparseable preview ignored", reason=str(exc))
            return
        if isinstance(envelope.data, GenerationPreview):
            self.hub.push_preview(envelope.data.user_id, frame_data(envelope.data))
