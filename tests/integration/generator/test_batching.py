"""Cross-job batching over real RabbitMQ with the tiny models: who shares a pipeline call,
fairness across users, a cancel or a bad job inside a batch (docs/batching.md)."""

from __future__ import annotations

import asyncio
import functools

import numpy as np
import pytest
from diffusers import StableDiffusionPipeline
from PIL import Image
from sorami_shared.events import FailureCode, GenerationCancelRequested, Kind, new_event
from sorami_shared.topology import GENERATOR_REQUESTS

from .conftest import EventTap, request, running_worker
from .test_shutdown import queue_depth

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

FAST = {"width": 32, "height": 32, "num_inference_steps": 2, "guidance_scale": 0.0}


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    """Every StableDiffusionPipeline call the worker makes: its prompts and size."""
    seen: list[dict] = []
    original = StableDiffusionPipeline.__call__

    @functools.wraps(original)
    def counting(self, *args, **kwargs):
        seen.append({"prompts": list(kwargs["prompt"]), "width": kwargs["width"]})
        return original(self, *args, **kwargs)

    monkeypatch.setattr(StableDiffusionPipeline, "__call__", counting)
    return seen


def call_of(calls: list[dict], prompt: str) -> int:
    [index] = [i for i, c in enumerate(calls) if prompt in c["prompts"]]
    return index


async def occupy_device(client_bus, tap, steps: int = 12):
    """A slow job on the device, so that the next jobs all wait for the same call."""
    blocker = request(**{**FAST, "num_inference_steps": steps}, prompt="blocker", user_id="z")
    await client_bus.publish(blocker)
    await tap.wait_for(blocker.data.job_id, "generation.progress", count=2, within=60)
    return blocker


async def test_compatible_jobs_share_one_call_others_never_and_a_bad_one_fails_alone(
    settings_for, tap, client_bus, calls
):
    settings = settings_for(preload_models=["tiny-image"])
    same = [request(**FAST, prompt=f"fox {i}", seed=i, user_id=f"u{i}") for i in range(6)]
    bad = request(**{**FAST, "num_inference_steps": 60}, prompt="bad", user_id="u0")
    bigger = [request(**{**FAST, "width": 48}, prompt=f"big {i}", user_id="u1") for i in range(2)]
    video = request(Kind.VIDEO, width=32, height=32, num_inference_steps=2, num_frames=4)
    jobs = [*same, bad, *bigger, video]
    async with running_worker(settings):
        blocker = await occupy_device(client_bus, tap, steps=30)
        await asyncio.gather(*(client_bus.publish(env) for env in jobs))
        ends = {e.data.job_id: await tap.wait_terminal(e.data.job_id, 90) for e in [blocker, *jobs]}
    assert await queue_depth(settings.amqp_url, GENERATOR_REQUESTS.name) == 0  # all acked

    shared = calls[call_of(calls, "fox 0")]
    assert sorted(shared["prompts"]) == [f"fox {i}" for i in range(6)]  # one call, no one else
    assert calls[call_of(calls, "big 0")]["prompts"] == ["big 0", "big 1"]
    assert "bad" not in [p for c in calls for p in c["prompts"]]
    assert ends[bad.data.job_id].data.code == FailureCode.INVALID_PARAMETERS
    for env in [*same, *bigger, video]:
        done = ends[env.data.job_id]
        assert done.type == "generation.completed", done.data
        assert len(tap.for_job(env.data.job_id, "generation.completed")) == 1
        f = done.data.files[0]
        assert (f.width, f.height) == (env.data.params.width, env.data.params.height)
        assert (settings.storage_local_dir / f.key).stat().st_size > 0
    assert [ends[e.data.job_id].data.seed for e in same] == list(range(6))


async def test_one_users_burst_does_not_delay_another_users_job_by_more_than_a_batch(
    settings_for, tap, client_bus, calls
):
    settings = settings_for(preload_models=["tiny-image"], prefetch=48)
    burst = [request(**FAST, prompt=f"a{i}", user_id="alice") for i in range(40)]
    single = request(**FAST, prompt="b0", user_id="bob")
    for env in [*burst, single]:  # bob's job is the 41st in the queue
        await client_bus.publish(env)
    async with running_worker(settings):
        for env in [single, *burst]:
            await tap.wait_terminal(env.data.job_id, 120)
    assert call_of(calls, "b0") <= 1, [c["prompts"] for c in calls]
    assert max(len(c["prompts"]) for c in calls) == 8  # the burst itself is batched


async def test_cancel_one_job_of_a_running_batch_the_others_complete(
    settings_for, client_bus, amqp_url, calls
):
    keys = (*EventTap.KEYS, "generation.cancelled")
    tap = EventTap(amqp_url, keys)
    await tap.start()
    settings = settings_for(preload_models=["tiny-image"])
    long = {**FAST, "num_inference_steps": 40}
    slow = [request(**long, prompt=f"s{i}", user_id=f"u{i}") for i in range(3)]
    victim = slow[1].data
    try:
        async with running_worker(settings):
            await occupy_device(client_bus, tap, steps=30)
            await asyncio.gather(*(client_bus.publish(env) for env in slow))
            for env in slow:
                await tap.wait_for(env.data.job_id, "generation.progress", count=3, within=90)
            cancel = GenerationCancelRequested(job_id=victim.job_id, user_id="u1", kind=Kind.IMAGE)
            await client_bus.publish(new_event(cancel, source="test", correlation_id="c"))
            [cancelled] = await tap.wait_for(victim.job_id, "generation.cancelled", within=30)
            running = [
                e
                for e in (slow[0], slow[2])
                if not tap.for_job(e.data.job_id, "generation.completed")
            ]
            ends = [await tap.wait_terminal(e.data.job_id, 120) for e in (slow[0], slow[2])]
    finally:
        await tap.close()
    assert running, "the batch-mates were still running when the cancel ended its job"
    assert sorted(calls[call_of(calls, "s0")]["prompts"]) == ["s0", "s1", "s2"]
    assert cancelled.data.files_left is False and cancelled.data.total_steps == 40
    assert not (settings.storage_local_dir / "image" / str(victim.job_id)).exists()
    assert not tap.for_job(victim.job_id, "generation.completed")
    assert [e.type for e in ends] == ["generation.completed"] * 2


def test_a_seed_gives_the_same_pixels_alone_and_in_a_batch_of_8(tiny_models_dir):
    from sorami_generator.devices import resolve_placement
    from sorami_generator.pipelines import load_pipeline
    from sorami_generator.requests import call_parameters, plan_call
    from sorami_generator.runner import Aborter, BatchItem, run_batch
    from sorami_generator.settings import BUILTIN_MODELS

    loaded = load_pipeline(
        "tiny-image", BUILTIN_MODELS["tiny-image"], resolve_placement("cpu"), tiny_models_dir
    )
    params = {"width": 32, "height": 32, "num_inference_steps": 2, "guidance_scale": 5.0}
    items = [
        BatchItem(
            plan_call(
                request(**params, prompt=f"p{i}", seed=100 + i, negative_prompt=f"n{i}").data,
                loaded.spec,
                call_parameters(loaded.pipe),
            ),
            lambda *_: None,
            Aborter(),
        )
        for i in range(8)
    ]  # fmt: skip
    batch = run_batch(loaded, items)
    for i in (0, 5):
        alone = run_batch(loaded, [items[i]])[0]
        diff = np.abs(alone.astype(int) - batch[i].astype(int)).max()
        assert diff <= 2, (i, diff)
    assert np.abs(batch[0].astype(int) - batch[2].astype(int)).max() > 10  # not all alike
    assert Image.fromarray(batch[0][0]).size == (32, 32)
