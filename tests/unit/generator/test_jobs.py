"""The failure policy of the job handler, with a stand-in pipeline (no broker, no model)."""

import asyncio
import uuid

import numpy as np
import pytest
import torch
from sorami_generator.devices import Placement
from sorami_generator.jobs import JobProcessor
from sorami_generator.pipelines import LoadedPipeline
from sorami_generator.settings import BUILTIN_MODELS, GeneratorSettings
from sorami_shared.events import (
    FailureCode,
    GenerationParams,
    GenerationRequested,
    Kind,
    new_event,
    progress_events,
)
from sorami_shared.messaging import Delivery
from sorami_shared.storage.local import LocalStorage


class FakePipe:
    def __init__(self, error: BaseException | None = None):
        self.error = error
        self.on_call = lambda: None

    def __call__(
        self,
        prompt,
        width,
        height,
        num_inference_steps,
        guidance_scale,
        num_images_per_prompt=1,
        generator=None,
        output_type="np",
        callback_on_step_end=None,
    ):
        self.on_call()
        if self.error is not None:
            raise self.error
        for step in range(num_inference_steps):
            callback_on_step_end(self, step, 0, {})
        count = len(prompt) if isinstance(prompt, list) else num_images_per_prompt
        assert isinstance(generator, list) and len(generator) == count  # one per image

        class Out:
            images = np.zeros((count, height, width, 3), dtype=np.float32)

        return Out()


class FakeCache:
    placement = Placement("cpu", torch.float32)

    def __init__(self, pipe):
        self.pipe = pipe
        self.evicted = 0

    def __contains__(self, name):
        return True

    async def get(self, name):
        return LoadedPipeline(
            name, BUILTIN_MODELS[name], self.pipe, Placement("cpu", torch.float32), 0, 0
        )

    def evict_all_but(self, name):
        self.evicted += 1


def envelope():
    data = GenerationRequested(
        job_id=uuid.uuid4(),
        user_id="u",
        kind=Kind.IMAGE,
        params=GenerationParams(
            prompt="p",
            model="tiny-image",
            width=16,
            height=16,
            num_inference_steps=3,
            guidance_scale=1.0,
        ),
    )
    return new_event(data, source="t", correlation_id="c")


def processor(tmp_path, pipe):
    events = []

    async def publish(env):
        events.extend(progress_events(env) if env.type == "generation.progress" else [env])

    # every update at once: these tests count the events (test_progress.py holds the start)
    settings = GeneratorSettings(
        storage_local_dir=tmp_path, progress_min_interval_s=0, progress_start_delay_s=0
    )
    cache = FakeCache(pipe)
    return JobProcessor(settings, publish, LocalStorage(settings), cache), events, cache


FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)
LAST = Delivery(attempt=6, max_attempts=6, redelivered=True)


async def test_success_publishes_progress_then_completed(tmp_path):
    proc, events, _ = processor(tmp_path, FakePipe())
    await proc.handle(envelope(), FIRST)
    types = [e.type for e in events]
    assert types[-1] == "generation.completed" and types[0] == "generation.progress"
    assert [e.data.progress for e in events[:-1]] == [0, 31, 63, 95]


@pytest.mark.parametrize(
    "error",
    [
        torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
        RuntimeError("CUDA error: out of memory"),
    ],
)
async def test_out_of_memory_fails_the_job_frees_memory_and_keeps_serving(tmp_path, error):
    pipe = FakePipe(error)
    proc, events, cache = processor(tmp_path, pipe)
    await proc.handle(envelope(), FIRST)  # returns: the message is acked
    assert events[-1].data.code == FailureCode.OUT_OF_MEMORY
    assert "out of GPU memory" in events[-1].data.reason and cache.evicted == 1
    pipe.error = None
    await proc.handle(envelope(), FIRST)
    assert events[-1].type == "generation.completed"


async def test_pipeline_value_error_is_invalid_parameters(tmp_path):
    proc, events, _ = processor(tmp_path, FakePipe(ValueError("height must be divisible by 8")))
    await proc.handle(envelope(), FIRST)
    assert events[-1].data.code == FailureCode.INVALID_PARAMETERS
    assert "divisible by 8" in events[-1].data.reason


async def test_unexpected_errors_requeue_until_the_last_attempt_then_fail(tmp_path):
    proc, events, _ = processor(tmp_path, FakePipe(KeyError("boom")))
    with pytest.raises(KeyError):
        await proc.handle(envelope(), FIRST)
    assert not [e for e in events if e.type == "generation.failed"]
    await proc.handle(envelope(), LAST)
    assert events[-1].data.code == FailureCode.INTERNAL and "KeyError" in events[-1].data.reason


async def test_abort_at_shutdown_leaves_the_message_unacknowledged(tmp_path):
    proc, events, _ = processor(tmp_path, FakePipe())
    proc.abort_all()  # nothing running: no effect
    proc.pipelines.pipe.on_call = proc.abort_all  # SIGTERM's grace runs out mid-call
    with pytest.raises(asyncio.CancelledError):
        await proc.handle(envelope(), FIRST)
    assert not [e for e in events if e.type != "generation.progress"]
