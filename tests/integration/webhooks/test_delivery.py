"""Webhook delivery end to end in one process: the api stores the webhook, the projector's
transaction queues the delivery, the deliverer sends it to a real local receiver."""

from __future__ import annotations

import asyncio
import io
import uuid
from urllib.parse import urlparse

from PIL import Image
from prometheus_client import REGISTRY
from sorami_shared.events import Kind
from standardwebhooks.webhooks import Webhook

from tests.integration.gateway import projection_events as ev
from tests.integration.gateway.conftest import SMALL_IMAGE, auth, eventually
from tests.support.infra import free_port

from .conftest import FAST, complete, receiving, running_deliverer


async def _job(client, webhook_url: str | None = None, user: str = "alice", **extra) -> uuid.UUID:
    body = {**SMALL_IMAGE, **extra}
    if webhook_url:
        body["webhook_url"] = webhook_url
    r = await client.post("/api/images/generate", json=body, headers=auth(user))
    assert r.status_code == 202, r.text
    return uuid.UUID(r.json()["job_id"])


async def _deliveries(client, job_id: uuid.UUID, user: str = "alice") -> list[dict]:
    r = await client.get(f"/api/images/{job_id}/webhooks", headers=auth(user))
    assert r.status_code == 200, r.text
    return r.json()["items"]


async def _settled(client, job_id: uuid.UUID, count: int = 1) -> list[dict]:
    async def check():
        items = await _deliveries(client, job_id)
        return (
            items if len(items) == count and all(i["status"] != "pending" for i in items) else None
        )

    return await eventually(check, timeout=20)


async def test_completed_arrives_once_signed_and_its_urls_download(
    settings, client, sessions, receiver
):
    url = f"{receiver.url}/hooks/sorami?token=t-{uuid.uuid4().hex}"
    job = await _job(client, url)
    secret = (await client.get("/api/webhooks/secret", headers=auth())).json()["secret"]
    assert secret.startswith("whsec_")
    assert (await client.get("/api/webhooks/secret", headers=auth())).json()["secret"] == secret
    async with running_deliverer(settings):
        await complete(settings, sessions, ev.progress(job, 50))  # started: not subscribed
        await complete(settings, sessions, ev.completed(job, files=ev.image_files(job, 2)))
        [delivery] = await _settled(client, job)
        await asyncio.sleep(1.0)  # nothing else arrives
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.path == "/hooks/sorami"
    payload = Webhook(secret).verify(got.body, got.headers)
    assert got.headers["webhook-id"] == delivery["webhook_id"]
    assert payload["type"] == "generation.completed"
    data = payload["data"]
    assert (data["job_id"], data["status"], data["progress"]) == (str(job), "COMPLETED", 100)
    assert data["params"]["prompt"] == SMALL_IMAGE["prompt"] and len(data["files"]) == 2
    for f in data["files"]:
        link = urlparse(f["url"])
        r = await client.get(f"{link.path}?{link.query}")
        assert r.status_code == 200
        assert Image.open(io.BytesIO(r.content)).size == (64, 64)
    assert delivery["status"] == "succeeded" and delivery["event"] == "completed"
    assert delivery["response_code"] == 200 and delivery["attempts"] == 1
    assert [a["status_code"] for a in delivery["history"]] == [200]
    # the URL is the caller's own, listed to them only; and a wrong secret does not verify
    other = (await client.get("/api/webhooks/secret", headers=auth("bob"))).json()["secret"]
    assert other != secret


async def test_three_500s_then_200_is_delivered_on_the_fourth_attempt_same_id(
    settings, client, sessions, receiver
):
    receiver.script = [500, 500, 500]
    job = await _job(client, f"{receiver.url}/h")
    before = {o: _attempts(o) for o in ("pending", "succeeded")}
    async with running_deliverer(settings):
        await complete(settings, sessions, ev.failed(job))
        [delivery] = await _settled(client, job)
    # the deliverer's metrics (issue 17): three retried attempts, one success
    assert _attempts("pending") - before["pending"] == 3
    assert _attempts("succeeded") - before["succeeded"] == 1
    assert delivery["status"] == "succeeded" and delivery["attempts"] == 4
    assert [a["status_code"] for a in delivery["history"]] == [500, 500, 500, 200]
    assert all(a["duration_ms"] >= 0 for a in delivery["history"])
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert len(receiver.received) == 4
    assert receiver.received[0].headers["webhook-id"] == delivery["webhook_id"]
    assert b'"generation.failed"' in receiver.received[-1].body


async def test_receiver_down_past_the_horizon_ends_failed_then_redelivered_by_hand(
    make_settings, client, sessions
):
    settings = make_settings(webhooks={**FAST, "retry_horizon_s": 1.5})
    port = free_port()  # nothing listens there yet: connection refused
    job = await _job(client, f"http://127.0.0.1:{port}/down")
    async with running_deliverer(settings):
        await complete(settings, sessions, ev.completed(job, files=ev.image_files(job, 1)))
        [delivery] = await _settled(client, job)
        assert delivery["status"] == "failed" and delivery["next_retry_at"] is None
        assert delivery["attempts"] >= 3 and delivery["response_code"] is None
        assert "ConnectError" in delivery["error"]
        async with receiving(port=port) as receiver:
            r = await client.post(f"/api/images/{job}/webhooks/redeliver", headers=auth())
            assert r.status_code == 202 and r.json()["redelivered"] == [delivery["id"]]
            [again] = await _settled(client, job)
            assert again["status"] == "succeeded" and again["attempts"] == delivery["attempts"] + 1
            assert len(receiver.received) == 1
            assert receiver.received[0].headers["webhook-id"] == delivery["webhook_id"]
    # nothing left to redeliver
    r = await client.post(f"/api/images/{job}/webhooks/redeliver", headers=auth())
    assert r.json()["redelivered"] == []


async def test_another_users_job_webhooks_answer_404_like_a_missing_job(client):
    job = await _job(client, "http://127.0.0.1:9/x")
    for path in (f"/api/images/{job}/webhooks", f"/api/images/{uuid.uuid4()}/webhooks"):
        r = await client.get(path, headers=auth("mallory"))
        assert (r.status_code, r.json()) == (404, {"detail": "generation not found"})
    r = await client.post(f"/api/images/{job}/webhooks/redeliver", headers=auth("mallory"))
    assert r.status_code == 404
    r = await client.get(f"/api/videos/{job}/webhooks", headers=auth())  # wrong kind
    assert r.status_code == 404


async def test_webhook_url_is_validated_at_request_time(make_settings):
    from tests.integration.gateway.conftest import running_client

    strict = make_settings()  # environment "test": https only
    async with running_client(strict) as client:
        for url, field_msg in (
            ("http://hooks.example.com/x", "https"),
            ("https://u:p@hooks.example.com/x", "credentials"),
            ("https://hooks.example.com/" + "x" * 3000, "at most"),
        ):
            r = await client.post(
                "/api/images/generate",
                json={**SMALL_IMAGE, "webhook_url": url},
                headers=auth(),
            )
            assert r.status_code == 422, r.text
            assert r.json()["detail"][0]["loc"] == ["body", "webhook_url"]
            assert field_msg in r.json()["detail"][0]["msg"]
        r = await client.post(
            "/api/images/generate",
            json={**SMALL_IMAGE, "webhook_url": "https://a.example/x", "webhook_events": ["done"]},
            headers=auth(),
        )
        assert r.status_code == 422 and r.json()["detail"][0]["loc"][:2] == [
            "body",
            "webhook_events",
        ]
        ok = await client.post(
            "/api/images/generate",
            json={
                **SMALL_IMAGE,
                "webhook_url": "https://a.example/x",
                "webhook_events": ["started"],
            },
            headers=auth(),
        )
        assert ok.status_code == 202


async def test_a_hanging_receiver_times_out_within_the_bound_and_is_retried(
    make_settings, client, sessions, receiver
):
    settings = make_settings(webhooks={**FAST, "timeout_s": 1.0, "lease_s": 3.0})
    receiver.hold = asyncio.Event()  # answers nothing until released
    job = await _job(client, f"{receiver.url}/slow")
    async with running_deliverer(settings):
        await complete(settings, sessions, ev.failed(job))

        async def timed_out():
            items = await _deliveries(client, job)
            return items and items[0]["history"] and items[0]["history"][0]

        first = await eventually(timed_out, timeout=20)
        receiver.hold.set()
        [delivery] = await _settled(client, job)
    assert first["error"] == "timed out after 1s" and first["status_code"] is None
    assert 900 <= first["duration_ms"] < 2500
    assert delivery["status"] == "succeeded" and delivery["history"][-1]["status_code"] == 200


async def test_v1_takes_the_webhook_through_extra_body(settings, client, sessions, receiver):
    r = await client.post(
        "/v1/videos",
        json={
            "prompt": "waves",
            "size": "64x64",
            "seconds": 1,
            "webhook_url": f"{receiver.url}/v1",
            "webhook_events": ["completed"],
        },
        headers=auth(),
    )
    assert r.status_code == 200, r.text
    job = uuid.UUID(r.json()["id"])
    async with running_deliverer(settings):
        await complete(
            settings, sessions, ev.completed(job, kind=Kind.VIDEO, files=ev.video_files(job))
        )
        await eventually(lambda: _received(receiver), timeout=20)
    assert receiver.received[0].path == "/v1"
    assert f'"job_id":"{job}"'.encode() in receiver.received[0].body


async def _received(receiver) -> bool:
    return bool(receiver.received)


def _attempts(outcome: str) -> float:
    value = REGISTRY.get_sample_value("sorami_webhook_attempts_total", {"outcome": outcome})
    return value or 0.0


async def test_one_jobs_events_arrive_in_order_even_when_the_first_is_retried(
    settings, client, sessions, receiver
):
    """started and progress 0 are queued in one transaction, then more progress and the
    outcome; the receiver fails the first request it gets. Every request still arrives in
    the job's order: started, progress 0, 50, completed (the first one twice)."""
    receiver.script = [500]
    events = "started,progress,completed"
    job = await _job(client, f"{receiver.url}/h", webhook_events=events.split(","))
    await complete(settings, sessions, ev.progress(job, 0))  # PENDING -> PROCESSING: started
    await complete(settings, sessions, ev.progress(job, 50))
    await complete(settings, sessions, ev.completed(job, files=ev.image_files(job, 1)))
    async with running_deliverer(settings):  # all four are due at once
        items = await _settled(client, job, count=4)
    assert all(i["status"] == "succeeded" for i in items)
    seen = []
    for got in receiver.received:
        data = Webhook(
            (await client.get("/api/webhooks/secret", headers=auth())).json()["secret"]
        ).verify(got.body, got.headers)
        seen.append((data["type"], data["data"].get("progress")))
    assert [s[0] for s in seen] == [
        "generation.started",
        "generation.started",  # the retry of the 500
        "generation.progress",
        "generation.progress",
        "generation.completed",
    ], seen
    assert [p for t, p in seen if t == "generation.progress"] == [0, 50]
