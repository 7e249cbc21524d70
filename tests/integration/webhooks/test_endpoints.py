"""Per-user endpoints: events filter, secret shown once, rotation with a grace period during
which both secrets verify, 410 disables the endpoint."""

from __future__ import annotations

import json
import uuid

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.integration.gateway import projection_events as ev
from tests.integration.gateway.conftest import SMALL_IMAGE, auth, eventually

from .conftest import complete, running_deliverer


async def _job(client) -> uuid.UUID:
    r = await client.post("/api/images/generate", json=SMALL_IMAGE, headers=auth())
    return uuid.UUID(r.json()["job_id"])


def _verifies(secret: str, request) -> bool:
    try:
        Webhook(secret).verify(request.body, request.headers)
        return True
    except WebhookVerificationError:
        return False


async def test_endpoint_events_rotation_and_410(settings, client, sessions, receiver):
    r = await client.post(
        "/api/webhooks/endpoints",
        json={"url": f"{receiver.url}/ep", "events": ["started", "progress", "completed"]},
        headers=auth(),
    )
    assert r.status_code == 201, r.text
    endpoint = r.json()
    secret = endpoint["secret"]
    listed = (await client.get("/api/webhooks/endpoints", headers=auth())).json()["items"]
    assert [e["id"] for e in listed] == [endpoint["id"]]
    assert secret not in str(listed)  # shown once, at creation
    assert (await client.get("/api/webhooks/endpoints", headers=auth("bob"))).json() == {
        "items": []
    }

    job = await _job(client)
    async with running_deliverer(settings):
        await complete(settings, sessions, ev.progress(job, 40))
        await complete(settings, sessions, ev.progress(job, 80))
        await complete(settings, sessions, ev.completed(job, files=ev.image_files(job, 1)))
        await eventually(lambda: _count(receiver, 4), timeout=20)
        types = sorted(_type(r) for r in receiver.received)
        assert types == [
            "generation.completed",
            "generation.progress",
            "generation.progress",
            "generation.started",
        ]
        assert all(_verifies(secret, r) for r in receiver.received)
        assert len({r.headers["webhook-id"] for r in receiver.received}) == 4

        rotated = await client.post(
            f"/api/webhooks/endpoints/{endpoint['id']}/rotate", headers=auth()
        )
        assert rotated.status_code == 200
        new_secret = rotated.json()["secret"]
        assert new_secret != secret and rotated.json()["previous_secret_until"]
        second = await _job(client)
        await complete(settings, sessions, ev.failed(second))  # not in the filter: nothing
        third = await _job(client)
        await complete(settings, sessions, ev.completed(third, files=ev.image_files(third, 1)))
        await eventually(lambda: _count(receiver, 5), timeout=20)
        during_grace = receiver.received[4]
        assert _type(during_grace) == "generation.completed"  # the failed one was filtered out
        assert len(receiver.received) == 5
        assert _verifies(new_secret, during_grace) and _verifies(secret, during_grace)
        assert len(during_grace.headers["webhook-signature"].split(" ")) == 2

        receiver.default = 410
        fourth = await _job(client)
        await complete(settings, sessions, ev.completed(fourth, files=ev.image_files(fourth, 1)))
        await eventually(lambda: _disabled(client, endpoint["id"]), timeout=20)
        items = (await client.get(f"/api/images/{fourth}/webhooks", headers=auth())).json()
        assert items["items"][0]["status"] == "disabled"
        assert items["items"][0]["response_code"] == 410
        fifth = await _job(client)
        await complete(settings, sessions, ev.completed(fifth, files=ev.image_files(fifth, 1)))
        r = await client.get(f"/api/images/{fifth}/webhooks", headers=auth())
        assert r.json()["items"] == []  # a disabled endpoint gets nothing new

    for method, path in (
        ("POST", f"/api/webhooks/endpoints/{endpoint['id']}/rotate"),
        ("DELETE", f"/api/webhooks/endpoints/{endpoint['id']}"),
    ):
        r = await client.request(method, path, headers=auth("mallory"))
        assert (r.status_code, r.json()) == (404, {"detail": "webhook endpoint not found"})
    assert (
        await client.delete(f"/api/webhooks/endpoints/{endpoint['id']}", headers=auth())
    ).status_code == 204
    assert (await client.get("/api/webhooks/endpoints", headers=auth())).json() == {"items": []}


def _type(request) -> str:
    return json.loads(request.body)["type"]


async def _count(receiver, n: int) -> bool:
    return len(receiver.received) >= n


async def _disabled(client, endpoint_id: str) -> bool:
    items = (await client.get("/api/webhooks/endpoints", headers=auth())).json()["items"]
    return any(e["id"] == endpoint_id and e["disabled_at"] for e in items)
