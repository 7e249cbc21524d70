"""The outbox relay (and its scheduler): POST → queue → outbox → RabbitMQ, through broker
outages and with two relays."""

from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit, urlunsplit

from sorami_gateway.generations.admission import Ask, admit
from sorami_gateway.generations.requests import build_request_models
from sorami_gateway.infra.db import create_engine
from sorami_shared.events import Kind

from tests.support.chaos_proxy import ChaosProxy
from tests.support.infra import free_port

from .conftest import SMALL_IMAGE, SMALL_VIDEO, auth, eventually, observe, running_relay, scalar


async def test_post_then_relay_publishes_the_event(client, make_settings, amqp_url, engine):
    settings = make_settings(amqp_url=amqp_url)
    async with observe(amqp_url, "generation.requested") as seen:
        response = await client.post(
            "/api/videos/generate",
            json=SMALL_VIDEO,
            headers={**auth("alice"), "X-Correlation-ID": "trace-77"},
        )
        assert response.status_code == 202
        job_id = response.json()["job_id"]
        async with running_relay(settings):
            await eventually(lambda: _count(seen, 1))
            await eventually(lambda: _published(engine, 1))

    [message] = seen.messages
    body = json.loads(message.body)
    assert body["specversion"] == "1.0" and body["type"] == "generation.requested"
    assert body["source"] and body["time"] and body["id"]
    assert body["datacontenttype"] == "application/json"
    assert body["correlationid"] == "trace-77"
    assert body["data"]["job_id"] == job_id and body["data"]["kind"] == "video"
    assert body["data"]["params"]["num_frames"] == 8
    assert message.correlation_id == "trace-77"
    assert message.message_id == body["id"]
    assert message.headers["x-job-id"] == job_id
    assert message.delivery_mode == 2  # persistent
    outbox = await scalar(engine, "SELECT row_to_json(o) FROM outbox o")
    assert outbox["published_at"] is not None and outbox["attempts"] == 1


async def test_broker_down_at_post_time_then_published_when_back(
    client, make_settings, amqp_url, engine
):
    """The API never talks to the broker; the relay waits for it and needs no restart, even
    when the broker goes away again while it runs."""
    real = urlsplit(amqp_url)
    proxy = ChaosProxy("broker", real.hostname or "127.0.0.1", real.port or 5672)
    port = proxy.port
    proxied = urlunsplit(
        real._replace(netloc=f"guest:guest@127.0.0.1:{port}", query="reconnect_interval=0.5")
    )
    settings = make_settings(amqp_url=proxied)

    async with observe(amqp_url, "generation.requested") as seen, running_relay(settings):
        first = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())
        assert first.status_code == 202  # broker unreachable (client's URL is a closed port too)
        await asyncio.sleep(0.5)
        assert seen.messages == []
        # the broker's consumers unknown: the job waits in the database's queue
        assert await scalar(engine, "SELECT count(*) FROM generation_queue") == 1

        await proxy.start()  # the broker "comes back"
        await eventually(lambda: _count(seen, 1), timeout=20)
        await eventually(lambda: _published(engine, 1))

        await proxy.stop()  # the broker goes away while the relay runs
        second = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())
        assert second.status_code == 202
        await eventually(
            lambda: scalar(
                engine,
                "SELECT attempts > 0 AND last_error IS NOT NULL FROM outbox "
                "WHERE published_at IS NULL",
            ),
            timeout=20,
        )
        await proxy.start()
        await eventually(lambda: _count(seen, 2), timeout=30)
        await eventually(lambda: _published(engine, 2))
        await proxy.stop()

    job_ids = {json.loads(m.body)["data"]["job_id"] for m in seen.messages}
    assert job_ids == {first.json()["job_id"], second.json()["job_id"]}


async def test_two_relays_publish_every_row_once(make_settings, amqp_url, engine):
    settings = make_settings(
        amqp_url=amqp_url,
        relay_batch_size=20,
        rate_limit_generations=0,
        max_unfinished_jobs=0,
        scheduler_slots_per_consumer=1000,
    )
    model = build_request_models(settings)[Kind.IMAGE]
    request = model.model_validate_json(json.dumps(SMALL_IMAGE))
    rows = 200
    writer = create_engine(settings, pool_size=2)
    ask = Ask("load", Kind.IMAGE, request, "bulk", "POST /api/images/generate")
    async with observe(amqp_url, "generation.requested") as seen:
        async with running_relay(settings), running_relay(settings):
            # rows arrive while both relays run (and are woken by NOTIFY), 25 at a time
            for _ in range(0, rows, 25):
                await asyncio.gather(*(admit(writer, settings, ask) for _ in range(25)))
            await eventually(lambda: _published(engine, rows), timeout=60)
            await eventually(lambda: _count(seen, rows), timeout=30)
    await writer.dispose()

    event_ids = [json.loads(m.body)["id"] for m in seen.messages]
    assert len(set(event_ids)) == rows  # none lost
    assert len(event_ids) == rows  # and, with SKIP LOCKED, none published twice
    job_ids = {json.loads(m.body)["data"]["job_id"] for m in seen.messages}
    assert len(job_ids) == rows
    assert await scalar(engine, "SELECT max(attempts) FROM outbox") == 1


async def test_relay_stops_promptly_while_broker_unreachable(make_settings):
    settings = make_settings(amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    async with running_relay(settings) as relay:
        await asyncio.sleep(0.3)
        assert not relay.stop.is_set()
    # leaving the context waited for run() to return: it did not hang in connect()


async def _count(seen, n: int) -> bool:
    return len(seen.messages) >= n


async def _published(engine, n: int) -> bool:
    return await scalar(engine, "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL") >= n
