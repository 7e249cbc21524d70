"""S3Storage against a real SeaweedFS server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import HTTPException
from sorami_shared.storage import ObjectNotFound, StorageError, make_storage
from sorami_shared.storage.s3 import S3Storage
from sorami_shared.storage.settings import StorageSettings

from tests.support.infra import free_port
from tests.support.seaweed import SeaweedS3, run_seaweedfs

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with run_seaweedfs(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


def settings_for(server: SeaweedS3, **overrides) -> StorageSettings:
    values = {
        "storage_backend": "s3",
        "s3_endpoint_url": server.endpoint_url,
        "s3_bucket": f"test-{uuid.uuid4().hex[:10]}",
        "s3_region": server.region,
        "s3_access_key_id": server.access_key,
        "s3_secret_access_key": server.secret_key,
        "s3_create_bucket": True,
    }
    values.update(overrides)
    return StorageSettings(**values)


@pytest.fixture
async def storage(seaweed) -> AsyncIterator[S3Storage]:
    storage = make_storage(settings_for(seaweed))
    assert isinstance(storage, S3Storage)
    await storage.ensure_ready()
    yield storage
    await storage.close()


async def test_put_get_exists_overwrite(storage):
    key = f"image/{uuid.uuid4()}/0.png"
    assert not await storage.exists(key)
    await storage.put(key, b"\x89PNG first", "image/png")
    await storage.put(key, b"\x89PNG second", "image/png")
    assert await storage.exists(key)
    assert await storage.get(key) == b"\x89PNG second"
    with pytest.raises(ObjectNotFound):
        await storage.get(f"image/{uuid.uuid4()}/0.png")


async def test_delete_prefix(storage):
    job = uuid.uuid4()
    for key in (f"video/{job}/0.mp4", f"video/{job}/0.png", f"video/{uuid.uuid4()}/0.mp4"):
        await storage.put(key, b"x", "application/octet-stream")
    assert await storage.delete_prefix(f"video/{job}/") == 2
    assert not await storage.exists(f"video/{job}/0.mp4")
    assert await storage.delete_prefix(f"video/{job}/") == 0


async def test_presigned_url_serves_the_object_and_keeps_its_content_type(storage):
    key = f"video/{uuid.uuid4()}/0.mp4"
    await storage.put(key, b"fake mp4 bytes", "video/mp4")
    url = await storage.presigned_url(key, 300)
    assert url and "X-Amz-Signature" in url
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
        assert response.status_code == 200 and response.content == b"fake mp4 bytes"
        assert response.headers["content-type"] == "video/mp4"
        tampered = await client.get(url.replace(key, key.replace("0.mp4", "1.mp4")))
        assert tampered.status_code == 403


async def test_presigned_url_uses_the_public_endpoint_when_set(seaweed):
    public = "http://media.example.test:9000"
    storage = S3Storage(settings_for(seaweed, s3_public_endpoint_url=public))
    try:
        url = await storage.presigned_url("image/x/0.png", 60)
    finally:
        await storage.close()
    assert url.startswith(public + "/")


async def test_missing_bucket_without_create_is_an_error(seaweed):
    storage = S3Storage(settings_for(seaweed, s3_create_bucket=False))
    try:
        with pytest.raises(StorageError, match="does not exist"):
            await storage.ensure_ready()
    finally:
        await storage.close()


async def test_wrong_credentials_and_unreachable_endpoint_raise_storage_error(seaweed):
    wrong = S3Storage(settings_for(seaweed, s3_secret_access_key="nope"))
    down = S3Storage(settings_for(seaweed, s3_endpoint_url=f"http://127.0.0.1:{free_port()}"))
    try:
        with pytest.raises(StorageError):
            await wrong.put("image/x/0.png", b"x", "image/png")
        with pytest.raises(StorageError):
            await down.put("image/x/0.png", b"x", "image/png")
        with pytest.raises(StorageError):
            await down.ensure_ready()
    finally:
        await wrong.close()
        await down.close()


async def test_keys_are_validated_before_any_request(storage):
    with pytest.raises(ValueError):
        await storage.put("../escape", b"x", "text/plain")


async def test_gateway_media_serves_an_s3_object_whole_when_presigning_failed(
    storage, make_database
):
    """The /media fallback for S3 (MediaUrls signs a gateway URL when presigning fails): the
    whole object with its type; a Range is answered with all of it (Accept-Ranges: none)."""
    from types import SimpleNamespace

    from sorami_gateway.media.routes import media
    from sorami_gateway.media.signing import sign
    from sqlalchemy.ext.asyncio import create_async_engine
    from starlette.requests import Request

    # the route asks the gateway's database whether the result expired (its job has no row)
    engine = create_async_engine(await make_database("gateway", migrated="gateway"))

    key = f"video/{uuid.uuid4()}/0.mp4"
    data = b"\x00\x00\x00\x18ftypisom" + bytes(range(200))
    await storage.put(key, data, "video/mp4")
    secret = b"m" * 32
    expires = 2**40
    ranged = Request({"type": "http", "method": "GET", "headers": [(b"range", b"bytes=0-1")]})
    settings = SimpleNamespace(media_secret=secret)
    try:
        signature = sign(secret, key, expires)
        response = await media(key, ranged, settings, storage, engine, expires, signature)
        assert response.status_code == 200 and response.body == data
        assert response.headers["content-type"] == "video/mp4"
        assert response.headers["accept-ranges"] == "none"
        missing = f"video/{uuid.uuid4()}/0.mp4"
        signature = sign(secret, missing, expires)
        with pytest.raises(HTTPException) as gone:
            await media(missing, ranged, settings, storage, engine, expires, signature)
        assert gone.value.status_code == 404
    finally:
        await engine.dispose()
