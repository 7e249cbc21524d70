"""Infrastructure outages are ridden out in place: they do not spend the delivery limit."""

import asyncio

import aio_pika
import pytest
import sqlalchemy.exc
from sorami_gateway.transient import is_transient as gateway_is_transient
from sorami_notifier.store import is_transient as notifier_is_transient
from sorami_shared.messaging import EventBus, is_transient
from sorami_shared.topology import GATEWAY_PROJECTION, QueueSpec

from .test_messaging import eventually, progress_event, queue_depth

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "is_transient", [is_transient, gateway_is_transient, notifier_is_transient]
)
def test_transient_errors_are_told_apart_from_logic_errors(is_transient) -> None:
    assert is_transient(ConnectionRefusedError(111, "refused"))
    assert is_transient(TimeoutError())
    try:
        try:
            raise ConnectionResetError("peer reset")
        except ConnectionResetError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert is_transient(outer)
    assert not is_transient(ValueError("bad data"))
    assert not is_transient(FileNotFoundError("/models/missing"))  # an OSError, but not transient
    assert not is_transient(RuntimeError("bug"))


@pytest.mark.parametrize("is_transient", [gateway_is_transient, notifier_is_transient])
def test_services_with_a_database_count_its_outages_as_transient(is_transient) -> None:
    """The bus knows no database driver; the gateway and the notifier pass their own."""
    outage = sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionResetError())
    assert is_transient(outage)
    assert is_transient(sqlalchemy.exc.TimeoutError("pool exhausted"))
    assert not is_transient(sqlalchemy.exc.IntegrityError("INSERT", {}, ValueError("dup")))


async def test_an_outage_longer_than_the_delivery_limit_allows_is_ridden_out_in_place(
    amqp_url, monkeypatch
):
    """Delivery limit 1: two requeues would dead-letter the event. Eight consecutive
    connection failures must not: the handler is re-run in place, on delivery 1."""
    monkeypatch.setattr("sorami_shared.messaging.consumer.backoff_seconds", lambda *a, **k: 0.02)
    spec = QueueSpec(GATEWAY_PROJECTION.name, GATEWAY_PROJECTION.routing_keys, delivery_limit=1)
    monkeypatch.setattr("sorami_shared.topology.ALL_QUEUES", (spec,))
    bus = EventBus(amqp_url, source="test", is_transient=gateway_is_transient)
    await bus.connect()
    attempts: list[int] = []

    async def handler(env, delivery):
        attempts.append(delivery.attempt)
        if len(attempts) <= 8:
            raise sqlalchemy.exc.OperationalError("UPDATE", {}, ConnectionRefusedError(111, "x"))

    try:
        await bus.consume(spec, handler, outage_window_s=30)
        await bus.publish(progress_event())
        await eventually(lambda: asyncio.sleep(0, result=len(attempts) == 9))
        await eventually(lambda: _settled(amqp_url, spec.name))
        assert attempts == [1] * 9
        assert await queue_depth(amqp_url, spec.dead_letter_queue) == 0
    finally:
        await bus.close()


async def test_past_the_outage_window_the_delivery_limit_applies_again(amqp_url, monkeypatch):
    monkeypatch.setattr("sorami_shared.messaging.consumer.backoff_seconds", lambda *a, **k: 0.02)
    spec = QueueSpec(GATEWAY_PROJECTION.name, GATEWAY_PROJECTION.routing_keys, delivery_limit=1)
    monkeypatch.setattr("sorami_shared.topology.ALL_QUEUES", (spec,))
    bus = EventBus(amqp_url, source="test")
    await bus.connect()
    attempts: list[int] = []

    async def handler(env, delivery):
        attempts.append(delivery.attempt)
        raise ConnectionRefusedError(111, "database never comes back")

    try:
        await bus.consume(spec, handler, outage_window_s=0.1)
        await bus.publish(progress_event())
        assert await eventually(lambda: queue_depth(amqp_url, spec.dead_letter_queue)) == 1
        assert sorted(set(attempts)) == [1, 2]  # bounded: dead-lettered after the limit
    finally:
        await bus.close()


async def _settled(url: str, queue: str) -> bool:
    conn = await aio_pika.connect(url)
    try:
        ch = await conn.channel()
        q = await ch.declare_queue(queue, passive=True)
        return (q.declaration_result.message_count or 0) == 0
    finally:
        await conn.close()
