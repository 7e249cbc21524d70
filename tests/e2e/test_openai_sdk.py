"""The official ``openai`` SDK against the whole running system (every service a process):
``base_url=<gateway>/v1``, ``api_key=<the user's bearer token>``."""

from __future__ import annotations

import base64
import struct

import httpx
import openai
import pytest

from tests.e2e.system import PNG_MAGIC, System, is_mp4

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_MAGIC)
    return struct.unpack(">II", data[16:24])


def sdk(system: System, user: str, **options) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=f"{system.base_url}/v1", api_key=system.token(user), timeout=60, **options
    )


async def test_openai_sdk_images_and_videos(make_system) -> None:
    system: System = await make_system()
    client = sdk(system, "olga")
    other = sdk(system, "mallory")
    try:
        # --- images.generate: URLs, then base64 PNGs of the asked size -------------------
        by_url = await client.images.generate(
            prompt="a red fox", size="64x64", n=2, extra_body={"num_inference_steps": 2}
        )
        assert by_url.size == "64x64" and by_url.output_format == "png"
        assert len(by_url.data) == 2
        async with httpx.AsyncClient(timeout=10) as http:
            for image in by_url.data:
                fetched = await http.get(image.url)
                assert fetched.status_code == 200
                assert png_size(fetched.content) == (64, 64)
        by_b64 = await client.images.generate(
            prompt="a lighthouse",
            size="64x128",
            response_format="b64_json",
            extra_body={"num_inference_steps": 2},
        )
        assert png_size(base64.b64decode(by_b64.data[0].b64_json)) == (64, 128)

        # --- the same generations through /api: one history ------------------------------
        async with system.client("olga") as api:
            history = (await api.get("/api/images/user")).json()["items"]
        assert {item["job_id"] for item in history} == {by_url.id, by_b64.id}  # type: ignore[attr-defined]

        # --- stream=True: partial images (live previews, WebP), then the JPEG asked for ----
        stream = await client.images.generate(
            prompt="a harbour at night",
            size="64x64",
            stream=True,
            partial_images=2,
            output_format="jpeg",
            output_compression=80,
            extra_body={"num_inference_steps": 20},
        )
        events = [event async for event in stream]
        types = [event.type for event in events]
        assert types[-1] == "image_generation.completed", types
        assert 1 <= len(types) - 1 <= 2 and set(types[:-1]) == {"image_generation.partial_image"}
        assert [e.partial_image_index for e in events[:-1]] == list(range(len(events) - 1))
        assert base64.b64decode(events[0].b64_json)[8:12] == b"WEBP"
        final = base64.b64decode(events[-1].b64_json)
        assert final[:3] == b"\xff\xd8\xff" and events[-1].output_format == "jpeg"
        assert events[-1].size == "64x64"

        # --- videos: create_and_poll (multipart, the SDK's polling helper) --------------
        video = await client.videos.create_and_poll(
            prompt="waves at dusk",
            seconds="1",
            size="64x64",
            extra_body={"num_inference_steps": 2},
            poll_interval_ms=200,
        )
        assert video.status == "completed" and video.progress == 100, video
        assert video.seconds == "1" and video.size == "64x64" and video.model == "tiny-video"
        assert video.completed_at is not None and video.completed_at >= video.created_at
        mp4 = await client.videos.download_content(video.id)
        assert is_mp4(mp4.content)
        poster = await client.videos.download_content(video.id, variant="thumbnail")
        assert png_size(poster.content) == (64, 64)

        # another user's video is not there; a bad size and a bad key are refused
        with pytest.raises(openai.NotFoundError):
            await other.videos.retrieve(video.id)
        with pytest.raises(openai.NotFoundError):
            await other.videos.download_content(video.id)
        with pytest.raises(openai.BadRequestError) as bad_size:
            await client.images.generate(prompt="x", size="100x100")
        assert bad_size.value.body["param"] == "size"  # type: ignore[index]
        with pytest.raises(openai.BadRequestError):
            await client.videos.create(prompt="x", size="1x1")
        wrong_key = openai.AsyncOpenAI(base_url=f"{system.base_url}/v1", api_key="not-a-jwt")
        with pytest.raises(openai.AuthenticationError):
            await wrong_key.videos.list()
        await wrong_key.close()

        # --- list pages with `after`; delete -------------------------------------------
        more = [
            await client.videos.create(
                prompt=f"clip {i}", seconds="1", size="64x64", extra_body={"num_inference_steps": 1}
            )
            for i in range(2)
        ]
        first = await client.videos.list(limit=2)
        assert [v.id for v in first.data] == [more[1].id, more[0].id] and first.has_more
        second = await client.videos.list(limit=2, after=first.data[-1].id)
        assert [v.id for v in second.data] == [video.id] and not second.has_more
        assert [v.id async for v in client.videos.list(limit=1)] == [
            more[1].id,
            more[0].id,
            video.id,
        ]
        deleted = await client.videos.delete(video.id)
        assert deleted.deleted and deleted.id == video.id and deleted.object == "video.deleted"
        with pytest.raises(openai.NotFoundError):
            await client.videos.retrieve(video.id)
        for created in more:  # let them finish before the system stops
            finished = await client.videos.poll(created.id, poll_interval_ms=200)
            assert finished.status == "completed"
        assert (await other.videos.list()).data == []
    finally:
        await client.close()
        await other.close()
