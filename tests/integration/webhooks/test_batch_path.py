"""The projector's batch path (workers/projector_batch.py, which reads each job's webhook
targets with its locked row) queues the deliveries the one-at-a-time path queues: the job's
own webhook and its user's endpoints, each for the events it asked for; a job of a user
without any gets none."""

from __future__ import annotations

import uuid
from typing import Any

from sorami_gateway.workers.projector import Projector
from sorami_shared.messaging import Item

from tests.integration.gateway import projection_events as ev
from tests.integration.gateway.conftest import SMALL_IMAGE, auth, scalar

from .conftest import FIRST

HOOK = {"webhook_url": "http://127.0.0.1:9/job", "webhook_events": ["started", "completed"]}


async def _job(client, user: str, **extra: Any) -> uuid.UUID:
    r = await client.post("/api/images/generate", json={**SMALL_IMAGE, **extra}, headers=auth(user))
    assert r.status_code == 202, r.text
    return uuid.UUID(r.json()["job_id"])


async def _queued(engine, job: uuid.UUID) -> list[tuple[Any, ...]]:
    rows = await scalar(
        engine,
        "SELECT coalesce(json_agg(json_build_array(event, target = 'request', url, "
        "endpoint_id IS NOT NULL, snapshot->>'status', snapshot->>'progress', user_id, kind, "
        "status) ORDER BY event, url, snapshot->>'progress'), '[]') "
        "FROM webhook_deliveries WHERE job_id = :id",
        id=job,
    )
    return [tuple(r) for r in rows]


def _events(job: uuid.UUID, user: str) -> list[Any]:
    return [
        ev.progress(job, 0, user=user),
        ev.progress(job, 40, user=user),
        ev.completed(job, user=user),
    ]


async def test_the_batch_path_queues_what_the_one_at_a_time_path_does(client, sessions, engine):
    r = await client.post(
        "/api/webhooks/endpoints",
        json={"url": "http://127.0.0.1:9/ep", "events": ["started", "progress", "completed"]},
        headers=auth("alice"),
    )
    assert r.status_code == 201, r.text
    one, batched = await _job(client, "alice", **HOOK), await _job(client, "alice", **HOOK)
    plain = await _job(client, "bob")  # no webhook, no endpoint
    projector = Projector(sessions, engine=engine)
    for event in _events(one, "alice"):
        await projector.handle(event, FIRST)
    for event in [*_events(batched, "alice"), *_events(plain, "bob")]:  # a batch each, in order
        assert await projector.handle_batch([Item(event, FIRST, None)]) == []  # type: ignore[arg-type]
    expected = await _queued(engine, one)
    assert [(e[0], e[1]) for e in expected] == [
        ("completed", False),  # the endpoint
        ("completed", True),  # the job's own
        ("progress", False),
        ("progress", False),
        ("started", False),
        ("started", True),
    ]
    assert await _queued(engine, batched) == expected
    assert await _queued(engine, plain) == []
