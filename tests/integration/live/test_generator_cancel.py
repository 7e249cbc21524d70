"""The real generator worker and cancel signals over real RabbitMQ: a running job stops
between denoising steps (within two steps of the signal), keeps no files and reports
``generation.cancelled``; a job cancelled while queued never runs."""

from __future__ import annotations

import time
import uuid

import pytest
from sorami_shared.events import GenerationCancelRequested, Kind, new_event

from tests.integration.gateway.conftest import observe
from tests.integration.generator.conftest import request, running_worker

pytestmark = pytest.mark.timeout(150)


def cancel_event(job_id: uuid.UUID):
    return new_event(
        GenerationCancelRequested(job_id=job_id, user_id="alice", kind=Kind.IMAGE),
        source="test-gateway",
        correlation_id="cancel",
    )


async def _wait(check, within: float, what: str):
    import asyncio

    deadline = time.monotonic() + within
    while not (result := check()):
        assert time.monotonic() < deadline, f"{what} not seen within {within}s"
        await asyncio.sleep(0.02)
    return result


async def test_running_job_stops_within_two_steps_and_queued_job_never_runs(
    settings_for,
    tap,
    client_bus,
    amqp_url,
    tmp_path,
):
    settings = settings_for()
    media = settings.storage_local_dir
    async with observe(amqp_url, "generation.cancelled") as cancelled, running_worker(settings):
        slow = request(width=192, height=192, num_inference_steps=40)
        job = slow.data.job_id
        await client_bus.publish(slow)
        steps = lambda: [e.data.step or 0 for e in tap.for_job(job, "generation.progress")]  # noqa: E731
        await _wait(lambda: max(steps(), default=0) >= 2, 120, "step 2")
        seen_step = max(steps())
        sent = time.monotonic()
        await client_bus.publish(cancel_event(job))
        done = await _wait(
            lambda: [m for m in cancelled.bodies() if m["data"]["job_id"] == str(job)],
            30,
            "generation.cancelled",
        )
        latency_ms = (time.monotonic() - sent) * 1000
        stopped = done[0]["data"]["stopped_after_step"]
        print(
            f"[live] cancel: signal at >= step {seen_step}, stopped after step {stopped}/40, "
            f"signal -> cancelled event {latency_ms:.0f} ms"
        )
        assert 0 <= stopped - seen_step <= 2, (seen_step, stopped)
        assert done[0]["data"]["files_left"] is False
        assert not tap.for_job(job, "generation.completed")
        assert not (media / "image" / str(job)).exists()

        # cancelled while queued (this replica heard the signal): never runs
        queued = request(num_inference_steps=2)
        await client_bus.publish(cancel_event(queued.data.job_id))
        await client_bus.publish(queued)
        done = await _wait(
            lambda: [
                m for m in cancelled.bodies() if m["data"]["job_id"] == str(queued.data.job_id)
            ],
            30,
            "generation.cancelled of the queued job",
        )
        assert done[0]["data"]["stopped_after_step"] == 0
        assert tap.for_job(queued.data.job_id) == []  # not even a progress 0
        assert not (media / "image" / str(queued.data.job_id)).exists()


async def test_replica_started_after_the_cancel_still_never_runs_the_job(
    settings_for, tap, client_bus, amqp_url
):
    """The cancel is said while no generator runs (the job waits in the queue); the replica
    that starts afterwards replays the cancel stream before the job reaches it."""
    settings = settings_for()
    queued = request(num_inference_steps=2)
    await client_bus.publish(cancel_event(queued.data.job_id))
    await client_bus.publish(queued)
    async with observe(amqp_url, "generation.cancelled") as cancelled, running_worker(settings):
        done = await _wait(
            lambda: [
                m for m in cancelled.bodies() if m["data"]["job_id"] == str(queued.data.job_id)
            ],
            60,
            "generation.cancelled of the job cancelled before the replica started",
        )
    assert done[0]["data"]["stopped_after_step"] == 0
    assert tap.for_job(queued.data.job_id, "generation.completed") == []
    assert not (settings.storage_local_dir / "image" / str(queued.data.job_id)).exists()
