"""A request the broker dead-letters is released again at once, not after the watchdog's
hour: real PostgreSQL and RabbitMQ, the relay's scheduler and dead-letter releaser. A generator
that never settles a request (a worker lost on every attempt: ``nack`` with requeue, until the
queue's delivery limit dead-letters it) sees it once more, then the job fails clearly."""

from __future__ import annotations

import asyncio
import json

import aio_pika
import sqlalchemy as sa
from sorami_gateway.generations.admission import admit
from sorami_gateway.generations.dead_letters import Outcome, release_dead_letter
from sorami_gateway.infra.db import create_engine, create_session_factory
from sorami_gateway.workers.dead_letters import DeadLetterReleaser
from sorami_shared.events import parse_event
from sorami_shared.topology import generator_queue_spec

from .conftest import FakeGenerator, eventually, observe, running_relay, scalar
from .test_scheduler import _ask


class LosingGenerator(FakeGenerator):
    """Takes every request of the model's queue and gives it back (as a worker that dies
    mid-job would): the broker dead-letters it after the queue's delivery limit."""

    def __init__(self, amqp_url: str) -> None:
        self.amqp_url = amqp_url
        self.deliveries: list[dict] = []

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        self.deliveries.append(json.loads(message.body))
        await message.nack(requeue=True)


async def test_a_dead_lettered_request_is_released_again_then_its_job_fails(
    make_settings, amqp_url, engine
):
    settings = make_settings(
        amqp_url=amqp_url,
        rate_limit_generations=0,
        max_unfinished_jobs=0,
        watchdog_max_requeues=1,
    )
    writer = create_engine(settings, pool_size=2)
    job = await admit(writer, settings, _ask(settings, "alice"))
    releaser = DeadLetterReleaser(settings, create_session_factory(writer))
    limit = generator_queue_spec("tiny-image").delivery_limit
    async with (
        observe(amqp_url, "generation.failed") as failed,
        LosingGenerator(amqp_url) as generator,
        running_relay(settings),
    ):
        task = asyncio.create_task(releaser.run())
        try:
            await eventually(lambda: _has(failed), timeout=30)
        finally:
            releaser.stop.set()
            await asyncio.wait_for(task, 10)
    await writer.dispose()
    requests = {d["id"] for d in generator.deliveries}
    assert {d["data"]["job_id"] for d in generator.deliveries} == {str(job.job_id)}
    # the first release and one re-send (max_requeues=1), each delivered up to the limit
    assert len(requests) == 2, generator.deliveries
    assert len(generator.deliveries) == 2 * (limit + 1)
    event = parse_event(failed.messages[0].body)
    assert event.data.job_id == job.job_id and event.data.code == "too_many_attempts"
    assert "dead-lettered" in event.data.reason and "generator.requests.tiny-image" in (
        event.data.reason
    )
    assert await scalar(engine, "SELECT watchdog_requeues FROM generations") == 2
    # the DLQ keeps both dead letters for operators; the releaser's copies are all consumed
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    spec = generator_queue_spec("tiny-image")
    counts = {}
    for name in (spec.dead_letter_queue, spec.release_queue):
        queue = await channel.declare_queue(name, passive=True)
        counts[name] = queue.declaration_result.message_count
    await connection.close()
    assert counts == {spec.dead_letter_queue: 2, spec.release_queue: 0}


async def test_the_dead_letter_of_a_finished_job_is_dropped(make_settings, sessions, engine):
    settings = make_settings(rate_limit_generations=0, max_unfinished_jobs=0)
    writer = create_engine(settings, pool_size=1)
    job = await admit(writer, settings, _ask(settings, "alice"))
    await writer.dispose()
    # the job's request as it was queued (a finished job's queue row is gone: migration 0016)
    envelope = parse_event(await scalar(engine, "SELECT payload::text FROM generation_queue"))
    async with sessions() as session, session.begin():
        await session.execute(sa.text("UPDATE generations SET status = 'COMPLETED'"))
    async with sessions() as session, session.begin():
        outcome = await release_dead_letter(session, settings, envelope, "q.dlq")
    assert outcome is Outcome.IGNORED and str(envelope.job_id) == str(job.job_id)
    assert await scalar(engine, "SELECT count(*) FROM outbox") == 0


async def _has(observed) -> bool:
    return bool(observed.messages)
