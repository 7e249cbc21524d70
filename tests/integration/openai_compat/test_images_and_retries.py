"""``POST /v1/images/generations`` (waits for the job), OpenAI-shaped errors, and SDK retries
that must not create a second job."""

from __future__ import annotations

import asyncio
import base64
import uuid

import httpx2
import openai
import pytest
import sqlalchemy as sa
from sorami_gateway.generations.tables import Generation
from sorami_shared.events import Kind

from tests.integration.gateway.conftest import eventually, make_token

from .conftest import PNG_1x1, finish, openai_app

pytestmark = pytest.mark.timeout(60)


async def job_ids(sessions, kind: Kind) -> list[uuid.UUID]:
    async with sessions() as session:
        rows = await session.execute(
            sa.select(Generation.id)
            .where(Generation.kind == kind.value)
            .order_by(Generation.created_at)
        )
        return list(rows.scalars())


async def finish_next_image(sessions, settings, *, ok: bool = True) -> uuid.UUID:
    """Acts as generator + projector for the next image job that appears."""
    ids = await eventually(lambda: job_ids(sessions, Kind.IMAGE))
    await finish(sessions, settings, ids[-1], kind=Kind.IMAGE, ok=ok)
    return ids[-1]


async def finish_next_image_after(sessions, settings, count: int) -> uuid.UUID:
    await eventually(lambda: _count_is(sessions, count + 1))
    job_id = (await job_ids(sessions, Kind.IMAGE))[-1]
    await finish(sessions, settings, job_id, kind=Kind.IMAGE)
    return job_id


async def test_images_generate_waits_and_answers_urls_or_base64(sdk, sessions, settings) -> None:
    client = sdk()
    call = asyncio.create_task(client.images.generate(prompt="a fox", size="64x128", n=2))
    job_id = await finish_next_image(sessions, settings)
    answer = await call
    assert (answer.size, answer.output_format, answer.id) == ("64x128", "png", str(job_id))
    assert [d.url.split("?")[0] for d in answer.data] == [
        f"http://testserver/media/image/{job_id}/{i}.png" for i in range(2)
    ]
    async with sessions() as session:
        params = (await session.get(Generation, job_id)).params
    assert (params["width"], params["height"], params["num_images"]) == (64, 128, 2)

    call = asyncio.create_task(
        client.images.generate(prompt="b", size="64x64", response_format="b64_json")
    )
    await eventually(lambda: _count_is(sessions, 2))
    await finish(sessions, settings, (await job_ids(sessions, Kind.IMAGE))[-1], kind=Kind.IMAGE)
    assert base64.b64decode((await call).data[0].b64_json) == PNG_1x1

    call = asyncio.create_task(
        client.images.generate(prompt="c", output_format="webp", output_compression=60)
    )
    webp_job = await finish_next_image_after(sessions, settings, 2)
    assert (await call).output_format == "webp"
    async with sessions() as session:
        params = (await session.get(Generation, webp_job)).params
    assert (params["output_format"], params["output_compression"]) == ("webp", 60)


async def _count_is(sessions, n: int) -> bool:
    return len(await job_ids(sessions, Kind.IMAGE)) == n


async def test_failed_and_overdue_jobs_name_the_job(make_settings, sessions) -> None:
    async with openai_app(make_settings(openai_image_wait_s=0.5)) as make:
        client = make(max_retries=2)  # an answer marked x-should-retry: false is not retried
        with pytest.raises(openai.InternalServerError) as overdue:
            await client.images.generate(prompt="slow", size="64x64")
        assert overdue.value.status_code == 504
        (job_id,) = await job_ids(sessions, Kind.IMAGE)
        assert overdue.value.body["job_id"] == str(job_id)  # type: ignore[index]
        assert f"/api/images/{job_id}/status" in overdue.value.message

    async with openai_app(make_settings(openai_image_wait_s=10)) as make:
        call = asyncio.create_task(make().images.generate(prompt="doomed", size="64x64"))
        await eventually(lambda: _count_is(sessions, 2))
        await finish(
            sessions,
            make_settings(),
            (await job_ids(sessions, Kind.IMAGE))[-1],
            kind=Kind.IMAGE,
            ok=False,
        )
        with pytest.raises(openai.InternalServerError) as failed:
            await call
        assert failed.value.code == "out_of_memory" and "out of memory" in failed.value.message


async def test_bad_requests_are_openai_errors_naming_the_parameter(sdk) -> None:
    client = sdk()
    cases = [
        ({"size": "100x100"}, "size"),
        ({"size": "big"}, "size"),
        ({"n": 9}, "n"),
        ({"model": "dall-e-3"}, "model"),
        ({"output_format": "gif"}, "output_format"),
        ({"output_format": "jpeg", "output_compression": 101}, "output_compression"),
        ({"output_format": "png", "output_compression": 50}, "output_compression"),
        ({"background": "transparent"}, "background"),
        ({"extra_body": {"colour": "red"}}, "colour"),
        ({"extra_body": {"seed": -1}}, "seed"),
    ]
    for kwargs, param in cases:
        with pytest.raises(openai.BadRequestError) as bad:
            await client.images.generate(prompt="x", **kwargs)
        assert bad.value.param == param, (kwargs, bad.value.body)
        assert bad.value.type == "invalid_request_error" and bad.value.message
    with pytest.raises(openai.BadRequestError) as missing:
        await client.images.generate(prompt=None)  # type: ignore[arg-type]
    assert missing.value.param == "prompt"
    with pytest.raises(openai.AuthenticationError) as auth:
        await sdk(api_key="wrong").images.generate(prompt="x")
    assert auth.value.code == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        await sdk(api_key=make_token("alice", expires_in=-3600)).videos.list()
    with pytest.raises(openai.NotFoundError) as unknown:
        await client.files.list()  # /v1/models is served now (test_models.py)
    assert "Invalid URL (GET /v1/files)" in unknown.value.message


async def test_retries_never_create_a_second_job(sdk, sessions, settings) -> None:
    asgi = httpx2.ASGITransport(app=sdk.app)  # type: ignore[attr-defined]
    dropped: list[str] = []

    async def drop_first_answer(request: httpx2.Request) -> httpx2.Response:
        response = await asgi.handle_async_request(request)
        if request.method == "POST" and not dropped:
            dropped.append(request.headers["x-stainless-retry-count"])
            raise httpx2.ReadError("connection dropped after the job was stored")
        return response

    # the SDK's own retry after a dropped connection: one job, the first attempt's
    flaky = sdk(max_retries=2, transport=httpx2.MockTransport(drop_first_answer))
    video = await flaky.videos.create(prompt="once", size="64x64")
    assert dropped == ["0"]
    assert await job_ids(sessions, Kind.VIDEO) == [uuid.UUID(video.id)]

    # an explicit Idempotency-Key: the same request twice is one job
    client = sdk()
    key = {"Idempotency-Key": "k-" + uuid.uuid4().hex}
    a = await client.videos.create(prompt="keyed", size="64x64", extra_headers=key)
    b = await client.videos.create(prompt="keyed", size="64x64", extra_headers=key)
    assert a.id == b.id and len(await job_ids(sessions, Kind.VIDEO)) == 2
    with pytest.raises(openai.ConflictError):
        await client.videos.create(prompt="other", size="64x64", extra_headers=key)

    # without a key, two deliberate identical requests are two jobs
    c = await client.videos.create(prompt="keyed", size="64x64")
    assert c.id != a.id and len(await job_ids(sessions, Kind.VIDEO)) == 3
    # ... but a retry (as the SDK marks it) answers the job its first attempt stored
    retry = await client.videos.create(
        prompt="keyed", size="64x64", extra_headers={"x-stainless-retry-count": "1"}
    )
    assert retry.id == c.id and len(await job_ids(sessions, Kind.VIDEO)) == 3


async def test_the_same_limits_apply(make_settings) -> None:
    async with openai_app(make_settings(max_unfinished_jobs=1)) as make:
        client = make()
        await client.videos.create(prompt="one", size="64x64")
        with pytest.raises(openai.RateLimitError) as limited:
            await client.videos.create(prompt="two", size="64x64")
        # which limit: the cap on unfinished jobs, not the rate
        assert limited.value.code == "too_many_unfinished_jobs"
        assert "too many unfinished generations (at most 1 at once)" in limited.value.message
        assert "Rate limit" not in limited.value.message
        assert limited.value.response.headers["retry-after"]
    rate = make_settings(rate_limit_generations=1, max_unfinished_jobs=0)
    async with openai_app(rate) as make:
        client = make("rita")
        await client.videos.create(prompt="one", size="64x64")
        with pytest.raises(openai.RateLimitError) as limited:
            await client.videos.create(prompt="two", size="64x64")
        assert limited.value.code == "rate_limit_exceeded"
        assert "rate limit: 1 generations per" in limited.value.message


async def test_sdk_defaults_never_make_a_job_that_must_fail(sdk, sessions) -> None:
    # issue 11: videos.create(prompt=...) got 512x320 x 16 frames, which tiny-video cannot
    # take (the job FAILED); size="512x512" ran for minutes on a CPU. Now: the model's
    # defaults, and a size beyond the model is a 400 naming `size` before anything is stored.
    client = sdk()
    video = await client.videos.create(prompt="waves")
    assert (video.size, video.seconds) == ("64x64", "1")  # 8 frames at 8 fps
    with pytest.raises(openai.BadRequestError) as too_big:
        await client.images.generate(prompt="a red fox", size="512x512")
    assert too_big.value.param == "size" and "tiny-image" in too_big.value.message
    with pytest.raises(openai.BadRequestError) as too_long:
        await client.videos.create(prompt="waves", seconds="8")  # 64 frames; tiny-video: 32
    assert too_long.value.param == "seconds"
    async with sessions() as session:
        count = (await session.execute(sa.text("SELECT count(*) FROM generations"))).scalar()
    assert count == 1
