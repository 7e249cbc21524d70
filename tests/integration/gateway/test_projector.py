"""The projection: monotonic progress, first terminal state wins, exactly one set of files,
idempotent under redelivery; and wired to the real queue (unknown job → dead-letter queue)."""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
from sorami_gateway.db import create_engine, create_session_factory
from sorami_gateway.models import Status
from sorami_gateway.projector import Projector
from sorami_shared.events import Kind, Outcome
from sorami_shared.messaging import Delivery, EventBus, Reject
from sorami_shared.topology import GATEWAY_PROJECTION

from tests.support.chaos_proxy import ChaosProxy
from tests.support.infra import free_port

from . import projection_events as ev
from .conftest import SMALL_IMAGE, auth, eventually, scalar

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)
AGAIN = Delivery(attempt=2, max_attempts=6, redelivered=True)


@pytest.fixture
async def job_id(client) -> uuid.UUID:
    response = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth("alice"))
    assert response.status_code == 202
    return uuid.UUID(response.json()["job_id"])


@pytest.fixture
def projector(sessions) -> Projector:
    return Projector(sessions)


async def _state(engine, job_id):
    return await scalar(
        engine,
        "SELECT json_build_object('status', status, 'progress', progress, 'error', error, "
        "'error_code', error_code, 'started', started_at IS NOT NULL, "
        "'completed', completed_at IS NOT NULL) FROM generations WHERE id = :id",
        id=job_id,
    )


async def _files(engine, job_id) -> int:
    return await scalar(
        engine, "SELECT count(*) FROM generation_files WHERE generation_id = :id", id=job_id
    )


async def test_progress_moves_to_processing_and_never_backwards(projector, engine, job_id):
    await projector.handle(ev.progress(job_id, 0), FIRST)
    assert (await _state(engine, job_id))["status"] == "PROCESSING"
    await projector.handle(ev.progress(job_id, 60), FIRST)
    await projector.handle(ev.progress(job_id, 30), FIRST)  # late, out of order
    state = await _state(engine, job_id)
    assert state["progress"] == 60 and state["started"]


async def test_completed_before_any_progress(projector, engine, job_id):
    await projector.handle(ev.completed(job_id), FIRST)
    state = await _state(engine, job_id)
    assert state["status"] == "COMPLETED" and state["progress"] == 100 and state["completed"]
    assert await _files(engine, job_id) == 2
    await projector.handle(ev.progress(job_id, 50), FIRST)  # late progress
    state = await _state(engine, job_id)
    assert state["status"] == "COMPLETED" and state["progress"] == 100


async def test_duplicate_completed_gives_one_set_of_files(projector, engine, job_id):
    event = ev.completed(job_id)
    await projector.handle(event, FIRST)
    await projector.handle(event, AGAIN)  # redelivered
    await projector.handle(ev.completed(job_id, event_id=uuid.uuid4()), FIRST)  # another copy
    assert await _files(engine, job_id) == 2
    processed = await scalar(engine, "SELECT count(*) FROM processed_events")
    assert processed == 2  # the redelivery was recognised; the copy was recorded, changed nothing


async def test_failed_then_completed_stays_failed(projector, engine, job_id):
    await projector.handle(ev.progress(job_id, 40), FIRST)
    await projector.handle(ev.failed(job_id, reason="CUDA out of memory"), FIRST)
    await projector.handle(ev.completed(job_id), FIRST)
    state = await _state(engine, job_id)
    assert state["status"] == "FAILED" and state["error"] == "CUDA out of memory"
    assert state["error_code"] == "out_of_memory" and state["progress"] == 40
    assert await _files(engine, job_id) == 0


async def test_completed_then_failed_stays_completed(projector, engine, job_id):
    await projector.handle(ev.completed(job_id), FIRST)
    await projector.handle(ev.failed(job_id), FIRST)
    assert (await _state(engine, job_id))["status"] == Status.COMPLETED


async def test_status_endpoint_reflects_the_projection(client, projector, job_id):
    await projector.handle(ev.failed(job_id, reason="model not found"), FIRST)
    body = (await client.get(f"/api/images/{job_id}/status", headers=auth())).json()
    assert body["status"] == "FAILED" and body["error"] == "model not found"
    assert body["error_code"] == "out_of_memory"


@pytest.mark.parametrize(
    "make_event",
    [
        lambda job: ev.progress(uuid.uuid4(), 10),
        lambda job: ev.completed(uuid.uuid4()),
        lambda job: ev.progress(job, 10, user="mallory"),
        lambda job: ev.completed(job, kind=Kind.VIDEO),
    ],
    ids=["unknown job progress", "unknown job completed", "other user", "other kind"],
)
async def test_event_for_unknown_or_mismatched_job_is_rejected(
    projector, engine, job_id, make_event
):
    with pytest.raises(Reject):
        await projector.handle(make_event(job_id), FIRST)
    assert (await _state(engine, job_id))["status"] == "PENDING"
    assert await scalar(engine, "SELECT count(*) FROM processed_events") == 0


async def test_notification_created_is_projected_once(projector, engine, job_id):
    event = ev.notification(job_id, outcome=Outcome.COMPLETED)
    await projector.handle(event, FIRST)
    await projector.handle(event, AGAIN)
    row = await scalar(engine, "SELECT row_to_json(n) FROM notifications n")
    assert await scalar(engine, "SELECT count(*) FROM notifications") == 1
    assert row["user_id"] == "alice" and row["type"] == "generation.completed"
    assert row["data"] == {"job_id": str(job_id), "kind": "image"} and row["read_at"] is None


async def test_projector_on_the_real_queue(make_settings, amqp_url, sessions, engine, client):
    """Published events are projected; a redelivered duplicate changes nothing; an event for
    an unknown job ends in the dead-letter queue instead of looping."""
    job = uuid.UUID(
        (await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())).json()[
            "job_id"
        ]
    )
    consumer_bus = EventBus(amqp_url, source="sorami/gateway-test")
    publisher = EventBus(amqp_url, source="sorami/generator-test")
    await consumer_bus.connect()
    await publisher.connect()
    try:
        await consumer_bus.consume(GATEWAY_PROJECTION, Projector(sessions).handle)
        for event in (
            ev.progress(job, 10),
            ev.completed(job),
            ev.completed(job),
            ev.notification(job),
            ev.progress(uuid.uuid4(), 5),
        ):
            await publisher.publish(event)
        await eventually(lambda: _dead_letters(amqp_url, 1))
        await eventually(lambda: scalar(engine, "SELECT count(*) = 1 FROM notifications"))
        # the queue's deliveries are handled concurrently: the notification may land first
        completed = "SELECT status = 'COMPLETED' FROM generations WHERE id = :job"
        await eventually(lambda: scalar(engine, completed, job=job))
        state = await _state(engine, job)
        assert state["status"] == "COMPLETED"
        assert await _files(engine, job) == 2
    finally:
        await consumer_bus.close()
        await publisher.close()


async def _dead_letters(amqp_url: str, n: int) -> bool:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(GATEWAY_PROJECTION.dead_letter_queue, passive=True)
        return (queue.declaration_result.message_count or 0) >= n
    finally:
        await connection.close()


async def test_database_outage_is_ridden_out_without_a_requeue(settings, engine, job_id):
    """While the database is unreachable the handler retries the transaction itself (a requeue
    would burn the queue's delivery limit and could dead-letter a `completed`)."""
    real = urlsplit(settings.database_url)
    proxy = ChaosProxy("db", real.hostname or "127.0.0.1", real.port or 5432)
    port = proxy.port
    proxied = urlunsplit(real._replace(netloc=f"{real.username}@127.0.0.1:{port}"))
    outage_engine = create_engine(settings.model_copy(update={"database_url": proxied}))
    projector = Projector(create_session_factory(outage_engine), db_outage_s=30)
    try:
        handling = asyncio.create_task(projector.handle(ev.completed(job_id), FIRST))
        await asyncio.sleep(0.5)
        assert not handling.done()  # still retrying, not raised
        await proxy.start()
        await asyncio.wait_for(handling, 15)
        assert (await _state(engine, job_id))["status"] == "COMPLETED"
    finally:
        await proxy.stop()
        await outage_engine.dispose()


async def test_database_outage_beyond_the_window_raises(settings, job_id):
    down = create_engine(
        settings.model_copy(
            update={"database_url": f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x"}
        )
    )
    try:
        with pytest.raises(Exception) as info:
            await Projector(create_session_factory(down), db_outage_s=0.5).handle(
                ev.progress(job_id, 5), FIRST
            )
        assert not isinstance(info.value, Reject)
    finally:
        await down.dispose()
