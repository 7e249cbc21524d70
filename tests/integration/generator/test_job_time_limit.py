"""A job running past ``max_job_s`` is stopped and failed with a reason (timed_out), so a
long job never outlives the broker's consumer timeout."""

from __future__ import annotations

from sorami_shared.events import FailureCode, Kind, derived_id

from .conftest import request, running_worker


async def test_a_job_past_its_time_limit_is_stopped_and_fails_with_timed_out(
    settings_for, tap, client_bus
):
    slow = request(Kind.VIDEO, num_inference_steps=50, num_frames=16)
    async with running_worker(settings_for(max_job_s=0.3)):
        await client_bus.publish(slow)
        [failed] = await tap.wait_for(slow.data.job_id, "generation.failed", within=60)
    assert failed.id == derived_id("generation.failed", slow.data.job_id)
    assert failed.data.code == FailureCode.TIMED_OUT
    assert "ran longer than 0.3s" in failed.data.reason
    assert not tap.for_job(slow.data.job_id, "generation.completed")
