"""Crashes and shutdowns: the generator as a real process (`sorami-generator run`) killed with
SIGKILL mid-job and restarted, SIGTERM with a job in hand, and a grace period that runs out."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import aio_pika
import imageio_ffmpeg
import pytest
from sorami_shared.events import Kind, derived_id
from sorami_shared.topology import generator_queue

from .conftest import request, running_worker

pytestmark = pytest.mark.integration

CLI = str(Path(sys.executable).parent / "sorami-generator")


def start_generator(settings, log_path: Path, **extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SORAMI_GENERATOR_ENVIRONMENT": "test",
        "SORAMI_GENERATOR_AMQP_URL": settings.amqp_url,
        "SORAMI_GENERATOR_MODEL_CACHE_DIR": str(settings.model_cache_dir),
        "SORAMI_GENERATOR_STORAGE_LOCAL_DIR": str(settings.storage_local_dir),
        "SORAMI_GENERATOR_PROGRESS_MIN_INTERVAL_S": "0",
        "SORAMI_GENERATOR_SHUTDOWN_GRACE_S": "60",
        "SORAMI_GENERATOR_LOG_FORMAT": "json",
        **{f"SORAMI_GENERATOR_{k.upper()}": v for k, v in extra.items()},
    }
    log = log_path.open("ab")
    return subprocess.Popen([CLI, "run"], env=env, stdout=log, stderr=subprocess.STDOUT)


async def wait_exit(proc: subprocess.Popen[bytes], within: float) -> int:
    for _ in range(int(within * 10)):
        if proc.poll() is not None:
            return proc.returncode
        await asyncio.sleep(0.1)
    proc.kill()
    raise AssertionError("generator did not exit in time")


async def sigkill_when(proc: subprocess.Popen[bytes], ready, log_path: Path) -> None:
    try:
        deadline = asyncio.get_running_loop().time() + 90
        while not ready():
            assert proc.poll() is None, log_path.read_text()[-3000:]  # noqa: ASYNC240
            assert asyncio.get_running_loop().time() < deadline, "not ready to be killed"
            await asyncio.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert await wait_exit(proc, 10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()


@contextlib.asynccontextmanager
async def sigterm_at_the_end(proc: subprocess.Popen[bytes], log_path: Path):
    """SIGTERM after the block: the worker must exit 0; then anything late shows up."""
    try:
        yield proc
        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, 60) == 0, log_path.read_text()[-3000:]  # noqa: ASYNC240
    finally:
        if proc.poll() is None:
            proc.kill()
    await asyncio.sleep(0.5)


async def queue_depth(url: str, name: str) -> int:
    conn = await aio_pika.connect(url)
    try:
        channel = await conn.channel()
        queue = await channel.declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0
    finally:
        await conn.close()


def mp4_frame_count(path: Path) -> int:
    reader = imageio_ffmpeg.read_frames(str(path))
    next(reader)
    return sum(1 for _ in reader)


async def test_sigkill_mid_job_redelivers_to_the_restarted_worker_then_sigterm_exits_0(
    settings_for, tap, client_bus, tmp_path
):
    settings = settings_for()
    log_path = tmp_path / "generator.log"
    slow = request(Kind.VIDEO, width=64, height=64, num_frames=16, num_inference_steps=14)
    job_id = slow.data.job_id
    first = start_generator(settings, log_path)
    await client_bus.publish(slow)
    # Wait for a step (percent > 0): the pipeline is running when the process dies.
    await sigkill_when(
        first,
        lambda: [e for e in tap.for_job(job_id, "generation.progress") if e.data.progress > 0],
        log_path,
    )
    assert not tap.for_job(job_id, "generation.completed")

    async with sigterm_at_the_end(start_generator(settings, log_path), log_path):
        [done] = await tap.wait_for(job_id, "generation.completed", within=120)
        # SIGTERM with a job in hand: it finishes within the grace period, then exit 0.
        quick = request(Kind.VIDEO, width=64, height=64, num_frames=8, num_inference_steps=8)
        await client_bus.publish(quick)
        await tap.wait_for(quick.data.job_id, "generation.progress", within=30)
    completed = tap.for_job(job_id, "generation.completed")
    assert len(completed) == 1 and len({e.id for e in completed}) == 1
    assert done.id == derived_id("generation.completed", job_id)
    [f] = done.data.files
    assert mp4_frame_count(settings.storage_local_dir / f.key) == 16
    assert (settings.storage_local_dir / f.poster_key).stat().st_size > 0
    assert not list(
        (settings.storage_local_dir / "video" / str(job_id)).glob(".*")
    )  # no temp files
    # the job in hand at SIGTERM completed, and nothing is left in the queue
    assert len(tap.for_job(quick.data.job_id, "generation.completed")) == 1
    assert await queue_depth(settings.amqp_url, generator_queue("tiny-video")) == 0
    assert "generator stopped" in log_path.read_text()


async def test_grace_period_over_leaves_the_job_unacknowledged_for_redelivery(
    settings_for, tap, client_bus
):
    settings = settings_for(shutdown_grace_s=0.2)
    env = request(Kind.VIDEO, width=64, height=64, num_frames=8, num_inference_steps=12)
    job_id = env.data.job_id
    async with running_worker(settings):
        await client_bus.publish(env)
        await tap.wait_for(job_id, "generation.progress", within=30)
        while not [e for e in tap.for_job(job_id, "generation.progress") if e.data.progress > 0]:  # noqa: ASYNC110, E501
            await asyncio.sleep(0.05)
    # stopped: the job was abandoned, not completed, not failed, and is back in the queue
    await asyncio.sleep(0.3)
    assert not tap.for_job(job_id, "generation.completed")
    assert not tap.for_job(job_id, "generation.failed")
    assert await queue_depth(settings.amqp_url, generator_queue("tiny-video")) == 1

    async with running_worker(settings.model_copy(update={"shutdown_grace_s": 30.0})):
        [done] = await tap.wait_for(job_id, "generation.completed", within=60)
    assert done.data.files[0].frame_count == 8
    assert uuid.UUID(str(done.id)) == derived_id("generation.completed", job_id)


async def test_sigkill_mid_batch_every_job_completes_exactly_once_after_the_restart(
    settings_for, tap, client_bus, tmp_path
):
    settings = settings_for()
    log_path = tmp_path / "generator.log"
    params = {"width": 32, "height": 32, "num_inference_steps": 10, "guidance_scale": 0.0}
    jobs = [request(**params, prompt=f"p{i}", user_id=f"u{i}") for i in range(5)]
    for env in jobs:
        await client_bus.publish(env)

    def stepping() -> list[uuid.UUID]:
        return [
            e.data.job_id
            for e in jobs
            if any(p.data.progress > 0 for p in tap.for_job(e.data.job_id, "generation.progress"))
            and not tap.for_job(e.data.job_id, "generation.completed")
        ]

    first = start_generator(settings, log_path, preload_models='["tiny-image"]')
    # a batch of several jobs is on the device
    await sigkill_when(first, lambda: len(stepping()) >= 2, log_path)
    batches = [
        json.loads(line) for line in log_path.read_text().splitlines() if "batch started" in line
    ]
    assert batches[-1]["batch_size"] >= 2  # the SIGKILL hit a batch of several jobs

    async with sigterm_at_the_end(start_generator(settings, log_path), log_path):
        for env in jobs:
            await tap.wait_for(env.data.job_id, "generation.completed", within=120)
    for env in jobs:
        completed = tap.for_job(env.data.job_id, "generation.completed")
        assert len(completed) == 1 and not tap.for_job(env.data.job_id, "generation.failed")
    assert await queue_depth(settings.amqp_url, generator_queue("tiny-image")) == 0
