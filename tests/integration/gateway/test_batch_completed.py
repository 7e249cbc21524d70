"""``batch.completed``: once every job of a batch is finished, one webhook delivery per user
endpoint that asked for it (not before, never twice), with the batch's counts; real
PostgreSQL, the API and the scheduler's completion check."""

from __future__ import annotations

from sorami_gateway.batches.completion import batch_body, complete_batches
from sorami_gateway.generations.webhook_payload import build
from sorami_gateway.infra.db import driver_connection
from sorami_gateway.webhooks.tables import WebhookDelivery
from sqlalchemy import select, text

from .conftest import SMALL_IMAGE, auth, scalar


async def test_batch_completed_is_queued_once_when_every_job_is_finished(client, sessions, engine):
    endpoints = {}
    for events in (["batch.completed"], ["completed"]):
        r = await client.post(
            "/api/webhooks/endpoints",
            json={"url": "https://hooks.example.com/sorami", "events": events},
            headers=auth("team"),
        )
        assert r.status_code == 201, r.text
        endpoints[events[0]] = r.json()["id"]
    created = await client.post(
        "/api/batches",
        json={"kind": "image", "requests": [SMALL_IMAGE, SMALL_IMAGE]},
        headers=auth("team"),
    )
    assert created.status_code == 202, created.text
    batch_id, jobs = created.json()["batch_id"], created.json()["job_ids"]

    async def check() -> list:
        async with driver_connection(engine) as conn, conn.transaction():
            return await complete_batches(conn)

    assert await check() == []  # both jobs still PENDING
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE generations SET status = 'COMPLETED' WHERE id = CAST(:j AS uuid)"),
            {"j": jobs[0]},
        )
    assert await check() == []  # one still PENDING
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE generations SET status = 'FAILED' WHERE id = CAST(:j AS uuid)"),
            {"j": jobs[1]},
        )
    assert [str(b) for b in await check()] == [batch_id]
    assert await check() == []  # never twice
    async with sessions() as session:
        deliveries = (await session.execute(select(WebhookDelivery))).scalars().all()
    assert len(deliveries) == 1  # the endpoint of "completed" only gets jobs' events
    [delivery] = deliveries
    assert str(delivery.endpoint_id) == endpoints["batch.completed"]
    assert delivery.event == "batch.completed" and str(delivery.job_id) == batch_id
    body = batch_body(delivery)
    async with sessions() as session:  # what the deliverer sends
        assert await build(session, delivery, urls=None) == body
    assert body["type"] == "batch.completed"
    assert body["data"]["batch_id"] == batch_id and body["data"]["size"] == 2
    assert body["data"]["counts"] == {"COMPLETED": 1, "FAILED": 1}
    assert await scalar(engine, "SELECT completed_at IS NOT NULL FROM generation_batches")
    view = await client.get(f"/api/batches/{batch_id}", headers=auth("team"))
    assert view.json()["done"] is True


async def test_a_job_cannot_ask_for_batch_completed(client):
    r = await client.post(
        "/api/images/generate",
        json=SMALL_IMAGE
        | {"webhook_url": "https://hooks.example.com/x", "webhook_events": ["batch.completed"]},
        headers=auth("team"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"][-1] == "webhook_events" or "webhook_events" in str(
        r.json()["detail"][0]["loc"]
    )
