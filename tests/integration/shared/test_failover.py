"""A list of broker nodes: the bus connects to the first that answers and, when its node goes
away, reconnects to the next one and consumes again (real RabbitMQ; each "node" is a chaos
proxy in front of the machine's broker, so one can be taken down alone)."""

import asyncio
import uuid

import aio_pika
import pytest
from sorami_shared.events import GenerationProgress, Kind, new_event
from sorami_shared.messaging import EventBus
from sorami_shared.messaging.connection import BrokerNodes, connect_failover, probe
from sorami_shared.topology import GATEWAY_PROJECTION

from tests.support.chaos_proxy import ChaosProxy
from tests.support.infra import free_port

pytestmark = pytest.mark.integration


def progress_event():
    return new_event(
        GenerationProgress(job_id=uuid.uuid4(), user_id="alice", kind=Kind.IMAGE, progress=5),
        source="test",
        correlation_id="failover",
    )


@pytest.fixture
async def nodes():
    proxies = [ChaosProxy(f"node-{i}", "127.0.0.1", 5672) for i in range(2)]
    for proxy in proxies:
        await proxy.start()
    yield proxies
    for proxy in proxies:
        await proxy.stop()


async def test_the_first_node_that_answers_is_used(amqp_url):
    dead = amqp_url.replace(":5672/", f":{free_port()}/", 1)
    listed = BrokerNodes(f"{dead}, {amqp_url}")
    assert listed.urls == [dead, amqp_url]
    connection = await connect_failover(listed, timeout=3)
    try:
        assert str(connection.url).endswith(amqp_url.rsplit(":", 1)[1])
    finally:
        await connection.close()
    await probe([dead, amqp_url])
    with pytest.raises(OSError):
        await probe([dead])


async def test_a_lost_node_is_replaced_by_the_next_and_consuming_goes_on(amqp_url, nodes):
    first, second = nodes
    urls = [first.url_for(amqp_url), second.url_for(amqp_url)]
    got: list[str] = []
    consumer = EventBus(",".join(urls), source="test")
    publisher = EventBus(amqp_url, source="test")
    await consumer.connect()
    await publisher.connect()
    try:

        async def handler(envelope, delivery):
            got.append(str(envelope.id))

        await consumer.consume(GATEWAY_PROJECTION, handler)
        assert first.open_links >= 1 and second.open_links == 0
        before = progress_event()
        await publisher.publish(before)
        await _until(lambda: str(before.id) in got)

        outage = asyncio.create_task(first.outage(15))  # the node is gone: cut and refused
        await _until(lambda: second.open_links >= 1, within_s=20)
        after = progress_event()
        await publisher.publish(after)
        await _until(lambda: str(after.id) in got, within_s=20)
        assert first.open_links == 0
        outage.cancel()
    finally:
        await consumer.close()
        await publisher.close()


async def _until(check, within_s: float = 10) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


@pytest.mark.timeout(60)  # were it left behind, the loop's shutdown would hang: fail instead
async def test_a_connect_cancelled_midway_leaves_no_reconnect_task_behind():
    """A stop that lands while a connection is being made (a node that accepts and never
    answers) closes it: no aio-pika reconnect task is left retrying, which would swallow the
    cancellation of its event loop's shutdown and hang it."""
    held = []  # the server keeps each connection open and silent
    silent = await asyncio.start_server(lambda r, w: held.append(w), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        url = f"amqp://guest:guest@127.0.0.1:{port}/"
        attempt = asyncio.create_task(connect_failover(url, timeout=30, reconnect_interval=0.1))
        await asyncio.sleep(0.5)
        assert held, "the connection never reached the silent node"
        attempt.cancel()
        with pytest.raises(asyncio.CancelledError):
            await attempt
        await asyncio.sleep(0.3)
        left = [t for t in asyncio.all_tasks() if "connection_factory" in repr(t.get_coro())]
        assert not left, left
    finally:
        for writer in held:
            writer.close()
        silent.close()
        await silent.wait_closed()


async def test_a_handshake_cut_at_its_first_frame_moves_to_the_next_node(amqp_url, monkeypatch):
    """aiormq ends a handshake whose socket is already at its end in ``StopAsyncIteration``
    (the fault run under uvloop met it, a proxy cutting connections): that node failed, the
    next one is tried, and with none left the caller gets an AMQP error it retries, never
    ``StopAsyncIteration``."""
    import aiormq.connection

    real = aiormq.connection.FrameReceiver.get_frame
    cut = {"left": 1}

    async def get_frame(self):
        if cut["left"] > 0:  # what aiormq does when reader.at_eof(): the node's first frame
            cut["left"] -= 1
            raise StopAsyncIteration
        return await real(self)

    monkeypatch.setattr(aiormq.connection.FrameReceiver, "get_frame", get_frame)
    listed = BrokerNodes(f"{amqp_url},{amqp_url}")
    connection = await connect_failover(listed, timeout=5)
    try:
        assert not connection.is_closed and cut["left"] == 0
    finally:
        await connection.close()
    cut["left"] = 2
    with pytest.raises(aio_pika.exceptions.AMQPConnectionError, match="during the handshake"):
        await connect_failover(BrokerNodes(f"{amqp_url},{amqp_url}"), timeout=5)
    cut["left"] = 1
    await probe(BrokerNodes(f"{amqp_url},{amqp_url}"))  # the second node answers
    cut["left"] = 1
    with pytest.raises(aio_pika.exceptions.AMQPConnectionError, match="during the handshake"):
        await probe(amqp_url)
