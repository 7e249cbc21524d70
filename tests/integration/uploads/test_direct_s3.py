"""Uploads with S3 storage (a real SeaweedFS): POST /api/uploads stores in the bucket; a
direct upload PUTs to a presigned URL (signed for its length), then completes; a refused file
is deleted with its upload; the janitor empties the bucket of expired uploads."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sorami_gateway.uploads.expiry import remove_expired
from sorami_shared.storage import make_storage

from tests.integration.gateway.conftest import auth, running_client
from tests.support import images
from tests.support.seaweed import SeaweedS3, run_seaweedfs


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with run_seaweedfs(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


@pytest.fixture
def s3_settings(make_settings, seaweed):
    return make_settings(
        storage_backend="s3",
        s3_endpoint_url=seaweed.endpoint_url,
        s3_bucket=f"uploads-{uuid.uuid4().hex[:10]}",
        s3_region=seaweed.region,
        s3_access_key_id=seaweed.access_key,
        s3_secret_access_key=seaweed.secret_key,
        s3_create_bucket=True,
    )


async def _direct(client: httpx.AsyncClient, data: bytes) -> httpx.Response:
    started = await client.post("/api/uploads/direct", json={"bytes": len(data)}, headers=auth())
    assert started.status_code == 201, started.text
    plan = started.json()
    assert plan["upload"]["status"] == "pending" and plan["upload"]["url"] is None
    async with httpx.AsyncClient() as raw:
        put = await raw.put(plan["upload_url"], content=data, headers=plan["headers"])
    assert put.status_code == 200, put.text
    return await client.post(plan["complete_url"].removeprefix("http://testserver"), headers=auth())


async def test_uploads_in_s3_direct_and_through_the_gateway(s3_settings, sessions):
    storage = make_storage(s3_settings)
    await storage.ensure_ready()
    async with running_client(s3_settings) as client:
        sent = await client.post(
            "/api/uploads", files={"file": ("a.png", images.png(24, 16))}, headers=auth()
        )
        assert sent.status_code == 201, sent.text
        assert await storage.exists(f"upload/{sent.json()['upload_id']}/source.png")

        photo = images.rotated_jpeg(40, 20)
        done = await _direct(client, photo)
        assert done.status_code == 200, done.text
        body = done.json()
        assert (body["status"], body["format"], body["width"], body["height"]) == (
            "ready",
            "jpeg",
            20,
            40,
        )
        stored = await storage.get(f"upload/{body['upload_id']}/source.jpeg")
        assert hashlib.sha256(stored).hexdigest() == body["sha256"]
        assert not await storage.exists(f"upload/{body['upload_id']}/incoming")
        again = await client.post(f"/api/uploads/{body['upload_id']}/complete", headers=auth())
        assert again.json() == {**body, "url": again.json()["url"]}  # idempotent

        refused = await _direct(client, images.other_format("GIF"))
        assert refused.status_code == 415, refused.text
        assert refused.json()["detail"][0]["loc"] == ["body", "file"]
        listed = (await client.get("/api/uploads", headers=auth())).json()["items"]
        assert len(listed) == 2

        plan = (await client.post("/api/uploads/direct", json={"bytes": 10}, headers=auth())).json()
        async with httpx.AsyncClient() as raw:  # more bytes than the URL was signed for
            put = await raw.put(plan["upload_url"], content=b"x" * 5000)
        assert put.status_code >= 400
        too_big = await client.post("/api/uploads/direct", json={"bytes": 10**9}, headers=auth())
        assert too_big.status_code == 413 and too_big.json()["detail"][0]["loc"] == [
            "body",
            "bytes",
        ]

        for item in listed:
            assert (
                await client.delete(f"/api/uploads/{item['upload_id']}", headers=auth())
            ).status_code == 204
    assert await remove_expired(sessions, storage, batch=10) >= 3  # two deleted, one refused
    assert not await storage.exists(f"upload/{sent.json()['upload_id']}/source.png")
    await storage.close()
