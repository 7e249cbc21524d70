"""The generator worker against a real RabbitMQ (fresh vhost), real files and a real SeaweedFS:
a generation.requested message in, files in storage and events out."""

from __future__ import annotations

import asyncio
import io
import time
import uuid

import aio_pika
import imageio_ffmpeg
import pytest
from PIL import Image
from sorami_generator.jobs import SOURCE
from sorami_shared.events import FailureCode, Kind, derived_id
from sorami_shared.storage.s3 import S3Storage
from sorami_shared.storage.settings import StorageSettings
from sorami_shared.topology import EXCHANGE, GENERATOR_REQUESTS

from .conftest import request, running_worker

pytestmark = pytest.mark.integration

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data.startswith(PNG_SIGNATURE)
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        return img.size


def mp4_frames(data: bytes, tmp_path) -> tuple[dict, int]:
    assert data[4:8] == b"ftyp", "not an MP4"
    path = tmp_path / f"{uuid.uuid4().hex}.mp4"
    path.write_bytes(data)
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    return meta, sum(1 for _ in reader)


def assert_rising_progress(tap, job_id) -> list[int]:
    percents = [e.data.progress for e in tap.for_job(job_id, "generation.progress")]
    assert percents and percents[0] == 0, percents
    assert percents == sorted(set(percents)), f"progress not strictly rising: {percents}"
    assert len(percents) >= 2, f"no step progress seen: {percents}"
    return percents


async def test_image_request_makes_pngs_in_local_storage_and_a_completed_event(
    settings_for, tap, client_bus
):
    settings = settings_for()
    env = request(Kind.IMAGE, width=64, height=48, num_images=2, num_inference_steps=3, seed=7)
    job_id = env.data.job_id
    async with running_worker(settings):
        started = time.perf_counter()
        await client_bus.publish(env)
        [done] = await tap.wait_for(job_id, "generation.completed")
        elapsed = time.perf_counter() - started
    print(f"\ntiny image end-to-end through the consumer: {elapsed:.3f}s")

    assert done.id == derived_id("generation.completed", job_id)
    assert done.source == SOURCE and done.correlationid == env.correlationid
    data = done.data
    assert data.seed == 7 and data.model == "tiny-image" and data.kind == Kind.IMAGE
    assert [f.index for f in data.files] == [0, 1]
    for f in data.files:
        assert f.key == f"image/{job_id}/{f.index}.png"
        path = settings.storage_local_dir / f.key
        raw = path.read_bytes()
        assert png_size(raw) == (64, 48) == (f.width, f.height)
        assert f.bytes == len(raw) and f.mime_type == "image/png"
    assert_rising_progress(tap, job_id)
    assert not tap.for_job(job_id, "generation.failed")


async def test_video_request_makes_an_mp4_and_poster_in_seaweedfs(
    settings_for, tap, client_bus, seaweed, tmp_path
):
    bucket = f"gen-{uuid.uuid4().hex[:8]}"
    settings = settings_for(
        **{
            "storage_backend": "s3",
            "s3_endpoint_url": seaweed.endpoint_url,
            "s3_bucket": bucket,
            "s3_access_key_id": seaweed.access_key,
            "s3_secret_access_key": seaweed.secret_key,
            "s3_create_bucket": True,
        }
    )
    env = request(Kind.VIDEO, width=64, height=64, num_frames=8, fps=8, num_inference_steps=3)
    job_id = env.data.job_id
    async with running_worker(settings):
        started = time.perf_counter()
        await client_bus.publish(env)
        [done] = await tap.wait_for(job_id, "generation.completed")
        elapsed = time.perf_counter() - started
    print(f"\ntiny video end-to-end through the consumer (S3): {elapsed:.3f}s")

    [f] = done.data.files
    assert f.key == f"video/{job_id}/0.mp4" and f.poster_key == f"video/{job_id}/0.png"
    assert (f.mime_type, f.width, f.height, f.frame_count, f.fps) == ("video/mp4", 64, 64, 8, 8.0)
    assert f.duration_s == pytest.approx(1.0)
    storage = S3Storage(
        StorageSettings(
            storage_backend="s3",
            s3_endpoint_url=seaweed.endpoint_url,
            s3_bucket=bucket,
            s3_access_key_id=seaweed.access_key,
            s3_secret_access_key=seaweed.secret_key,
        )
    )
    try:
        video = await storage.get(f.key)
        poster = await storage.get(f.poster_key)
    finally:
        await storage.close()
    assert len(video) == f.bytes
    meta, frames = mp4_frames(video, tmp_path)
    assert meta["codec"] == "h264" and meta["pix_fmt"].startswith("yuv420p")
    assert meta["size"] == (64, 64) and frames == 8
    assert png_size(poster) == (64, 64)
    # the seed travels even when the request had none (derived from the job id)
    assert isinstance(done.data.seed, int)
    assert_rising_progress(tap, job_id)


async def test_video_to_local_storage_has_requested_size_and_frames(
    settings_for, tap, client_bus, tmp_path
):
    settings = settings_for()
    env = request(Kind.VIDEO, width=96, height=64, num_frames=5, fps=10)
    job_id = env.data.job_id
    async with running_worker(settings):
        await client_bus.publish(env)
        [done] = await tap.wait_for(job_id, "generation.completed")
    [f] = done.data.files
    meta, frames = mp4_frames((settings.storage_local_dir / f.key).read_bytes(), tmp_path)
    assert meta["size"] == (96, 64) and frames == 5 and f.frame_count == 5
    assert f.duration_s == pytest.approx(0.5)
    assert png_size((settings.storage_local_dir / f.poster_key).read_bytes()) == (96, 64)


async def test_same_seed_gives_identical_pixels_and_no_seed_is_derived_from_the_job(
    settings_for, tap, client_bus
):
    settings = settings_for()
    a = request(Kind.IMAGE, seed=1234)
    b = request(Kind.IMAGE, seed=1234)
    c = request(Kind.IMAGE, seed=1235)
    unseeded = request(Kind.IMAGE)
    again = request(Kind.IMAGE, job_id=unseeded.data.job_id)  # a redelivery of the same job
    async with running_worker(settings):
        for env in (a, b, c):
            await client_bus.publish(env)
            await tap.wait_for(env.data.job_id, "generation.completed")
        await client_bus.publish(unseeded)
        [first] = await tap.wait_for(unseeded.data.job_id, "generation.completed")
        first_bytes = (settings.storage_local_dir / first.data.files[0].key).read_bytes()
        await client_bus.publish(again)
        await tap.wait_for(unseeded.data.job_id, "generation.completed", count=2)

    def image(env):
        return (settings.storage_local_dir / f"image/{env.data.job_id}/0.png").read_bytes()

    def pixels(env):  # the files differ: each embeds its own job id (embed_metadata)
        return Image.open(io.BytesIO(image(env))).tobytes()

    assert pixels(a) == pixels(b)
    assert pixels(a) != pixels(c)
    second = tap.for_job(unseeded.data.job_id, "generation.completed")[1]
    assert first.data.seed == second.data.seed
    assert first.id == second.id  # deterministic event id: consumers dedupe on it
    assert image(unseeded) == first_bytes


@pytest.mark.parametrize(
    ("params", "kind", "code", "words"),
    [
        ({"model": "no-such-model"}, Kind.IMAGE, FailureCode.UNKNOWN_MODEL, "unknown model"),
        ({"width": 4000}, Kind.IMAGE, FailureCode.INVALID_PARAMETERS, "width"),
        ({"height": 61}, Kind.IMAGE, FailureCode.INVALID_PARAMETERS, "multiple of 8"),
        ({"num_frames": 8}, Kind.IMAGE, FailureCode.INVALID_PARAMETERS, "num_frames"),
        ({"model": "tiny-video"}, Kind.IMAGE, FailureCode.INVALID_PARAMETERS, "makes videos"),
        ({"num_frames": 500}, Kind.VIDEO, FailureCode.INVALID_PARAMETERS, "num_frames"),
    ],
)
async def test_requests_the_model_cannot_take_fail_at_once_with_a_reason(
    settings_for, tap, client_bus, params, kind, code, words
):
    settings = settings_for()
    bad = request(kind, **params)
    good = request(Kind.IMAGE)
    async with running_worker(settings):
        if params.get("model") == "no-such-model":
            # no generator serves it, so nothing is released to a queue of its own; a request
            # left in the single queue of earlier releases is failed at once
            await client_bus.publish_to_single_queue(bad)
        else:
            await client_bus.publish(bad)
        [failed] = await tap.wait_for(bad.data.job_id, "generation.failed", within=20)
        await client_bus.publish(good)  # and the worker keeps serving
        await tap.wait_for(good.data.job_id, "generation.completed")
    assert failed.id == derived_id("generation.failed", bad.data.job_id)
    assert failed.data.code == code
    assert words in failed.data.reason
    assert not tap.for_job(bad.data.job_id, "generation.completed")
    assert not list((settings.storage_local_dir / kind.value).glob(f"{bad.data.job_id}*"))


async def test_garbage_goes_to_the_dead_letter_queue_and_the_worker_keeps_consuming(
    settings_for, tap, client_bus, amqp_url
):
    settings = settings_for()
    async with running_worker(settings):
        conn = await aio_pika.connect(amqp_url)
        try:
            channel = await conn.channel()
            exchange = await channel.get_exchange(EXCHANGE)
            await exchange.publish(
                aio_pika.Message(
                    b"\x00 not json {", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
                ),
                routing_key="generation.requested",
            )
            dlq = await channel.declare_queue(GENERATOR_REQUESTS.dead_letter_queue, passive=True)
            deadline = time.monotonic() + 15
            dead = None
            while dead is None and time.monotonic() < deadline:
                dead = await dlq.get(fail=False)
                if dead is None:
                    await asyncio.sleep(0.1)
            assert dead is not None and dead.body == b"\x00 not json {"
            await dead.ack()
        finally:
            await conn.close()
        good = request(Kind.IMAGE)
        await client_bus.publish(good)
        await tap.wait_for(good.data.job_id, "generation.completed")


async def test_storage_unreachable_is_retried_then_fails_on_the_last_attempt(
    settings_for, tap, client_bus
):
    from sorami_shared.storage import StorageError

    class DownStorage:
        puts = 0

        async def ensure_ready(self):
            raise StorageError("connection refused")

        async def put(self, key, data, content_type):
            raise StorageError("connection refused")

        async def close(self):
            pass

    settings = settings_for(storage_retry_attempts=2, storage_retry_backoff_s=0.01)
    env = request(Kind.IMAGE)
    async with running_worker(settings, storage=DownStorage()):
        await client_bus.publish(env)
        [failed] = await tap.wait_for(env.data.job_id, "generation.failed", within=120)
    assert failed.data.code == FailureCode.STORAGE_UNAVAILABLE
    assert "storage unavailable" in failed.data.reason
    attempts = len(
        [e for e in tap.for_job(env.data.job_id, "generation.progress") if e.data.progress == 0]
    )
    assert attempts == GENERATOR_REQUESTS.delivery_limit + 1  # every delivery tried, then failed


async def test_event_loop_stays_responsive_while_a_job_runs(settings_for, tap, client_bus):
    settings = settings_for()
    env = request(Kind.VIDEO, width=64, height=64, num_frames=16, num_inference_steps=6)
    job_id = env.data.job_id
    lateness: list[float] = []
    async with running_worker(settings):
        await client_bus.publish(env)
        await tap.wait_for(job_id, "generation.progress")
        loop = asyncio.get_running_loop()
        while not tap.for_job(job_id, "generation.completed"):
            before = loop.time()
            await asyncio.sleep(0.05)
            lateness.append(loop.time() - before - 0.05)
            assert len(lateness) < 2000, "job did not finish"
    assert len(lateness) >= 5, "the job was too short to measure anything"
    assert max(lateness) < 0.2, f"event loop blocked for {max(lateness):.3f}s"
