"""``DeadLetterReleaser``: consumes the copy of every dead letter of each model's generator
queue (``generator.requests.<model>.dlq.release``, and the single queue's; the DLQ itself keeps
its own, see ``QueueSpec.release_dead_letters``) and hands each dead-lettered
``generation.requested`` to :func:`sorami_gateway.generations.dead_letters.release_dead_letter`
(re-send, bounded, then fail). Runs in every ``sorami-gateway relay`` beside the scheduler.

A dead letter is acknowledged only after its transaction committed; with the database down it
is put back after a pause (the DLQ has no delivery limit) and tried again. A dead letter that
is not a parseable ``generation.requested`` is logged and dropped (nothing to release)."""

from __future__ import annotations

import asyncio
import contextlib

import aiormq
from aio_pika.abc import AbstractIncomingMessage, AbstractRobustConnection
from sorami_shared.events import UnparseableEvent, parse_event
from sorami_shared.logging import get_logger, job_context
from sorami_shared.messaging.connection import connect_failover
from sorami_shared.messaging.consumer import settle
from sorami_shared.retrying import retry_until_up
from sorami_shared.topology import (
    GENERATOR_REQUESTS,
    REQUESTED,
    QueueSpec,
    declare_queue,
    generator_queue_spec,
)

from ..generations.dead_letters import release_dead_letter
from ..infra.db import SessionFactory
from ..settings import GatewaySettings

log = get_logger(__name__)

RETRY_PAUSE_S = 2.0


class DeadLetterReleaser:
    def __init__(
        self,
        settings: GatewaySettings,
        sessions: SessionFactory,
        *,
        stop: asyncio.Event | None = None,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.stop = stop or asyncio.Event()
        self._connection: AbstractRobustConnection | None = None

    def queues(self) -> list[QueueSpec]:
        models = sorted(self.settings.registry)
        return [GENERATOR_REQUESTS, *(generator_queue_spec(m) for m in models)]

    async def _connect(self) -> AbstractRobustConnection:
        connection = await connect_failover(self.settings.amqp_url, timeout=10)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=10)
            for spec in self.queues():
                await declare_queue(channel, spec)  # its DLQ and the copy, bound, too
                copies = await channel.declare_queue(
                    spec.release_queue, durable=True, arguments={"x-queue-type": "quorum"}
                )
                await copies.consume(self._handler(spec.dead_letter_queue))
        except BaseException:
            with contextlib.suppress(Exception):
                await connection.close()
            raise
        return connection

    async def run(self) -> None:
        connect = retry_until_up(
            self._connect,
            retry_for=float("inf"),
            errors=(TimeoutError, OSError, aiormq.exceptions.AMQPError),
            log=log,
            unreachable="dead-letter releaser: broker unreachable, retrying",
        )
        connecting = asyncio.ensure_future(connect)
        stopping = asyncio.ensure_future(self.stop.wait())
        try:
            await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if connecting.done() and not connecting.cancelled():
                self._connection = connecting.result()
                log.info("dead-letter releaser running", queues=len(self.queues()))
                await stopping
        finally:
            connecting.cancel()
            stopping.cancel()
            if self._connection is not None:
                with contextlib.suppress(Exception):
                    await self._connection.close()
                self._connection = None

    def _handler(self, queue: str):  # noqa: ANN202 - a consumer callback
        async def on_message(message: AbstractIncomingMessage) -> None:
            await self.handle(queue, message)

        return on_message

    async def handle(self, queue: str, message: AbstractIncomingMessage) -> None:
        try:
            envelope = parse_event(message.body)
        except UnparseableEvent as exc:
            log.error("unparseable dead letter dropped", queue=queue, reason=str(exc))
            await settle(message.ack())
            return
        if envelope.type != REQUESTED or envelope.job_id is None:
            log.error("unexpected dead letter dropped", queue=queue, event_type=envelope.type)
            await settle(message.ack())
            return
        with job_context(
            job_id=envelope.job_id,
            user_id=envelope.user_id,
            correlation_id=envelope.correlationid,
            event_id=str(envelope.id),
        ):
            try:
                async with self.sessions() as session, session.begin():
                    await release_dead_letter(session, self.settings, envelope, queue)
            except Exception as exc:  # noqa: BLE001 - e.g. DATABASE_DOWN: kept, tried again
                log.warning("dead letter kept; retrying", error=repr(exc)[:300])
                await asyncio.sleep(RETRY_PAUSE_S)
                await settle(message.nack(requeue=True))
                return
        await settle(message.ack())
