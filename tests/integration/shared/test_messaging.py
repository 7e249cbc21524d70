"""The publish and ack policy against a real RabbitMQ (fresh vhost per test)."""

import asyncio
import uuid

import aio_pika
import aiormq
import pytest
from sorami_shared.events import (
    GenerationPreview,
    GenerationProgress,
    Kind,
    new_event,
    parse_event,
)
from sorami_shared.messaging import EventBus, PublishFailed, Reject
from sorami_shared.topology import ALL_QUEUES, EXCHANGE, GATEWAY_PROJECTION, QueueSpec

pytestmark = pytest.mark.integration


def progress_event(percent: int = 10):
    return new_event(
        GenerationProgress(job_id=uuid.uuid4(), user_id="alice", kind=Kind.IMAGE, progress=percent),
        source="test",
        correlation_id=f"corr-{uuid.uuid4().hex[:6]}",
    )


async def queue_depth(url: str, name: str) -> int:
    conn = await aio_pika.connect(url)
    try:
        ch = await conn.channel()
        q = await ch.declare_queue(name, passive=True)
        return q.declaration_result.message_count or 0
    finally:
        await conn.close()


async def eventually(predicate, timeout: float = 10.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await predicate()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


@pytest.fixture
async def bus(amqp_url):
    bus = EventBus(amqp_url, source="test")
    await bus.connect()
    yield bus
    await bus.close()


async def test_topology_is_declared_idempotently_by_every_service(amqp_url, bus):
    second = EventBus(amqp_url, source="another-service")
    await second.connect()  # same declarations again: no PRECONDITION_FAILED
    await second.close()
    for spec in ALL_QUEUES:
        assert await queue_depth(amqp_url, spec.name) == 0
        assert await queue_depth(amqp_url, spec.dead_letter_queue) == 0


async def test_published_message_is_persistent_and_carries_ids_in_properties_and_headers(
    amqp_url, bus
):
    env = progress_event()
    await bus.publish(env)
    conn = await aio_pika.connect(amqp_url)
    ch = await conn.channel()
    q = await ch.declare_queue(GATEWAY_PROJECTION.name, passive=True)
    msg = await q.get(timeout=5)
    await msg.ack()
    await conn.close()
    assert msg.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert msg.message_id == str(env.id)
    assert msg.correlation_id == env.correlationid
    assert msg.type == "generation.progress"
    assert msg.headers["x-correlation-id"] == env.correlationid
    assert msg.headers["x-job-id"] == str(env.job_id)
    assert msg.headers["x-user-id"] == "alice"
    assert parse_event(msg.body) == env


def preview_event():
    return new_event(
        GenerationPreview(
            job_id=uuid.uuid4(), user_id="alice", kind=Kind.IMAGE, index=0, step=1,
            total_steps=4, mime_type="image/webp", width=8, height=8, data_b64="AAAA",
        ),
        source="test",
        correlation_id="corr-live",
    )  # fmt: skip


async def test_a_live_message_is_transient_best_effort_and_dropped_when_nobody_listens(
    amqp_url, bus
):
    """Live previews: nothing bound to their key is no error (the broker drops them), a bound
    queue gets them as transient messages, and a closed bus says PublishFailed."""
    await bus.publish_live(preview_event())  # no queue bound: dropped, not raised
    with pytest.raises(PublishFailed):  # the confirmed path refuses the unroutable
        await bus.publish(preview_event())
    conn = await aio_pika.connect(amqp_url)
    try:
        ch = await conn.channel()
        q = await ch.declare_queue(exclusive=True)
        await q.bind(EXCHANGE, routing_key="generation.preview")
        env = preview_event()
        await asyncio.gather(*(bus.publish_live(env) for _ in range(3)))  # one channel opened
        got: list[aio_pika.abc.AbstractIncomingMessage] = []

        async def three() -> bool:  # nothing awaited the broker: they arrive when they do
            message = await q.get(fail=False)
            if message is not None:
                got.append(message)
            return len(got) == 3

        await eventually(three)
        assert [m.delivery_mode for m in got] == [aio_pika.DeliveryMode.NOT_PERSISTENT] * 3
        assert all(parse_event(m.body) == env for m in got)
        assert got[0].headers["x-job-id"] == str(env.data.job_id)
    finally:
        await conn.close()
    await bus.close()
    with pytest.raises(PublishFailed):
        await bus.publish_live(preview_event())


async def test_unroutable_publish_raises_instead_of_vanishing(amqp_url):
    conn = await aio_pika.connect(amqp_url)
    ch = await conn.channel()
    await ch.declare_exchange(EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True)
    await conn.close()
    # A bus whose exchange exists but no queue is bound for this routing key.
    bus = EventBus(amqp_url, source="test")
    await bus.connect()
    for spec in ALL_QUEUES:
        conn = await aio_pika.connect(amqp_url)
        ch = await conn.channel()
        await ch.queue_delete(spec.name)
        await conn.close()
    with pytest.raises(PublishFailed, match="returned"):
        await bus.publish(progress_event())
    await bus.close()


async def test_publish_without_connection_fails_clearly():
    bus = EventBus("amqp://guest:guest@127.0.0.1:1/", source="test")
    with pytest.raises(PublishFailed, match="not connected"):
        await bus.publish(progress_event())
    with pytest.raises(OSError):
        await bus.connect()


async def test_ack_only_after_the_handler_returns(amqp_url, bus):
    started, release = asyncio.Event(), asyncio.Event()

    async def handler(env, delivery):
        started.set()
        await release.wait()

    await bus.consume(GATEWAY_PROJECTION, handler)
    await bus.publish(progress_event())
    await asyncio.wait_for(started.wait(), 5)
    # In flight, unacknowledged: closing now must leave the message on the queue.
    await bus.close()
    assert await eventually(lambda: queue_depth(amqp_url, GATEWAY_PROJECTION.name)) == 1


async def test_garbage_goes_to_the_dead_letter_queue_and_consuming_goes_on(amqp_url, bus):
    seen: list[int] = []

    async def handler(env, delivery):
        seen.append(env.data.progress)

    await bus.consume(GATEWAY_PROJECTION, handler)
    conn = await aio_pika.connect(amqp_url)
    ch = await conn.channel()
    ex = await ch.get_exchange(EXCHANGE)
    for body in (b"not json", b'{"type": "generation.progress"}', b'{"specversion": "9"}'):
        await ex.publish(aio_pika.Message(body), routing_key="generation.progress")
    await conn.close()
    await bus.publish(progress_event(42))
    await eventually(lambda: asyncio.sleep(0, result=seen == [42]))
    dlq = GATEWAY_PROJECTION.dead_letter_queue
    assert await eventually(lambda: queue_depth(amqp_url, dlq)) == 3


async def test_reject_from_handler_dead_letters_at_once(amqp_url, bus):
    calls = 0

    async def handler(env, delivery):
        nonlocal calls
        calls += 1
        raise Reject("never valid")

    await bus.consume(GATEWAY_PROJECTION, handler)
    await bus.publish(progress_event())
    assert (
        await eventually(lambda: queue_depth(amqp_url, GATEWAY_PROJECTION.dead_letter_queue)) == 1
    )
    assert calls == 1


async def test_failing_handler_is_retried_a_bounded_number_of_times_then_dead_lettered(
    amqp_url, monkeypatch
):
    monkeypatch.setattr("sorami_shared.messaging.consumer.backoff_seconds", lambda attempt: 0.01)
    spec = QueueSpec(GATEWAY_PROJECTION.name, GATEWAY_PROJECTION.routing_keys, delivery_limit=2)
    monkeypatch.setattr("sorami_shared.topology.GATEWAY_PROJECTION", spec)
    monkeypatch.setattr("sorami_shared.topology.ALL_QUEUES", (spec,))
    bus = EventBus(amqp_url, source="test")
    await bus.connect()
    attempts: list[tuple[int, bool]] = []

    async def handler(env, delivery):
        attempts.append((delivery.attempt, delivery.is_last_attempt))
        raise RuntimeError("database down")

    await bus.consume(spec, handler)
    await bus.publish(progress_event())
    assert await eventually(lambda: queue_depth(amqp_url, spec.dead_letter_queue)) == 1
    await bus.close()
    assert attempts == [(1, False), (2, False), (3, True)]


async def test_handler_that_recovers_acks_and_nothing_is_dead_lettered(amqp_url, bus, monkeypatch):
    monkeypatch.setattr("sorami_shared.messaging.consumer.backoff_seconds", lambda attempt: 0.01)
    attempts = []

    async def handler(env, delivery):
        attempts.append(delivery.attempt)
        if delivery.attempt < 3:
            raise RuntimeError("flaky handler")  # a logic error: counts its attempts

    await bus.consume(GATEWAY_PROJECTION, handler)
    await bus.publish(progress_event())
    await eventually(lambda: asyncio.sleep(0, result=attempts == [1, 2, 3]))
    await asyncio.sleep(0.3)
    assert attempts == [1, 2, 3]
    assert await queue_depth(amqp_url, GATEWAY_PROJECTION.dead_letter_queue) == 0
    assert await queue_depth(amqp_url, GATEWAY_PROJECTION.name) == 0


async def test_stop_consuming_then_drain_waits_for_the_job_in_hand(amqp_url, bus):
    done = []

    async def handler(env, delivery):
        await asyncio.sleep(0.5)
        done.append(env.id)

    await bus.consume(GATEWAY_PROJECTION, handler)
    await bus.publish(progress_event())
    await eventually(lambda: asyncio.sleep(0, result=bool(bus._consumers[0]._in_flight)))
    await bus.stop_consuming()
    await bus.publish(progress_event())  # arrives after cancel: stays queued
    assert await bus.drain(timeout=5)
    assert len(done) == 1
    await bus.close()
    assert await queue_depth(amqp_url, GATEWAY_PROJECTION.name) == 1


async def test_broadcast_stream_reaches_every_subscriber_and_replays_for_late_ones(amqp_url, bus):
    from sorami_shared.events import GenerationCancelRequested
    from sorami_shared.topology import GENERATOR_CANCELS

    def cancel_event():
        return new_event(
            GenerationCancelRequested(job_id=uuid.uuid4(), user_id="alice", kind=Kind.IMAGE),
            source="test",
            correlation_id="c",
        )

    early = cancel_event()
    await bus.publish(early)  # said before anyone listens: routable, and retained

    heard: dict[str, list[uuid.UUID]] = {"a": [], "b": []}

    def recorder(name):
        async def handler(env):
            heard[name].append(env.data.job_id)

        return handler

    replica_a = EventBus(amqp_url, source="replica-a")
    replica_b = EventBus(amqp_url, source="replica-b")
    await replica_a.connect()
    await replica_b.connect()
    await replica_a.subscribe(GENERATOR_CANCELS, recorder("a"), replay_s=3600)
    await replica_b.subscribe(GENERATOR_CANCELS, recorder("b"), replay_s=3600)
    live = cancel_event()
    await bus.publish(live)
    expected = [early.data.job_id, live.data.job_id]
    await eventually(lambda: asyncio.sleep(0, result=heard["a"] == expected == heard["b"]))
    # A subscriber that starts now hears what comes next. (It may also hear a little from
    # before: a timestamp offset starts at the stream chunk written around that time.)
    heard["c"] = []
    replica_c = EventBus(amqp_url, source="replica-c")
    await replica_c.connect()
    await replica_c.subscribe(GENERATOR_CANCELS, recorder("c"), replay_s=0)
    newest = cancel_event()
    await bus.publish(newest)
    await eventually(lambda: asyncio.sleep(0, result=newest.data.job_id in heard["c"]))
    await eventually(
        lambda: asyncio.sleep(0, result=heard["a"][-1] == heard["b"][-1] == newest.data.job_id)
    )
    for replica in (replica_a, replica_b, replica_c):
        await replica.close()


async def test_connect_retries_while_the_broker_is_up_but_not_ready(amqp_url, monkeypatch):
    """Right after a broker restart a recovering queue refuses declarations for a moment
    (NOT_FOUND - home node ... is down): a service that retries must not die of it."""
    import sorami_shared.messaging.bus as messaging

    real = messaging.declare_topology
    refusals = []

    async def recovering(channel):
        if len(refusals) < 2:
            refusals.append(1)
            raise aiormq.exceptions.ChannelNotFoundEntity("home node is down or inaccessible")
        return await real(channel)

    monkeypatch.setattr(messaging, "declare_topology", recovering)
    impatient = EventBus(amqp_url, source="test")
    with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity):
        await impatient.connect()
    assert not impatient.connected

    patient = EventBus(amqp_url, source="test")
    await patient.connect(retry_for=30)
    assert len(refusals) == 2 and patient.connected
    await patient.publish(progress_event())  # really usable
    await patient.close()
