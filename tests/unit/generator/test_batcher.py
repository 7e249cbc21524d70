"""The batcher over a stand-in pipeline (no broker, no model): jobs share calls, a failing
call is split until only the failing job fails, a stopped job ends at once."""

import asyncio
import uuid

import numpy as np
import torch
from sorami_generator.jobs import JobProcessor
from sorami_generator.settings import GeneratorSettings
from sorami_shared.events import FailureCode, GenerationParams, GenerationRequested, Kind, new_event
from sorami_shared.messaging import Delivery
from sorami_shared.storage.local import LocalStorage

from .test_jobs import FakeCache

FIRST = Delivery(attempt=1, max_attempts=6, redelivered=False)


class BatchPipe:
    """Records each call's prompts; refuses prompts containing 'bad'; 'oom' above 2 images."""

    def __init__(self, gate: asyncio.Event | None = None):
        self.calls: list[list[str]] = []

    def __call__(
        self, prompt, width, height, num_inference_steps, guidance_scale,
        num_images_per_prompt=1, generator=None, output_type="np", callback_on_step_end=None,
    ):  # fmt: skip
        self.calls.append(list(prompt))
        if any("bad" in p for p in prompt):
            raise ValueError("this prompt cannot be tokenized")
        if any("oom" in p for p in prompt) and len(prompt) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        for step in range(num_inference_steps):
            callback_on_step_end(self, step, 0, {})

        class Out:  # each image filled with its seed's first draw: which seed made it
            images = torch.stack(
                [torch.full((3, height, width), g.initial_seed() % 7 / 7) for g in generator]
            )

        return Out()


def envelope(prompt="p", user="u", seed=None, width=16):
    data = GenerationRequested(
        job_id=uuid.uuid4(), user_id=user, kind=Kind.IMAGE,
        params=GenerationParams(prompt=prompt, model="tiny-image", width=width, height=16,
                                num_inference_steps=2, guidance_scale=1.0, seed=seed),
    )  # fmt: skip
    return new_event(data, source="t", correlation_id="c")


def processor(tmp_path, pipe, **settings):
    events = []

    async def publish(env):
        events.append(env)

    s = GeneratorSettings(storage_local_dir=tmp_path, progress_min_interval_s=0, **settings)
    return JobProcessor(s, publish, LocalStorage(s), FakeCache(pipe)), events


def outcome(events, env):
    return [e for e in events if e.job_id == env.data.job_id and e.type != "generation.progress"]


async def test_jobs_handed_in_together_share_one_call_with_their_own_prompts_and_seeds(tmp_path):
    pipe = BatchPipe()
    proc, events = processor(tmp_path, pipe)
    envs = [envelope(f"p{i}", user=f"u{i % 2}", seed=i) for i in range(5)]
    await asyncio.gather(*(proc.handle(e, FIRST) for e in envs))
    assert pipe.calls == [[f"p{i}" for i in range(5)]]
    for i, env in enumerate(envs):
        [done] = outcome(events, env)
        assert done.type == "generation.completed" and done.data.seed == i
        from PIL import Image

        pixel = np.asarray(Image.open(tmp_path / done.data.files[0].key))[0, 0, 0]
        assert pixel == round(i % 7 / 7 * 255)  # its own seed's image, not a batch-mate's


async def test_a_failing_call_is_split_until_only_the_culprit_fails(tmp_path):
    pipe = BatchPipe()
    proc, events = processor(tmp_path, pipe)
    envs = [envelope("oom fine"), envelope("bad"), envelope("ok"), envelope("oom too")]
    await asyncio.gather(*(proc.handle(e, FIRST) for e in envs))
    ends = [outcome(events, e)[0] for e in envs]
    assert [e.type for e in ends] == ["generation.completed", "generation.failed"] + [
        "generation.completed"
    ] * 2
    assert ends[1].data.code == FailureCode.INVALID_PARAMETERS
    assert pipe.calls[0] == ["oom fine", "bad", "ok", "oom too"]  # then halves, then quarters
    assert ["bad"] in pipe.calls and ["ok", "oom too"] in pipe.calls


async def test_incompatible_jobs_never_share_a_call(tmp_path):
    pipe = BatchPipe()
    proc, _ = processor(tmp_path, pipe)
    envs = [envelope("a", width=16), envelope("b", width=24), envelope("c", width=16)]
    await asyncio.gather(*(proc.handle(e, FIRST) for e in envs))
    assert sorted(pipe.calls) == [["a", "c"], ["b"]]


async def test_max_batch_bounds_a_call(tmp_path):
    pipe = BatchPipe()
    proc, _ = processor(tmp_path, pipe, max_batch=2)
    await asyncio.gather(*(proc.handle(envelope(f"p{i}"), FIRST) for i in range(5)))
    assert sorted(len(c) for c in pipe.calls) == [1, 2, 2]


async def test_out_of_memory_on_a_batch_retries_the_halves_before_failing_anyone(tmp_path):
    pipe = BatchPipe()
    proc, events = processor(tmp_path, pipe)
    envs = [envelope("oom a"), envelope("b"), envelope("c"), envelope("d")]
    await asyncio.gather(*(proc.handle(e, FIRST) for e in envs))
    assert all(outcome(events, e)[0].type == "generation.completed" for e in envs)
    assert pipe.calls == [["oom a", "b", "c", "d"], ["oom a", "b"], ["c", "d"]]
