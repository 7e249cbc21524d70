"""Cancel and delete through the API, against real PostgreSQL (and SeaweedFS for a storage
outage): states, answers, the outbox signal, the projection of late events, and storage
deletions retried by the janitor until storage is back."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from sorami_gateway.workers.janitor import Janitor
from sorami_gateway.workers.projector import Projector
from sorami_shared.events import derived_id
from sorami_shared.messaging import Delivery
from sorami_shared.storage import make_storage

from tests.integration.gateway.conftest import SMALL_IMAGE, SMALL_VIDEO, auth, eventually, scalar
from tests.integration.gateway.projection_events import completed, progress
from tests.support.chaos_proxy import ChaosProxy

pytestmark = pytest.mark.timeout(120)

DELIVERY = Delivery(attempt=1, max_attempts=6, redelivered=False)


async def _job(client, kind: str = "images", user: str = "alice") -> str:
    body = SMALL_IMAGE if kind == "images" else SMALL_VIDEO
    r = await client.post(f"/api/{kind}/generate", json=body, headers=auth(user))
    assert r.status_code == 202, r.text
    return r.json()["job_id"]


async def test_cancel_pending_processing_twice_finished_and_foreign(client, sessions, engine):
    projector = Projector(sessions)
    pending = await _job(client)
    r = await client.post(f"/api/images/{pending}/cancel", headers=auth())
    assert r.status_code == 202 and r.json()["status"] == "CANCELLED", r.text
    again = await client.post(f"/api/images/{pending}/cancel", headers=auth())
    assert again.status_code == 200 and again.json()["status"] == "CANCELLED"
    signal_id = derived_id("generation.cancel_requested", uuid.UUID(pending))
    assert await scalar(engine, "SELECT count(*) FROM outbox WHERE event_id = :e", e=signal_id) == 1
    assert (
        await scalar(
            engine, "SELECT count(*) FROM outbox WHERE type = 'generation.cancel_requested'"
        )
        == 1
    )  # the second cancel sent nothing

    running = await _job(client, "videos")
    await projector.handle(progress(uuid.UUID(running), 30, kind=_video()), DELIVERY)
    r = await client.post(f"/api/videos/{running}/cancel", headers=auth())
    assert r.status_code == 202 and r.json()["status"] == "CANCELLED"
    assert r.json()["progress"] == 30
    # what the generator still reports changes nothing; a late completed's objects are deleted
    await projector.handle(progress(uuid.UUID(running), 60, kind=_video()), DELIVERY)
    late = completed(uuid.UUID(running), kind=_video())
    await projector.handle(late, DELIVERY)
    status = (await client.get(f"/api/videos/{running}/status", headers=auth())).json()
    assert status["status"] == "CANCELLED" and status["progress"] == 30
    result = (await client.get(f"/api/videos/{running}/result", headers=auth())).json()
    assert result["files"] == []
    assert (
        await scalar(
            engine,
            "SELECT reason FROM storage_deletions WHERE job_id = :j AND done_at IS NULL",
            j=uuid.UUID(running),
        )
        == "cancelled"
    )

    done = await _job(client)
    await projector.handle(completed(uuid.UUID(done)), DELIVERY)
    conflict = await client.post(f"/api/images/{done}/cancel", headers=auth())
    assert conflict.status_code == 409 and "COMPLETED" in conflict.json()["detail"]
    assert (await client.post(f"/api/images/{done}/cancel", headers=auth("bob"))).status_code == 404
    assert (await client.post(f"/api/videos/{done}/cancel", headers=auth())).status_code == 404
    bad = await client.post("/api/images/not-a-uuid/cancel", headers=auth())
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][-1] == "job_id"


def _video():
    from sorami_shared.events import Kind

    return Kind.VIDEO


async def test_delete_removes_rows_and_objects_and_is_idempotent(
    client, sessions, engine, settings, media_dir: Path
):
    projector = Projector(sessions)
    job = await _job(client)
    jid = uuid.UUID(job)
    for i in (0, 1):  # what the generator would have written
        path = media_dir / "image" / job / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"png")
    await projector.handle(completed(jid), DELIVERY)
    keep = await _job(client)

    assert (await client.delete(f"/api/images/{job}", headers=auth("bob"))).status_code == 404
    assert (await client.delete(f"/api/images/{job}", headers=auth())).status_code == 204
    assert await scalar(engine, "SELECT count(*) FROM generations WHERE id = :j", j=jid) == 0
    assert (
        await scalar(
            engine, "SELECT count(*) FROM generation_files WHERE generation_id = :j", j=jid
        )
        == 0
    )
    assert (await client.get(f"/api/images/{job}/status", headers=auth())).status_code == 404
    history = (await client.get("/api/images/user", headers=auth())).json()["items"]
    assert [i["job_id"] for i in history] == [keep]
    assert (await client.delete(f"/api/images/{job}", headers=auth())).status_code == 204
    assert (await client.delete(f"/api/images/{uuid.uuid4()}", headers=auth())).status_code == 404

    janitor = Janitor(settings, sessions, make_storage(settings))
    assert await janitor.delete_due() == 1
    assert not (media_dir / "image" / job).exists()
    assert (await client.delete(f"/api/images/{job}", headers=auth())).status_code == 204

    # a late completed for the deleted job (files written after the delete): ignored, and
    # its objects are scheduled for deletion again
    (media_dir / "image" / job).mkdir(parents=True)
    (media_dir / "image" / job / "0.png").write_bytes(b"late")
    await projector.handle(completed(jid, event_id=uuid.uuid4()), DELIVERY)
    assert await janitor.delete_due() == 1
    assert not (media_dir / "image" / job).exists()

    # deleting a running job cancels it first (its generators are told)
    running = await _job(client)
    await projector.handle(progress(uuid.UUID(running), 10), DELIVERY)
    assert (await client.delete(f"/api/images/{running}", headers=auth())).status_code == 204
    assert (
        await scalar(
            engine,
            "SELECT count(*) FROM outbox WHERE event_id = :e",
            e=derived_id("generation.cancel_requested", uuid.UUID(running)),
        )
        == 1
    )


async def test_deletion_is_retried_while_storage_is_down(
    client,
    sessions,
    engine,
    make_settings,
    seaweed,
):
    proxy = ChaosProxy("storage", "127.0.0.1", int(seaweed.endpoint_url.rsplit(":", 1)[1]))
    port = proxy.port
    settings = make_settings(
        storage_backend="s3",
        s3_endpoint_url=f"http://127.0.0.1:{port}",
        s3_bucket=f"live-{uuid.uuid4().hex[:8]}",
        s3_region=seaweed.region,
        s3_access_key_id=seaweed.access_key,
        s3_secret_access_key=seaweed.secret_key,
        s3_create_bucket=True,
        deletion_retry_backoff_s=0.2,
        deletion_retry_backoff_max_s=0.5,
    )
    storage = make_storage(settings)
    await proxy.start()
    try:
        await storage.ensure_ready()
        job = await _job(client)
        key = f"image/{job}/0.png"
        await storage.put(key, b"png", "image/png")
        await Projector(sessions).handle(completed(uuid.UUID(job), files=None), DELIVERY)
        assert (await client.delete(f"/api/images/{job}", headers=auth())).status_code == 204

        await proxy.stop()  # storage goes down
        janitor = Janitor(settings, sessions, storage)
        assert await janitor.delete_due() == 0
        row = await scalar(
            engine,
            "SELECT attempts || ' ' || (last_error IS NOT NULL) FROM storage_deletions"
            " WHERE job_id = :j",
            j=uuid.UUID(job),
        )
        assert row == "1 true"

        await proxy.start()  # back: the next due attempt succeeds
        await eventually(janitor.delete_due, timeout=30, interval=0.1)
        assert not await storage.exists(key)
        assert (
            await scalar(
                engine,
                "SELECT done_at IS NOT NULL FROM storage_deletions WHERE job_id = :j",
                j=uuid.UUID(job),
            )
            is True
        )
    finally:
        await proxy.stop()
        await storage.close()
