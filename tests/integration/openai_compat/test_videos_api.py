"""``/v1/videos`` in-process, through the real SDK: the mapping onto Sorami's video request,
the Video object through its lifecycle, content, listing, deletion, ownership."""

from __future__ import annotations

import uuid

import httpx2
import openai
import pytest
from sorami_gateway.generations.tables import Generation
from sorami_gateway.workers.projector import project
from sorami_shared.events import Kind

from tests.integration.gateway.conftest import make_token
from tests.integration.gateway.projection_events import progress

from .conftest import MP4_STUB, PNG_1x1, finish, openai_app

pytestmark = pytest.mark.timeout(60)


async def test_video_lifecycle_content_and_deletion(sdk, sessions, settings) -> None:
    client = sdk()
    video = await client.videos.create(prompt="waves", seconds="2", size="64x64")
    assert (video.status, video.progress, video.seconds, video.size) == ("queued", 0, "2", "64x64")
    async with sessions() as session:
        params = (await session.get(Generation, uuid.UUID(video.id))).params
    assert (params["num_frames"], params["fps"], params["width"]) == (16, 8, 64)

    with pytest.raises(openai.BadRequestError) as not_ready:
        await client.videos.download_content(video.id)
    assert not_ready.value.code == "video_not_ready"

    async with sessions() as session:
        await project(session, progress(uuid.UUID(video.id), 40, kind=Kind.VIDEO))
        await session.commit()
    raw = await client.videos.with_raw_response.retrieve(video.id)
    assert raw.headers["openai-poll-after-ms"] == str(settings.openai_poll_after_ms)
    assert (raw.parse().status, raw.parse().progress) == ("in_progress", 40)

    await finish(sessions, settings, uuid.UUID(video.id), kind=Kind.VIDEO)
    done = await client.videos.poll(video.id)
    assert done.status == "completed" and done.progress == 100 and done.completed_at
    assert (await client.videos.download_content(video.id)).content == MP4_STUB
    thumb = await client.videos.download_content(video.id, variant="thumbnail")
    assert thumb.content == PNG_1x1
    with pytest.raises(openai.BadRequestError) as sprite:
        await client.videos.download_content(video.id, variant="spritesheet")
    assert sprite.value.param == "variant"

    bob = sdk("bob")
    missing = str(uuid.uuid4())
    for name in ("retrieve", "download_content", "delete"):
        for who, video_id in ((bob, video.id), (client, missing), (client, "not-a-uuid")):
            with pytest.raises(openai.NotFoundError) as not_found:
                await getattr(who.videos, name)(video_id)
            assert not_found.value.body["type"] == "invalid_request_error"  # type: ignore[index]

    assert (await client.videos.delete(video.id)).deleted
    assert (await client.videos.delete(video.id)).deleted  # a retried delete answers the same
    with pytest.raises(openai.NotFoundError):
        await client.videos.retrieve(video.id)
    assert (await client.videos.list()).data == []


async def test_failed_video_reports_its_error(sdk, sessions, settings) -> None:
    client = sdk()
    video = await client.videos.create(prompt="waves", size="64x64")
    await finish(sessions, settings, uuid.UUID(video.id), kind=Kind.VIDEO, ok=False)
    failed = await client.videos.poll(video.id)
    assert failed.status == "failed"
    assert (failed.error.code, failed.error.message) == ("out_of_memory", "out of memory")
    assert (await client.videos.delete(video.id)).deleted


async def test_list_pages_both_orders(sdk) -> None:
    client = sdk()
    ids = [(await client.videos.create(prompt=f"v{i}", size="64x64")).id for i in range(3)]
    page = await client.videos.list(limit=2)
    assert ([v.id for v in page.data], page.has_more) == ([ids[2], ids[1]], True)
    assert page.last_id == ids[1]
    rest = await client.videos.list(limit=2, after=page.last_id)
    assert ([v.id for v in rest.data], rest.has_more) == ([ids[0]], False)
    assert [v.id async for v in client.videos.list(limit=2, order="asc")] == ids
    assert (await sdk("bob").videos.list()).data == []
    with pytest.raises(openai.BadRequestError) as bad_after:
        await client.videos.list(after=str(uuid.uuid4()))
    assert bad_after.value.param == "after"
    with pytest.raises(openai.BadRequestError) as bad_limit:
        await client.videos.list(limit=500)
    assert bad_limit.value.param == "limit"


async def test_json_and_multipart_bodies_map_onto_the_video_request(sdk, settings) -> None:
    seen: list[str] = []
    async with openai_app(
        settings.model_copy(update={"openai_model_aliases": {"sora-2": "tiny-video"}})
    ) as make:
        asgi = httpx2.ASGITransport(app=make.app)

        async def record(request: httpx2.Request) -> httpx2.Response:
            seen.append(request.headers.get("content-type", ""))
            return await asgi.handle_async_request(request)

        client = make(transport=httpx2.MockTransport(record))
        video = await client.videos.create(prompt="waves", model="sora-2", seconds="1")
        assert seen[0].startswith("multipart/form-data")
        # the model's default size
        assert (video.model, video.seconds, video.size) == ("tiny-video", "1", "64x64")

        http = httpx2.AsyncClient(transport=asgi, base_url="http://testserver")
        headers = {"Authorization": f"Bearer {make_token('alice')}"}
        r = await http.post(
            "/v1/videos",
            json={"prompt": "json", "seconds": 2, "size": "64x64", "fps": 4},
            headers=headers,
        )
        assert r.status_code == 200 and r.json()["seconds"] == "2", r.text

        cases = {
            "input_reference": {"input_reference": "https://example.com/a.png"},
            "seconds": {"seconds": "12"},  # 96 frames at 8 fps > 64
            "size": {"size": "64x65"},
            "model": {"model": "sora-2-pro"},
            "num_inference_steps": {"num_inference_steps": 0},
        }
        for param, extra in cases.items():
            r = await http.post("/v1/videos", json={"prompt": "x", **extra}, headers=headers)
            assert r.status_code == 400, (param, r.text)
            error = r.json()["error"]
            assert error["param"] == param and error["type"] == "invalid_request_error", error
        await http.aclose()
