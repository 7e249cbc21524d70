"""``/v1``: null for an optional parameter means its default (OpenAI clients send nulls), and
``GET /v1/videos/{id}/content`` answers the file's own type, or application/octet-stream when
the request asks for that (what the OpenAPI document lists, so that generated clients read it)."""

from __future__ import annotations

import asyncio
import uuid

import httpx2
import pytest
from sorami_gateway.generations.tables import Generation
from sorami_shared.events import Kind

from tests.integration.gateway.conftest import make_token

from .conftest import MP4_STUB, PNG_1x1, finish, openai_app
from .test_images_and_retries import finish_next_image

pytestmark = pytest.mark.timeout(60)

VIDEO_NULLS = [
    "model",
    "seconds",
    "size",
    "fps",
    "negative_prompt",
    "num_inference_steps",
    "guidance_scale",
    "seed",
    "webhook_url",
    "webhook_events",
    "input_reference",
]
IMAGE_NULLS = [
    "model",
    "n",
    "size",
    "quality",
    "response_format",
    "style",
    "user",
    "negative_prompt",
    "num_inference_steps",
    "guidance_scale",
    "seed",
    "background",
    "output_format",
    "moderation",
]


async def test_null_parameters_get_their_defaults(settings, sessions) -> None:
    async with openai_app(settings) as make:
        http = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=make.app), base_url="http://testserver"
        )
        headers = {"Authorization": f"Bearer {make_token('alice')}"}
        r = await http.post(
            "/v1/videos", json={"prompt": "waves", **dict.fromkeys(VIDEO_NULLS)}, headers=headers
        )
        assert r.status_code == 200, r.text
        assert (r.json()["model"], r.json()["size"]) == ("tiny-video", "64x64")

        call = asyncio.create_task(
            http.post(
                "/v1/images/generations",
                json={"prompt": "a fox", **dict.fromkeys(IMAGE_NULLS)},
                headers=headers,
            )
        )
        job_id = await finish_next_image(sessions, settings)
        r = await call
        assert r.status_code == 200, r.text
        assert r.json()["size"] == "64x64"
        async with sessions() as session:
            params = (await session.get(Generation, job_id)).params
        assert (params["num_images"], params["guidance_scale"]) == (1, 7.5)
        await http.aclose()


async def test_video_content_types(sdk, sessions, settings) -> None:
    client = sdk()
    video = await client.videos.create(prompt="waves", seconds="1", size="64x64")
    await finish(sessions, settings, uuid.UUID(video.id), kind=Kind.VIDEO)
    async with openai_app(settings) as make:
        http = httpx2.AsyncClient(
            transport=httpx2.ASGITransport(app=make.app), base_url="http://testserver"
        )
        headers = {"Authorization": f"Bearer {make_token('alice')}"}
        url = f"/v1/videos/{video.id}/content"
        for accept, variant, media_type, body in (
            (None, "video", "video/mp4", MP4_STUB),
            ("*/*", "thumbnail", "image/png", PNG_1x1),
            ("application/binary", "video", "video/mp4", MP4_STUB),  # the openai SDK's
            ("application/octet-stream", "video", "application/octet-stream", MP4_STUB),
            ("application/octet-stream", "thumbnail", "application/octet-stream", PNG_1x1),
            ("video/mp4, application/octet-stream", "video", "video/mp4", MP4_STUB),
        ):
            extra = {"Accept": accept} if accept else {}
            r = await http.get(url, params={"variant": variant}, headers={**headers, **extra})
            assert r.status_code == 200, (accept, r.text)
            assert r.headers["content-type"] == media_type, accept
            assert r.content == body
        await http.aclose()
